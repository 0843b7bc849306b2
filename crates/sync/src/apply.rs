//! Applying a customer's plan: ConnectWise writes, the audit log, and links.
//!
//! Operations run in plan order. Every ConnectWise write is logged once its outcome is known,
//! and a successful one is followed by the link that records what was written. A create whose
//! answer was lost ([`Error::OutcomeUnknown`]) is looked up by its ownership key right away:
//! found, it is adopted; not found, it is logged as unknown and the next sync adopts or creates
//! it. A failed operation makes the later operations of the same service (for a child
//! agreement) or the same meter skip, so a replacement line is never added next to a line whose
//! cancellation failed. A permission error stops every further write of the run.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use chrono::Utc;
use hyalto_connectwise::models::{
    Addition, Agreement, AgreementReference, CatalogItem, CatalogItemReference, CompanyReference,
    CwDate, NewAddition, NewAgreement, PatchOperation, Reference,
};
use hyalto_connectwise::{Client, Error, Field, ListQuery};
use hyalto_domain::{CustomerId, MeterKey, ServiceId};
use hyalto_store::{
    AdditionLink, AdditionState, AgreementLink, AuditOperation, AuditStatus, NewAuditEntry, RunId,
    Store, WriteIntent,
};
use serde::Serialize;
use serde_json::json;

use crate::keys::child_notes;
use crate::known::KnownCustomer;
use crate::plan::{ChildRef, CustomerPlan, Operation};

/// The audit reason of a write whose answer was lost but which ConnectWise shows applied.
const LOST_AND_FOUND: &str =
    "the answer was lost; ConnectWise shows the write (found by ownership key or read back)";

/// The audit entry of one write, before its outcome is known.
struct Audit<'r> {
    operation: AuditOperation,
    target_kind: &'static str,
    target_id: Option<i64>,
    reason: &'r str,
    before: Option<serde_json::Value>,
}

impl<'r> Audit<'r> {
    fn new(operation: AuditOperation, target_kind: &'static str, reason: &'r str) -> Audit<'r> {
        Audit {
            operation,
            target_kind,
            target_id: None,
            reason,
            before: None,
        }
    }

    /// The record written, when it exists before the write.
    fn on(mut self, target_id: i64) -> Audit<'r> {
        self.target_id = Some(target_id);
        self
    }

    /// What the record held before the write.
    fn with_before(mut self, before: Option<serde_json::Value>) -> Audit<'r> {
        self.before = before;
        self
    }
}

/// What applying one customer's plan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedCounts {
    /// Child agreements created.
    pub created_agreements: u64,
    /// Additions created.
    pub created_additions: u64,
    /// Quantities updated.
    pub updated: u64,
    /// Additions cancelled.
    pub cancelled: u64,
    /// Child agreements ended.
    pub ended: u64,
    /// Child agreements renamed.
    pub renamed: u64,
    /// Records adopted (link recorded without a write).
    pub adopted: u64,
    /// Writes that failed or whose outcome stayed unknown.
    pub failed: u64,
    /// Operations not attempted because an earlier one they depend on failed.
    pub skipped: u64,
}

impl AppliedCounts {
    /// The counts of two applications together.
    pub fn plus(&self, other: &AppliedCounts) -> AppliedCounts {
        AppliedCounts {
            created_agreements: self.created_agreements + other.created_agreements,
            created_additions: self.created_additions + other.created_additions,
            updated: self.updated + other.updated,
            cancelled: self.cancelled + other.cancelled,
            ended: self.ended + other.ended,
            renamed: self.renamed + other.renamed,
            adopted: self.adopted + other.adopted,
            failed: self.failed + other.failed,
            skipped: self.skipped + other.skipped,
        }
    }
}

/// State shared by every customer of a run.
#[derive(Debug, Default)]
pub struct RunGuard {
    /// Set by the first permission error: no more writes in this run.
    stopped: Mutex<Option<String>>,
}

impl RunGuard {
    /// Why writes were stopped, if they were.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Stops every further write of the run, keeping the first reason.
    pub(crate) fn stop(&self, why: String) {
        let mut stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if stopped.is_none() {
            *stopped = Some(why);
        }
    }
}

/// Applies one customer's plan.
pub struct Applier<'a, S: Store> {
    /// The ConnectWise client.
    pub client: &'a Client,
    /// The store.
    pub store: &'a S,
    /// The run the writes belong to.
    pub run: RunId,
    /// Shared across the run's customers.
    pub guard: &'a RunGuard,
    /// This data dir's installation id, written into every child agreement it creates.
    pub installation: &'a str,
}

/// The per-customer working state of an application.
struct Work<'a> {
    plan: &'a CustomerPlan,
    agreement_links: HashMap<i64, AgreementLink>,
    addition_links: HashMap<i64, AdditionLink>,
    /// Child agreements created (or adopted after a lost answer) by service.
    created_children: HashMap<ServiceId, i64>,
    failed_services: HashSet<ServiceId>,
    failed_meters: HashSet<(ServiceId, MeterKey)>,
    counts: AppliedCounts,
    errors: Vec<String>,
}

impl<S: Store> Applier<'_, S> {
    /// Applies `plan` using the links in `known`; returns the counts and the failures'
    /// messages (empty when everything succeeded).
    pub async fn apply(
        &self,
        plan: &CustomerPlan,
        known: &KnownCustomer,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> (AppliedCounts, Vec<String>) {
        let mut work = Work {
            plan,
            agreement_links: known
                .links
                .agreements
                .iter()
                .map(|recorded| (recorded.link.agreement_id, recorded.link.clone()))
                .collect(),
            addition_links: known
                .links
                .additions
                .iter()
                .map(|recorded| (recorded.link.addition_id, recorded.link.clone()))
                .collect(),
            created_children: HashMap::new(),
            failed_services: HashSet::new(),
            failed_meters: HashSet::new(),
            counts: AppliedCounts::default(),
            errors: Vec::new(),
        };

        let total = plan.operations.len();
        for (done, operation) in plan.operations.iter().enumerate() {
            if let Some(why) = self.guard.stopped()
                && operation.writes_to_connectwise()
            {
                work.counts.skipped += 1;
                if work.errors.is_empty() {
                    work.errors.push(why);
                }
                continue;
            }
            let blocked = work.failed_services.contains(operation.service())
                || operation.meter().is_some_and(|meter| {
                    work.failed_meters
                        .contains(&(operation.service().clone(), meter.clone()))
                });
            if blocked {
                work.counts.skipped += 1;
                continue;
            }

            let succeeded = self.apply_one(&mut work, operation).await;
            // A failed rename leaves the old name and blocks nothing: the lines do not depend
            // on it, and the next sync tries the name again.
            let blocks = !matches!(operation, Operation::RenameChildAgreement { .. });
            if !succeeded && blocks {
                match operation.meter() {
                    Some(meter) => {
                        work.failed_meters
                            .insert((operation.service().clone(), meter.clone()));
                    }
                    None => {
                        work.failed_services.insert(operation.service().clone());
                    }
                }
            }
            progress(done + 1, total);
        }

        (work.counts, work.errors)
    }

    /// Applies one operation; returns whether it succeeded.
    async fn apply_one(&self, work: &mut Work<'_>, operation: &Operation) -> bool {
        let customer = &work.plan.customer;
        match operation {
            Operation::CreateChildAgreement {
                service,
                name,
                agreement_type_id,
                company_id,
                contact_id,
                billing_cycle_id,
                parent_agreement_id,
                start_date,
                key,
                reason,
            } => {
                let mut body = NewAgreement::new(
                    name.clone(),
                    Reference::by_id(*agreement_type_id),
                    CompanyReference::by_id(*company_id),
                );
                body.contact = contact_id.map(Reference::by_id);
                body.parent_agreement = Some(AgreementReference::by_id(*parent_agreement_id));
                body.billing_cycle = billing_cycle_id.map(Reference::by_id);
                body.start_date = Some(CwDate(*start_date));
                body.no_ending_date_flag = Some(true);
                body.internal_notes = Some(child_notes(key, self.installation));

                let audit = Audit::new(AuditOperation::CreateChildAgreement, "agreement", reason);
                let result = self.client.create_agreement(&body).await;
                let sent = serde_json::to_value(&body).ok();
                let check = self.find_child(*parent_agreement_id, key);
                let Some(agreement) = self
                    .confirm(work, &audit, result, sent, |agreement| agreement.id, check)
                    .await
                else {
                    return false;
                };

                let link = AgreementLink {
                    agreement_id: agreement.id,
                    service: service.clone(),
                    customer: customer.clone(),
                    parent_agreement_id: *parent_agreement_id,
                    ownership_key: key.clone(),
                    ended_on: None,
                };
                if !self.record_agreement(work, link).await {
                    return false;
                }
                work.created_children.insert(service.clone(), agreement.id);
                work.counts.created_agreements += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement.id,
                    "created child agreement {} for service {service}",
                    agreement.id
                );
                true
            }

            Operation::CreateAddition {
                service,
                meter,
                child,
                product_id,
                quantity,
                unit_price,
                unit_cost,
                effective_date,
                invoice_description,
                key,
                reason,
            } => {
                // A line for a child created earlier in this run goes on that child; if its
                // creation failed, the line waits for the next sync.
                let agreement_id = match child {
                    ChildRef::Existing { agreement_id } => *agreement_id,
                    ChildRef::Planned => match work.created_children.get(service) {
                        Some(id) => *id,
                        None => {
                            work.counts.skipped += 1;
                            return false;
                        }
                    },
                };
                let mut body = NewAddition::new(CatalogItemReference::by_id(*product_id));
                body.quantity = Some(*quantity);
                body.unit_price = *unit_price;
                body.unit_cost = *unit_cost;
                body.effective_date = Some(CwDate(*effective_date));
                body.invoice_description = Some(invoice_description.clone());
                body.serial_number = Some(key.clone());

                let audit = Audit::new(AuditOperation::CreateAddition, "addition", reason);
                let result = self.client.create_addition(agreement_id, &body).await;
                let sent = serde_json::to_value(&body).ok();
                let check = self.find_addition(agreement_id, key);
                let Some(addition) = self
                    .confirm(work, &audit, result, sent, |addition| addition.id, check)
                    .await
                else {
                    return false;
                };

                let link = AdditionLink {
                    addition_id: addition.id,
                    agreement_id,
                    service: service.clone(),
                    meter: meter.clone(),
                    catalog_item_id: *product_id,
                    ownership_key: key.clone(),
                    quantity: addition.quantity.unwrap_or(*quantity),
                    unit_price: *unit_price,
                    unit_cost: *unit_cost,
                    effective_date: *effective_date,
                    state: AdditionState::Active,
                };
                if !self.record_addition(work, link).await {
                    return false;
                }
                work.counts.created_additions += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    cw.addition_id = addition.id,
                    meter = %meter,
                    quantity = %quantity,
                    "created addition {} for {service} {meter}",
                    addition.id
                );
                true
            }

            Operation::UpdateQuantity {
                service,
                meter,
                agreement_id,
                addition_id,
                from,
                to,
                reason,
                ..
            } => {
                let audit = Audit::new(AuditOperation::UpdateAddition, "addition", reason)
                    .on(*addition_id)
                    .with_before(Some(json!({ "quantity": from })));
                let patch = [PatchOperation::replace("quantity", *to)];
                let result = self
                    .client
                    .patch_addition(*agreement_id, *addition_id, &patch)
                    .await;
                let check = self.read_addition(*agreement_id, *addition_id, |addition| {
                    addition.quantity == Some(*to)
                });
                let sent = Some(json!({ "quantity": to }));
                let confirmed = self
                    .confirm(work, &audit, result, sent, |addition| addition.id, check)
                    .await;
                if confirmed.is_none() {
                    return false;
                }

                let Some(mut link) = work.addition_links.get(addition_id).cloned() else {
                    return false;
                };
                link.quantity = *to;
                if !self.record_addition(work, link).await {
                    return false;
                }
                work.counts.updated += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    cw.addition_id = addition_id,
                    meter = %meter,
                    from = %from,
                    to = %to,
                    "updated addition {addition_id} quantity from {from} to {to}"
                );
                true
            }

            Operation::ChangeProduct {
                service,
                meter,
                agreement_id,
                addition_id,
                from_product_id,
                product_id,
                unit_price,
                unit_cost,
                quantity,
                reason,
            } => {
                // Without an override the line takes the catalog item's price and cost, as a
                // new line would; a PATCH of the product alone keeps the old item's.
                let (price, cost) = match (unit_price, unit_cost) {
                    (Some(price), Some(cost)) => (*price, *cost),
                    _ => {
                        let Some(item) = self.catalog_item(work, *product_id, reason).await else {
                            return false;
                        };
                        (
                            unit_price.or(item.price).unwrap_or_default(),
                            unit_cost.or(item.cost).unwrap_or_default(),
                        )
                    }
                };
                let audit = Audit::new(AuditOperation::UpdateAddition, "addition", reason)
                    .on(*addition_id)
                    .with_before(Some(json!({ "product": { "id": from_product_id } })));
                let patch = [
                    PatchOperation::replace("product", json!({ "id": product_id })),
                    PatchOperation::replace("unitPrice", price),
                    PatchOperation::replace("unitCost", cost),
                    PatchOperation::replace("quantity", *quantity),
                ];
                let result = self
                    .client
                    .patch_addition(*agreement_id, *addition_id, &patch)
                    .await;
                let check = self.read_addition(*agreement_id, *addition_id, |addition| {
                    addition.product.as_ref().and_then(|p| p.id) == Some(*product_id)
                        && addition.quantity == Some(*quantity)
                });
                let sent = Some(json!({
                    "product": { "id": product_id },
                    "unitPrice": price,
                    "unitCost": cost,
                    "quantity": quantity,
                }));
                let confirmed = self
                    .confirm(work, &audit, result, sent, |addition| addition.id, check)
                    .await;
                if confirmed.is_none() {
                    return false;
                }

                let Some(mut link) = work.addition_links.get(addition_id).cloned() else {
                    return false;
                };
                link.catalog_item_id = *product_id;
                link.unit_price = *unit_price;
                link.unit_cost = *unit_cost;
                link.quantity = *quantity;
                if !self.record_addition(work, link).await {
                    return false;
                }
                work.counts.updated += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    cw.addition_id = addition_id,
                    meter = %meter,
                    "changed addition {addition_id} from catalog item {from_product_id} to \
                     {product_id}"
                );
                true
            }

            Operation::CancelAddition {
                service,
                agreement_id,
                addition_id,
                cancelled_date,
                reason,
                ..
            } => {
                let audit = Audit::new(AuditOperation::CancelAddition, "addition", reason)
                    .on(*addition_id)
                    .with_before(Some(json!({ "cancelledDate": null })));
                let wanted = CwDate(*cancelled_date);
                let sent = json!({ "cancelledDate": wanted });
                let intent = (AuditOperation::CancelAddition, "addition", *addition_id);
                if !self.intend(work, intent, &sent).await {
                    return false;
                }
                let patch = [PatchOperation::replace("cancelledDate", wanted)];
                let result = self
                    .client
                    .patch_addition(*agreement_id, *addition_id, &patch)
                    .await;
                let check = self.read_addition(*agreement_id, *addition_id, |addition| {
                    addition.cancelled_date == Some(wanted)
                });
                // The date sent stays in the audit log even when the outcome is unknown: it is
                // how the next sync recognises this cancellation as hyalto's own (see
                // `known::OwnChanges`).
                let sent = Some(sent);
                let confirmed = self
                    .confirm(work, &audit, result, sent, |addition| addition.id, check)
                    .await;
                if confirmed.is_none() {
                    return false;
                }

                let Some(mut link) = work.addition_links.get(addition_id).cloned() else {
                    return false;
                };
                link.state = AdditionState::Cancelled {
                    on: *cancelled_date,
                };
                if !self.record_addition(work, link).await {
                    return false;
                }
                work.counts.cancelled += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    cw.addition_id = addition_id,
                    "cancelled addition {addition_id} as of {cancelled_date}"
                );
                true
            }

            Operation::RenameChildAgreement {
                service,
                agreement_id,
                from,
                to,
                reason,
            } => {
                let audit = Audit::new(AuditOperation::RenameChildAgreement, "agreement", reason)
                    .on(*agreement_id)
                    .with_before(Some(json!({ "name": from })));
                let patch = [PatchOperation::replace("name", to.as_str())];
                let result = self.client.patch_agreement(*agreement_id, &patch).await;
                let check = async {
                    let agreement = self.client.agreement(*agreement_id).await.ok()?;
                    (agreement.name.as_deref() == Some(to.as_str())).then_some(agreement)
                };
                let sent = Some(json!({ "name": to }));
                let confirmed = self
                    .confirm(work, &audit, result, sent, |agreement| agreement.id, check)
                    .await;
                if confirmed.is_none() {
                    return false;
                }

                work.counts.renamed += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    "renamed child agreement {agreement_id} to \"{to}\""
                );
                true
            }

            Operation::TakeOverChildAgreement {
                service,
                agreement_id,
                from_installation,
                notes,
                reason,
            } => {
                let audit = Audit::new(AuditOperation::TakeOverChildAgreement, "agreement", reason)
                    .on(*agreement_id)
                    .with_before(Some(json!({ "installation": from_installation })));
                let patch = [PatchOperation::replace("internalNotes", notes.as_str())];
                let result = self.client.patch_agreement(*agreement_id, &patch).await;
                let check = async {
                    let agreement = self.client.agreement(*agreement_id).await.ok()?;
                    (agreement.internal_notes.as_deref() == Some(notes.as_str()))
                        .then_some(agreement)
                };
                let sent = Some(json!({ "internalNotes": notes }));
                let confirmed = self
                    .confirm(work, &audit, result, sent, |agreement| agreement.id, check)
                    .await;
                if confirmed.is_none() {
                    return false;
                }

                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    "took over child agreement {agreement_id} from installation \
                     {from_installation}"
                );
                true
            }

            Operation::EndChildAgreement {
                service,
                agreement_id,
                end_date,
                reason,
            } => {
                let audit = Audit::new(AuditOperation::EndChildAgreement, "agreement", reason)
                    .on(*agreement_id)
                    .with_before(Some(json!({ "endDate": null, "noEndingDateFlag": true })));
                let wanted = CwDate(*end_date);
                let sent = json!({ "endDate": wanted, "noEndingDateFlag": false });
                let intent = (
                    AuditOperation::EndChildAgreement,
                    "agreement",
                    *agreement_id,
                );
                if !self.intend(work, intent, &sent).await {
                    return false;
                }
                let patch = [
                    PatchOperation::replace("endDate", wanted),
                    PatchOperation::replace("noEndingDateFlag", false),
                ];
                let result = self.client.patch_agreement(*agreement_id, &patch).await;
                let check = async {
                    let agreement = self.client.agreement(*agreement_id).await.ok()?;
                    (agreement.end_date == Some(wanted)).then_some(agreement)
                };
                let sent = Some(sent);
                let confirmed = self
                    .confirm(work, &audit, result, sent, |agreement| agreement.id, check)
                    .await;
                if confirmed.is_none() {
                    return false;
                }

                let Some(mut link) = work.agreement_links.get(agreement_id).cloned() else {
                    return false;
                };
                link.ended_on = Some(*end_date);
                if !self.record_agreement(work, link).await {
                    return false;
                }
                work.counts.ended += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    "ended child agreement {agreement_id} on {end_date}"
                );
                true
            }

            Operation::AdoptChildAgreement {
                service,
                agreement_id,
                key,
                ended_on,
                reason,
            } => {
                // A child already linked keeps the master it was written under: after the
                // customer is mapped again, that is a previous master, not the current one.
                let parent_agreement_id = work
                    .agreement_links
                    .get(agreement_id)
                    .map(|link| link.parent_agreement_id)
                    .unwrap_or(work.plan.master_agreement_id);
                let link = AgreementLink {
                    agreement_id: *agreement_id,
                    service: service.clone(),
                    customer: customer.clone(),
                    parent_agreement_id,
                    ownership_key: key.clone(),
                    ended_on: *ended_on,
                };
                if !self.record_agreement(work, link).await {
                    return false;
                }
                self.adopted(customer, "agreement", *agreement_id, reason)
                    .await;
                work.counts.adopted += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    "recorded child agreement {agreement_id}: {reason}"
                );
                true
            }

            Operation::AdoptAddition {
                service,
                meter,
                agreement_id,
                addition_id,
                product_id,
                quantity,
                unit_price,
                unit_cost,
                effective_date,
                key,
                cancelled_on,
                reason,
            } => {
                let link = AdditionLink {
                    addition_id: *addition_id,
                    agreement_id: *agreement_id,
                    service: service.clone(),
                    meter: meter.clone(),
                    catalog_item_id: *product_id,
                    ownership_key: key.clone(),
                    quantity: *quantity,
                    unit_price: *unit_price,
                    unit_cost: *unit_cost,
                    effective_date: *effective_date,
                    state: match cancelled_on {
                        Some(on) => AdditionState::Cancelled { on: *on },
                        None => AdditionState::Active,
                    },
                };
                if !self.record_addition(work, link).await {
                    return false;
                }
                self.adopted(customer, "addition", *addition_id, reason)
                    .await;
                work.counts.adopted += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    cw.addition_id = addition_id,
                    "recorded addition {addition_id}: {reason}"
                );
                true
            }
        }
    }

    /// Audits the outcome of a write and returns the record written.
    ///
    /// On success the record is audited with what ConnectWise returned. On a lost answer,
    /// `check` looks in ConnectWise (by ownership key for a create, by reading the record back
    /// for a change): a record found is the write's result and is audited as adopted. Anything
    /// else is a failure, already audited and counted, and gives `None`.
    async fn confirm<T: Serialize>(
        &self,
        work: &mut Work<'_>,
        audit: &Audit<'_>,
        result: Result<T, Error>,
        sent: Option<serde_json::Value>,
        id: impl Fn(&T) -> i64,
        check: impl Future<Output = Option<T>>,
    ) -> Option<T> {
        let error = match result {
            Ok(record) => {
                let after = serde_json::to_value(&record).ok();
                self.succeeded(&work.plan.customer, audit, id(&record), after)
                    .await;
                return Some(record);
            }
            Err(error) => error,
        };

        if !self.settle(work, audit, &error, sent).await {
            return None;
        }
        match check.await {
            Some(record) => {
                let customer = work.plan.customer.clone();
                self.adopted(&customer, audit.target_kind, id(&record), LOST_AND_FOUND)
                    .await;
                Some(record)
            }
            None => {
                work.counts.failed += 1;
                work.errors.push(format!(
                    "{error}; ConnectWise does not show the write, so the next sync checks again"
                ));
                None
            }
        }
    }

    /// Reads a catalog item for its price and cost; a failure is counted and reported, and
    /// the write that needed it waits for the next sync.
    async fn catalog_item(
        &self,
        work: &mut Work<'_>,
        product_id: i64,
        reason: &str,
    ) -> Option<CatalogItem> {
        let query = ListQuery::filter(Field::new("id").eq(product_id));
        let found = match self.client.catalog_items(&query).await {
            Ok(items) => items.into_iter().find(|item| item.id == product_id),
            Err(error) => {
                work.counts.failed += 1;
                work.errors.push(format!(
                    "could not read catalog item {product_id} ({reason}): {error}; the next sync \
                     tries again"
                ));
                return None;
            }
        };
        if found.is_none() {
            work.counts.failed += 1;
            work.errors.push(format!(
                "catalog item {product_id} does not exist in ConnectWise; map the meter to an \
                 existing item with `hyalto connectwise products`"
            ));
        }
        found
    }

    /// Reads an addition back and keeps it when `applied` holds.
    async fn read_addition(
        &self,
        agreement_id: i64,
        addition_id: i64,
        applied: impl Fn(&Addition) -> bool,
    ) -> Option<Addition> {
        let addition = self.client.addition(agreement_id, addition_id).await.ok()?;
        applied(&addition).then_some(addition)
    }

    /// Logs and audits a failed write. Returns true when the outcome is unknown (the caller
    /// then checks ConnectWise), false when it failed for sure.
    async fn settle(
        &self,
        work: &mut Work<'_>,
        audit: &Audit<'_>,
        error: &Error,
        sent: Option<serde_json::Value>,
    ) -> bool {
        let customer = &work.plan.customer;
        let unknown = matches!(error, Error::OutcomeUnknown { .. });
        let status = if unknown {
            AuditStatus::Unknown
        } else {
            AuditStatus::Failed
        };
        self.append(customer, audit, audit.target_id, sent, status, Some(error))
            .await;

        let operation = &audit.operation;
        if unknown {
            tracing::warn!(
                customer.id = %customer,
                operation = %operation,
                error = %error,
                "the answer to {operation} was lost; checking ConnectWise"
            );
            return true;
        }
        if let Error::PermissionDenied { .. } = error {
            self.guard.stop(error.to_string());
        }
        tracing::warn!(
            customer.id = %customer,
            operation = %operation,
            error = %error,
            "{operation} failed for customer {customer}"
        );
        work.counts.failed += 1;
        work.errors.push(error.to_string());
        false
    }

    /// Records the cancellation or end about to be sent to a record, before it is sent: if
    /// hyalto stops after ConnectWise saved it and before its audit entry, the next sync still
    /// knows the date was its own (see `known::OwnChanges`). Without that record nothing is
    /// sent, and the failure is counted.
    async fn intend(
        &self,
        work: &mut Work<'_>,
        (operation, target_kind, target_id): (AuditOperation, &str, i64),
        sent: &serde_json::Value,
    ) -> bool {
        let intent = WriteIntent {
            at: Utc::now(),
            run: Some(self.run),
            customer: Some(work.plan.customer.clone()),
            operation,
            target_kind: target_kind.to_owned(),
            target_id,
            sent: sent.clone(),
        };
        if let Err(error) = self.store.record_write_intent(&intent).await {
            tracing::error!(
                customer.id = %work.plan.customer,
                error = %error,
                "could not record the intent of {}; nothing was sent",
                intent.operation
            );
            work.errors.push(format!(
                "{error}; {} of {target_kind} {target_id} was not sent, so the next sync tries \
                 again",
                intent.operation
            ));
            work.counts.failed += 1;
            return false;
        }
        true
    }

    /// Finds a running child of `parent` carrying `key`.
    async fn find_child(&self, parent: i64, key: &str) -> Option<Agreement> {
        let query = ListQuery::filter(
            Field::new("parentAgreement/id")
                .eq(parent)
                .and(Field::new("internalNotes").contains(key)),
        );
        let found = self.client.agreements(&query).await.ok()?;
        found
            .into_iter()
            .find(|child| child.cancelled_flag != Some(true))
    }

    /// Finds an active addition of `agreement_id` carrying `key`.
    async fn find_addition(&self, agreement_id: i64, key: &str) -> Option<Addition> {
        let query = ListQuery::filter(Field::new("serialNumber").eq(key));
        let found = self.client.additions(agreement_id, &query).await.ok()?;
        found
            .into_iter()
            .find(|addition| addition.cancelled_date.is_none())
    }

    async fn record_agreement(&self, work: &mut Work<'_>, link: AgreementLink) -> bool {
        if let Err(error) = self.store.record_agreement_link(&link).await {
            tracing::error!(
                customer.id = %work.plan.customer,
                cw.agreement_id = link.agreement_id,
                error = %error,
                "could not record the link to agreement {}",
                link.agreement_id
            );
            work.errors.push(error.to_string());
            work.counts.failed += 1;
            return false;
        }
        work.agreement_links.insert(link.agreement_id, link);
        true
    }

    async fn record_addition(&self, work: &mut Work<'_>, link: AdditionLink) -> bool {
        if let Err(error) = self.store.record_addition_link(&link).await {
            tracing::error!(
                customer.id = %work.plan.customer,
                cw.addition_id = link.addition_id,
                error = %error,
                "could not record the link to addition {}",
                link.addition_id
            );
            work.errors.push(error.to_string());
            work.counts.failed += 1;
            return false;
        }
        work.addition_links.insert(link.addition_id, link);
        true
    }

    /// Audits a record adopted without a ConnectWise write.
    async fn adopted(&self, customer: &CustomerId, kind: &'static str, id: i64, reason: &str) {
        let audit = Audit::new(AuditOperation::AdoptRecord, kind, reason);
        self.succeeded(customer, &audit, id, None).await;
    }

    /// Audits a write ConnectWise confirmed.
    async fn succeeded(
        &self,
        customer: &CustomerId,
        audit: &Audit<'_>,
        target_id: i64,
        after: Option<serde_json::Value>,
    ) {
        self.append(
            customer,
            audit,
            Some(target_id),
            after,
            AuditStatus::Succeeded,
            None,
        )
        .await;
    }

    /// Appends one audit entry.
    async fn append(
        &self,
        customer: &CustomerId,
        audit: &Audit<'_>,
        target_id: Option<i64>,
        after: Option<serde_json::Value>,
        status: AuditStatus,
        error: Option<&Error>,
    ) {
        let entry = NewAuditEntry {
            at: Utc::now(),
            run: Some(self.run),
            customer: Some(customer.clone()),
            operation: audit.operation.clone(),
            target_kind: audit.target_kind.to_owned(),
            target_id,
            reason: audit.reason.to_owned(),
            before: audit.before.clone(),
            after,
            status,
            request_id: error.and_then(Error::request_id).map(str::to_owned),
            error_message: error.map(ToString::to_string),
        };
        // The write already happened; a failing audit log must not undo it or stop the run,
        // but it is an error someone has to look at.
        if let Err(error) = self.store.append_audit(&entry).await {
            tracing::error!(
                customer.id = %customer,
                error = %error,
                "could not append to the audit log"
            );
        }
    }
}
