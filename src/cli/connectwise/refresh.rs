//! `hyalto connectwise refresh`, and the cache pull that `configure` runs too.

use std::io::{IsTerminal, Write as _};

use anyhow::Context as _;
use chrono::Utc;
use futures::TryStreamExt;
use hyalto_connectwise::{Client, ListQuery};
use hyalto_store::{CwRecordKind, Store};

use super::permissions::describe;
use crate::cli::context::Context;

/// The records of one kind read from ConnectWise.
pub struct Pulled {
    /// What they are.
    pub kind: CwRecordKind,
    /// Each record's id and body, as ConnectWise sent it.
    pub records: Vec<(i64, serde_json::Value)>,
}

/// The collection each cached kind is read from.
pub fn path_of(kind: CwRecordKind) -> &'static str {
    match kind {
        CwRecordKind::Company => "/company/companies",
        CwRecordKind::Contact => "/company/contacts",
        CwRecordKind::Agreement => "/finance/agreements",
        CwRecordKind::AgreementType => "/finance/agreements/types",
        CwRecordKind::CatalogItem => "/procurement/catalog",
        CwRecordKind::BillingCycle => "/finance/billingCycles",
    }
}

/// A plural name for progress lines.
fn label(kind: CwRecordKind) -> &'static str {
    match kind {
        CwRecordKind::Company => "companies",
        CwRecordKind::Contact => "contacts",
        CwRecordKind::Agreement => "agreements",
        CwRecordKind::AgreementType => "agreement types",
        CwRecordKind::CatalogItem => "catalog items",
        CwRecordKind::BillingCycle => "billing cycles",
    }
}

/// Reads every cached kind from ConnectWise, showing the count of each kind on standard error
/// as pages arrive. Nothing is stored: the caller stores the result once everything was read,
/// so a refused permission halfway leaves the cache as it was.
pub async fn pull_records(client: &Client) -> anyhow::Result<Vec<Pulled>> {
    let live = std::io::stderr().is_terminal();
    let mut pulled = Vec::new();

    for kind in CwRecordKind::ALL {
        let mut records = Vec::new();
        let mut pages = std::pin::pin!(
            client.pages_forward_only::<serde_json::Value>(path_of(kind), &ListQuery::default())
        );
        loop {
            let page = pages.try_next().await.map_err(|error| {
                anyhow::anyhow!(
                    "could not read the {} from ConnectWise: {}",
                    label(kind),
                    describe(&error)
                )
            })?;
            let Some(page) = page else { break };
            for record in page.items {
                if let Some(id) = record.get("id").and_then(serde_json::Value::as_i64) {
                    records.push((id, record));
                }
            }
            if live {
                eprint!("\r  {:<16} {:>7}", label(kind), records.len());
                let _ = std::io::stderr().flush();
            }
        }
        if live {
            eprintln!();
        } else {
            eprintln!("  {:<16} {:>7}", label(kind), records.len());
        }
        pulled.push(Pulled { kind, records });
    }
    Ok(pulled)
}

/// Replaces the cache with what was read.
pub async fn store_records(store: &impl Store, pulled: &[Pulled]) -> anyhow::Result<()> {
    let fetched_at = Utc::now();
    for batch in pulled {
        store
            .replace_cw_records(batch.kind, &batch.records, fetched_at)
            .await
            .with_context(|| format!("could not cache the {}", label(batch.kind)))?;
    }
    Ok(())
}

pub async fn run(context: &Context) -> anyhow::Result<()> {
    let client = context.client().await?;

    eprintln!("Reading ConnectWise records from {}:", client.site());
    let pulled = pull_records(&client).await?;
    store_records(context.store().await?, &pulled).await?;

    let total: usize = pulled.iter().map(|batch| batch.records.len()).sum();
    println!("Cached {total} ConnectWise records.");
    Ok(())
}
