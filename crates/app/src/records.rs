//! Pulling the records hyalto caches from ConnectWise, and storing them.

use chrono::Utc;
use futures::TryStreamExt as _;
use hyalto_connectwise::{Client, ListQuery};
use hyalto_store::{CwRecordKind, Store, StoreError};

use crate::permissions::describe;

/// The records of one kind read from ConnectWise.
pub struct Pulled {
    /// What they are.
    pub kind: CwRecordKind,
    /// Each record's id and body, as ConnectWise sent it.
    pub records: Vec<(i64, serde_json::Value)>,
}

/// A pull that stopped: the kind it was reading and ConnectWise's error.
#[derive(Debug, thiserror::Error)]
#[error("could not read the {} from ConnectWise: {}", label(*kind), describe(source))]
pub struct PullError {
    /// The kind being read.
    pub kind: CwRecordKind,
    /// What ConnectWise answered.
    #[source]
    pub source: hyalto_connectwise::Error,
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

/// A plural name for progress lines and messages.
pub fn label(kind: CwRecordKind) -> &'static str {
    match kind {
        CwRecordKind::Company => "companies",
        CwRecordKind::Contact => "contacts",
        CwRecordKind::Agreement => "agreements",
        CwRecordKind::AgreementType => "agreement types",
        CwRecordKind::CatalogItem => "catalog items",
        CwRecordKind::BillingCycle => "billing cycles",
    }
}

/// Reads every cached kind from ConnectWise, in [`CwRecordKind::ALL`] order. After each page,
/// `progress` gets the kind being read and how many of its records were read so far; when a
/// kind is complete it gets the final count once more.
///
/// Nothing is stored: the caller stores the result once everything was read, so a refused
/// permission halfway leaves the cache as it was.
pub async fn pull_records(
    client: &Client,
    mut progress: impl FnMut(CwRecordKind, usize, bool),
) -> Result<Vec<Pulled>, PullError> {
    let mut pulled = Vec::new();

    for kind in CwRecordKind::ALL {
        let mut records = Vec::new();
        let mut pages = std::pin::pin!(
            client.pages_forward_only::<serde_json::Value>(path_of(kind), &ListQuery::default())
        );
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|source| PullError { kind, source })?
        {
            for record in page.items {
                if let Some(id) = record.get("id").and_then(serde_json::Value::as_i64) {
                    records.push((id, record));
                }
            }
            progress(kind, records.len(), false);
        }
        progress(kind, records.len(), true);
        pulled.push(Pulled { kind, records });
    }
    Ok(pulled)
}

/// Replaces the cache with what was read, and returns how many records it now holds.
pub async fn store_records(store: &impl Store, pulled: &[Pulled]) -> Result<u64, StoreError> {
    let fetched_at = Utc::now();
    let mut total = 0u64;
    for batch in pulled {
        store
            .replace_cw_records(batch.kind, &batch.records, fetched_at)
            .await?;
        total += batch.records.len() as u64;
    }
    Ok(total)
}
