//! `hyalto connectwise refresh`, and the cache pull that `configure` runs too. The pull itself
//! is `hyalto_app::records`; this shows its progress on standard error.

use std::io::{IsTerminal, Write as _};

use anyhow::Context as _;
use hyalto_app::records::{Pulled, label, pull_records};
use hyalto_connectwise::Client;
use hyalto_store::Store;

use crate::cli::context::Context;

/// Reads every cached kind from ConnectWise, showing the count of each kind on standard error
/// as pages arrive (in place on a terminal, one line per kind otherwise). Nothing is stored.
pub async fn pull_with_progress(client: &Client) -> anyhow::Result<Vec<Pulled>> {
    let live = std::io::stderr().is_terminal();

    let pulled = pull_records(client, |kind, count, done| {
        if live {
            eprint!("\r  {:<16} {:>7}", label(kind), count);
            if done {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else if done {
            eprintln!("  {:<16} {:>7}", label(kind), count);
        }
    })
    .await?;
    Ok(pulled)
}

/// Replaces the cache with what was read, and returns how many records it holds.
pub async fn store_records(store: &impl Store, pulled: &[Pulled]) -> anyhow::Result<u64> {
    hyalto_app::records::store_records(store, pulled)
        .await
        .context("could not cache the ConnectWise records")
}

pub async fn run(context: &Context) -> anyhow::Result<()> {
    let client = context.client().await?;

    eprintln!("Reading ConnectWise records from {}:", client.site());
    let pulled = pull_with_progress(&client).await?;
    let total = store_records(context.store().await?, &pulled).await?;

    println!("Cached {total} ConnectWise records.");
    Ok(())
}
