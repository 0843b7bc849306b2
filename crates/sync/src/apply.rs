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
use std::sync::Mutex;

use chrono::Utc;
use hyalto_connectwise::models::{
    Addition, AgreementReference, CatalogItemReference, CompanyReference, CwDate, NewAddition,
    NewAgreement, PatchOperation, Reference,
};
use hyalto_connectwise::{Client, Error, Field, ListQuery};
use hyalto_domain::{CustomerId, MeterKey, ServiceId};
use hyalto_store::{
    AdditionLink, AdditionState, AgreementLink, AuditOperation, AuditStatus, NewAuditEntry, RunId,
    Store,
};
use serde_json::json;

use crate::keys::child_notes;
use crate::known::KnownCustomer;
use crate::plan::{ChildRef, CustomerPlan, Operation};

/// The audit reason of a record adopted right after the answer to its creation was lost.
const LOST_AND_FOUND: &str = "the answer to its creation was lost; found by its ownership key";

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
    /// Records adopted (link recorded without a write).
    pub adopted: u64,
    /// Writes that failed or whose outcome stayed unknown.
    pub failed: u64,
    /// Operations not attempted because an earlier one they depend on failed.
    pub skipped: u64,
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

impl Work<'_> {
    /// Notes a create whose answer was lost and whose record was not found by its key.
    fn lost(&mut self, key: &str) {
        self.counts.failed += 1;
        self.errors.push(format!(
            "the answer to creating the record with key {key} was lost and it was not found; \
             the next sync adopts or creates it"
        ));
    }
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
            if !succeeded {
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
                body.internal_notes = Some(child_notes(key));

                let result = self.client.create_agreement(&body).await;
                let agreement_id = match result {
                    Ok(agreement) => {
                        let after = serde_json::to_value(&agreement).ok();
                        self.audit(
                            customer,
                            AuditOperation::CreateChildAgreement,
                            "agreement",
                            Some(agreement.id),
                            reason,
                            None,
                            after,
                            None,
                        )
                        .await;
                        agreement.id
                    }
                    Err(error) => {
                        let body_json = serde_json::to_value(&body).ok();
                        let unknown = self
                            .after_failure(
                                work,
                                &error,
                                AuditOperation::CreateChildAgreement,
                                "agreement",
                                None,
                                reason,
                                body_json,
                            )
                            .await;
                        if !unknown {
                            return false;
                        }
                        match self.find_child(*parent_agreement_id, key).await {
                            Some(id) => {
                                self.audit_adoption(customer, "agreement", id, LOST_AND_FOUND)
                                    .await;
                                id
                            }
                            None => {
                                work.lost(key);
                                return false;
                            }
                        }
                    }
                };

                let link = AgreementLink {
                    agreement_id,
                    service: service.clone(),
                    customer: customer.clone(),
                    parent_agreement_id: *parent_agreement_id,
                    ownership_key: key.clone(),
                    ended_on: None,
                };
                if !self.record_agreement(work, link).await {
                    return false;
                }
                work.created_children.insert(service.clone(), agreement_id);
                work.counts.created_agreements += 1;
                tracing::info!(
                    customer.id = %customer,
                    service.id = %service,
                    cw.agreement_id = agreement_id,
                    "created child agreement {agreement_id} for service {service}"
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

                let result = self.client.create_addition(agreement_id, &body).await;
                let addition = match result {
                    Ok(addition) => {
                        let after = serde_json::to_value(&addition).ok();
                        self.audit(
                            customer,
                            AuditOperation::CreateAddition,
                            "addition",
                            Some(addition.id),
                            reason,
                            None,
                            after,
                            None,
                        )
                        .await;
                        addition
                    }
                    Err(error) => {
                        let body_json = serde_json::to_value(&body).ok();
                        let unknown = self
                            .after_failure(
                                work,
                                &error,
                                AuditOperation::CreateAddition,
                                "addition",
                                None,
                                reason,
                                body_json,
                            )
                            .await;
                        if !unknown {
                            return false;
                        }
                        match self.find_addition(agreement_id, key).await {
                            Some(addition) => {
                                self.audit_adoption(
                                    customer,
                                    "addition",
                                    addition.id,
                                    LOST_AND_FOUND,
                                )
                                .await;
                                addition
                            }
                            None => {
                                work.lost(key);
                                return false;
                            }
                        }
                    }
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
                let patch = [PatchOperation::replace("quantity", *to)];
                let before = Some(json!({ "quantity": from }));
                let result = self
                    .client
                    .patch_addition(*agreement_id, *addition_id, &patch)
                    .await;
                let confirmed = self
                    .patch_outcome(
                        work,
                        result,
                        AuditOperation::UpdateAddition,
                        *addition_id,
                        reason,
                        before,
                        |addition| addition.quantity == Some(*to),
                        *agreement_id,
                    )
                    .await;
                if !confirmed {
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

            Operation::CancelAddition {
                service,
                agreement_id,
                addition_id,
                cancelled_date,
                reason,
                ..
            } => {
                let patch = [PatchOperation::replace(
                    "cancelledDate",
                    CwDate(*cancelled_date),
                )];
                let result = self
                    .client
                    .patch_addition(*agreement_id, *addition_id, &patch)
                    .await;
                let wanted = CwDate(*cancelled_date);
                let confirmed = self
                    .patch_outcome(
                        work,
                        result,
                        AuditOperation::CancelAddition,
                        *addition_id,
                        reason,
                        None,
                        |addition| addition.cancelled_date == Some(wanted),
                        *agreement_id,
                    )
                    .await;
                if !confirmed {
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

            Operation::EndChildAgreement {
                service,
                agreement_id,
                end_date,
                reason,
            } => {
                let patch = [
                    PatchOperation::replace("endDate", CwDate(*end_date)),
                    PatchOperation::replace("noEndingDateFlag", false),
                ];
                let result = self.client.patch_agreement(*agreement_id, &patch).await;
                let outcome = match result {
                    Ok(agreement) => {
                        let after = serde_json::to_value(&agreement).ok();
                        self.audit(
                            customer,
                            AuditOperation::EndChildAgreement,
                            "agreement",
                            Some(*agreement_id),
                            reason,
                            None,
                            after,
                            None,
                        )
                        .await;
                        true
                    }
                    Err(error) => {
                        let unknown = self
                            .after_failure(
                                work,
                                &error,
                                AuditOperation::EndChildAgreement,
                                "agreement",
                                Some(*agreement_id),
                                reason,
                                None,
                            )
                            .await;
                        // A lost answer is checked by reading the agreement back.
                        let applied =
                            unknown
                                && self.client.agreement(*agreement_id).await.is_ok_and(
                                    |agreement| agreement.end_date == Some(CwDate(*end_date)),
                                );
                        if unknown && !applied {
                            work.counts.failed += 1;
                            work.errors.push(error.to_string());
                        }
                        applied
                    }
                };
                if !outcome {
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
                let link = AgreementLink {
                    agreement_id: *agreement_id,
                    service: service.clone(),
                    customer: customer.clone(),
                    parent_agreement_id: work.plan.master_agreement_id,
                    ownership_key: key.clone(),
                    ended_on: *ended_on,
                };
                if !self.record_agreement(work, link).await {
                    return false;
                }
                self.audit_adoption(customer, "agreement", *agreement_id, reason)
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
                    effective_date: *effective_date,
                    state: match cancelled_on {
                        Some(on) => AdditionState::Cancelled { on: *on },
                        None => AdditionState::Active,
                    },
                };
                if !self.record_addition(work, link).await {
                    return false;
                }
                self.audit_adoption(customer, "addition", *addition_id, reason)
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

    /// Logs and audits a failed write. Returns true when the outcome is unknown (the caller
    /// then looks the record up), false when it failed for sure.
    #[expect(
        clippy::too_many_arguments,
        reason = "an audit entry has that many parts"
    )]
    async fn after_failure(
        &self,
        work: &mut Work<'_>,
        error: &Error,
        operation: AuditOperation,
        target_kind: &str,
        target_id: Option<i64>,
        reason: &str,
        sent: Option<serde_json::Value>,
    ) -> bool {
        let customer = &work.plan.customer;
        let unknown = matches!(error, Error::OutcomeUnknown { .. });
        let status = if unknown {
            AuditStatus::Unknown
        } else {
            AuditStatus::Failed
        };
        self.audit_with(
            customer,
            operation.clone(),
            target_kind,
            target_id,
            reason,
            None,
            sent,
            status,
            error.request_id().map(str::to_owned),
            Some(error.to_string()),
        )
        .await;

        if unknown {
            tracing::warn!(
                customer.id = %customer,
                operation = %operation,
                error = %error,
                "the answer to {operation} was lost; looking the record up"
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

    /// Audits a PATCH of an addition; on a lost answer, reads the addition back and accepts
    /// the write when `applied` holds. Returns whether the write is known to be applied.
    #[expect(
        clippy::too_many_arguments,
        reason = "an audit entry has that many parts"
    )]
    async fn patch_outcome(
        &self,
        work: &mut Work<'_>,
        result: Result<Addition, Error>,
        operation: AuditOperation,
        addition_id: i64,
        reason: &str,
        before: Option<serde_json::Value>,
        applied: impl Fn(&Addition) -> bool,
        agreement_id: i64,
    ) -> bool {
        let customer = work.plan.customer.clone();
        match result {
            Ok(addition) => {
                let after = serde_json::to_value(&addition).ok();
                self.audit(
                    &customer,
                    operation,
                    "addition",
                    Some(addition_id),
                    reason,
                    before,
                    after,
                    None,
                )
                .await;
                true
            }
            Err(error) => {
                let unknown = self
                    .after_failure(
                        work,
                        &error,
                        operation,
                        "addition",
                        Some(addition_id),
                        reason,
                        None,
                    )
                    .await;
                if !unknown {
                    return false;
                }
                match self.client.addition(agreement_id, addition_id).await {
                    Ok(addition) if applied(&addition) => true,
                    _ => {
                        work.counts.failed += 1;
                        work.errors.push(error.to_string());
                        false
                    }
                }
            }
        }
    }

    /// Finds a running child of `parent` carrying `key`.
    async fn find_child(&self, parent: i64, key: &str) -> Option<i64> {
        let query = ListQuery::filter(
            Field::new("parentAgreement/id")
                .eq(parent)
                .and(Field::new("internalNotes").contains(key)),
        );
        let found = self.client.agreements(&query).await.ok()?;
        found
            .into_iter()
            .find(|child| child.cancelled_flag != Some(true))
            .map(|child| child.id)
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

    async fn audit_adoption(&self, customer: &CustomerId, kind: &str, id: i64, reason: &str) {
        self.audit(
            customer,
            AuditOperation::AdoptRecord,
            kind,
            Some(id),
            reason,
            None,
            None,
            None,
        )
        .await;
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "an audit entry has that many parts"
    )]
    async fn audit(
        &self,
        customer: &CustomerId,
        operation: AuditOperation,
        target_kind: &str,
        target_id: Option<i64>,
        reason: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        request_id: Option<String>,
    ) {
        self.audit_with(
            customer,
            operation,
            target_kind,
            target_id,
            reason,
            before,
            after,
            AuditStatus::Succeeded,
            request_id,
            None,
        )
        .await;
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "an audit entry has that many parts"
    )]
    async fn audit_with(
        &self,
        customer: &CustomerId,
        operation: AuditOperation,
        target_kind: &str,
        target_id: Option<i64>,
        reason: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        status: AuditStatus,
        request_id: Option<String>,
        error_message: Option<String>,
    ) {
        let entry = NewAuditEntry {
            at: Utc::now(),
            run: Some(self.run),
            customer: Some(customer.clone()),
            operation,
            target_kind: target_kind.to_owned(),
            target_id,
            reason: reason.to_owned(),
            before,
            after,
            status,
            request_id,
            error_message,
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
