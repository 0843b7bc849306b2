//! The accept loop: plain TCP or TLS, one task per connection, graceful shutdown, and the
//! commit-then-drop fault.
//!
//! axum's own `serve` cannot close a connection in the middle of a request, so connections are
//! driven here with hyper directly. A handler that wants the connection dropped returns a
//! response marked with [`DropConnection`]; the connection's service then signals its task and
//! never yields the response, and the task drops the connection before a byte is written.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// How long a TLS handshake may take before the connection is given up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests before cutting connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A response extension asking the connection to close without sending the response.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// Serves `router` on `listener` until `shutdown` turns true (or its sender is dropped).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();

    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(%peer, "connection accepted");
                    let served = connection(stream, tls.clone(), router.clone(), shutdown.clone());
                    connections.spawn(served);
                }
                Err(error) => {
                    // Running out of file descriptors is the usual cause; pausing briefly lets
                    // finished connections free some instead of spinning on the error.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    // Stop accepting first, then give in-flight requests a bounded time to finish.
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
        connections.abort_all();
    }
}

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    router: Router,
    shutdown: watch::Receiver<bool>,
) {
    match tls {
        None => drive(TokioIo::new(stream), router, shutdown).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => drive(TokioIo::new(stream), router, shutdown).await,
                Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }
}

async fn drive<I>(io: TokioIo<I>, router: Router, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let drop_signal = Arc::new(Notify::new());
    let service = ConnectionService {
        router,
        drop_signal: Arc::clone(&drop_signal),
    };
    let conn = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);

    let mut draining = *shutdown.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            // The drop signal is checked first so that a marked response is never written.
            biased;
            () = drop_signal.notified() => {
                tracing::debug!("connection dropped after commit (fault injection)");
                return;
            }
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The per-connection service: runs the router and withholds responses marked
/// [`DropConnection`].
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    drop_signal: Arc<Notify>,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let router = self.router.clone();
        let drop_signal = Arc::clone(&self.drop_signal);

        Box::pin(async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            if response.extensions().get::<DropConnection>().is_some() {
                // `notify_one` stores a permit, so the connection task sees the signal even if
                // it is not waiting yet; the pending future keeps the response from ever being
                // handed to hyper.
                drop_signal.notify_one();
                std::future::pending::<()>().await;
            }
            Ok(response)
        })
    }
}
