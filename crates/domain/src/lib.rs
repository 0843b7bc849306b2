//! hyalto's domain: the inventory model, the JSON import format and the metering rules.
//!
//! This crate is pure: it does no I/O beyond parsing text handed to it, and it knows nothing
//! of storage or of the billing system hyalto writes to. Everything else in hyalto describes
//! customers, services and billed quantities with these types.
//!
//! - [`ids`]: validated ids for customers, services and inventory sources.
//! - [`inventory`]: customers, services, resources and the [`Snapshot`] one source takes.
//! - [`import`]: the documented `hyalto.inventory/v1` JSON format, read by [`parse_snapshot`].
//! - [`metering`]: [`MeteringRules`] and [`meter`], which turn resources into billed
//!   quantities, and the [`MeterKey`] product mappings key on.

pub mod ids;
pub mod import;
pub mod inventory;
pub mod metering;

#[cfg(test)]
mod docs_tests;

pub use ids::{CustomerId, IdError, ServiceId, SourceId, disguising_character, hidden_character};
pub use import::{
    FORMAT, ImportError, MAX_CLOCK_AHEAD, Problem, check_taken_at, parse_snapshot, write_snapshot,
};
pub use inventory::{
    Completeness, Customer, ParseError, PowerState, Resource, ResourceKind, Service, ServiceKind,
    Snapshot, Unit,
};
pub use metering::{
    BillingUnit, MeterKey, MeterKeyError, MeteredQuantity, MeteringRules, Rounding, RulesError,
    StorageBasis, convert, meter,
};
