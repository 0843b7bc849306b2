//! Inventory as stored: services with their life span, customers with their mapping, usage
//! history, and what applying a snapshot changed.

use chrono::{DateTime, Utc};
use hyalto_domain::{Completeness, Customer, ResourceKind, Service, ServiceId, SourceId, Unit};
use rust_decimal::Decimal;

use crate::mapping::CompanyMapping;

/// Which services a query returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Only services that are present (not gone).
    PresentOnly,
    /// Present and gone services alike; the sync needs gone ones to cancel their additions.
    IncludingGone,
}

/// A service with its current resources and its life span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The service as last reported, resources in the order they were reported.
    pub service: Service,
    /// The source that last reported it.
    pub source: SourceId,
    /// When the current life of the service began: the snapshot that first reported it, or
    /// the one that reported it again after it was gone.
    pub first_seen: DateTime<Utc>,
    /// The newest snapshot that reported it.
    pub last_seen: DateTime<Utc>,
    /// The complete snapshot that no longer reported it; `None` while it exists.
    pub gone_at: Option<DateTime<Utc>>,
    /// The snapshot that first reported it with its current customer (or unassigned):
    /// `first_seen` until the service moves to another customer, then the snapshot that
    /// showed the move.
    pub customer_since: DateTime<Utc>,
}

impl ServiceRecord {
    /// Whether the service is gone.
    pub fn is_gone(&self) -> bool {
        self.gone_at.is_some()
    }
}

/// A customer with its billing mapping, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerSummary {
    /// The customer as last reported.
    pub customer: Customer,
    /// The source that last reported it.
    pub source: SourceId,
    /// The first snapshot that reported it.
    pub first_seen: DateTime<Utc>,
    /// The newest snapshot that reported it.
    pub last_seen: DateTime<Utc>,
    /// Where it is billed; `None` means unmapped, so none of its services are billed.
    pub mapping: Option<CompanyMapping>,
    /// How many of its services are present (not gone).
    pub present_services: u64,
}

impl CustomerSummary {
    /// Whether the customer is mapped to a ConnectWise company.
    pub fn is_mapped(&self) -> bool {
        self.mapping.is_some()
    }
}

/// One usage observation: a resource quantity of a service as a snapshot reported it.
///
/// History is written only when something changed: a resource seen for the first time (or the
/// first time in a service's new life), a changed quantity or unit, or a resource that
/// disappeared from a service still present (recorded as quantity 0 in its last unit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageObservation {
    /// When the snapshot that made the observation was taken.
    pub observed_at: DateTime<Utc>,
    /// The source of that snapshot.
    pub source: SourceId,
    /// The resource observed.
    pub resource: ResourceKind,
    /// Its tier, if any.
    pub tier: Option<String>,
    /// The quantity reported.
    pub quantity: Decimal,
    /// The unit of the quantity.
    pub unit: Unit,
}

/// What the store knows about an inventory source's latest snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceState {
    /// The source.
    pub source: SourceId,
    /// When its newest applied snapshot was taken.
    pub last_taken_at: DateTime<Utc>,
    /// When its newest complete snapshot was taken, if any was.
    pub last_complete_at: Option<DateTime<Utc>>,
    /// Whether its newest snapshot was complete; the sync skips customers of a source whose
    /// newest snapshot was not.
    pub completeness: Completeness,
}

/// What applying a snapshot changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotReport {
    /// Customers listed in the snapshot.
    pub customers_seen: usize,
    /// Services seen for the first time.
    pub added: Vec<ServiceId>,
    /// Services that were gone and are back (their first_seen moved to this snapshot).
    pub revived: Vec<ServiceId>,
    /// Present services whose customer, kind, name, power state or resources changed.
    pub changed: Vec<ServiceId>,
    /// Present services reported exactly as before.
    pub unchanged: usize,
    /// Services of the source missing from a complete snapshot, now gone.
    pub gone: Vec<ServiceId>,
    /// Usage history rows written.
    pub history_rows: usize,
    /// What was undone of a future-dated snapshot that this one replaced, when it replaced one
    /// (see [`Store::apply_snapshot_replacing_future`](crate::Store::apply_snapshot_replacing_future)).
    pub replaced_future: Option<FutureSnapshotReplaced>,
}

/// What replacing a future-dated snapshot changed before the replacing snapshot was applied.
///
/// Every instant of the source later than the replacing snapshot's `taken_at` is brought back
/// to it, and services the future snapshot marked gone are present again until a snapshot says
/// otherwise, so the store reads as if the future snapshot had been taken at the replacing
/// snapshot's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FutureSnapshotReplaced {
    /// When the replaced snapshot claimed to be taken.
    pub future_taken_at: DateTime<Utc>,
    /// Services whose first seen, last seen or customer-since instant was brought back.
    pub services_redated: usize,
    /// Services the future snapshot had marked gone, present again.
    pub services_unburied: Vec<ServiceId>,
    /// Usage history rows whose observation instant was brought back.
    pub history_redated: usize,
    /// Customers whose first or last seen instant was brought back.
    pub customers_redated: usize,
}
