//! The planner: a pure function of (desired state, known state, options) to a [`Plan`].
//!
//! It does no I/O, so every rule is unit-tested here and 10,000 services plan in well under a
//! second. The rules, per service of a mapped customer (see the crate documentation for the
//! full list):
//!
//! 1. Find the service's child agreement: the linked one, else one carrying its ownership key
//!    (adopted), else create one when the service has something to bill.
//! 2. Per mapped meter, find its addition the same way; create, update, cancel-and-replace or
//!    leave it; report drift, hand deletions and additions hyalto does not own.
//! 3. A gone service has its additions cancelled and its child ended on the day it was found
//!    gone, unless too many of the customer's services vanished at once (held).
//!
//! Operations come out in the order they must be applied: a child before its additions, a
//! cancellation before the addition that replaces it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::NaiveDate;
use hyalto_connectwise::models::{Addition, Agreement};
use hyalto_domain::{CustomerId, MeterKey, ResourceKind, ServiceId, ServiceKind, Unit};
use hyalto_store::{
    AdditionLink, AdditionState, AgreementLink, DriftPolicy, MappingOptions, ProductMapping,
    QuantityChangeMode,
};
use rust_decimal::Decimal;
use serde::Serialize;
use unicode_segmentation::UnicodeSegmentation as _;

use crate::desired::{DesiredCustomer, DesiredMeter, DesiredService, kind_label, meter_label};
use crate::keys::{
    KEY_PREFIX, addition_key, child_key, installation_in_notes, key_in_notes,
    notes_for_installation,
};
use crate::known::{KnownCustomer, Master, MasterState, OwnChanges};

/// Everything one sync would do, customer by customer.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Plan {
    /// One entry per mapped customer looked at, by customer id.
    pub customers: Vec<CustomerPlan>,
}

/// What one sync would do for one customer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerPlan {
    /// The customer.
    pub customer: CustomerId,
    /// The ConnectWise company it is billed to.
    pub company_id: i64,
    /// The master agreement its child agreements hang under.
    pub master_agreement_id: i64,
    /// Whether it is synced.
    pub status: CustomerStatus,
    /// The operations, in the order they are applied.
    pub operations: Vec<Operation>,
    /// What the sync noticed and reports without acting on it.
    pub findings: Vec<Finding>,
}

/// Whether a customer is synced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CustomerStatus {
    /// Its operations are applied.
    Ready,
    /// Nothing is written for it, for `reason`.
    Skipped {
        /// Why, in plain words.
        reason: String,
    },
    /// Its operations are applied, except the cancellations of vanished services, which wait
    /// for `hyalto sync --confirm-removals CUSTOMER`.
    RemovalsHeld {
        /// Services that vanished.
        vanished: usize,
        /// Services present plus vanished.
        total: usize,
    },
    /// Its operations are applied, except the implausible quantity changes, which wait for
    /// `hyalto sync --confirm-changes CUSTOMER`.
    ChangesHeld {
        /// How many changes are held.
        changes: usize,
    },
    /// Its known state could not be read; nothing is written for it.
    Failed {
        /// ConnectWise's or the store's message.
        error: String,
    },
}

/// The child agreement an addition goes on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "child", rename_all = "snake_case")]
pub enum ChildRef {
    /// A child agreement that exists in ConnectWise.
    Existing {
        /// Its id.
        agreement_id: i64,
    },
    /// The child agreement created for this service earlier in the same plan.
    Planned,
}

/// Why a quantity is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCause {
    /// The metered quantity changed.
    Change,
    /// Someone changed the quantity in ConnectWise; the drift policy is to overwrite it.
    Drift,
}

/// One step of a plan. Each carries `reason`, in plain words.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// POST a child agreement under the master.
    CreateChildAgreement {
        /// The service it bills.
        service: ServiceId,
        /// Its name (at most 100 characters).
        name: String,
        /// Its agreement type.
        agreement_type_id: i64,
        /// The master's company.
        company_id: i64,
        /// The master's contact.
        contact_id: Option<i64>,
        /// The master's billing cycle.
        billing_cycle_id: Option<i64>,
        /// The master agreement.
        parent_agreement_id: i64,
        /// The day the service was first seen, in the billing time zone.
        start_date: NaiveDate,
        /// The ownership key written into `internalNotes`.
        key: String,
        /// Why.
        reason: String,
    },
    /// POST an addition to a child agreement.
    CreateAddition {
        /// The service it bills.
        service: ServiceId,
        /// The meter it bills.
        meter: MeterKey,
        /// The child agreement it goes on.
        child: ChildRef,
        /// The catalog item.
        product_id: i64,
        /// The quantity.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        quantity: Decimal,
        /// The unit price override, if the product mapping has one.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_price: Option<Decimal>,
        /// The unit cost override, if the product mapping has one.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_cost: Option<Decimal>,
        /// The first day billed.
        effective_date: NaiveDate,
        /// The invoice text.
        invoice_description: String,
        /// The ownership key written into `serialNumber`.
        key: String,
        /// Why.
        reason: String,
    },
    /// PATCH an addition's quantity.
    UpdateQuantity {
        /// The service.
        service: ServiceId,
        /// The meter.
        meter: MeterKey,
        /// The child agreement.
        agreement_id: i64,
        /// The addition.
        addition_id: i64,
        /// The quantity in ConnectWise now.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        from: Decimal,
        /// The quantity written.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        to: Decimal,
        /// Why it is written.
        cause: ChangeCause,
        /// Why, in words.
        reason: String,
    },
    /// PATCH an addition's product, unit price, unit cost and quantity in place: its meter's
    /// product mapping changed on or before the day the line starts, so no day it billed
    /// needs the old product.
    ChangeProduct {
        /// The service.
        service: ServiceId,
        /// The meter.
        meter: MeterKey,
        /// The child agreement.
        agreement_id: i64,
        /// The addition.
        addition_id: i64,
        /// The catalog item it has now.
        from_product_id: i64,
        /// The catalog item written.
        product_id: i64,
        /// The unit price override written (`None`: the catalog item's price).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_price: Option<Decimal>,
        /// The unit cost override written (`None`: the catalog item's cost).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_cost: Option<Decimal>,
        /// The quantity written.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        quantity: Decimal,
        /// Why.
        reason: String,
    },
    /// PATCH an addition's `cancelledDate` (the last day billed). Never a DELETE.
    CancelAddition {
        /// The service.
        service: ServiceId,
        /// The meter.
        meter: MeterKey,
        /// The child agreement.
        agreement_id: i64,
        /// The addition.
        addition_id: i64,
        /// The last day billed.
        cancelled_date: NaiveDate,
        /// Why.
        reason: String,
    },
    /// PATCH a child agreement's `name`: its service (or customer) was renamed, so the name the
    /// template gives differs from the one ConnectWise holds.
    RenameChildAgreement {
        /// The service.
        service: ServiceId,
        /// The child agreement.
        agreement_id: i64,
        /// The name in ConnectWise now.
        from: String,
        /// The name written (at most 100 characters).
        to: String,
        /// Why.
        reason: String,
    },
    /// PATCH a child agreement's `internalNotes` so that its installation line names this
    /// installation: its records are taken over from another one (`--take-over`).
    TakeOverChildAgreement {
        /// The service.
        service: ServiceId,
        /// The child agreement.
        agreement_id: i64,
        /// The installation that wrote it.
        from_installation: String,
        /// The notes written, with this installation's line.
        notes: String,
        /// Why.
        reason: String,
    },
    /// PATCH a child agreement's `endDate` (and `noEndingDateFlag` false). Never a DELETE.
    EndChildAgreement {
        /// The service.
        service: ServiceId,
        /// The child agreement.
        agreement_id: i64,
        /// The last day of the agreement.
        end_date: NaiveDate,
        /// Why.
        reason: String,
    },
    /// Record a link to a child agreement hyalto owns, as ConnectWise holds it; no
    /// ConnectWise write.
    AdoptChildAgreement {
        /// The service.
        service: ServiceId,
        /// The child agreement.
        agreement_id: i64,
        /// Its ownership key.
        key: String,
        /// Its end date, when it has ended.
        ended_on: Option<NaiveDate>,
        /// Why.
        reason: String,
    },
    /// Record a link to an addition, as ConnectWise holds it; no ConnectWise write.
    AdoptAddition {
        /// The service.
        service: ServiceId,
        /// The meter.
        meter: MeterKey,
        /// The child agreement.
        agreement_id: i64,
        /// The addition.
        addition_id: i64,
        /// Its catalog item.
        product_id: i64,
        /// Its quantity in ConnectWise.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        quantity: Decimal,
        /// The unit price override recorded for it (`None`: the catalog price).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_price: Option<Decimal>,
        /// The unit cost override recorded for it (`None`: the catalog cost).
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        unit_cost: Option<Decimal>,
        /// Its effective date.
        effective_date: NaiveDate,
        /// The ownership key recorded for it.
        key: String,
        /// Its last billed day, when it no longer bills.
        cancelled_on: Option<NaiveDate>,
        /// Why.
        reason: String,
    },
}

impl Operation {
    /// The service the operation is for.
    pub fn service(&self) -> &ServiceId {
        match self {
            Operation::CreateChildAgreement { service, .. }
            | Operation::CreateAddition { service, .. }
            | Operation::UpdateQuantity { service, .. }
            | Operation::ChangeProduct { service, .. }
            | Operation::CancelAddition { service, .. }
            | Operation::RenameChildAgreement { service, .. }
            | Operation::TakeOverChildAgreement { service, .. }
            | Operation::EndChildAgreement { service, .. }
            | Operation::AdoptChildAgreement { service, .. }
            | Operation::AdoptAddition { service, .. } => service,
        }
    }

    /// The meter, for operations on an addition.
    pub fn meter(&self) -> Option<&MeterKey> {
        match self {
            Operation::CreateAddition { meter, .. }
            | Operation::UpdateQuantity { meter, .. }
            | Operation::ChangeProduct { meter, .. }
            | Operation::CancelAddition { meter, .. }
            | Operation::AdoptAddition { meter, .. } => Some(meter),
            _ => None,
        }
    }

    /// Whether applying it writes to ConnectWise (adoptions only record a link).
    pub fn writes_to_connectwise(&self) -> bool {
        !matches!(
            self,
            Operation::AdoptChildAgreement { .. } | Operation::AdoptAddition { .. }
        )
    }

    /// The snake_case name of the operation.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::CreateChildAgreement { .. } => "create_child_agreement",
            Operation::CreateAddition { .. } => "create_addition",
            Operation::UpdateQuantity { .. } => "update_quantity",
            Operation::ChangeProduct { .. } => "change_product",
            Operation::CancelAddition { .. } => "cancel_addition",
            Operation::RenameChildAgreement { .. } => "rename_child_agreement",
            Operation::TakeOverChildAgreement { .. } => "take_over_child_agreement",
            Operation::EndChildAgreement { .. } => "end_child_agreement",
            Operation::AdoptChildAgreement { .. } => "adopt_child_agreement",
            Operation::AdoptAddition { .. } => "adopt_addition",
        }
    }

    /// The reason in plain words.
    pub fn reason(&self) -> &str {
        match self {
            Operation::CreateChildAgreement { reason, .. }
            | Operation::CreateAddition { reason, .. }
            | Operation::UpdateQuantity { reason, .. }
            | Operation::ChangeProduct { reason, .. }
            | Operation::CancelAddition { reason, .. }
            | Operation::RenameChildAgreement { reason, .. }
            | Operation::TakeOverChildAgreement { reason, .. }
            | Operation::EndChildAgreement { reason, .. }
            | Operation::AdoptChildAgreement { reason, .. }
            | Operation::AdoptAddition { reason, .. } => reason,
        }
    }

    /// A short description of what is written, for the plan table.
    fn detail(&self) -> String {
        match self {
            Operation::CreateChildAgreement {
                name, start_date, ..
            } => format!("\"{name}\" from {start_date}"),
            Operation::CreateAddition {
                quantity,
                effective_date,
                product_id,
                ..
            } => format!("qty {quantity} of item {product_id} from {effective_date}"),
            Operation::UpdateQuantity {
                addition_id,
                from,
                to,
                ..
            } => format!("addition {addition_id}: qty {from} -> {to}"),
            Operation::ChangeProduct {
                addition_id,
                from_product_id,
                product_id,
                quantity,
                ..
            } => format!(
                "addition {addition_id}: item {from_product_id} -> {product_id}, qty {quantity}"
            ),
            Operation::CancelAddition {
                addition_id,
                cancelled_date,
                ..
            } => format!("addition {addition_id}: last day {cancelled_date}"),
            Operation::RenameChildAgreement {
                agreement_id, to, ..
            } => format!("agreement {agreement_id}: name \"{to}\""),
            Operation::TakeOverChildAgreement {
                agreement_id,
                from_installation,
                ..
            } => format!("agreement {agreement_id}: from installation {from_installation}"),
            Operation::EndChildAgreement {
                agreement_id,
                end_date,
                ..
            } => format!("agreement {agreement_id}: ends {end_date}"),
            Operation::AdoptChildAgreement { agreement_id, .. } => {
                format!("agreement {agreement_id}")
            }
            Operation::AdoptAddition {
                addition_id,
                quantity,
                ..
            } => format!("addition {addition_id} (qty {quantity})"),
        }
    }
}

/// Something the sync noticed and reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// ConnectWise holds a quantity hyalto did not write; under the report policy it is left.
    Drift {
        /// The service.
        service: ServiceId,
        /// The meter.
        meter: MeterKey,
        /// The addition.
        addition_id: i64,
        /// What hyalto last wrote.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        last_written: Decimal,
        /// What ConnectWise holds.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        in_connectwise: Decimal,
        /// What the inventory says.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        desired: Decimal,
    },
    /// An active addition hyalto does not own, for the product of a meter, is on hyalto's
    /// child agreement; hyalto neither duplicates nor touches it.
    UnownedAddition {
        /// The service.
        service: ServiceId,
        /// The meter whose product it bills.
        meter: MeterKey,
        /// The child agreement.
        agreement_id: i64,
        /// The addition.
        addition_id: i64,
        /// hyalto's own line for the same meter on that child, when it has one: the unowned
        /// line then bills the meter a second time, and is never adopted.
        own_addition_id: Option<i64>,
        /// Whether it is adopted in this plan (`adopt_unowned`).
        adopted: bool,
    },
    /// A metered quantity has no product mapping, so nothing is written for it.
    MissingProductMapping {
        /// The meter.
        meter: MeterKey,
        /// How many of the customer's services have it.
        services: usize,
    },
    /// A record hyalto wrote was deleted, cancelled or ended in ConnectWise by hand.
    #[serde(rename = "deleted_in_connectwise")]
    DeletedInConnectWise {
        /// The service.
        service: ServiceId,
        /// The meter, for an addition.
        meter: Option<MeterKey>,
        /// `agreement` or `addition`.
        record: &'static str,
        /// Its id.
        id: i64,
        /// `deleted`, `cancelled` or `ended`.
        how: &'static str,
        /// Whether the plan writes it again (the mapping's `recreate_deleted`).
        recreated: bool,
    },
    /// A present service's child agreement still runs under a master agreement the customer
    /// is no longer mapped to; nothing is written for the service until it is ended there (or
    /// the customer is mapped back), so the service is never billed on two children.
    ChildUnderPreviousMaster {
        /// The service.
        service: ServiceId,
        /// Its child agreement.
        agreement_id: i64,
        /// The master agreement it hangs under, as ConnectWise says.
        previous_master: Option<i64>,
        /// The master agreement the customer is mapped to now.
        master: i64,
    },
    /// A quantity change too large to be believed without a person's look is held: nothing is
    /// written for the meter until `hyalto sync --confirm-changes CUSTOMER`.
    ChangeHeld {
        /// The customer, whose id confirms the change.
        customer: CustomerId,
        /// The service.
        service: ServiceId,
        /// The meter.
        meter: MeterKey,
        /// The addition that would change; `None` for the first quantity of a new line.
        addition_id: Option<i64>,
        /// What hyalto last wrote; `None` for the first quantity of a new line.
        #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
        last_written: Option<Decimal>,
        /// What the inventory says now.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        desired: Decimal,
        /// Which rule it broke, in words.
        why: String,
    },
    /// A child agreement carrying a service's ownership key was written by another hyalto
    /// installation (another data dir): it is neither adopted nor duplicated, and nothing is
    /// written for the service until that installation's records are taken over.
    OtherInstallation {
        /// The service.
        service: ServiceId,
        /// The child agreement.
        agreement_id: i64,
        /// The installation named in its notes.
        installation: String,
    },
    /// A child agreement hyalto linked now names another installation in its notes: that
    /// installation took its records over (`--take-over`), and this one writes nothing more to
    /// the child or its lines.
    TakenOver {
        /// The service.
        service: ServiceId,
        /// The child agreement.
        agreement_id: i64,
        /// The installation its notes name now.
        installation: String,
    },
    /// A service that moved here from another customer is still billed on that customer's
    /// child agreement; nothing is created here until that child has ended.
    BilledElsewhere {
        /// The service.
        service: ServiceId,
        /// The customer it is still billed to.
        customer: CustomerId,
        /// That customer's child agreement.
        agreement_id: i64,
    },
    /// Cancellations of vanished services are held until confirmed.
    RemovalsHeld {
        /// The customer, whose id confirms the removals.
        customer: CustomerId,
        /// Services that vanished.
        vanished: usize,
        /// Services present plus vanished.
        total: usize,
        /// The share above which removals are held.
        #[serde(with = "rust_decimal::serde::arbitrary_precision")]
        threshold: Decimal,
    },
}

impl Finding {
    /// Whether the finding is a difference in ConnectWise that the sync leaves as it is.
    pub fn is_left_alone(&self) -> bool {
        match self {
            Finding::Drift { .. }
            | Finding::ChildUnderPreviousMaster { .. }
            | Finding::ChangeHeld { .. }
            | Finding::OtherInstallation { .. }
            | Finding::TakenOver { .. } => true,
            Finding::UnownedAddition { adopted, .. } => !adopted,
            Finding::DeletedInConnectWise { recreated, .. } => !recreated,
            Finding::MissingProductMapping { .. }
            | Finding::RemovalsHeld { .. }
            | Finding::BilledElsewhere { .. } => false,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Drift {
                service,
                meter,
                addition_id,
                last_written,
                in_connectwise,
                desired,
            } => write!(
                f,
                "drift on {service} {meter}: addition {addition_id} holds {in_connectwise} in \
                 ConnectWise, hyalto last wrote {last_written}, inventory says {desired}; left \
                 as is (drift policy: report)"
            ),
            Finding::UnownedAddition {
                service,
                meter,
                agreement_id,
                addition_id,
                own_addition_id,
                adopted,
            } => {
                let action = match own_addition_id {
                    Some(own) => format!(
                        "hyalto bills that meter with its own addition {own}, so the customer \
                         is billed twice; left alone: cancel one of them in ConnectWise"
                    ),
                    None if *adopted => "adopted".to_owned(),
                    None => "left alone; sync with --adopt-unowned to take it over".to_owned(),
                };
                write!(
                    f,
                    "addition {addition_id} on agreement {agreement_id} bills the product of \
                     {service} {meter} but was not written by hyalto: {action}"
                )
            }
            Finding::MissingProductMapping { meter, services } => write!(
                f,
                "{services} service(s) meter {meter}, which has no product mapping: nothing is \
                 billed for it; map it with `hyalto connectwise products`"
            ),
            Finding::DeletedInConnectWise {
                service,
                meter,
                record,
                id,
                how,
                recreated,
            } => {
                let meter = meter
                    .as_ref()
                    .map(|meter| format!(" {meter}"))
                    .unwrap_or_default();
                let action = if *recreated {
                    "written again (recreate_deleted)"
                } else {
                    "not written again unless the mapping's recreate_deleted option is set"
                };
                write!(
                    f,
                    "{record} {id} of {service}{meter} was {how} in ConnectWise by hand: {action}"
                )
            }
            Finding::ChildUnderPreviousMaster {
                service,
                agreement_id,
                previous_master,
                master,
            } => {
                let previous = previous_master
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| "(none)".to_owned());
                write!(
                    f,
                    "child agreement {agreement_id} of service {service} is under the previous \
                     master agreement {previous}; end it there or map back (the customer is \
                     now mapped to master agreement {master}; until then that child stays the \
                     service's billing record: its lines keep following usage there, and no \
                     child is created under master agreement {master})"
                )
            }
            Finding::OtherInstallation {
                service,
                agreement_id,
                installation,
            } => write!(
                f,
                "child agreement {agreement_id} of {service} was written by another hyalto \
                 installation {installation}; stop that installation, then run `hyalto sync \
                 --take-over {installation}` to adopt its records (nothing is written for \
                 {service} until then)"
            ),
            Finding::ChangeHeld {
                customer,
                service,
                meter,
                addition_id,
                last_written,
                desired,
                why,
            } => {
                let change = match (last_written, addition_id) {
                    (Some(last), Some(id)) => {
                        format!("would change from {last} to {desired} on addition {id}")
                    }
                    _ => format!("would be billed {desired} on a new line"),
                };
                write!(
                    f,
                    "{service} {meter} {change}, which looks implausible ({why}): held; check \
                     the inventory, then confirm with --confirm-changes {customer}"
                )
            }
            Finding::TakenOver {
                service,
                agreement_id,
                installation,
            } => write!(
                f,
                "child agreement {agreement_id} of {service} was taken over by installation \
                 {installation} (its notes name it now): this installation writes nothing more \
                 to it or its lines; stop syncing from this data dir, or run `hyalto sync \
                 --take-over {installation}` here to take it back"
            ),
            Finding::BilledElsewhere {
                service,
                customer,
                agreement_id,
            } => write!(
                f,
                "{service} moved here but is still billed to customer {customer} on child \
                 agreement {agreement_id}; nothing is created here until that child has ended: \
                 sync customer {customer} (map it if it is unmapped; if its removals are held, \
                 check its inventory and run `hyalto sync --confirm-removals {customer}`)"
            ),
            Finding::RemovalsHeld {
                customer,
                vanished,
                total,
                threshold,
            } => write!(
                f,
                "{vanished} of {total} services vanished at once (more than {}%): their \
                 cancellations are held; check the inventory, then confirm with \
                 --confirm-removals {customer}",
                (threshold * Decimal::ONE_HUNDRED).normalize()
            ),
        }
    }
}

/// The options the planner needs besides the two states.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanContext {
    /// Today in the billing time zone.
    pub today: NaiveDate,
    /// Above this share of vanished services, their cancellations are held.
    pub removal_hold_share: Decimal,
    /// Whether this customer's removals are confirmed.
    pub removals_confirmed: bool,
    /// Whether additions hyalto does not own are adopted.
    pub adopt_unowned: bool,
    /// The child agreement name template.
    pub name_template: String,
    /// Which quantity changes are too large to write without confirmation.
    pub change_guard: ChangeGuard,
    /// The quantities too large to write without confirmation, first or not.
    pub ceilings: Ceilings,
    /// Whether this customer's held implausible changes are confirmed.
    pub changes_confirmed: bool,
    /// This data dir's installation id, written next to the key of every child agreement.
    pub installation: String,
    /// Installations whose records are taken over (`--take-over`).
    pub take_over: Vec<String>,
}

/// The plausibility guard: a quantity change that breaks it is held, not written, until a
/// person confirms it (`hyalto sync --confirm-changes CUSTOMER`).
///
/// A change is implausible when the larger of the last written and the new quantity is more
/// than `factor` times the smaller one **and** they differ by more than `min_units` (a jump
/// from 2 to 40 vCPUs is a resize; from 20 to 20,000 GiB is more likely a broken export), or
/// when the CPU or RAM of a service that runs (not a stopped VM) drops to zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeGuard {
    /// The ratio above which a change is suspicious. Default 10.
    pub factor: Decimal,
    /// The difference, in billing units, above which a suspicious ratio holds it. Default 100.
    pub min_units: Decimal,
}

impl Default for ChangeGuard {
    fn default() -> ChangeGuard {
        ChangeGuard {
            factor: Decimal::TEN,
            min_units: Decimal::ONE_HUNDRED,
        }
    }
}

impl ChangeGuard {
    /// Why changing a meter of `resource` from `last` to `wanted` is implausible, if it is.
    /// `running` says whether the service runs (a stopped VM may bill zero CPU and RAM).
    pub fn check(
        &self,
        resource: &ResourceKind,
        running: bool,
        last: Decimal,
        wanted: Decimal,
    ) -> Option<String> {
        if last == wanted {
            return None;
        }
        // A drop to zero goes through the factor rule like any other change (500 GiB of
        // storage vanishing is held, 100 is not), except that a running service's CPU or RAM
        // is never zero, and a stopped VM's are metered zero on purpose.
        let vital = matches!(resource, ResourceKind::Cpu | ResourceKind::Ram);
        if wanted.is_zero() && vital {
            return (running && last > Decimal::ZERO)
                .then(|| "CPU or RAM of a running service dropped to 0".to_owned());
        }

        let (low, high) = if wanted > last {
            (last, wanted)
        } else {
            (wanted, last)
        };
        let ratio_exceeded = low
            .checked_mul(self.factor)
            .is_none_or(|limit| high > limit);
        (ratio_exceeded && high - low > self.min_units).then(|| {
            format!(
                "more than {}x and more than {} units apart",
                self.factor.normalize(),
                self.min_units.normalize()
            )
        })
    }
}

/// The largest quantity of one meter that is believed without a person's look, per resource
/// and in the meter's billing unit: anything above is held, the first quantity of a line as
/// much as a change. Every resource kind has one, so no meter can bill an absurd quantity
/// unseen; kinds hyalto does not know yet share [`Ceilings::other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ceilings {
    /// CPU counted in vCPUs. Default 1024.
    pub cpu: Decimal,
    /// CPU allocated as a frequency, in GHz (its billing unit). Default 100,000.
    pub cpu_ghz: Decimal,
    /// RAM in its billing unit (GiB by default). Default 65,536.
    pub ram: Decimal,
    /// Storage in its billing unit (GiB by default). Default 1,048,576 (1 PiB).
    pub storage: Decimal,
    /// Public IP addresses. Default 65,536 (a whole /16).
    pub public_ip: Decimal,
    /// Any other resource kind, in whatever unit it bills. Default 1,000,000.
    pub other: Decimal,
}

impl Default for Ceilings {
    fn default() -> Ceilings {
        Ceilings {
            cpu: Decimal::from(1024),
            cpu_ghz: Decimal::from(100_000),
            ram: Decimal::from(65_536),
            storage: Decimal::from(1_048_576),
            public_ip: Decimal::from(65_536),
            other: Decimal::from(1_000_000),
        }
    }
}

impl Ceilings {
    /// Why `quantity` of `resource` in `unit` is implausible, if it is above its ceiling.
    pub fn check(&self, resource: &ResourceKind, unit: Unit, quantity: Decimal) -> Option<String> {
        let (ceiling, what) = match resource {
            ResourceKind::Cpu if unit == Unit::Count => (self.cpu, "vCPUs"),
            ResourceKind::Cpu => (self.cpu_ghz, unit.as_str()),
            ResourceKind::Ram => (self.ram, unit.as_str()),
            ResourceKind::Storage => (self.storage, unit.as_str()),
            ResourceKind::PublicIp => (self.public_ip, "addresses"),
            ResourceKind::Other(_) => (self.other, unit.as_str()),
        };
        (quantity > ceiling).then(|| {
            format!(
                "above the ceiling of {} {what} for {resource}",
                ceiling.normalize()
            )
        })
    }
}

/// The longest agreement name ConnectWise accepts, in UTF-16 code units.
pub const MAX_AGREEMENT_NAME: usize = 100;

/// Renders the agreement name template: `{customer}`, `{kind}`, `{service}` and
/// `{service_id}` are replaced, and the result is cut to 100 UTF-16 code units on a character
/// boundary (see [`cut_utf16`]).
pub fn agreement_name(template: &str, customer: &str, service: &DesiredService) -> String {
    let name = template
        .replace("{customer}", customer)
        .replace("{kind}", &kind_label(&service.kind))
        .replace("{service_id}", service.id.as_str())
        .replace("{service}", &service.name);
    cut_utf16(name.trim(), MAX_AGREEMENT_NAME)
}

/// The longest invoice description ConnectWise accepts, in UTF-16 code units.
pub const MAX_INVOICE_DESCRIPTION: usize = 6000;

/// `text` cut to at most `max` UTF-16 code units, on a grapheme cluster boundary. ConnectWise
/// keeps text in SQL Server `nvarchar` columns, whose lengths count UTF-16 code units: a
/// character outside the Basic Multilingual Plane (an emoji) counts two. A cut never splits
/// what a reader sees as one character: an emoji with its skin tone, a family joined by
/// zero-width joiners, a letter with its combining accent are kept whole or left out whole.
pub fn cut_utf16(text: &str, max: usize) -> String {
    let mut units = 0;
    text.graphemes(true)
        .take_while(|cluster| {
            units += cluster.encode_utf16().count();
            units <= max
        })
        .collect()
}

/// Plans one customer.
pub fn plan_customer(
    desired: &DesiredCustomer,
    known: &KnownCustomer,
    context: &PlanContext,
) -> CustomerPlan {
    let mut plan = CustomerPlan {
        customer: desired.id.clone(),
        company_id: desired.mapping.company_id,
        master_agreement_id: desired.mapping.agreement_id,
        status: CustomerStatus::Ready,
        operations: Vec::new(),
        findings: Vec::new(),
    };

    // A customer with partial inventory, or whose master cannot take children, gets nothing.
    if let Some(reason) = &desired.skip {
        plan.status = CustomerStatus::Skipped {
            reason: reason.clone(),
        };
        return plan;
    }
    let master = match &known.master {
        Some(MasterState::Usable(master)) => master,
        other => {
            plan.status = CustomerStatus::Skipped {
                reason: master_problem(desired, other.as_ref()),
            };
            return plan;
        }
    };

    let index = KnownIndex::new(known);
    let mut planner = CustomerPlanner {
        desired,
        master,
        index: &index,
        context,
        options: &desired.mapping.options,
        operations: Vec::new(),
        findings: Vec::new(),
        restart: HashMap::new(),
    };

    // Removals are planned apart so that they can be held as a whole.
    let mut removals: Vec<Operation> = Vec::new();
    let mut present = 0usize;
    let mut vanished = 0usize;
    for service in &desired.services {
        match service.gone_on {
            None => {
                present += 1;
                planner.plan_present(service);
            }
            Some(gone_on) => {
                let why = format!("{} is gone since {gone_on}", service.id);
                let operations = planner.plan_gone(service, gone_on, &why);
                if operations.iter().any(Operation::writes_to_connectwise) {
                    vanished += 1;
                }
                removals.extend(operations);
            }
        }
    }

    // A service hyalto bills for this customer that the inventory now gives to another
    // customer (or to none) stops billing here like a gone service, on the day before the
    // snapshot that first showed it elsewhere: the new customer's child starts on that day,
    // so the two neither overlap nor leave a gap. When that day is unknown (the store no
    // longer has the service), the day of the sync stands in for it.
    let current: HashSet<&ServiceId> = desired.services.iter().map(|s| &s.id).collect();
    let mut moved: Vec<&ServiceId> = index
        .agreement_links
        .keys()
        .copied()
        .filter(|service| !current.contains(service))
        .collect();
    moved.sort();
    for service in moved {
        let last_day = match known.departures.get(service) {
            Some(moved_on) => moved_on.pred_opt().unwrap_or(*moved_on),
            None => context.today,
        };
        let left = DesiredService {
            id: service.clone(),
            kind: ServiceKind::Other("moved".to_owned()),
            name: String::new(),
            start_date: last_day,
            gone_on: Some(last_day),
            running: false,
            moved_here: false,
            meters: Vec::new(),
        };
        let why = match known.departures.get(service) {
            Some(moved_on) => format!(
                "{service} belongs to another customer than {} since {moved_on}",
                desired.id
            ),
            None => format!("{service} no longer belongs to customer {}", desired.id),
        };
        let operations = planner.plan_gone(&left, last_day, &why);
        if operations.iter().any(Operation::writes_to_connectwise) {
            vanished += 1;
        }
        removals.extend(operations);
    }

    let missing = planner.missing_products();
    let CustomerPlanner {
        mut operations,
        mut findings,
        ..
    } = planner;
    findings.extend(missing);

    // Too many services vanishing at once is more often a broken inventory than a customer
    // leaving, so their cancellations wait for a person to confirm them. Adoptions only record
    // what ConnectWise already holds, so they go ahead.
    let total = present + vanished;
    let share_exceeded =
        vanished > 0 && Decimal::from(vanished) > context.removal_hold_share * Decimal::from(total);
    if share_exceeded && !context.removals_confirmed {
        plan.status = CustomerStatus::RemovalsHeld { vanished, total };
        findings.push(Finding::RemovalsHeld {
            customer: desired.id.clone(),
            vanished,
            total,
            threshold: context.removal_hold_share,
        });
        removals.retain(|operation| !operation.writes_to_connectwise());
    }
    operations.extend(removals);

    let changes = findings
        .iter()
        .filter(|finding| matches!(finding, Finding::ChangeHeld { .. }))
        .count();
    if changes > 0 && plan.status == CustomerStatus::Ready {
        plan.status = CustomerStatus::ChangesHeld { changes };
    }

    plan.operations = operations;
    plan.findings = findings;
    plan
}

/// Says why a master agreement cannot take children.
fn master_problem(desired: &DesiredCustomer, state: Option<&MasterState>) -> String {
    let id = desired.mapping.agreement_id;
    match state {
        Some(MasterState::Cancelled) => format!(
            "master agreement {id} is cancelled in ConnectWise; map the customer to an open one"
        ),
        Some(MasterState::WrongCompany { actual }) => format!(
            "master agreement {id} belongs to company {} in ConnectWise, not to the mapped \
             company {}; map the customer again",
            actual
                .map(|id| id.to_string())
                .unwrap_or_else(|| "(none)".to_owned()),
            desired.mapping.company_id
        ),
        _ => format!(
            "master agreement {id} does not exist in ConnectWise; map the customer to an \
             existing one"
        ),
    }
}

/// The known state indexed for the planner's lookups.
struct KnownIndex<'a> {
    children_by_id: HashMap<i64, &'a Agreement>,
    /// Active children carrying a key hyalto would give a service's current child.
    children_by_key: HashMap<&'a str, &'a Agreement>,
    additions: &'a HashMap<i64, Vec<Addition>>,
    /// The active agreement link of each service.
    agreement_links: HashMap<&'a ServiceId, &'a AgreementLink>,
    /// The active addition links of each service.
    addition_links: HashMap<&'a ServiceId, Vec<&'a AdditionLink>>,
    /// Every addition id hyalto has a link to, active or not.
    linked_additions: HashSet<i64>,
    /// Services that have ever had an addition link.
    billed_services: HashSet<&'a ServiceId>,
    /// Cancellations and ends hyalto sent, from the audit log.
    own_changes: &'a OwnChanges,
    /// The first day of each lacking meter's current non-zero run (see [`KnownCustomer`]).
    meter_since: &'a HashMap<(ServiceId, MeterKey), NaiveDate>,
    /// The latest cancellation day of each meter's cancelled lines.
    cancelled_lines: HashMap<(ServiceId, MeterKey), NaiveDate>,
    /// Active child links of other customers for services that moved here.
    billed_elsewhere: &'a HashMap<ServiceId, AgreementLink>,
    /// The last day an ended child billed each service that moved here on or before it.
    resume_after: &'a HashMap<ServiceId, NaiveDate>,
}

impl<'a> KnownIndex<'a> {
    fn new(known: &'a KnownCustomer) -> KnownIndex<'a> {
        let children_by_id = known
            .children
            .iter()
            .chain(&known.elsewhere)
            .map(|child| (child.id, child))
            .collect();
        let children_by_key = known
            .children
            .iter()
            .filter(|child| is_running(child))
            .filter_map(|child| {
                let key = key_in_notes(child.internal_notes.as_deref()?)?;
                Some((key, child))
            })
            .collect();

        let agreement_links = known
            .links
            .agreements
            .iter()
            .map(|recorded| &recorded.link)
            .filter(|link| link.ended_on.is_none())
            .map(|link| (&link.service, link))
            .collect();
        let mut addition_links: HashMap<&ServiceId, Vec<&AdditionLink>> = HashMap::new();
        let mut linked_additions = HashSet::new();
        let mut billed_services = HashSet::new();
        let mut cancelled_lines: HashMap<(ServiceId, MeterKey), NaiveDate> = HashMap::new();
        for link in known.links.additions.iter().map(|recorded| &recorded.link) {
            linked_additions.insert(link.addition_id);
            billed_services.insert(&link.service);
            match link.state {
                AdditionState::Active => {
                    addition_links.entry(&link.service).or_default().push(link);
                }
                AdditionState::Cancelled { on } => {
                    let last = cancelled_lines
                        .entry((link.service.clone(), link.meter.clone()))
                        .or_insert(on);
                    *last = (*last).max(on);
                }
            }
        }

        KnownIndex {
            children_by_id,
            children_by_key,
            additions: &known.additions,
            agreement_links,
            addition_links,
            linked_additions,
            billed_services,
            own_changes: &known.own_changes,
            meter_since: &known.meter_since,
            cancelled_lines,
            billed_elsewhere: &known.billed_elsewhere,
            resume_after: &known.resume_after,
        }
    }

    fn additions_of(&self, agreement_id: i64) -> &'a [Addition] {
        self.additions
            .get(&agreement_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// Whether a child agreement still runs: not cancelled and without an end date.
fn is_running(child: &Agreement) -> bool {
    child.cancelled_flag != Some(true) && child.end_date.is_none()
}

/// The master agreement a child hangs under, as ConnectWise says.
fn parent_of(child: &Agreement) -> Option<i64> {
    child.parent_agreement.as_ref().and_then(|parent| parent.id)
}

/// How a record hyalto linked is no longer what it wrote, if it is not.
fn child_problem(child: Option<&Agreement>) -> Option<&'static str> {
    match child {
        None => Some("deleted"),
        Some(child) if child.cancelled_flag == Some(true) => Some("cancelled"),
        Some(child) if child.end_date.is_some() => Some("ended"),
        Some(_) => None,
    }
}

/// The last billed day of an addition, when it has one.
fn cancelled_on(addition: &Addition) -> Option<NaiveDate> {
    addition.cancelled_date.map(|date| date.date())
}

/// An addition's quantity; ConnectWise defaults a missing quantity to 1.
fn quantity_of(addition: &Addition) -> Decimal {
    addition.quantity.unwrap_or(Decimal::ONE)
}

/// How a line hyalto wrote differs from its meter's product mapping now, in words, if it does:
/// another catalog item, or another unit price or unit cost override.
fn product_change(link: &AdditionLink, product: &ProductMapping) -> Option<String> {
    let override_text = |value: Option<Decimal>, catalog: &str| match value {
        Some(value) => value.normalize().to_string(),
        None => catalog.to_owned(),
    };
    if link.catalog_item_id != product.catalog_item_id {
        Some(format!(
            "product changed from catalog item {} to {}",
            link.catalog_item_id, product.catalog_item_id
        ))
    } else if link.unit_price != product.unit_price {
        Some(format!(
            "unit price changed from {} to {}",
            override_text(link.unit_price, "the catalog price"),
            override_text(product.unit_price, "the catalog price")
        ))
    } else if link.unit_cost != product.unit_cost {
        Some(format!(
            "unit cost changed from {} to {}",
            override_text(link.unit_cost, "the catalog cost"),
            override_text(product.unit_cost, "the catalog cost")
        ))
    } else {
        None
    }
}

/// Where a service's additions go, once its child agreement is resolved.
enum Child {
    /// A running child agreement in ConnectWise.
    Existing(i64),
    /// One created earlier in this plan.
    Planned,
    /// None, and none is created.
    Absent,
}

/// The working state of planning one customer.
struct CustomerPlanner<'a> {
    desired: &'a DesiredCustomer,
    master: &'a Master,
    index: &'a KnownIndex<'a>,
    context: &'a PlanContext,
    options: &'a MappingOptions,
    operations: Vec<Operation>,
    findings: Vec<Finding>,
    /// Services billed again on a new child after their child under a previous master ended:
    /// the day the new child and its additions start, the day after that end.
    /// Also services that moved here on a day an ended child of theirs still billed: the day
    /// after that child's last day. Each comes with why its lines start then.
    restart: HashMap<ServiceId, (NaiveDate, String)>,
}

impl CustomerPlanner<'_> {
    /// Plans a service that exists.
    fn plan_present(&mut self, service: &DesiredService) {
        // A meter whose first quantity is held creates nothing, so it alone does not make a
        // child agreement worth creating.
        let billable = service.meters.iter().any(|meter| {
            meter.product.is_some()
                && meter.quantity > Decimal::ZERO
                && self.implausible_first(meter).is_none()
        });

        let child = self.resolve_child(service, billable);
        let agreement_id = match child {
            Child::Existing(id) => Some(id),
            Child::Planned => None,
            Child::Absent => {
                // A service whose every billable meter is above its ceiling gets no child, but
                // its held meters are still reported, so the hold is seen and can be confirmed.
                if !billable {
                    self.report_held_first(service);
                }
                return;
            }
        };
        let additions = agreement_id
            .map(|id| self.index.additions_of(id))
            .unwrap_or(&[]);
        let links: Vec<&AdditionLink> = self
            .index
            .addition_links
            .get(&service.id)
            .map(|links| {
                links
                    .iter()
                    .copied()
                    .filter(|link| Some(link.agreement_id) == agreement_id)
                    .collect()
            })
            .unwrap_or_default();

        // Each mapped meter; unmapped ones are reported once per customer and never touched,
        // so removing a product mapping never cancels a line.
        for meter in &service.meters {
            if meter.product.is_none() {
                continue;
            }
            let link = links.iter().copied().find(|link| link.meter == meter.key);
            self.plan_meter(service, meter, &child, link, additions);
        }

        // Lines of meters the service no longer has at all end today, the day they were found
        // missing, which is the last day billed.
        for link in &links {
            if service.meters.iter().any(|meter| meter.key == link.meter) {
                continue;
            }
            let addition = additions.iter().find(|a| a.id == link.addition_id);
            match addition {
                Some(addition) if cancelled_on(addition).is_none() => {
                    // A meter that vanished is a drop to zero, held by the same rules.
                    let held = (!self.context.changes_confirmed)
                        .then(|| {
                            self.context.change_guard.check(
                                &link.meter.resource,
                                service.running,
                                link.quantity,
                                Decimal::ZERO,
                            )
                        })
                        .flatten();
                    if let Some(why) = held {
                        self.findings.push(Finding::ChangeHeld {
                            customer: self.desired.id.clone(),
                            service: service.id.clone(),
                            meter: link.meter.clone(),
                            addition_id: Some(link.addition_id),
                            last_written: Some(link.quantity),
                            desired: Decimal::ZERO,
                            why: format!("no longer reported; {why}"),
                        });
                        continue;
                    }
                    self.operations.push(Operation::CancelAddition {
                        service: service.id.clone(),
                        meter: link.meter.clone(),
                        agreement_id: link.agreement_id,
                        addition_id: link.addition_id,
                        cancelled_date: self.context.today.max(link.effective_date),
                        reason: format!("{} no longer reports {}", service.id, link.meter),
                    });
                }
                other => {
                    let on = other.and_then(cancelled_on).unwrap_or(self.context.today);
                    self.close_link(
                        link,
                        on,
                        "no longer billed and already ended in ConnectWise",
                    );
                }
            }
        }
    }

    /// Finds, adopts or plans the child agreement of a present service.
    fn resolve_child(&mut self, service: &DesiredService, billable: bool) -> Child {
        if let Some(link) = self.index.agreement_links.get(&service.id) {
            let child = self.index.children_by_id.get(&link.agreement_id).copied();
            if let Some(child) = child
                && self.taken_over(service, child)
            {
                return Child::Absent;
            }
            if let Some(child) = child
                && parent_of(child) != Some(self.master.id)
            {
                return self.under_previous_master(service, link, child, billable);
            }
            let Some(how) = child_problem(child) else {
                if let Some(child) = child {
                    self.rename_if_needed(service, child);
                }
                return Child::Existing(link.agreement_id);
            };
            if let Some(ended_on) = child.and_then(|child| self.own_end(child)) {
                return self.finish_end(service, link, ended_on, billable);
            }

            let recreate = self.options.recreate_deleted;
            self.findings.push(Finding::DeletedInConnectWise {
                service: service.id.clone(),
                meter: None,
                record: "agreement",
                id: link.agreement_id,
                how,
                recreated: recreate && billable,
            });
            if !recreate {
                return Child::Absent;
            }

            // The old child and its lines are closed in the store (they are gone from
            // ConnectWise already) so that a new child can be linked.
            let ended_on = child
                .and_then(|child| child.end_date.or(child.date_cancelled))
                .map(|date| date.date())
                .unwrap_or(self.context.today);
            self.operations.push(Operation::AdoptChildAgreement {
                service: service.id.clone(),
                agreement_id: link.agreement_id,
                key: link.ownership_key.clone(),
                ended_on: Some(ended_on),
                reason: format!("the child agreement was {how} in ConnectWise by hand"),
            });
            let stale: Vec<&AdditionLink> = self
                .index
                .addition_links
                .get(&service.id)
                .map(|links| links.to_vec())
                .unwrap_or_default();
            for addition in stale {
                self.close_link(addition, ended_on, "its child agreement is gone");
            }
            return self.create_child(service, billable);
        }

        // A service that moved here is still billed by the other customer until that
        // customer's sync ends its child there; a child here before that would bill it twice
        // and could not be recorded, so nothing is written for it yet.
        if let Some(theirs) = self.index.billed_elsewhere.get(&service.id) {
            self.findings.push(Finding::BilledElsewhere {
                service: service.id.clone(),
                customer: theirs.customer.clone(),
                agreement_id: theirs.agreement_id,
            });
            return Child::Absent;
        }

        // A child cannot end before it starts, so a service that moved away on the day it
        // arrived left that day billed by the child it left; the new child starts after it.
        if let Some(last) = self.index.resume_after.get(&service.id)
            && let Some(from) = last.succ_opt()
        {
            let why = format!(
                "{} moved to customer {} on {}, a day its previous child already billed; its \
                 new child bills it from {from}",
                service.id, self.desired.id, service.start_date
            );
            self.restart.insert(service.id.clone(), (from, why));
        }

        // No link: a child carrying this life's key was written by a run that died before
        // recording it.
        let key = child_key(&self.desired.id, &service.id, service.start_date);
        if let Some(child) = self.index.children_by_key.get(key.as_str()).copied() {
            if !self.claim(service, child) {
                return Child::Absent;
            }
            self.operations.push(Operation::AdoptChildAgreement {
                service: service.id.clone(),
                agreement_id: child.id,
                key,
                ended_on: None,
                reason: "found in ConnectWise by its ownership key".to_owned(),
            });
            self.rename_if_needed(service, child);
            return Child::Existing(child.id);
        }

        self.create_child(service, billable)
    }

    /// Plans a present service whose linked child hangs under another master agreement than
    /// the one the customer is mapped to (it was mapped again since).
    ///
    /// While that child runs it goes on billing there, so a second child under the new master
    /// would bill the service twice: the sync reports it and creates no child under the new
    /// master. The old child is still the service's live billing record, so its lines keep
    /// following usage there exactly as under the current master (quantities, new and vanished
    /// meters, product changes, the name). Once someone has ended (or cancelled) it there, its
    /// lines still running are cancelled on its last day, its links are closed, and a new child
    /// under the new master bills the service from the day after, so there is neither a gap
    /// nor an overlap.
    fn under_previous_master(
        &mut self,
        service: &DesiredService,
        link: &AgreementLink,
        child: &Agreement,
        billable: bool,
    ) -> Child {
        if is_running(child) {
            self.findings.push(Finding::ChildUnderPreviousMaster {
                service: service.id.clone(),
                agreement_id: child.id,
                previous_master: parent_of(child),
                master: self.master.id,
            });
            self.rename_if_needed(service, child);
            return Child::Existing(child.id);
        }

        let ended_on = child
            .end_date
            .or(child.date_cancelled)
            .map(|date| date.date())
            .unwrap_or(self.context.today);
        self.close_child(
            service,
            link,
            ended_on,
            "its child agreement under the previous master agreement ended",
        );
        if let Some(next) = ended_on.succ_opt() {
            let from = next.max(service.start_date);
            let why = format!(
                "{} is billed on a new child from {from}, after its child under the previous \
                 master agreement ended",
                service.id
            );
            self.restart.insert(service.id.clone(), (from, why));
        }
        self.create_child(service, billable)
    }

    /// Plans a rename of a running child whose name is not the one the template gives now (the
    /// service or the customer was renamed, or the template changed). The name is hyalto's, so
    /// a name changed by hand in ConnectWise is set back too.
    fn rename_if_needed(&mut self, service: &DesiredService, child: &Agreement) {
        let wanted = agreement_name(&self.context.name_template, &self.desired.name, service);
        let current = child.name.as_deref().unwrap_or_default();
        if !is_running(child) || current == wanted {
            return;
        }
        self.operations.push(Operation::RenameChildAgreement {
            service: service.id.clone(),
            agreement_id: child.id,
            from: current.to_owned(),
            reason: format!(
                "the name template now gives \"{wanted}\" for {} (the service, its customer \
                 or the template changed)",
                service.id
            ),
            to: wanted,
        });
    }

    /// Whether a linked child's notes now name another installation: that installation took
    /// its records over (`--take-over`), so this one reports it and writes nothing more to
    /// the child or its lines.
    fn taken_over(&mut self, service: &DesiredService, child: &Agreement) -> bool {
        let notes = child.internal_notes.as_deref().unwrap_or_default();
        let Some(installation) = installation_in_notes(notes) else {
            return false;
        };
        if installation == self.context.installation {
            return false;
        }
        if self.context.take_over.iter().any(|id| id == installation) {
            self.operations.push(Operation::TakeOverChildAgreement {
                service: service.id.clone(),
                agreement_id: child.id,
                from_installation: installation.to_owned(),
                notes: notes_for_installation(notes, &self.context.installation),
                reason: format!("taken back from installation {installation} on request"),
            });
            return false;
        }
        self.findings.push(Finding::TakenOver {
            service: service.id.clone(),
            agreement_id: child.id,
            installation: installation.to_owned(),
        });
        true
    }

    /// Whether a child found by its ownership key (with no link) may be adopted: it names no
    /// installation (written before installations were recorded) or this one, or its
    /// installation is taken over, in which case its notes are rewritten first. A child of
    /// another installation is reported instead, and the caller writes nothing for the service.
    fn claim(&mut self, service: &DesiredService, child: &Agreement) -> bool {
        let notes = child.internal_notes.as_deref().unwrap_or_default();
        let Some(installation) = installation_in_notes(notes) else {
            return true;
        };
        if installation == self.context.installation {
            return true;
        }
        if !self.context.take_over.iter().any(|id| id == installation) {
            self.findings.push(Finding::OtherInstallation {
                service: service.id.clone(),
                agreement_id: child.id,
                installation: installation.to_owned(),
            });
            return false;
        }

        self.operations.push(Operation::TakeOverChildAgreement {
            service: service.id.clone(),
            agreement_id: child.id,
            from_installation: installation.to_owned(),
            notes: notes_for_installation(notes, &self.context.installation),
            reason: format!("taken over from installation {installation} on request"),
        });
        true
    }

    /// Plans a new child agreement when the service has something to bill.
    fn create_child(&mut self, service: &DesiredService, billable: bool) -> Child {
        if !billable {
            return Child::Absent;
        }
        let agreement_type_id = self
            .options
            .child_agreement_type_id
            .or(self.master.type_id)
            .unwrap_or_default();
        self.operations.push(Operation::CreateChildAgreement {
            service: service.id.clone(),
            name: agreement_name(&self.context.name_template, &self.desired.name, service),
            agreement_type_id,
            company_id: self.master.company_id,
            contact_id: self.master.contact_id,
            billing_cycle_id: self.master.billing_cycle_id,
            parent_agreement_id: self.master.id,
            start_date: self
                .restart
                .get(&service.id)
                .map_or(service.start_date, |(from, _)| *from),
            key: child_key(&self.desired.id, &service.id, service.start_date),
            reason: format!("{} is billable and has no child agreement", service.id),
        });
        Child::Planned
    }

    /// Plans one mapped meter of a present service.
    fn plan_meter(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        child: &Child,
        link: Option<&AdditionLink>,
        additions: &[Addition],
    ) {
        let Some(product) = &meter.product else {
            return;
        };
        let wanted = meter.quantity;

        if let Some(link) = link {
            let addition = additions.iter().find(|a| a.id == link.addition_id);
            match addition {
                Some(addition) if cancelled_on(addition).is_none() => {
                    self.report_unowned_beside(service, meter, child, additions, addition.id);
                    self.plan_line(service, meter, link, quantity_of(addition));
                }
                other => {
                    let how = if other.is_some() {
                        "cancelled"
                    } else {
                        "deleted"
                    };
                    let on = other.and_then(cancelled_on).unwrap_or(self.context.today);
                    if wanted == Decimal::ZERO {
                        self.close_link(link, on, "no longer billed and already ended");
                        return;
                    }
                    if let Some(addition) = other
                        && self.is_own_cancellation(meter, link, addition)
                    {
                        self.finish_replacement(service, meter, child, link, on);
                        return;
                    }
                    let recreate = self.options.recreate_deleted;
                    self.findings.push(Finding::DeletedInConnectWise {
                        service: service.id.clone(),
                        meter: Some(meter.key.clone()),
                        record: "addition",
                        id: link.addition_id,
                        how,
                        recreated: recreate,
                    });
                    if recreate {
                        self.close_link(link, on, &format!("{how} in ConnectWise by hand"));
                        let reason = format!("the addition was {how} in ConnectWise by hand");
                        self.create_addition(service, meter, child, self.context.today, reason);
                    }
                }
            }
            return;
        }

        // No link. On an existing child, look for hyalto's own unrecorded line first, then for
        // someone else's line of the same product, before creating one.
        if let Child::Existing(agreement_id) = child {
            let owned = additions.iter().find(|addition| {
                cancelled_on(addition).is_none()
                    && !self.index.linked_additions.contains(&addition.id)
                    && addition.effective_date.is_some_and(|date| {
                        addition.serial_number.as_deref()
                            == Some(addition_key(&service.id, &meter.key, date.date()).as_str())
                    })
            });
            if let Some(addition) = owned {
                self.report_unowned_beside(service, meter, child, additions, addition.id);
                let reason = "found in ConnectWise by its ownership key";
                self.adopt(service, meter, *agreement_id, addition, reason);
                return;
            }

            // Without a line of its own, hyalto reports the first unowned line (and takes it
            // over on request); any further one bills the meter again beside it and is only
            // reported.
            let foreign = self.unowned_lines(product.catalog_item_id, additions);
            if let Some((first, rest)) = foreign.split_first() {
                let adopted = self.context.adopt_unowned;
                self.findings.push(Finding::UnownedAddition {
                    service: service.id.clone(),
                    meter: meter.key.clone(),
                    agreement_id: *agreement_id,
                    addition_id: first.id,
                    own_addition_id: None,
                    adopted,
                });
                for addition in rest {
                    self.findings.push(Finding::UnownedAddition {
                        service: service.id.clone(),
                        meter: meter.key.clone(),
                        agreement_id: *agreement_id,
                        addition_id: addition.id,
                        own_addition_id: adopted.then_some(first.id),
                        adopted: false,
                    });
                }
                if adopted {
                    let reason = "taken over on request (adopt unowned)";
                    self.adopt(service, meter, *agreement_id, first, reason);
                }
                return;
            }
        }

        if wanted > Decimal::ZERO {
            // A service never billed before starts on the day it was first seen; a new meter
            // on a service already billed starts today.
            let never_billed = !self.index.billed_services.contains(&service.id);
            let (effective, reason) = if let Some((from, why)) = self.restart.get(&service.id) {
                (*from, why.clone())
            } else if service.moved_here && matches!(child, Child::Planned) {
                // The first lines of a new child after a move start with the child, on the
                // move day; earlier lines of the meter belong to an ended child.
                (
                    service.start_date,
                    format!(
                        "{} moved to customer {} on {}; its new child bills it from then",
                        service.id, self.desired.id, service.start_date
                    ),
                )
            } else if never_billed {
                (
                    service.start_date,
                    format!("{} is billable from {}", service.id, service.start_date),
                )
            } else {
                self.missing_line_start(service, meter, child)
            };
            self.create_addition(service, meter, child, effective, reason);
        }
    }

    /// The first day and the reason of a line for a meter of a service already billed here
    /// that has no line: the first day of the meter's current run of non-zero observations
    /// (a line a failed or interrupted run never created bills from when it should have),
    /// never before the service's start here nor on a day an earlier line of the meter
    /// billed, and never after today. Without usage history it starts today.
    ///
    /// FIXME(#3): the line carries today's metered quantity over its whole back-dated period;
    /// in mode `cancel_and_replace` a change between its start and today bills the days before
    /// the change at the later quantity. An exact line needs the quantity metered at its start
    /// (rebuilt from the usage history with the metering rules) and a replacement dated on the
    /// change day.
    fn missing_line_start(
        &self,
        service: &DesiredService,
        meter: &DesiredMeter,
        child: &Child,
    ) -> (NaiveDate, String) {
        let today = self.context.today;
        let key = (service.id.clone(), meter.key.clone());
        let Some(since) = self.index.meter_since.get(&key).copied() else {
            return (today, format!("{} now reports {}", service.id, meter.key));
        };

        // The line goes on a child that may have started after the service (one created
        // again after a hand deletion), and bills nothing before it.
        let child_start = match child {
            Child::Existing(id) => self
                .index
                .children_by_id
                .get(id)
                .and_then(|child| child.start_date)
                .map(|date| date.date()),
            Child::Planned | Child::Absent => None,
        };
        let billed_from =
            child_start.map_or(service.start_date, |start| start.max(service.start_date));

        // An earlier line of the meter billed up to its cancellation day; the new one starts
        // after it, so no day is billed twice.
        let after_last_line = self
            .index
            .cancelled_lines
            .get(&key)
            .and_then(|on| on.succ_opt());
        let floor = after_last_line.map_or(billed_from, |after| after.max(billed_from));
        let effective = since.min(today).max(floor);
        let reason = if since <= billed_from {
            format!(
                "{} has reported {} since it was first billed here on {billed_from}; its line \
                 was never created",
                service.id, meter.key
            )
        } else {
            format!("{} reports {} since {since}", service.id, meter.key)
        };
        let reason = if effective > since.max(billed_from) {
            format!("{reason}; billed from {effective}, after its previous line's last day")
        } else {
            reason
        };
        (effective, reason)
    }

    /// The active lines on a child that bill `catalog_item_id` and that hyalto neither linked
    /// nor keyed, in ConnectWise's order.
    fn unowned_lines<'b>(
        &self,
        catalog_item_id: i64,
        additions: &'b [Addition],
    ) -> Vec<&'b Addition> {
        additions
            .iter()
            .filter(|addition| {
                cancelled_on(addition).is_none()
                    && !self.index.linked_additions.contains(&addition.id)
                    && addition.product.as_ref().and_then(|p| p.id) == Some(catalog_item_id)
                    && !addition
                        .serial_number
                        .as_deref()
                        .is_some_and(|serial| serial.starts_with(KEY_PREFIX))
            })
            .collect()
    }

    /// Reports every unowned active line of the meter's product on a child where hyalto
    /// already bills the meter with its own line `own`: each one bills the meter a second
    /// time. They are never touched, and never adopted even with `adopt_unowned`, since that
    /// would leave two lines of hyalto's for one meter.
    fn report_unowned_beside(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        child: &Child,
        additions: &[Addition],
        own: i64,
    ) {
        let (Child::Existing(agreement_id), Some(product)) = (child, &meter.product) else {
            return;
        };
        for addition in self.unowned_lines(product.catalog_item_id, additions) {
            self.findings.push(Finding::UnownedAddition {
                service: service.id.clone(),
                meter: meter.key.clone(),
                agreement_id: *agreement_id,
                addition_id: addition.id,
                own_addition_id: Some(own),
                adopted: false,
            });
        }
    }

    /// Records an addition found in ConnectWise, then brings its quantity in line.
    fn adopt(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        agreement_id: i64,
        addition: &Addition,
        reason: &str,
    ) {
        let effective_date = addition
            .effective_date
            .map(|date| date.date())
            .unwrap_or(service.start_date);
        let quantity = quantity_of(addition);
        let product_id = addition
            .product
            .as_ref()
            .and_then(|product| product.id)
            .unwrap_or_default();
        // An adopted line is accepted under the meter's product mapping: the price and cost
        // ConnectWise shows are the catalog's or someone's choice, not an override hyalto
        // wrote, so only another catalog item counts as a product change later.
        let (unit_price, unit_cost) = meter
            .product
            .as_ref()
            .map(|product| (product.unit_price, product.unit_cost))
            .unwrap_or_default();
        self.operations.push(Operation::AdoptAddition {
            service: service.id.clone(),
            meter: meter.key.clone(),
            agreement_id,
            addition_id: addition.id,
            product_id,
            quantity,
            unit_price,
            unit_cost,
            effective_date,
            key: addition_key(&service.id, &meter.key, effective_date),
            cancelled_on: None,
            reason: reason.to_owned(),
        });

        // What was adopted is now what hyalto last wrote, so any difference is a change.
        let adopted = AdditionLink {
            addition_id: addition.id,
            agreement_id,
            service: service.id.clone(),
            meter: meter.key.clone(),
            catalog_item_id: product_id,
            ownership_key: addition_key(&service.id, &meter.key, effective_date),
            quantity,
            unit_price,
            unit_cost,
            effective_date,
            state: AdditionState::Active,
        };
        self.plan_line(service, meter, &adopted, quantity);
    }

    /// Plans an active line of hyalto's: replaced when its meter's product mapping now names
    /// another catalog item or override, else its quantity compared.
    fn plan_line(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        link: &AdditionLink,
        in_connectwise: Decimal,
    ) {
        let change = meter
            .product
            .as_ref()
            .and_then(|product| product_change(link, product));
        match change {
            Some(change) if meter.quantity > Decimal::ZERO => {
                self.replace_product(service, meter, link, &change);
            }
            _ => self.plan_quantity(service, meter, link, in_connectwise),
        }
    }

    /// Follows a product mapping change on a line. A line that started before today is
    /// cancelled the day before the change (today) and a line of the new product, with the
    /// metered quantity, starts today, whatever the quantity change mode, so the agreement
    /// shows which price applied when. A line that starts today or later has billed nothing
    /// under the old product and is corrected in place (product, price, cost, quantity). No
    /// line ever starts after today because of a mapping change, and the meter has one live
    /// line, with neither a gap nor an overlap.
    fn replace_product(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        link: &AdditionLink,
        change: &str,
    ) {
        if let Some(why) = self.implausible(service, meter, link.quantity) {
            self.hold_change(service, meter, link, why);
            return;
        }

        // A line that starts today or later has billed no day under the old product, so it
        // is corrected in place. Replacing it would cancel it on its first day and start the
        // new line the day after, pushing the new price into the future: a later service end
        // could then not cancel every line by its end date.
        let today = self.context.today;
        if link.effective_date >= today {
            let Some(product) = &meter.product else {
                return;
            };
            self.operations.push(Operation::ChangeProduct {
                service: service.id.clone(),
                meter: meter.key.clone(),
                agreement_id: link.agreement_id,
                addition_id: link.addition_id,
                from_product_id: link.catalog_item_id,
                product_id: product.catalog_item_id,
                unit_price: product.unit_price,
                unit_cost: product.unit_cost,
                quantity: meter.quantity,
                reason: format!(
                    "{change}; addition {} starts on {}, so it is corrected in place",
                    link.addition_id, link.effective_date
                ),
            });
            return;
        }
        let cancelled = today.pred_opt().unwrap_or(today);
        let effective = today;
        self.operations.push(Operation::CancelAddition {
            service: service.id.clone(),
            meter: meter.key.clone(),
            agreement_id: link.agreement_id,
            addition_id: link.addition_id,
            cancelled_date: cancelled,
            reason: format!(
                "{} {}: {change}; replaced from {effective}",
                service.id, meter.key
            ),
        });
        self.create_addition(
            service,
            meter,
            &Child::Existing(link.agreement_id),
            effective,
            format!(
                "{change}; replaces addition {} from {effective}",
                link.addition_id
            ),
        );
    }

    /// Why the metered quantity of `meter` is implausible next to `last_written`, unless the
    /// customer's changes are confirmed.
    fn implausible(
        &self,
        service: &DesiredService,
        meter: &DesiredMeter,
        last_written: Decimal,
    ) -> Option<String> {
        if self.context.changes_confirmed {
            return None;
        }
        self.context
            .ceilings
            .check(&meter.key.resource, meter.unit, meter.quantity)
            .or_else(|| {
                self.context.change_guard.check(
                    &meter.key.resource,
                    service.running,
                    last_written,
                    meter.quantity,
                )
            })
    }

    /// Why the first quantity of a new line is implausible (above its ceiling), unless the
    /// customer's changes are confirmed.
    fn implausible_first(&self, meter: &DesiredMeter) -> Option<String> {
        if self.context.changes_confirmed {
            return None;
        }
        self.context
            .ceilings
            .check(&meter.key.resource, meter.unit, meter.quantity)
    }

    /// Holds the first line of `meter`: its quantity is above the meter's ceiling.
    fn hold_first(&mut self, service: &DesiredService, meter: &DesiredMeter, why: String) {
        self.findings.push(Finding::ChangeHeld {
            customer: self.desired.id.clone(),
            service: service.id.clone(),
            meter: meter.key.clone(),
            addition_id: None,
            last_written: None,
            desired: meter.quantity,
            why,
        });
    }

    /// Reports each mapped meter of `service` whose first quantity is above its ceiling.
    fn report_held_first(&mut self, service: &DesiredService) {
        for meter in &service.meters {
            if meter.product.is_none() || meter.quantity <= Decimal::ZERO {
                continue;
            }
            if let Some(why) = self.implausible_first(meter) {
                self.hold_first(service, meter, why);
            }
        }
    }

    /// Reports a held change; nothing is written for the meter.
    fn hold_change(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        link: &AdditionLink,
        why: String,
    ) {
        self.findings.push(Finding::ChangeHeld {
            customer: self.desired.id.clone(),
            service: service.id.clone(),
            meter: meter.key.clone(),
            addition_id: Some(link.addition_id),
            last_written: Some(link.quantity),
            desired: meter.quantity,
            why,
        });
    }

    /// Compares an active linked addition's quantity with the wanted one. Its product was
    /// already compared by [`CustomerPlanner::plan_line`].
    fn plan_quantity(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        link: &AdditionLink,
        in_connectwise: Decimal,
    ) {
        let wanted = meter.quantity;
        let today = self.context.today;

        // A jump too large to believe waits for a person, whatever would be written for it.
        if in_connectwise != wanted
            && let Some(why) = self.implausible(service, meter, link.quantity)
        {
            self.hold_change(service, meter, link, why);
            return;
        }

        if wanted == Decimal::ZERO {
            self.operations.push(Operation::CancelAddition {
                service: service.id.clone(),
                meter: meter.key.clone(),
                agreement_id: link.agreement_id,
                addition_id: link.addition_id,
                cancelled_date: today.max(link.effective_date),
                reason: format!("{} {} is now zero", service.id, meter.key),
            });
            return;
        }

        if in_connectwise == wanted {
            // ConnectWise already holds the right quantity (a lost answer to an update, or
            // someone set it by hand); only the link is behind.
            if link.quantity != in_connectwise {
                self.operations.push(Operation::AdoptAddition {
                    service: service.id.clone(),
                    meter: meter.key.clone(),
                    agreement_id: link.agreement_id,
                    addition_id: link.addition_id,
                    product_id: link.catalog_item_id,
                    quantity: in_connectwise,
                    unit_price: link.unit_price,
                    unit_cost: link.unit_cost,
                    effective_date: link.effective_date,
                    key: link.ownership_key.clone(),
                    cancelled_on: None,
                    reason: "ConnectWise already holds the metered quantity".to_owned(),
                });
            }
            return;
        }

        if in_connectwise != link.quantity {
            match self.options.drift {
                DriftPolicy::Report => self.findings.push(Finding::Drift {
                    service: service.id.clone(),
                    meter: meter.key.clone(),
                    addition_id: link.addition_id,
                    last_written: link.quantity,
                    in_connectwise,
                    desired: wanted,
                }),
                // Restoring the right quantity is a correction, not a change of usage, so it
                // is written in place whatever the quantity change mode.
                DriftPolicy::Overwrite => self.operations.push(Operation::UpdateQuantity {
                    service: service.id.clone(),
                    meter: meter.key.clone(),
                    agreement_id: link.agreement_id,
                    addition_id: link.addition_id,
                    from: in_connectwise,
                    to: wanted,
                    cause: ChangeCause::Drift,
                    reason: format!(
                        "ConnectWise holds {in_connectwise}, hyalto last wrote {}; drift \
                         policy: overwrite",
                        link.quantity
                    ),
                }),
            }
            return;
        }

        // A line that only starts today is corrected in place: cancelling it the day before
        // it starts would leave a line that bills nothing.
        let replace = self.options.quantity_change == QuantityChangeMode::CancelAndReplace
            && link.effective_date < today;
        if !replace {
            self.operations.push(Operation::UpdateQuantity {
                service: service.id.clone(),
                meter: meter.key.clone(),
                agreement_id: link.agreement_id,
                addition_id: link.addition_id,
                from: in_connectwise,
                to: wanted,
                cause: ChangeCause::Change,
                reason: format!("{} {} changed", service.id, meter.key),
            });
            return;
        }

        let yesterday = today.pred_opt().unwrap_or(today);
        self.operations.push(Operation::CancelAddition {
            service: service.id.clone(),
            meter: meter.key.clone(),
            agreement_id: link.agreement_id,
            addition_id: link.addition_id,
            cancelled_date: yesterday,
            reason: format!(
                "{} {} changed from {in_connectwise} to {wanted}; replaced from {today}",
                service.id, meter.key
            ),
        });
        self.create_addition(
            service,
            meter,
            &Child::Existing(link.agreement_id),
            today,
            format!("replaces addition {} from {today}", link.addition_id),
        );
    }

    /// Whether a linked line that ConnectWise shows cancelled, while its link says it bills,
    /// was cancelled by hyalto itself in a run that never recorded it.
    ///
    /// A cancel-and-replace is two writes, the cancellation first. When ConnectWise saves the
    /// cancellation but hyalto never learns it (the answer was lost and the read-back failed,
    /// or the process died in between), the link still says the line bills and the replacement
    /// was never created. Reporting that as a hand edit would leave the meter unbilled, so the
    /// cancellation counts as hyalto's own when its date is one hyalto chose for that line:
    ///
    /// - the audit log holds a cancellation hyalto sent for this very line with this date
    ///   (whatever its outcome), which also covers a rerun on a later day, when "yesterday"
    ///   has moved on; or
    /// - the line carries its ownership key and today's plan would cancel it with this exact
    ///   date: mode `cancel_and_replace`, ConnectWise holds what hyalto last wrote, the meter
    ///   now wants another quantity, the line started before today, and the date is
    ///   yesterday. This covers a crash before the audit entry was written; the rerun is the
    ///   same day, or the date would no longer match. Even if a person made that cancellation,
    ///   it is the one hyalto was about to make, so finishing the replacement is right.
    ///
    /// Any other date is a cancellation hyalto would not have made, and is reported.
    fn is_own_cancellation(
        &self,
        meter: &DesiredMeter,
        link: &AdditionLink,
        addition: &Addition,
    ) -> bool {
        let Some(on) = cancelled_on(addition) else {
            return false;
        };
        if self.index.own_changes.cancelled(addition.id, on) {
            return true;
        }

        let today = self.context.today;
        let owned = addition.serial_number.as_deref() == Some(link.ownership_key.as_str());
        let replacing = meter
            .product
            .as_ref()
            .is_some_and(|product| product_change(link, product).is_some())
            || (self.options.quantity_change == QuantityChangeMode::CancelAndReplace
                && meter.quantity != link.quantity);
        owned
            && replacing
            && quantity_of(addition) == link.quantity
            && link.effective_date < today
            && today.pred_opt() == Some(on)
    }

    /// Finishes an interrupted cancel-and-replace: records the cancellation ConnectWise holds
    /// and adds the replacement from the day after it, the day the interrupted run meant it to
    /// start, so the meter is billed without a gap.
    fn finish_replacement(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        child: &Child,
        link: &AdditionLink,
        cancelled: NaiveDate,
    ) {
        self.close_link(
            link,
            cancelled,
            "hyalto's own cancellation, saved in ConnectWise but never recorded",
        );
        let effective = cancelled.succ_opt().unwrap_or(cancelled);
        self.create_addition(
            service,
            meter,
            child,
            effective,
            format!(
                "replaces addition {} from {effective} (finishing an interrupted cancel and \
                 replace)",
                link.addition_id
            ),
        );
    }

    /// The end date of a linked child that ConnectWise shows ended or cancelled while its link
    /// says it runs, when hyalto sent exactly that end itself (the audit log holds it).
    ///
    /// hyalto ends a child only when its service is gone; a service that came back before any
    /// sync recorded the end finds its old child ended. That end is hyalto's unfinished work,
    /// not a hand edit, and the service's new life needs a new child.
    fn own_end(&self, child: &Agreement) -> Option<NaiveDate> {
        // hyalto ends a child through `endDate` only, never by cancelling it.
        let ended_on = child.end_date?.date();
        self.index
            .own_changes
            .ended(child.id, ended_on)
            .then_some(ended_on)
    }

    /// Finishes an interrupted removal of a child hyalto ended itself, then plans a new child
    /// for the service that is present again: lines the removal did not get to are cancelled
    /// on the end date, the old links are closed, and a new child is created when there is
    /// something to bill.
    fn finish_end(
        &mut self,
        service: &DesiredService,
        link: &AgreementLink,
        ended_on: NaiveDate,
        billable: bool,
    ) -> Child {
        self.close_child(
            service,
            link,
            ended_on,
            "hyalto's own end, saved in ConnectWise but never recorded",
        );
        self.create_child(service, billable)
    }

    /// Records that a linked child ended on `ended_on` in ConnectWise: its lines still running
    /// are cancelled on that day, the links of the others are closed, and the child's link is
    /// closed with `why`.
    fn close_child(
        &mut self,
        service: &DesiredService,
        link: &AgreementLink,
        ended_on: NaiveDate,
        why: &str,
    ) {
        let additions = self.index.additions_of(link.agreement_id);
        let lines: Vec<&AdditionLink> = self
            .index
            .addition_links
            .get(&service.id)
            .map(|links| {
                links
                    .iter()
                    .copied()
                    .filter(|line| line.agreement_id == link.agreement_id)
                    .collect()
            })
            .unwrap_or_default();
        for line in lines {
            match additions.iter().find(|a| a.id == line.addition_id) {
                Some(addition) if cancelled_on(addition).is_none() => {
                    self.operations.push(Operation::CancelAddition {
                        service: service.id.clone(),
                        meter: line.meter.clone(),
                        agreement_id: line.agreement_id,
                        addition_id: line.addition_id,
                        cancelled_date: ended_on.max(line.effective_date),
                        reason: format!("its child agreement ended on {ended_on}"),
                    });
                }
                other => {
                    let on = other.and_then(cancelled_on).unwrap_or(ended_on);
                    self.close_link(line, on, "its child agreement ended");
                }
            }
        }

        self.operations.push(Operation::AdoptChildAgreement {
            service: service.id.clone(),
            agreement_id: link.agreement_id,
            key: link.ownership_key.clone(),
            ended_on: Some(ended_on),
            reason: why.to_owned(),
        });
    }

    /// Plans a new addition.
    fn create_addition(
        &mut self,
        service: &DesiredService,
        meter: &DesiredMeter,
        child: &Child,
        effective_date: NaiveDate,
        reason: String,
    ) {
        let Some(product) = &meter.product else {
            return;
        };
        if let Some(why) = self.implausible_first(meter) {
            self.hold_first(service, meter, why);
            return;
        }
        let child = match child {
            Child::Existing(agreement_id) => ChildRef::Existing {
                agreement_id: *agreement_id,
            },
            Child::Planned => ChildRef::Planned,
            Child::Absent => return,
        };
        self.operations.push(Operation::CreateAddition {
            service: service.id.clone(),
            meter: meter.key.clone(),
            child,
            product_id: product.catalog_item_id,
            quantity: meter.quantity,
            unit_price: product.unit_price,
            unit_cost: product.unit_cost,
            effective_date,
            invoice_description: cut_utf16(
                &format!("{} – {}", meter_label(&meter.key, meter.unit), service.name),
                MAX_INVOICE_DESCRIPTION,
            ),
            key: addition_key(&service.id, &meter.key, effective_date),
            reason,
        });
    }

    /// Records in the store that a linked addition no longer bills.
    fn close_link(&mut self, link: &AdditionLink, on: NaiveDate, why: &str) {
        self.operations.push(Operation::AdoptAddition {
            service: link.service.clone(),
            meter: link.meter.clone(),
            agreement_id: link.agreement_id,
            addition_id: link.addition_id,
            product_id: link.catalog_item_id,
            quantity: link.quantity,
            unit_price: link.unit_price,
            unit_cost: link.unit_cost,
            effective_date: link.effective_date,
            key: link.ownership_key.clone(),
            cancelled_on: Some(on.max(link.effective_date)),
            reason: why.to_owned(),
        });
    }

    /// Plans the removal of a gone service: its lines cancelled and its child ended on the day
    /// it was found gone. Returned apart so the caller can hold them.
    fn plan_gone(
        &mut self,
        service: &DesiredService,
        gone_on: NaiveDate,
        why: &str,
    ) -> Vec<Operation> {
        let before = self.operations.len();

        // The child: the linked one, else this life's unrecorded one.
        let (agreement_id, child) = match self.index.agreement_links.get(&service.id) {
            Some(link) => {
                let child = self.index.children_by_id.get(&link.agreement_id).copied();
                if let Some(child) = child
                    && self.taken_over(service, child)
                {
                    return self.operations.split_off(before);
                }
                (link.agreement_id, child)
            }
            None => {
                let key = child_key(&self.desired.id, &service.id, service.start_date);
                let Some(child) = self.index.children_by_key.get(key.as_str()).copied() else {
                    return Vec::new();
                };
                if !self.claim(service, child) {
                    return self.operations.split_off(before);
                }
                self.operations.push(Operation::AdoptChildAgreement {
                    service: service.id.clone(),
                    agreement_id: child.id,
                    key,
                    ended_on: None,
                    reason: "found in ConnectWise by its ownership key".to_owned(),
                });
                (child.id, Some(child))
            }
        };
        let additions = self.index.additions_of(agreement_id);

        // Linked lines, and lines with this service's keys that were never recorded.
        let links: Vec<&AdditionLink> = self
            .index
            .addition_links
            .get(&service.id)
            .map(|links| {
                links
                    .iter()
                    .copied()
                    .filter(|link| link.agreement_id == agreement_id)
                    .collect()
            })
            .unwrap_or_default();
        for link in links {
            let addition = additions.iter().find(|a| a.id == link.addition_id);
            match addition {
                Some(addition) if cancelled_on(addition).is_none() => {
                    self.operations.push(Operation::CancelAddition {
                        service: service.id.clone(),
                        meter: link.meter.clone(),
                        agreement_id,
                        addition_id: link.addition_id,
                        cancelled_date: gone_on.max(link.effective_date),
                        reason: why.to_owned(),
                    });
                }
                other => {
                    let on = other.and_then(cancelled_on).unwrap_or(gone_on);
                    self.close_link(link, on, "the service is gone and the line already ended");
                }
            }
        }
        for meter in &service.meters {
            let owned = additions.iter().find(|addition| {
                cancelled_on(addition).is_none()
                    && !self.index.linked_additions.contains(&addition.id)
                    && addition.effective_date.is_some_and(|date| {
                        addition.serial_number.as_deref()
                            == Some(addition_key(&service.id, &meter.key, date.date()).as_str())
                    })
            });
            if let Some(addition) = owned {
                let effective_date = addition
                    .effective_date
                    .map(|date| date.date())
                    .unwrap_or(service.start_date);
                self.operations.push(Operation::AdoptAddition {
                    service: service.id.clone(),
                    meter: meter.key.clone(),
                    agreement_id,
                    addition_id: addition.id,
                    product_id: addition.product.as_ref().and_then(|p| p.id).unwrap_or(0),
                    quantity: quantity_of(addition),
                    unit_price: meter.product.as_ref().and_then(|p| p.unit_price),
                    unit_cost: meter.product.as_ref().and_then(|p| p.unit_cost),
                    effective_date,
                    key: addition_key(&service.id, &meter.key, effective_date),
                    cancelled_on: None,
                    reason: "found in ConnectWise by its ownership key".to_owned(),
                });
                self.operations.push(Operation::CancelAddition {
                    service: service.id.clone(),
                    meter: meter.key.clone(),
                    agreement_id,
                    addition_id: addition.id,
                    cancelled_date: gone_on.max(effective_date),
                    reason: why.to_owned(),
                });
            }
        }

        // The child ends on the gone day; one already ended is only recorded.
        match child {
            Some(child) if is_running(child) => {
                let start = child.start_date.map(|date| date.date()).unwrap_or(gone_on);
                self.operations.push(Operation::EndChildAgreement {
                    service: service.id.clone(),
                    agreement_id,
                    end_date: gone_on.max(start),
                    reason: why.to_owned(),
                });
            }
            other => {
                let ended_on = other
                    .and_then(|child| child.end_date.or(child.date_cancelled))
                    .map(|date| date.date())
                    .unwrap_or(gone_on);
                let key = self
                    .index
                    .agreement_links
                    .get(&service.id)
                    .map(|link| link.ownership_key.clone())
                    .unwrap_or_default();
                self.operations.push(Operation::AdoptChildAgreement {
                    service: service.id.clone(),
                    agreement_id,
                    key,
                    ended_on: Some(ended_on),
                    reason: "the service is gone and its child agreement already ended".to_owned(),
                });
            }
        }

        self.operations.split_off(before)
    }

    /// One finding per unmapped meter, with how many services have it.
    fn missing_products(&self) -> Vec<Finding> {
        let mut counts: BTreeMap<&MeterKey, usize> = BTreeMap::new();
        for service in self.desired.services.iter().filter(|s| s.gone_on.is_none()) {
            for meter in service.meters.iter().filter(|m| m.product.is_none()) {
                *counts.entry(&meter.key).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|(meter, services)| Finding::MissingProductMapping {
                meter: meter.clone(),
                services,
            })
            .collect()
    }
}

impl CustomerStatus {
    /// Whether the customer's operations are written (all of them, or all but the held ones).
    pub fn applies(&self) -> bool {
        matches!(
            self,
            CustomerStatus::Ready
                | CustomerStatus::RemovalsHeld { .. }
                | CustomerStatus::ChangesHeld { .. }
        )
    }
}

impl CustomerPlan {
    /// The customer's status in words, with what to run to confirm what is held. `applied`
    /// says whether the other operations were written (a run) or only planned (a plan or a
    /// dry run).
    pub fn status_line(&self, applied: bool) -> String {
        let rest = if applied {
            "other changes applied"
        } else {
            "other changes planned; nothing is written by a plan or a dry run"
        };
        let changes = self
            .findings
            .iter()
            .filter(|finding| matches!(finding, Finding::ChangeHeld { .. }))
            .count();
        let id = &self.customer;
        let changes_part = format!(
            "{changes} implausible quantity change(s) held: check the inventory, then confirm \
             with --confirm-changes {id}"
        );
        match &self.status {
            CustomerStatus::RemovalsHeld { vanished, total } => {
                let removals_part = format!(
                    "{vanished} of {total} services vanished: check the inventory, then confirm \
                     the removals with --confirm-removals {id}"
                );
                if changes > 0 {
                    format!("removals and changes held; {rest} ({removals_part}; {changes_part})")
                } else {
                    format!("removals held; {rest} ({removals_part})")
                }
            }
            CustomerStatus::ChangesHeld { .. } => format!("changes held; {rest} ({changes_part})"),
            other => other.to_string(),
        }
    }
}

impl Plan {
    /// How many operations write to ConnectWise.
    pub fn write_count(&self) -> usize {
        self.customers
            .iter()
            .flat_map(|customer| &customer.operations)
            .filter(|operation| operation.writes_to_connectwise())
            .count()
    }
}

impl fmt::Display for CustomerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CustomerStatus::Ready => f.write_str("ready"),
            CustomerStatus::Skipped { reason } => write!(f, "skipped: {reason}"),
            CustomerStatus::RemovalsHeld { vanished, total } => {
                write!(f, "removals held ({vanished} of {total} services vanished)")
            }
            CustomerStatus::ChangesHeld { changes } => {
                write!(f, "changes held ({changes} implausible quantity change(s))")
            }
            CustomerStatus::Failed { error } => write!(f, "failed: {error}"),
        }
    }
}

impl fmt::Display for Plan {
    /// A readable table: one block per customer, one row per operation, then the findings.
    /// A plan alone is not applied, so a hold says the other changes are only planned.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_table(f, false)
    }
}

/// A plan shown as the table of a real run: see [`Plan::of_run`].
pub struct RunTable<'a>(&'a Plan);

impl fmt::Display for RunTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_table(f, true)
    }
}

impl Plan {
    /// The plan's table as a real run (not a dry run) shows it: a held customer's header says
    /// its other changes are applied by the run.
    pub fn of_run(&self) -> RunTable<'_> {
        RunTable(self)
    }

    fn write_table(&self, f: &mut fmt::Formatter<'_>, applied: bool) -> fmt::Result {
        if self.customers.is_empty() {
            return writeln!(f, "No mapped customers to sync.");
        }
        for customer in &self.customers {
            let status = customer.status_line(applied);
            writeln!(
                f,
                "Customer {} (company {}, master agreement {}): {status}",
                customer.customer, customer.company_id, customer.master_agreement_id,
            )?;
            if customer.operations.is_empty() {
                writeln!(f, "  nothing to do")?;
            } else {
                let rows: Vec<[String; 4]> = customer
                    .operations
                    .iter()
                    .map(|operation| {
                        [
                            operation.name().to_owned(),
                            operation.service().to_string(),
                            operation
                                .meter()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                            operation.detail(),
                        ]
                    })
                    .collect();
                let headers = ["OPERATION", "SERVICE", "METER", "WHAT"];
                let mut widths = headers.map(str::len);
                for row in &rows {
                    for (width, cell) in widths.iter_mut().zip(row) {
                        *width = (*width).max(cell.chars().count());
                    }
                }
                write_row(f, &headers.map(str::to_owned), &widths, "REASON")?;
                for (row, operation) in rows.iter().zip(&customer.operations) {
                    write_row(f, row, &widths, operation.reason())?;
                }
            }
            for finding in &customer.findings {
                writeln!(f, "  ! {finding}")?;
            }
        }
        let writes = self.write_count();
        writeln!(
            f,
            "{} customer(s), {writes} ConnectWise write(s) planned.",
            self.customers.len()
        )
    }
}

/// Writes one padded table row.
fn write_row(
    f: &mut fmt::Formatter<'_>,
    cells: &[String; 4],
    widths: &[usize; 4],
    last: &str,
) -> fmt::Result {
    f.write_str(" ")?;
    for (cell, width) in cells.iter().zip(widths) {
        let pad = width.saturating_sub(cell.chars().count());
        write!(f, " {cell}{}", " ".repeat(pad))?;
    }
    writeln!(f, " {last}")
}

#[cfg(test)]
mod tests;
