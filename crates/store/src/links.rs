//! Sync links: which ConnectWise records hyalto wrote for which service, and what it last wrote.
//!
//! The sync engine compares these with the inventory (what should be billed) and with
//! ConnectWise (what is billed) to plan its writes; a link is recorded right after each write.

use chrono::{DateTime, NaiveDate, Utc};
use hyalto_domain::{CustomerId, MeterKey, ServiceId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A child agreement hyalto wrote (or adopted) for one service.
///
/// A service has at most one active child agreement; one that was ended stays recorded, and a
/// service that comes back after being gone gets a new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementLink {
    /// ConnectWise id of the child agreement.
    pub agreement_id: i64,
    /// The service it bills.
    pub service: ServiceId,
    /// The customer it was written for (kept because a service may change customer).
    pub customer: CustomerId,
    /// The master agreement it hangs under.
    pub parent_agreement_id: i64,
    /// hyalto's ownership key written into the agreement.
    pub ownership_key: String,
    /// The date hyalto ended it, or `None` while it is active.
    pub ended_on: Option<NaiveDate>,
}

/// Whether an addition hyalto wrote is still billing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AdditionState {
    /// Billing.
    Active,
    /// Cancelled with this `cancelledDate`.
    Cancelled {
        /// The cancellation date written to ConnectWise.
        on: NaiveDate,
    },
}

/// An addition hyalto wrote (or adopted) on a child agreement, with what it last wrote.
///
/// A service has at most one active addition per meter; with cancel-and-replace the cancelled
/// ones stay recorded beside the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdditionLink {
    /// ConnectWise id of the addition.
    pub addition_id: i64,
    /// The child agreement it is on (an [`AgreementLink`] must exist for it).
    pub agreement_id: i64,
    /// The service it bills.
    pub service: ServiceId,
    /// The meter it bills.
    pub meter: MeterKey,
    /// The catalog item it was written with.
    pub catalog_item_id: i64,
    /// hyalto's ownership key written into the addition.
    pub ownership_key: String,
    /// The quantity hyalto last wrote.
    pub quantity: Decimal,
    /// The unit price hyalto last wrote, or `None` when it left the catalog price.
    pub unit_price: Option<Decimal>,
    /// The unit cost hyalto last wrote, or `None` when it left the catalog cost.
    pub unit_cost: Option<Decimal>,
    /// The effective date written.
    pub effective_date: NaiveDate,
    /// Active or cancelled.
    pub state: AdditionState,
}

/// A link as stored, with the store's bookkeeping times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded<T> {
    /// The link.
    pub link: T,
    /// When it was first recorded.
    pub created_at: DateTime<Utc>,
    /// When it was last recorded.
    pub updated_at: DateTime<Utc>,
}

/// Links recorded for one customer or one service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Child agreements, ordered by service id then agreement id.
    pub agreements: Vec<Recorded<AgreementLink>>,
    /// Additions on those agreements, ordered by agreement id then addition id.
    pub additions: Vec<Recorded<AdditionLink>>,
}
