//! Command-line definitions and dispatch, one file per subcommand.
//!
//! Every command that touches hyalto's data works on one data dir (`--data-dir`, see
//! [`crate::config`]); [`context::Context`] opens it once and hands out the store, the
//! configuration and a ConnectWise client built from the stored connection.

mod audit;
mod bench;
mod collect;
mod config;
mod connectwise;
mod context;
mod cw_sandbox;
mod demo;
mod inventory;
pub(crate) mod output;
mod secret;
mod serve;
mod sources;
mod sync;
mod user;
mod vsphere_bench;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use self::context::Context;

/// hyalto bills VMware private-cloud usage through ConnectWise Manage.
#[derive(Debug, Parser)]
#[command(name = "hyalto", version, about, long_about = None)]
pub struct Cli {
    /// Log more: -v for debug, -vv for trace. `RUST_LOG` overrides this.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Folder holding everything hyalto keeps (database, key file, config.toml). Default:
    /// $XDG_DATA_HOME/hyalto, else ~/.local/share/hyalto.
    #[arg(long, global = true, env = crate::config::DATA_DIR_ENV, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show hyalto's effective configuration.
    #[command(subcommand)]
    Config(config::Command),

    /// Connect to ConnectWise Manage, browse it, and map customers and products.
    #[command(subcommand, name = "connectwise")]
    ConnectWise(connectwise::Command),

    /// Import inventory snapshots and show what hyalto knows.
    #[command(subcommand)]
    Inventory(inventory::Command),

    /// Bring ConnectWise agreements in line with the inventory.
    Sync(sync::Args),

    /// Show the log of every ConnectWise write hyalto made.
    Audit(audit::Args),

    /// Show or rotate the key that encrypts the stored ConnectWise private key.
    #[command(subcommand)]
    Secret(secret::Command),

    /// Serve the web UI and the REST API until interrupted.
    Serve(serve::Args),

    /// Add and list the users of `hyalto serve`, and create their API tokens.
    #[command(subcommand)]
    User(user::Command),

    /// Run the whole flow against a built-in sandbox: import, map, sync, change, sync again.
    Demo(demo::Args),

    /// Run a local ConnectWise Manage sandbox for demos, dry runs and tests.
    CwSandbox(cw_sandbox::Args),

    /// Measure a sync of a generated inventory against a built-in sandbox and check the
    /// targets.
    Bench(bench::Args),
}

/// Sends logs to standard error; `RUST_LOG` wins over `-v` when it is set.
pub fn init_tracing(verbose: u8) {
    // Commands print their own results; routine info logs from the libraries would drown
    // them, so the default shows warnings only.
    let default = match verbose {
        0 => "warn",
        1 => "info,hyalto=debug,hyalto_connectwise=debug,hyalto_cw_sandbox=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs one command. The store is opened by the commands that need it, so `config show` and
/// the sandbox work without a data dir that can be written.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli.data_dir;
    let context = || Context::new(data_dir.clone());

    match cli.command {
        Command::Config(command) => config::run(&context()?, command),
        Command::ConnectWise(command) => connectwise::run(&context()?, command).await,
        Command::Inventory(command) => inventory::run(&context()?, command).await,
        Command::Sync(args) => sync::run(&context()?, args).await,
        Command::Audit(args) => audit::run(&context()?, args).await,
        Command::Secret(command) => secret::run(&context()?, command).await,
        Command::Serve(args) => serve::run(&context()?, args).await,
        Command::User(command) => user::run(&context()?, command).await,
        Command::Demo(args) => demo::run(data_dir.clone(), args).await,
        Command::CwSandbox(args) => cw_sandbox::run(args).await,
        Command::Bench(args) => bench::run(data_dir.clone(), args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
