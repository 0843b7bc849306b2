//! `hyalto serve`: the web UI, the REST API, `/healthz` and `/metrics` in one process, until
//! interrupted (Ctrl-C or SIGTERM), then a graceful stop.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use hyalto_server::{DEFAULT_LISTEN, ServerConfig};
use hyalto_store::Store as _;

use super::context::Context;

/// The environment variable read when `--public-url` is not given.
pub const PUBLIC_URL_ENV: &str = "HYALTO_PUBLIC_URL";

/// Serve the web UI and the REST API.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address and port to listen on. The default serves this machine only; use
    /// 0.0.0.0:8080 behind a reverse proxy that terminates TLS.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// The address users open when a reverse proxy serves hyalto, such as
    /// https://hyalto.example.com; an https address makes the session cookie Secure.
    #[arg(long, value_name = "URL", env = PUBLIC_URL_ENV)]
    pub public_url: Option<String>,
}

pub async fn run(context: &Context, args: Args) -> anyhow::Result<()> {
    let store = context.store().await?.clone();

    // Without a user nobody can log in; say how to add one rather than serve a dead end.
    let users = store
        .list_users()
        .await
        .context("could not read the users")?;
    if users.is_empty() {
        eprintln!(
            "warning: no user exists yet, so nobody can log in: add one with `hyalto user add \
             USERNAME --admin` (the server need not be stopped)."
        );
    }

    if let Some(url) = &args.public_url {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            bail!(
                "--public-url {url:?} is not an address users open: give it with its scheme, such \
                 as https://hyalto.example.com"
            );
        }
    }

    let config = ServerConfig {
        listen: args.listen,
        public_url: args.public_url.clone(),
        sync: super::sync::sync_config(context),
        sync_interval: context.config.sync_interval,
    };
    let server = hyalto_server::start(store, &config, stop_signal())
        .await
        .context("could not start the server")?;

    println!(
        "hyalto serves at {} (data dir {}). Stop it with Ctrl-C.",
        args.public_url.clone().unwrap_or_else(|| server.url()),
        context.data_dir.display()
    );
    server.wait().await.context("the server failed")?;
    eprintln!("hyalto stopped.");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM, whichever comes first.
async fn stop_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
