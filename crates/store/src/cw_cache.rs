//! The cache of ConnectWise records hyalto reads often.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// The kinds of ConnectWise record kept in the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CwRecordKind {
    /// `/company/companies`.
    Company,
    /// `/company/contacts`.
    Contact,
    /// `/finance/agreements`.
    Agreement,
    /// `/finance/agreements/types`.
    AgreementType,
    /// `/procurement/catalog`.
    CatalogItem,
    /// `/finance/billingCycles`.
    BillingCycle,
}

impl CwRecordKind {
    /// Every kind, in a stable order.
    pub const ALL: [CwRecordKind; 6] = [
        CwRecordKind::Company,
        CwRecordKind::Contact,
        CwRecordKind::Agreement,
        CwRecordKind::AgreementType,
        CwRecordKind::CatalogItem,
        CwRecordKind::BillingCycle,
    ];

    /// The snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CwRecordKind::Company => "company",
            CwRecordKind::Contact => "contact",
            CwRecordKind::Agreement => "agreement",
            CwRecordKind::AgreementType => "agreement_type",
            CwRecordKind::CatalogItem => "catalog_item",
            CwRecordKind::BillingCycle => "billing_cycle",
        }
    }
}

impl fmt::Display for CwRecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not a [`CwRecordKind`].
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a ConnectWise record kind")]
pub struct UnknownRecordKind(pub String);

impl FromStr for CwRecordKind {
    type Err = UnknownRecordKind;

    fn from_str(text: &str) -> Result<CwRecordKind, UnknownRecordKind> {
        CwRecordKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownRecordKind(text.to_owned()))
    }
}

/// One cached ConnectWise record.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedRecord {
    /// What kind of record it is.
    pub kind: CwRecordKind,
    /// ConnectWise's id of the record.
    pub id: i64,
    /// The record as ConnectWise returned it.
    pub body: serde_json::Value,
    /// When hyalto fetched this copy.
    pub fetched_at: DateTime<Utc>,
}
