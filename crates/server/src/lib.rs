//! `hyalto serve`: the web UI, the REST API under `/api/v1`, `/healthz` and `/metrics`, in
//! one axum server.
//!
//! - [`auth`]: passwords, tokens, the login rate limit; [`guard`]: the middleware that lets a
//!   request in (session cookie or API token), checks CSRF tokens and counts requests.
//! - [`api`]: the REST API and its OpenAPI document; [`pages`]: the server-rendered pages.
//! - [`actions`]: what the pages and the API both do (configure, refresh, disconnect, map),
//!   on top of the use cases in `hyalto-app`.
//! - [`refresh`]: the record refresh that runs in the background with live progress.
//! - [`scheduler`]: the sync jobs, on a schedule and on demand, one at a time under the lease.
//! - [`screens`]: the Products, Customers, Preview and History pages and Sync now.
//! - [`views`]: what the Products, Customers, Preview and History pages and their API show.
//! - [`metrics`]: the Prometheus metrics.
//!
//! Pages are rendered on the server from templates compiled into the binary (minijinja, with
//! HTML autoescaping), with a small script for live progress and the agreement list; CSS and
//! script are served from the binary too, so the UI needs nothing from outside.

pub mod actions;
pub mod api;
pub mod auth;
pub mod error;
pub mod guard;
pub mod metrics;
pub mod pages;
pub mod refresh;
pub mod scheduler;
pub mod screens;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use hyalto_store::SqliteStore;
use hyalto_sync::SyncConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::auth::LoginLimiter;
use self::metrics::Metrics;
use self::refresh::Refresher;
use self::scheduler::{JobContext, Scheduler};

/// The address `hyalto serve` listens on unless told otherwise: loopback only, so nothing is
/// exposed until the operator decides to.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The socket address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The address users open, such as `https://hyalto.example.com`, when a reverse proxy
    /// serves hyalto; an `https` address makes session cookies `Secure`.
    pub public_url: Option<String>,
    /// How the sync engine bills (from `config.toml`).
    pub sync: SyncConfig,
    /// How often every mapped customer is synced; `None` syncs only on demand.
    pub sync_interval: Option<Duration>,
}

impl ServerConfig {
    /// A server on `listen` with the default billing rules and no schedule.
    pub fn new(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            public_url: None,
            sync: SyncConfig::default(),
            sync_interval: None,
        }
    }

    /// Whether cookies must only travel over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"))
    }
}

/// What every request handler shares.
pub struct AppState {
    /// The store of the data dir.
    pub store: SqliteStore,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The page templates.
    pub templates: minijinja::Environment<'static>,
    /// Failed logins per username.
    pub limiter: LoginLimiter,
    /// The background record refresh.
    pub refresher: Refresher,
    /// Whether cookies are `Secure`.
    pub secure_cookies: bool,
    /// The sync jobs.
    pub scheduler: Scheduler,
    /// How the sync engine bills.
    pub sync_config: SyncConfig,
    /// The schedule's interval, shown on the pages.
    pub sync_interval: Option<Duration>,
}

impl AppState {
    /// The name of a service in the inventory, if it is there.
    pub async fn store_service_name(
        &self,
        service: &hyalto_domain::ServiceId,
    ) -> Result<Option<String>, hyalto_store::StoreError> {
        use hyalto_store::Store as _;
        Ok(self
            .store
            .get_service(service)
            .await?
            .map(|record| record.service.name))
    }

    /// What a sync job needs.
    pub fn job_context(&self) -> JobContext {
        JobContext {
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            config: self.sync_config.clone(),
        }
    }
}

/// The state as handlers receive it.
pub type Shared = Arc<AppState>;

/// Everything that can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error(
        "could not listen on {addr}: {source}; choose another address with --listen, or stop \
         what uses this one"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// Serving failed.
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
}

/// The state of a server on `store`.
pub fn state(store: SqliteStore, config: &ServerConfig) -> Shared {
    Arc::new(AppState {
        store,
        metrics: Arc::new(Metrics::new()),
        templates: pages::templates(),
        limiter: LoginLimiter::default(),
        refresher: Refresher::default(),
        secure_cookies: config.secure_cookies(),
        scheduler: Scheduler::default(),
        sync_config: config.sync.clone(),
        sync_interval: config.sync_interval,
    })
}

/// Every route. What needs a login sits behind [`guard::authenticate`]; `/healthz`, the login
/// page and the static assets do not.
pub fn router(state: Shared) -> Router {
    let protected = Router::new()
        .route("/", get(pages::home))
        .route("/logout", post(pages::logout))
        .route("/billing/integrations", get(pages::integrations))
        .route("/billing/integrations/configure", post(pages::configure))
        .route("/billing/integrations/refresh", post(pages::refresh))
        .route("/billing/integrations/disconnect", post(pages::disconnect))
        .route(
            "/billing/map-company",
            get(pages::map_company).post(pages::map),
        )
        .route("/billing/map-company/unmap", post(pages::unmap))
        .route(
            "/billing/products",
            get(screens::products).post(screens::set_product),
        )
        .route("/billing/customers", get(screens::customers))
        .route("/billing/preview", get(screens::preview))
        .route("/billing/preview/apply", post(screens::apply))
        .route("/billing/history", get(screens::history))
        .route("/billing/sync", post(screens::sync_now))
        .route("/metrics", get(api::metrics))
        .nest("/api/v1", api::router())
        .route_layer(from_fn_with_state(state.clone(), guard::authenticate));

    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/static/app.js", get(pages::script))
        .merge(protected)
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(from_fn_with_state(state.clone(), guard::observe))
        .with_state(state)
}

/// A server running in the background.
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR`, what a browser on this machine opens.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops accepting connections, lets requests in flight finish, and waits.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(error) => Err(ServerError::Serve(std::io::Error::other(error))),
        }
    }

    /// Waits until the server stops, for a reason given to [`start`] or an error.
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result,
            Err(error) => Err(ServerError::Serve(std::io::Error::other(error))),
        }
    }
}

/// Binds `config.listen` and serves until `stop` completes or the returned handle is shut
/// down; requests in flight finish first.
pub async fn start(
    store: SqliteStore,
    config: &ServerConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let state = state(store, config);
    let app = router(state.clone());

    // `halt` stops the schedule as soon as shutdown begins, whatever asked for it.
    let (halt_tx, halt_rx) = watch::channel(false);
    let schedule = config.sync_interval.map(|interval| {
        tracing::info!(interval_s = interval.as_secs(), "syncing on a schedule");
        state
            .scheduler
            .run_schedule(state.job_context(), interval, halt_rx)
    });

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let shutdown = async move {
        tokio::select! {
            () = stop => {}
            _ = stop_rx.wait_for(|stopped| *stopped) => {}
        }
        let _ = halt_tx.send(true);
        tracing::info!("stopping the server: finishing the requests in flight");
    };
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve);

        // A sync in flight runs to its end, so each write it started is finished and recorded.
        if let Some(schedule) = schedule {
            let _ = schedule.await;
        }
        state.scheduler.wait_idle().await;
        served
    });
    tracing::info!(addr = %local_addr, "hyalto is serving");

    Ok(RunningServer {
        local_addr,
        stop: stop_tx,
        task,
    })
}
