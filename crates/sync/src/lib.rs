//! hyalto's sync engine: it makes ConnectWise bill what the inventory says, and nothing else.
//!
//! A wrong quantity is a wrong invoice, so the engine is built around a pure planner. A sync
//! reads the **desired state** ([`desired`]: mapped customers' services, metered and mapped to
//! catalog items) and the **known state** ([`known`]: ConnectWise's child agreements and
//! additions under each master agreement, plus the links hyalto recorded), computes a
//! [`Plan`] from the two without any I/O ([`plan`]), and then applies it ([`apply`]). The
//! [`SyncEngine`] ties the steps together under the sync lease and records every run.
//!
//! # The rules
//!
//! - **Structure.** Each billable service gets one child agreement under its customer's master
//!   agreement (same company, contact and billing cycle; the mapping's agreement type or the
//!   master's; a name from [`SyncConfig::agreement_name_template`]; start date = the day it was
//!   first seen), and one addition per mapped meter (the product of its product mapping,
//!   billable, with the mapping's price overrides and an invoice description
//!   "meter – service" without the quantity).
//! - **Dates** are calendar days in [`SyncConfig::billing_tz`]; "today" is
//!   [`SyncOptions::now`] there. A new service's additions start on its first-seen day. A
//!   missing line of a service already billed (a new meter, or a line a failed or interrupted
//!   run never created) starts on the first day of its meter's current run of non-zero usage
//!   observations, never before the service's start, after an earlier line of the meter, or
//!   after today.
//! - **Ownership keys** ([`keys`]) mark every record hyalto writes: a line in a child's
//!   `internalNotes` and an addition's `serialNumber`. A record found by its key without a link
//!   is adopted (the link is recorded, nothing is written), so a lost answer never leads to a
//!   duplicate. Invoice templates should not print the serial numbers of agreement additions.
//! - **Quantity changes** follow the mapping's mode: `in_place` PATCHes the quantity;
//!   `cancel_and_replace` cancels the line with yesterday as its last day and adds a new one
//!   from today (a line that only starts today is corrected in place instead).
//! - **Product changes**: a line whose meter's product mapping now names another catalog item
//!   or another price or cost override is cancelled the day before and replaced from today,
//!   whatever the quantity change mode; a line that starts today or later is corrected in place
//!   instead, so no line starts after today. A meter never has two live lines.
//! - **Plausibility**: a quantity change that breaks [`SyncConfig::change_guard`] (more than
//!   10x and more than 100 units apart, or a running service's CPU or RAM dropping to zero, by
//!   default; drops to zero and vanished meters included) or a quantity above
//!   [`SyncConfig::ceilings`] (first or not) is held and reported until
//!   [`SyncOptions::confirm_changes`]; the customer's other changes are applied. Confirmations
//!   and take-overs that cannot apply are refused before the run starts.
//! - **Names**: a running child whose name is not what the template gives now (the service was
//!   renamed) gets its `name` PATCHed.
//! - **Drift** (ConnectWise holds a quantity hyalto did not write) is overwritten in place or
//!   reported, per the mapping. A record deleted, cancelled or ended by hand is reported and
//!   written again only with the mapping's `recreate_deleted`.
//! - **Unfinished work is not a hand edit.** A linked record that ConnectWise shows cancelled
//!   or ended, while its link says it runs, is hyalto's own interrupted change when its date is
//!   one hyalto chose: a date the audit log or a write intent (recorded before every
//!   cancellation and end is sent) shows for that record, looked up by record id however old,
//!   or (for an addition carrying its key) exactly the date today's replacement would write. The
//!   link is brought up to date without a write and the plan goes on: the replacement line is
//!   created from the day after the cancellation, or a service that came back gets a new
//!   child. Any other date is reported as a hand edit.
//! - **Installations**: a child found by key that names another installation (data dir) is
//!   reported and neither adopted nor duplicated, unless [`SyncOptions::take_over`] names it. A
//!   linked child whose notes now name another installation was taken over: nothing more is
//!   written to it, and it is reported.
//! - **Foreign lines**: an active addition hyalto does not own, for the product of a meter, on
//!   hyalto's child is reported and never duplicated; [`SyncOptions::adopt_unowned`] takes it
//!   over. One beside hyalto's own line for the meter (billed twice) is reported and never
//!   adopted.
//! - **Moves**: a service given to another customer stops billing at the old one on the day
//!   before the snapshot that first showed the move, and starts at the new one on that day.
//!   A child cannot end before it starts, so one left on its own first day keeps that day, and
//!   the service's next child starts the day after: no day is billed twice. Nothing is created at the new customer while the old one still bills it; in a full sync a
//!   customer waiting for another one of the run is planned again after the others.
//! - **Previous masters**: after a customer is mapped to another master agreement, linked
//!   children under the old one are read by id. A gone service's lines there are cancelled and
//!   the child ended as usual; a present service's running child there is reported, stays its
//!   billing record (its lines keep following usage), and no second child is made until it has
//!   ended, after which a new child starts the day after.
//! - **Removals**: a meter that disappears is cancelled as of today; a gone service has its
//!   lines cancelled and its child ended on the day it was found gone. Nothing is ever deleted.
//!   When more than [`SyncConfig::removal_hold_share`] of a customer's services vanish at once,
//!   those removals wait for [`SyncOptions::confirm_removals`]; the customer's other changes
//!   are applied, and a hold is not a failure of the run.
//! - **Safety**: a customer whose inventory source is incomplete, or whose master agreement is
//!   missing, cancelled or another company's, is skipped with the reason. A meter without a
//!   product mapping is reported and nothing is written for it (removing a product mapping never
//!   cancels a line).
//! - **Failures** stay with their customer; a permission error stops all writes of the run.
//!   Every ConnectWise write is in the audit log with its outcome and request id.
//! - A second sync with nothing changed makes no writes.
//!
//! Modules, in reading order: [`desired`], [`known`], [`keys`], [`plan`], [`apply`],
//! [`engine`], [`error`].

pub mod apply;
pub mod desired;
pub mod engine;
pub mod error;
pub mod keys;
pub mod known;
pub mod plan;

pub use engine::{Progress, RunReport, SyncConfig, SyncEngine, SyncOptions};
pub use error::SyncError;
pub use plan::{
    Ceilings, ChangeCause, ChangeGuard, ChildRef, CustomerPlan, CustomerStatus, Finding, Operation,
    Plan, RunTable,
};
