//! Command-line definitions and dispatch, one file per subcommand.

mod cw_sandbox;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// hyalto bills VMware private-cloud usage through ConnectWise Manage.
#[derive(Debug, Parser)]
#[command(name = "hyalto", version, about, long_about = None)]
pub struct Cli {
    /// Log more: -v for debug, -vv for trace. `RUST_LOG` overrides this.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local ConnectWise Manage sandbox for demos, dry runs and tests.
    CwSandbox(cw_sandbox::Args),
}

/// Sends logs to standard error; `RUST_LOG` wins over `-v` when it is set.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "info,hyalto=debug,hyalto_connectwise=debug,hyalto_cw_sandbox=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CwSandbox(args) => cw_sandbox::run(args).await,
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
