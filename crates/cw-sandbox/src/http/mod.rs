//! The HTTP surface of the sandbox: start-up, authentication, routes, paging, faults,
//! statistics and TLS.
//!
//! [`start`] opens the store, binds the listener and serves in a spawned task; the returned
//! [`RunningSandbox`] says where it listens and stops it gracefully on
//! [`shutdown`](RunningSandbox::shutdown) (or when dropped).
//!
//! Modules, in reading order:

/// The ConnectWise endpoints.
mod api;
/// Basic authentication and the `clientId` header.
pub mod auth;
/// The start-up configuration and its defaults.
pub mod config;
/// The `/_sandbox/` control endpoints.
mod control;
/// Failures as statuses and ConnectWise error bodies.
pub mod errors;
/// The fault configuration and how a request's fault is chosen.
pub mod faults;
/// List parameters and `Link` headers.
pub mod paging;
/// The route table below `apis/3.0`.
pub mod routes;
/// The accept loop, graceful shutdown and commit-then-drop.
mod server;
/// Request counts.
pub mod stats;
/// The self-signed certificate of HTTPS mode.
pub mod tls;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use axum::Router;
use axum::http::Method;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{Denial, SeedData, Store, StoreError};

use self::auth::Credentials;
use self::faults::Faults;
use self::stats::Stats;

pub use self::config::{SandboxConfig, Seed};
pub use self::faults::{FaultConfig, FaultKind, FaultRule};
pub use self::tls::TlsError;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A configuration value is unusable (codebase, fault shares, ...).
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// The seed could not be read or the state file could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The certificate for HTTPS mode could not be prepared.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address could not be bound.
    ///
    /// The operating system's answer is part of the message and deliberately not a `source`:
    /// error chains print every source after the message, which would say it twice.
    #[error("could not listen on {addr}: {error}{}", bind_hint(error))]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system answered.
        error: std::io::Error,
    },
}

/// What to do about a failed bind, for the kinds of failure a user can fix.
fn bind_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            ". Another program already uses this port: choose another one with --listen \
             (for example --listen 127.0.0.1:8089), or --listen 127.0.0.1:0 for any free port"
        }
        std::io::ErrorKind::PermissionDenied => {
            ". Ports below 1024 need extra privileges: choose a port above 1024 with --listen"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            ". This machine has no such address: use 127.0.0.1 or 0.0.0.0 in --listen"
        }
        _ => "",
    }
}

/// The state every request handler shares.
pub(crate) struct AppState {
    store: Store,
    credentials: Credentials,
    codebase: RwLock<String>,
    scheme: &'static str,
    local_addr: SocketAddr,
    deny: Vec<Denial>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    /// API requests being served right now, reported as `inFlight` in the statistics.
    in_flight: AtomicU64,
}

impl AppState {
    /// The codebase the sandbox currently serves (besides `v4_6_release/`).
    fn codebase(&self) -> String {
        self.codebase
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Switches to a new codebase and returns the previous one.
    fn set_codebase(&self, codebase: String) -> String {
        let mut current = self
            .codebase
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, codebase)
    }

    // A panic while one of these locks is held cannot leave the fault queue or the counters
    // half-updated in a way that matters, so a poisoned lock is simply taken over.
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the statistics with the current in-flight count, optionally resetting them.
    fn take_stats(&self, reset: bool) -> Stats {
        let mut stats = self.stats();
        let mut snapshot = stats.clone();
        snapshot.in_flight = self.in_flight.load(std::sync::atomic::Ordering::SeqCst);
        if reset {
            *stats = Stats::default();
        }
        snapshot
    }

    /// Whether the API member's security role denies `method` on `template`.
    fn is_denied(&self, method: &Method, template: &str) -> bool {
        denies(&self.deny, method, template)
    }
}

/// Refuses denials that could never match, so that a typo in a seed or a `--deny` flag is
/// reported at start instead of silently denying nothing.
fn check_denials(deny: &[Denial]) -> Result<(), String> {
    const METHODS: [&str; 6] = ["*", "GET", "POST", "PUT", "PATCH", "DELETE"];

    for denial in deny {
        if !METHODS
            .iter()
            .any(|method| method.eq_ignore_ascii_case(denial.method.trim()))
        {
            return Err(format!(
                "security denial {} {}: the method must be GET, POST, PUT, PATCH, DELETE or *",
                denial.method, denial.path
            ));
        }
        if !routes::is_known_template(&denial.path) {
            return Err(format!(
                "security denial {} {}: no sandbox route has this template (for example \
                 /finance/agreements/{{id}}/additions)",
                denial.method, denial.path
            ));
        }
    }

    Ok(())
}

/// Whether one of `deny` matches: the same method (or `*`) and the same route template,
/// whatever the placeholder names.
fn denies(deny: &[Denial], method: &Method, template: &str) -> bool {
    deny.iter().any(|denial| {
        let method_matches =
            denial.method == "*" || denial.method.eq_ignore_ascii_case(method.as_str());
        method_matches && routes::same_template(&denial.path, template)
    })
}

/// A sandbox serving in the background.
///
/// Dropping it stops the server as [`shutdown`](Self::shutdown) does, without waiting.
pub struct RunningSandbox {
    config: SandboxConfig,
    local_addr: SocketAddr,
    cert_path: Option<PathBuf>,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    // Held only so that a temporary certificate directory outlives the server.
    _tls_dir: Option<TempDir>,
}

impl RunningSandbox {
    /// What a user types as the site URL: `http://127.0.0.1:PORT` (`https` in TLS mode).
    pub fn site_url(&self) -> String {
        format!("{}://{}", self.state.scheme, self.display_addr())
    }

    /// The address the listener is bound to (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The API base with the current codebase, e.g. `http://127.0.0.1:PORT/v2025_1/apis/3.0`.
    pub fn api_base(&self) -> String {
        format!("{}/{}apis/3.0", self.site_url(), self.state.codebase())
    }

    /// The PEM certificate clients should trust, in TLS mode.
    pub fn cert_path(&self) -> Option<&Path> {
        self.cert_path.as_deref()
    }

    /// Whether the records were loaded from an existing `--state` file, so the seed was not
    /// applied; a state file is seeded only when it is created.
    pub fn resumed_from_state(&self) -> bool {
        self.state.store.resumed_from_state()
    }

    /// The request statistics so far (what `GET /_sandbox/stats` answers), read in-process;
    /// with `reset` the counters start again from zero, as `?reset=true` does.
    pub fn stats(&self, reset: bool) -> stats::Stats {
        self.state.take_stats(reset)
    }

    /// The configuration the sandbox was started with (faults and codebase may have changed
    /// since through the control endpoints).
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Stops accepting connections, lets in-flight requests finish (for a few seconds at most)
    /// and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the sandbox server task ended abnormally");
        }
        tracing::info!(addr = %self.local_addr, "ConnectWise sandbox stopped");
    }

    /// The listen address with an unspecified IP replaced by loopback, which is what a user on
    /// the same machine connects to.
    fn display_addr(&self) -> SocketAddr {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.local_addr.port())
    }
}

/// Opens the store, binds the listener and starts serving in a background task.
pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
    config::validate_codebase(&config.codebase).map_err(SandboxError::Config)?;
    let faults = Faults::new(config.faults.clone()).map_err(SandboxError::Config)?;

    let seed = match &config.seed {
        Seed::Demo => SeedData::demo(),
        Seed::Empty => SeedData::empty(),
        Seed::File(path) => SeedData::from_file(path)?,
    };
    let store = Store::open(&seed, config.state.as_deref()).await?;
    let mut deny = config.deny.clone();
    deny.extend(seed.security().iter().cloned());
    check_denials(&deny).map_err(SandboxError::Config)?;

    let tls = if config.tls {
        Some(tls::prepare(config.tls_dir.as_deref())?)
    } else {
        None
    };

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|error| SandboxError::Bind {
            addr: config.listen,
            error,
        })?;
    let local_addr = listener.local_addr().map_err(|error| SandboxError::Bind {
        addr: config.listen,
        error,
    })?;

    let state = Arc::new(AppState {
        store,
        credentials: Credentials {
            company_id: config.company_id.clone(),
            public_key: config.public_key.clone(),
            private_key: config.private_key.clone(),
            client_id: config.client_id.clone(),
        },
        codebase: RwLock::new(config.codebase.clone()),
        scheme: if config.tls { "https" } else { "http" },
        local_addr,
        deny,
        faults: Mutex::new(faults),
        stats: Mutex::new(Stats::default()),
        in_flight: AtomicU64::new(0),
    });
    let router = Router::new()
        .nest("/_sandbox", control::router())
        .fallback(api::handle)
        .with_state(Arc::clone(&state));

    let (shutdown, shutdown_rx) = watch::channel(false);
    let (acceptor, cert_path, tls_dir) = match tls {
        Some(setup) => (Some(setup.acceptor), Some(setup.cert_path), setup.temp_dir),
        None => (None, None, None),
    };
    let task = tokio::spawn(server::serve(listener, acceptor, router, shutdown_rx));

    let running = RunningSandbox {
        config,
        local_addr,
        cert_path,
        state,
        shutdown,
        task,
        _tls_dir: tls_dir,
    };
    tracing::info!(
        site_url = %running.site_url(),
        api_base = %running.api_base(),
        company_id = %running.config.company_id,
        cert_path = ?running.cert_path,
        "ConnectWise sandbox listening"
    );
    Ok(running)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(method: &str, path: &str) -> Denial {
        Denial {
            method: method.to_owned(),
            path: path.to_owned(),
        }
    }

    #[test]
    fn a_denial_matches_its_method_and_template_only() {
        let deny = [denial(
            "post",
            "/finance/agreements/{agreementId}/additions",
        )];

        assert!(denies(
            &deny,
            &Method::POST,
            "/finance/agreements/{id}/additions"
        ));
        assert!(!denies(
            &deny,
            &Method::GET,
            "/finance/agreements/{id}/additions"
        ));
        assert!(!denies(&deny, &Method::POST, "/finance/agreements"));
    }

    #[test]
    fn a_denial_of_an_unknown_route_or_method_is_refused() {
        let known = [denial("delete", "/finance/agreements/{agreementId}")];
        let typo = [denial("DELETE", "/finance/agreement/{id}")];
        let verb = [denial("REMOVE", "/finance/agreements/{id}")];

        assert_eq!(check_denials(&known), Ok(()));
        assert!(
            check_denials(&typo)
                .unwrap_err()
                .contains("no sandbox route")
        );
        assert!(check_denials(&verb).unwrap_err().contains("method"));
    }

    #[test]
    fn a_star_denial_matches_every_method() {
        let deny = [denial("*", "/company/companies")];

        assert!(denies(&deny, &Method::GET, "/company/companies"));
        assert!(denies(&deny, &Method::POST, "/company/companies"));
    }
}
