//! Known state: what ConnectWise holds for a customer, and what hyalto recorded writing there.
//!
//! [`read_known`] is the only part of planning that does I/O. It reads, for one mapped
//! customer: the master agreement, every child agreement under it (all pages), each linked
//! child that is not under it (by id: a child of a previous master), the additions of every
//! child hyalto owns (linked, or carrying one of its ownership keys), and the store's links.
//! The planner then works on the result without touching the network. When a linked record
//! disagrees with its link (cancelled or ended in ConnectWise while the link says it runs),
//! the store is asked, for exactly those records, which cancellations and ends hyalto itself
//! sent or was about to send ([`OwnChanges`]).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use hyalto_connectwise::models::{Addition, Agreement, CwDate};
use hyalto_connectwise::{Client, Field, ListQuery};
use hyalto_domain::{MeterKey, ServiceId};
use hyalto_store::{AdditionState, AgreementLink, AuditOperation, Links, Store, UsageObservation};
use rust_decimal::Decimal;

use crate::desired::{DesiredCustomer, billing_date};
use crate::error::SyncError;
use crate::keys::{child_key, key_in_notes};

/// The master agreement's settings that child agreements copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Master {
    /// Its id.
    pub id: i64,
    /// Its company.
    pub company_id: i64,
    /// Its agreement type, the default type of children.
    pub type_id: Option<i64>,
    /// Its contact, copied to children.
    pub contact_id: Option<i64>,
    /// Its billing cycle; ConnectWise requires a child to share it.
    pub billing_cycle_id: Option<i64>,
}

/// Whether the master agreement can take children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterState {
    /// It exists, is not cancelled and belongs to the mapped company.
    Usable(Master),
    /// It does not exist (any more).
    Missing,
    /// It is cancelled.
    Cancelled,
    /// It belongs to another company than the mapping says.
    WrongCompany {
        /// The company it belongs to.
        actual: Option<i64>,
    },
}

impl MasterState {
    /// Reads the state of a master agreement as ConnectWise returned it.
    pub fn from_agreement(agreement: &Agreement, company_id: i64) -> MasterState {
        let actual = agreement.company.as_ref().and_then(|company| company.id);
        if agreement.cancelled_flag == Some(true) {
            return MasterState::Cancelled;
        }
        if actual != Some(company_id) {
            return MasterState::WrongCompany { actual };
        }
        MasterState::Usable(Master {
            id: agreement.id,
            company_id,
            type_id: agreement.agreement_type.as_ref().and_then(|kind| kind.id),
            contact_id: agreement.contact.as_ref().and_then(|contact| contact.id),
            billing_cycle_id: agreement.billing_cycle.as_ref().and_then(|cycle| cycle.id),
        })
    }
}

/// What ConnectWise and the store hold for one customer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnownCustomer {
    /// The master agreement; `None` only in a default value.
    pub master: Option<MasterState>,
    /// Every child agreement of the master.
    pub children: Vec<Agreement>,
    /// Child agreements hyalto has an active link to that are not under the master (the
    /// customer was mapped to another master agreement since they were written), read one by
    /// one by id so the planner knows their true state. A linked child that ConnectWise no
    /// longer has at all is in neither list.
    pub elsewhere: Vec<Agreement>,
    /// The additions of each child hyalto owns, by agreement id.
    pub additions: HashMap<i64, Vec<Addition>>,
    /// What hyalto recorded writing for the customer.
    pub links: Links,
    /// Cancellations and ends hyalto sent, from the audit log; read only when needed.
    pub own_changes: OwnChanges,
    /// For each service hyalto bills here that the inventory now gives to another customer
    /// (or to none): the day, in the billing time zone, of the snapshot that first showed it
    /// there. Its last day billed here is the day before, so that the new customer, whose
    /// child starts on that day, is not billed for the same day twice.
    pub departures: HashMap<ServiceId, NaiveDate>,
    /// For each meter of a service already billed here that has something to bill but no
    /// line: the first day, in the billing time zone, of the meter's current run of non-zero
    /// observations in the usage history. A line created for it starts on that day (never
    /// before the service's start here, nor on a day an earlier line of the meter billed).
    pub meter_since: HashMap<(ServiceId, MeterKey), NaiveDate>,
    /// For each service that moved here from another customer: the child agreement hyalto
    /// still bills it on for that customer (an active link), if any. Nothing is created here
    /// for the service until that child has ended, so it is never billed twice.
    pub billed_elsewhere: HashMap<ServiceId, AgreementLink>,
    /// For each service that moved here and is billed by no active child anywhere: the last
    /// day an ended child of it (for any customer, this one included) billed, when that day
    /// is on or after the move day here. A child cannot end before it starts, so a service
    /// that moved away on the day it arrived leaves that day billed by the child it left; the
    /// new child here then starts the day after, so no day is billed twice.
    pub resume_after: HashMap<ServiceId, NaiveDate>,
}

/// The cancellations and ends hyalto sent (or was about to send) to the records that disagree
/// with their links, with the date each one carried, from the audit log (whatever the
/// outcome) and the write intents.
///
/// A write whose answer was lost and whose read-back failed too is logged with the date it
/// sent but never recorded in a link, so the next sync finds the record cancelled or ended in
/// ConnectWise while the link says it runs. A process that stopped after sending, before any
/// audit entry, left the intent it wrote before sending. Those tell it apart from a hand edit,
/// which is in neither. They are looked up by record id, only for records that disagree, so
/// an ordinary sync costs no read and an old interrupted write is found as surely as a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnChanges {
    /// The `cancelledDate`s sent, by addition id.
    pub cancellations: HashMap<i64, HashSet<NaiveDate>>,
    /// The `endDate`s sent, by child agreement id.
    pub ends: HashMap<i64, HashSet<NaiveDate>>,
}

impl OwnChanges {
    /// Whether hyalto sent `date` as the cancellation of addition `addition_id`.
    pub fn cancelled(&self, addition_id: i64, date: NaiveDate) -> bool {
        self.cancellations
            .get(&addition_id)
            .is_some_and(|dates| dates.contains(&date))
    }

    /// Whether hyalto sent `date` as the end of child agreement `agreement_id`.
    pub fn ended(&self, agreement_id: i64, date: NaiveDate) -> bool {
        self.ends
            .get(&agreement_id)
            .is_some_and(|dates| dates.contains(&date))
    }
}

/// Reads the known state of a customer that is not skipped.
///
/// A master agreement that does not exist is reported as [`MasterState::Missing`] rather than
/// an error, so the customer is skipped with a clear reason.
pub async fn read_known<S: Store>(
    client: &Client,
    store: &S,
    desired: &DesiredCustomer,
) -> Result<KnownCustomer, SyncError> {
    let mapping = &desired.mapping;
    let links = store.links_for_customer(&desired.id).await?;

    // The master first: without a usable master nothing else is worth reading.
    let master = match client.agreement(mapping.agreement_id).await {
        Ok(agreement) => MasterState::from_agreement(&agreement, mapping.company_id),
        Err(hyalto_connectwise::Error::NotFound { .. }) => MasterState::Missing,
        Err(error) => return Err(error.into()),
    };
    if !matches!(master, MasterState::Usable(_)) {
        return Ok(KnownCustomer {
            master: Some(master),
            links,
            ..KnownCustomer::default()
        });
    }

    let (billed_elsewhere, resume_after) = read_billed_elsewhere(store, desired, &links).await?;
    let meter_since = read_meter_since(store, desired, &links).await?;

    let children = client
        .agreements(&ListQuery::filter(
            Field::new("parentAgreement/id").eq(mapping.agreement_id),
        ))
        .await?;
    let elsewhere = read_elsewhere(client, &links, &children).await?;

    // Additions are read only for children hyalto owns: those it has an active link to, and
    // those carrying the key it would give a service's current child (written by a run that
    // died before recording it). Other children are not hyalto's business.
    let linked: HashSet<i64> = links
        .agreements
        .iter()
        .filter(|recorded| recorded.link.ended_on.is_none())
        .map(|recorded| recorded.link.agreement_id)
        .collect();
    let expected_keys: HashSet<String> = desired
        .services
        .iter()
        .map(|service| child_key(&desired.id, &service.id, service.start_date))
        .collect();
    let owned: Vec<i64> = children
        .iter()
        .chain(&elsewhere)
        .filter(|child| {
            linked.contains(&child.id)
                || child
                    .internal_notes
                    .as_deref()
                    .and_then(key_in_notes)
                    .is_some_and(|key| expected_keys.contains(key))
        })
        .map(|child| child.id)
        .collect();

    // One additions call per owned child: ConnectWise serves additions only under their
    // agreement (`/finance/agreements/{id}/additions`) and has no endpoint that lists the
    // additions of several agreements at once, so this is the fewest reads the API allows.
    let mut additions = HashMap::with_capacity(owned.len());
    for agreement_id in owned {
        let lines = client
            .additions(agreement_id, &ListQuery::default())
            .await?;
        additions.insert(agreement_id, lines);
    }

    let (ended_children, cancelled_lines) =
        disagreeing(&links, children.iter().chain(&elsewhere), &additions);
    let own_changes = read_own_changes(store, &ended_children, &cancelled_lines).await?;

    let departures = read_departures(store, desired, &links).await?;

    Ok(KnownCustomer {
        master: Some(master),
        children,
        elsewhere,
        additions,
        links,
        own_changes,
        departures,
        meter_since,
        billed_elsewhere,
        resume_after,
    })
}

/// Reads, for each present service that moved here from another customer and has no active
/// child link here, the active child link another customer still holds for it or, when there
/// is none, the last day an ended child of it billed if that is on or after its move day here
/// (see [`KnownCustomer::resume_after`]). Only moved services can have either, so an ordinary
/// sync reads nothing.
async fn read_billed_elsewhere<S: Store>(
    store: &S,
    desired: &DesiredCustomer,
    links: &Links,
) -> Result<
    (
        HashMap<ServiceId, AgreementLink>,
        HashMap<ServiceId, NaiveDate>,
    ),
    SyncError,
> {
    let linked_here: HashSet<&ServiceId> = links
        .agreements
        .iter()
        .map(|recorded| &recorded.link)
        .filter(|link| link.ended_on.is_none())
        .map(|link| &link.service)
        .collect();
    let mut elsewhere = HashMap::new();
    let mut resume_after = HashMap::new();
    for service in &desired.services {
        if !service.moved_here || service.gone_on.is_some() || linked_here.contains(&service.id) {
            continue;
        }
        let theirs: Vec<AgreementLink> = store
            .links_for_service(&service.id)
            .await?
            .agreements
            .into_iter()
            .map(|recorded| recorded.link)
            .collect();

        let active = theirs
            .iter()
            .find(|link| link.ended_on.is_none() && link.customer != desired.id);
        if let Some(link) = active {
            elsewhere.insert(service.id.clone(), link.clone());
            continue;
        }

        let last_billed = theirs.iter().filter_map(|link| link.ended_on).max();
        if let Some(day) = last_billed.filter(|day| *day >= service.start_date) {
            resume_after.insert(service.id.clone(), day);
        }
    }
    Ok((elsewhere, resume_after))
}

/// Reads the usage history of each present service that is billed here (it has had a line)
/// and has a mapped meter with a quantity but no active line, and gives the first day of each
/// such meter's current run of non-zero observations. A line that a failed or interrupted run
/// never created then starts on the day its meter was first billable, not on the day of the
/// sync that finally creates it. Other services need no read.
async fn read_meter_since<S: Store>(
    store: &S,
    desired: &DesiredCustomer,
    links: &Links,
) -> Result<HashMap<(ServiceId, MeterKey), NaiveDate>, SyncError> {
    let mut billed: HashSet<&ServiceId> = HashSet::new();
    let mut active: HashSet<(&ServiceId, &MeterKey)> = HashSet::new();
    for link in links.additions.iter().map(|recorded| &recorded.link) {
        billed.insert(&link.service);
        if link.state == AdditionState::Active {
            active.insert((&link.service, &link.meter));
        }
    }

    let mut since = HashMap::new();
    for service in &desired.services {
        if service.gone_on.is_some() || !billed.contains(&service.id) {
            continue;
        }
        let lacking: Vec<&MeterKey> = service
            .meters
            .iter()
            .filter(|meter| meter.product.is_some() && meter.quantity > Decimal::ZERO)
            .map(|meter| &meter.key)
            .filter(|key| !active.contains(&(&service.id, *key)))
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let history = store.service_history(&service.id).await?;
        for key in lacking {
            if let Some(start) = current_run_start(&history, key) {
                let day = billing_date(start, desired.billing_tz);
                since.insert((service.id.clone(), key.clone()), day);
            }
        }
    }
    Ok(since)
}

/// When the newest run of non-zero observations of a meter's resource began: the oldest
/// observation after the newest zero (a resource that disappeared is recorded as zero), or
/// the first observation when there was never a zero.
fn current_run_start(history: &[UsageObservation], key: &MeterKey) -> Option<DateTime<Utc>> {
    let mut start = None;
    for observation in history
        .iter()
        .rev()
        .filter(|observation| observation.resource == key.resource && observation.tier == key.tier)
    {
        if observation.quantity.is_zero() {
            break;
        }
        start = Some(observation.observed_at);
    }
    start
}

/// Reads by id each child agreement with an active link that is not among the master's
/// children. After a customer is mapped to another master agreement, its children under the
/// previous master still bill; listing the new master's children does not show them, and
/// taking them for deleted would be a false statement and would leave them billing unseen.
async fn read_elsewhere(
    client: &Client,
    links: &Links,
    children: &[Agreement],
) -> Result<Vec<Agreement>, SyncError> {
    let listed: HashSet<i64> = children.iter().map(|child| child.id).collect();
    let mut missing: Vec<i64> = links
        .agreements
        .iter()
        .map(|recorded| &recorded.link)
        .filter(|link| link.ended_on.is_none() && !listed.contains(&link.agreement_id))
        .map(|link| link.agreement_id)
        .collect();
    missing.sort_unstable();
    missing.dedup();

    let mut elsewhere = Vec::with_capacity(missing.len());
    for agreement_id in missing {
        match client.agreement(agreement_id).await {
            Ok(agreement) => elsewhere.push(agreement),
            // Deleted in ConnectWise: the planner reports it as such.
            Err(hyalto_connectwise::Error::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(elsewhere)
}

/// Reads, for each service with an active child link here that the customer no longer has,
/// the day the inventory first showed it elsewhere. A service the store no longer knows has
/// no entry; the planner then ends it on the day of the sync.
async fn read_departures<S: Store>(
    store: &S,
    desired: &DesiredCustomer,
    links: &Links,
) -> Result<HashMap<ServiceId, NaiveDate>, SyncError> {
    let current: HashSet<&ServiceId> = desired.services.iter().map(|s| &s.id).collect();
    let mut departures = HashMap::new();
    for link in links.agreements.iter().map(|recorded| &recorded.link) {
        if link.ended_on.is_some() || current.contains(&link.service) {
            continue;
        }
        let Some(record) = store.get_service(&link.service).await? else {
            continue;
        };
        if record.service.customer.as_ref() == Some(&desired.id) {
            continue;
        }
        let day = billing_date(record.customer_since, desired.billing_tz);
        departures.insert(link.service.clone(), day);
    }
    Ok(departures)
}

/// The records a link says run that ConnectWise shows otherwise: child agreements ended or
/// cancelled, and additions cancelled, by id.
fn disagreeing<'a>(
    links: &Links,
    children: impl Iterator<Item = &'a Agreement>,
    additions: &HashMap<i64, Vec<Addition>>,
) -> (Vec<i64>, Vec<i64>) {
    let ended: HashSet<i64> = children
        .filter(|child| child.end_date.is_some() || child.cancelled_flag == Some(true))
        .map(|child| child.id)
        .collect();
    let ended_children = links
        .agreements
        .iter()
        .map(|recorded| &recorded.link)
        .filter(|link| link.ended_on.is_none() && ended.contains(&link.agreement_id))
        .map(|link| link.agreement_id)
        .collect();
    let cancelled_lines = links
        .additions
        .iter()
        .map(|recorded| &recorded.link)
        .filter(|link| link.state == AdditionState::Active)
        .filter(|link| {
            additions
                .get(&link.agreement_id)
                .into_iter()
                .flatten()
                .any(|addition| {
                    addition.id == link.addition_id && addition.cancelled_date.is_some()
                })
        })
        .map(|link| link.addition_id)
        .collect();
    (ended_children, cancelled_lines)
}

/// Reads what hyalto sent (or was about to send) to exactly the records that disagree with
/// their links: cancellations of `cancelled_lines` and ends of `ended_children`, from the audit
/// log and the write intents, by record id. An ordinary sync, where nothing disagrees, reads
/// nothing.
async fn read_own_changes<S: Store>(
    store: &S,
    ended_children: &[i64],
    cancelled_lines: &[i64],
) -> Result<OwnChanges, SyncError> {
    let mut own = OwnChanges::default();
    for (operation, kind, field, ids) in [
        (
            AuditOperation::CancelAddition,
            "addition",
            "cancelledDate",
            cancelled_lines,
        ),
        (
            AuditOperation::EndChildAgreement,
            "agreement",
            "endDate",
            ended_children,
        ),
    ] {
        if ids.is_empty() {
            continue;
        }
        for write in store.own_writes(&operation, kind, ids).await? {
            // The record ConnectWise returned, the body sent when the answer never came, and
            // an intent all carry the date under the same ConnectWise field name.
            let date = write
                .sent
                .get(field)
                .and_then(|value| serde_json::from_value::<CwDate>(value.clone()).ok());
            let Some(date) = date else {
                continue;
            };
            let dates = match operation {
                AuditOperation::CancelAddition => &mut own.cancellations,
                _ => &mut own.ends,
            };
            dates
                .entry(write.target_id)
                .or_default()
                .insert(date.date());
        }
    }
    Ok(own)
}
