//! The engine: reads state, plans, applies, and records runs under the sync lease.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt as _;
use hyalto_connectwise::Client;
use hyalto_domain::{CustomerId, MeterKey, MeteringRules};
use hyalto_store::{
    CompanyMapping, NewRun, Presence, ProductMapping, RunCounts, RunFinish, RunId, RunOutcome,
    SourceState, Store, StoreError, new_holder_id,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use tracing::Instrument as _;

use crate::apply::{AppliedCounts, Applier, RunGuard};
use crate::desired::{billing_date, desired_customer};
use crate::error::SyncError;
use crate::known::{KnownCustomer, read_known};
use crate::plan::{
    Ceilings, ChangeGuard, CustomerPlan, CustomerStatus, Finding, Operation, Plan, PlanContext,
    plan_customer,
};

/// How long the sync lease lasts without renewal; a crashed sync blocks others this long.
pub const LEASE_TTL: Duration = Duration::from_secs(600);

/// Renew the lease when this much of it has passed.
const LEASE_RENEW_AFTER: Duration = Duration::from_secs(120);

/// How the engine bills; set once from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    /// The metering rules.
    pub rules: MeteringRules,
    /// Calendar dates (start, effective, cancelled, end) are days in this zone.
    pub billing_tz: Tz,
    /// More than this share of a customer's services vanishing at once holds their
    /// cancellations until confirmed. Default 0.5.
    pub removal_hold_share: Decimal,
    /// Customers processed at once. Default 4; the client's limiter also paces calls.
    pub concurrency: usize,
    /// The child agreement name: `{customer}`, `{kind}`, `{service}` and `{service_id}` are
    /// replaced, and the result is cut to 100 characters. Default `{kind}: {service}`.
    pub agreement_name_template: String,
    /// Quantity changes too large to write without confirmation. Default: more than 10x and
    /// more than 100 units apart, or a running service's CPU or RAM dropping to zero.
    pub change_guard: ChangeGuard,
    /// Quantities too large to write without confirmation, first or not, per resource.
    /// Default 1024 vCPUs, 65,536 GiB of RAM, 1,048,576 GiB of storage.
    pub ceilings: Ceilings,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            rules: MeteringRules::default(),
            billing_tz: chrono_tz::UTC,
            removal_hold_share: Decimal::new(5, 1),
            concurrency: 4,
            agreement_name_template: "{kind}: {service}".to_owned(),
            change_guard: ChangeGuard::default(),
            ceilings: Ceilings::default(),
        }
    }
}

/// The choices of one sync.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncOptions {
    /// Plan and record the run, but write nothing to ConnectWise.
    pub dry_run: bool,
    /// Only this customer.
    pub customer: Option<CustomerId>,
    /// Customers whose held removals are confirmed.
    pub confirm_removals: Vec<CustomerId>,
    /// Customers whose held implausible quantity changes are confirmed (for this run).
    pub confirm_changes: Vec<CustomerId>,
    /// Take over additions hyalto does not own for the same product on its child agreements.
    pub adopt_unowned: bool,
    /// Installations (other data dirs) whose child agreements are adopted and rewritten as
    /// this installation's.
    pub take_over: Vec<String>,
    /// The current time; "today" is its date in the billing time zone. Injected for tests.
    pub now: DateTime<Utc>,
}

impl SyncOptions {
    /// A real sync of every customer at `now`.
    pub fn at(now: DateTime<Utc>) -> SyncOptions {
        SyncOptions {
            dry_run: false,
            customer: None,
            confirm_removals: Vec::new(),
            confirm_changes: Vec::new(),
            adopt_unowned: false,
            take_over: Vec::new(),
            now,
        }
    }
}

/// Progress of a run, for a progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The run started and will look at this many customers.
    Started {
        /// The run.
        run_id: RunId,
        /// Customers to look at.
        customers: usize,
    },
    /// An operation of a customer was applied (or failed).
    Operation {
        /// The customer.
        customer: CustomerId,
        /// Operations done so far for it.
        done: usize,
        /// Its operations.
        total: usize,
    },
    /// A customer is finished.
    CustomerFinished {
        /// The customer.
        customer: CustomerId,
        /// Customers finished so far.
        done: usize,
        /// Customers in the run.
        total: usize,
        /// Whether something failed for it.
        failed: bool,
    },
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    /// The run's id (see `hyalto sync history`).
    pub run_id: RunId,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The plan it applied (or would have applied).
    pub plan: Plan,
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
    /// Records adopted (found by key, taken over, or brought up to date in the store).
    pub adopted: u64,
    /// Findings reported (one per line of the plan's findings): differences left alone, held
    /// changes and removals, unmapped meters, services waiting for another customer.
    pub reported: u64,
    /// Writes that failed or whose outcome stayed unknown.
    pub writes_failed: u64,
    /// Customers skipped (nothing written for them), with the reason.
    pub skipped_customers: Vec<(CustomerId, String)>,
    /// Customers whose removals are held while their other changes were applied, with the
    /// status in words. A hold is a safety stop waiting for a person, not a failure: it does
    /// not make the run `partially_failed`.
    pub held_customers: Vec<(CustomerId, String)>,
    /// Customers for which something failed, with ConnectWise's messages.
    pub failed_customers: Vec<(CustomerId, String)>,
    /// Why writes were stopped for the rest of the run (a missing permission), if they were.
    pub writes_stopped: Option<String>,
    /// What the run was asked to do but found nothing to do it to, in words: an installation
    /// named by `--take-over` whose child agreements no synced customer has.
    pub warnings: Vec<String>,
}

impl RunReport {
    /// One sentence with the run's counts, as the command line and the server both show it.
    pub fn counts_sentence(&self) -> String {
        format!(
            "Sync run {}: child agreements {} created, {} renamed, {} ended; additions {} \
             created, {} updated, {} cancelled; {} adopted; {} finding(s) reported; {} write(s) \
             failed.",
            self.run_id,
            self.created_agreements,
            self.renamed,
            self.ended,
            self.created_additions,
            self.updated,
            self.cancelled,
            self.adopted,
            self.reported,
            self.writes_failed,
        )
    }
}

/// The sync engine. The CLI and the web UI call only [`SyncEngine::plan`] and
/// [`SyncEngine::run`].
pub struct SyncEngine<S: Store> {
    store: S,
    client: Client,
    config: SyncConfig,
}

/// What every customer's planning shares.
struct Inputs {
    installation: String,
    mappings: Vec<CompanyMapping>,
    sources: Vec<SourceState>,
    products: HashMap<MeterKey, ProductMapping>,
}

/// One customer's plan with the known state it was made from (absent when nothing was read).
struct Planned {
    plan: CustomerPlan,
    known: Option<KnownCustomer>,
}

impl<S: Store> SyncEngine<S> {
    /// An engine over `store` and `client`.
    pub fn new(store: S, client: Client, config: SyncConfig) -> SyncEngine<S> {
        SyncEngine {
            store,
            client,
            config,
        }
    }

    /// The store, for callers that show history next to a sync.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Checks that every customer and installation the options name is one the sync can apply
    /// them to, so that a mistyped confirmation is an error rather than silently ignored.
    pub async fn validate(&self, opts: &SyncOptions) -> Result<(), SyncError> {
        let mappings = self.store.list_company_mappings().await?;
        let mapped: HashSet<&CustomerId> = mappings.iter().map(|m| &m.customer).collect();
        for (flag, customers) in [
            ("--confirm-removals", &opts.confirm_removals),
            ("--confirm-changes", &opts.confirm_changes),
        ] {
            for customer in customers {
                if !mapped.contains(customer) {
                    return Err(SyncError::InvalidOption {
                        message: format!(
                            "{flag} {customer}: no mapped customer has that id, so there is \
                             nothing to confirm; check the id with `hyalto connectwise \
                             mappings`"
                        ),
                    });
                }
                if let Some(only) = &opts.customer
                    && only != customer
                {
                    return Err(SyncError::InvalidOption {
                        message: format!(
                            "{flag} {customer} confirms a customer this sync does not look at \
                             (--customer {only}); sync --customer {customer}, or leave out \
                             --customer"
                        ),
                    });
                }
            }
        }

        let own = self.store.installation_id().await?;
        for installation in &opts.take_over {
            if !is_installation_id(installation) {
                return Err(SyncError::InvalidOption {
                    message: format!(
                        "--take-over {installation}: an installation id is hyi- and 16 hex \
                         digits, as the finding about the other installation shows; copy it \
                         from there"
                    ),
                });
            }
            if *installation == own {
                return Err(SyncError::InvalidOption {
                    message: format!(
                        "--take-over {installation} names this installation itself; give the id \
                         of the other installation the finding names"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Plans a sync without writing anything anywhere.
    pub async fn plan(&self, opts: &SyncOptions) -> Result<Plan, SyncError> {
        self.validate(opts).await?;
        let inputs = self.inputs(opts).await?;

        let planned: Vec<Planned> = futures::stream::iter(&inputs.mappings)
            .map(|mapping| self.plan_one(mapping, &inputs, opts))
            .buffered(self.config.concurrency.max(1))
            .collect()
            .await;

        Ok(Plan {
            customers: planned.into_iter().map(|planned| planned.plan).collect(),
        })
    }

    /// Runs a sync: takes the sync lease ([`SyncError::Busy`] if another sync has it), plans,
    /// applies unless `dry_run`, records the run and gives the lease back.
    ///
    /// A dry run writes nothing to ConnectWise, so it takes no lease: a preview never waits
    /// for, or blocks, a real sync.
    pub async fn run(
        &self,
        opts: &SyncOptions,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<RunReport, SyncError> {
        self.validate(opts).await?;
        if opts.dry_run {
            return self.run_leased(None, opts, progress).await;
        }

        let holder = new_holder_id();
        match self
            .store
            .try_acquire_sync_lease(&holder, Utc::now(), LEASE_TTL)
            .await
        {
            Ok(_) => {}
            Err(StoreError::LeaseHeld { holder, .. }) => return Err(SyncError::Busy { holder }),
            Err(error) => return Err(error.into()),
        }

        let result = self.run_leased(Some(&holder), opts, progress).await;

        // The lease goes back whatever happened; if that fails it simply expires.
        if let Err(error) = self.store.release_sync_lease(&holder).await {
            tracing::warn!(error = %error, "could not release the sync lease; it will expire");
        }
        result
    }

    async fn run_leased(
        &self,
        holder: Option<&str>,
        opts: &SyncOptions,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<RunReport, SyncError> {
        let run_id = self
            .store
            .start_run(&NewRun {
                started_at: Utc::now(),
                dry_run: opts.dry_run,
                customer_filter: opts.customer.clone(),
            })
            .await?;
        tracing::info!(run.id = %run_id, dry_run = opts.dry_run, "sync run {run_id} started");

        let inputs = match self.inputs(opts).await {
            Ok(inputs) => inputs,
            Err(error) => {
                self.finish(
                    run_id,
                    RunOutcome::Failed,
                    RunCounts::default(),
                    json!({ "error": error.to_string() }),
                )
                .await;
                return Err(error);
            }
        };
        let total = inputs.mappings.len();
        progress(Progress::Started {
            run_id,
            customers: total,
        });

        // Customers run concurrently up to the configured bound; each plans from fresh reads
        // and applies right away, so a plan is never older than its customer's reads.
        let guard = RunGuard::default();
        let applier = Applier {
            client: &self.client,
            store: &self.store,
            run: run_id,
            guard: &guard,
            installation: &inputs.installation,
        };
        let mut results = futures::stream::iter(&inputs.mappings)
            .map(|mapping| {
                let span = tracing::info_span!("sync_customer", customer.id = %mapping.customer);
                // Boxed: the customer's future is large, and the run holds several at once.
                Box::pin(
                    self.sync_customer(mapping, &inputs, opts, &applier, progress)
                        .instrument(span),
                )
            })
            .buffered(self.config.concurrency.max(1));

        let mut report = RunReport {
            run_id,
            dry_run: opts.dry_run,
            plan: Plan::default(),
            created_agreements: 0,
            created_additions: 0,
            updated: 0,
            cancelled: 0,
            ended: 0,
            renamed: 0,
            adopted: 0,
            reported: 0,
            writes_failed: 0,
            skipped_customers: Vec::new(),
            held_customers: Vec::new(),
            failed_customers: Vec::new(),
            writes_stopped: None,
            warnings: Vec::new(),
        };
        let mut last_renewal = Instant::now();
        let mut done = 0usize;
        let mut results_json = Vec::with_capacity(total);
        let in_run: HashSet<&CustomerId> = inputs.mappings.iter().map(|m| &m.customer).collect();
        let mut waiting: Vec<(CustomerPlan, AppliedCounts, Vec<String>)> = Vec::new();
        let mut first_pass_done = false;
        loop {
            let next = if first_pass_done {
                None
            } else {
                results.next().await
            };
            let (plan, counts, errors) = match next {
                Some(result) => result,
                None => {
                    first_pass_done = true;
                    let Some((first, counts, errors)) = waiting.pop() else {
                        break;
                    };
                    // A service that moved here from a customer of this run waited for that
                    // customer's child to end; every other customer is done now, so planned
                    // again it finds the child ended (unless its removal is held) and the
                    // move completes in this one run.
                    let mapping = inputs
                        .mappings
                        .iter()
                        .find(|mapping| mapping.customer == first.customer)
                        .expect("a waiting customer is one of the run's");
                    let span =
                        tracing::info_span!("sync_customer", customer.id = %mapping.customer);
                    let (second, more, more_errors) = Box::pin(
                        self.sync_customer(mapping, &inputs, opts, &applier, progress)
                            .instrument(span),
                    )
                    .await;
                    merge_passes(first, counts, errors, second, more, more_errors)
                }
            };
            let waits_for_this_run = !opts.dry_run
                && !first_pass_done
                && plan.findings.iter().any(|finding| {
                    matches!(finding, Finding::BilledElsewhere { customer, .. }
                        if in_run.contains(customer) && *customer != plan.customer)
                });
            if waits_for_this_run {
                waiting.push((plan, counts, errors));
                continue;
            }
            done += 1;
            let failed = !errors.is_empty() || matches!(plan.status, CustomerStatus::Failed { .. });
            self.tally(&mut report, &plan, &counts, &errors);
            results_json.push(json!({
                "customer": plan.customer,
                "status": plan.status_line(!opts.dry_run),
                "operations": plan.operations.len(),
                "findings": plan.findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "errors": errors,
            }));
            progress(Progress::CustomerFinished {
                customer: plan.customer.clone(),
                done,
                total,
                failed,
            });
            report.plan.customers.push(plan);

            // A long run keeps its lease; losing it means another sync may be writing, so
            // this one stops writing.
            if let Some(holder) = holder
                && last_renewal.elapsed() >= LEASE_RENEW_AFTER
            {
                last_renewal = Instant::now();
                if let Err(error) = self
                    .store
                    .renew_sync_lease(holder, Utc::now(), LEASE_TTL)
                    .await
                {
                    tracing::error!(error = %error, "lost the sync lease; stopping writes");
                    guard.stop(error.to_string());
                }
            }
        }
        drop(results);
        report.writes_stopped = guard.stopped();
        report.warnings = unused_take_overs(&opts.take_over, &report.plan);

        let counts = RunCounts {
            customers: total as u64,
            customers_skipped: report.skipped_customers.len() as u64,
            customers_failed: report.failed_customers.len() as u64,
            agreements_created: report.created_agreements,
            agreements_ended: report.ended,
            agreements_renamed: report.renamed,
            additions_created: report.created_additions,
            additions_updated: report.updated,
            additions_cancelled: report.cancelled,
            records_adopted: report.adopted,
            reported: report.reported,
            writes_failed: report.writes_failed,
        };
        let outcome = if report.failed_customers.is_empty() && report.skipped_customers.is_empty() {
            RunOutcome::Succeeded
        } else {
            RunOutcome::PartiallyFailed
        };
        self.finish(
            run_id,
            outcome,
            counts,
            json!({ "customers": results_json }),
        )
        .await;
        tracing::info!(
            run.id = %run_id,
            created_agreements = report.created_agreements,
            created_additions = report.created_additions,
            updated = report.updated,
            cancelled = report.cancelled,
            ended = report.ended,
            failed_customers = report.failed_customers.len(),
            "sync run {run_id} finished"
        );
        Ok(report)
    }

    /// Plans one customer from fresh reads and applies the plan right away (unless it is a
    /// dry run or the customer is not to be written).
    async fn sync_customer(
        &self,
        mapping: &CompanyMapping,
        inputs: &Inputs,
        opts: &SyncOptions,
        applier: &Applier<'_, S>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> (CustomerPlan, AppliedCounts, Vec<String>) {
        let planned = self.plan_one(mapping, inputs, opts).await;
        let applies = !opts.dry_run && planned.plan.status.applies();
        let (counts, errors) = match (&planned.known, applies) {
            (Some(known), true) => {
                let customer = planned.plan.customer.clone();
                let report = |done, total| {
                    progress(Progress::Operation {
                        customer: customer.clone(),
                        done,
                        total,
                    })
                };
                applier.apply(&planned.plan, known, &report).await
            }
            _ => (AppliedCounts::default(), Vec::new()),
        };
        (planned.plan, counts, errors)
    }

    /// Adds one customer's outcome to the report.
    fn tally(
        &self,
        report: &mut RunReport,
        plan: &CustomerPlan,
        counts: &AppliedCounts,
        errors: &[String],
    ) {
        report.created_agreements += counts.created_agreements;
        report.created_additions += counts.created_additions;
        report.updated += counts.updated;
        report.cancelled += counts.cancelled;
        report.ended += counts.ended;
        report.renamed += counts.renamed;
        report.adopted += counts.adopted;
        report.writes_failed += counts.failed;
        report.reported += plan.findings.len() as u64;

        match &plan.status {
            CustomerStatus::Skipped { reason } => report
                .skipped_customers
                .push((plan.customer.clone(), reason.clone())),
            CustomerStatus::RemovalsHeld { .. } | CustomerStatus::ChangesHeld { .. } => report
                .held_customers
                .push((plan.customer.clone(), plan.status_line(!report.dry_run))),
            CustomerStatus::Failed { error } => report
                .failed_customers
                .push((plan.customer.clone(), error.clone())),
            CustomerStatus::Ready => {}
        }
        if !errors.is_empty() {
            let summary = failed_writes_summary(errors, &report.run_id);
            report
                .failed_customers
                .push((plan.customer.clone(), summary));
        }
    }

    async fn finish(
        &self,
        run_id: RunId,
        outcome: RunOutcome,
        counts: RunCounts,
        results: serde_json::Value,
    ) {
        let finish = RunFinish {
            finished_at: Utc::now(),
            outcome,
            counts,
            results,
        };
        if let Err(error) = self.store.finish_run(run_id, &finish).await {
            tracing::error!(
                run.id = %run_id,
                error = %error,
                "could not record the end of run {run_id}"
            );
        }
    }

    /// Reads what every customer's planning shares: mappings (filtered), sources, products.
    async fn inputs(&self, opts: &SyncOptions) -> Result<Inputs, SyncError> {
        let mut mappings = self.store.list_company_mappings().await?;
        if mappings.is_empty() {
            return Err(SyncError::NotConfigured {
                message: "no customer is mapped to a ConnectWise company yet; map one with \
                          `hyalto connectwise map`"
                    .to_owned(),
            });
        }
        if let Some(customer) = &opts.customer {
            mappings.retain(|mapping| &mapping.customer == customer);
            if mappings.is_empty() {
                return Err(SyncError::NotMapped {
                    customer: customer.clone(),
                });
            }
        }
        let sources = self.store.list_sources().await?;
        let products = self
            .store
            .list_product_mappings()
            .await?
            .into_iter()
            .map(|mapping| (mapping.key.clone(), mapping))
            .collect();

        let installation = self.store.installation_id().await?;

        Ok(Inputs {
            installation,
            mappings,
            sources,
            products,
        })
    }

    /// Reads one customer's state and plans it; failures become a `Failed` status.
    async fn plan_one(
        &self,
        mapping: &CompanyMapping,
        inputs: &Inputs,
        opts: &SyncOptions,
    ) -> Planned {
        let failed = |error: String| Planned {
            plan: CustomerPlan {
                customer: mapping.customer.clone(),
                company_id: mapping.company_id,
                master_agreement_id: mapping.agreement_id,
                status: CustomerStatus::Failed { error },
                operations: Vec::new(),
                findings: Vec::new(),
            },
            known: None,
        };

        let customer = match self.store.get_customer(&mapping.customer).await {
            Ok(Some(customer)) => customer,
            Ok(None) => return failed(format!("customer {} is not known", mapping.customer)),
            Err(error) => return failed(error.to_string()),
        };
        let services = match self
            .store
            .services_of_customer(&mapping.customer, Presence::IncludingGone)
            .await
        {
            Ok(services) => services,
            Err(error) => return failed(error.to_string()),
        };
        let desired = desired_customer(
            &customer,
            mapping,
            &services,
            &inputs.sources,
            &inputs.products,
            &self.config.rules,
            self.config.billing_tz,
        );
        let context = PlanContext {
            today: billing_date(opts.now, self.config.billing_tz),
            removal_hold_share: self.config.removal_hold_share,
            removals_confirmed: opts.confirm_removals.contains(&mapping.customer),
            adopt_unowned: opts.adopt_unowned,
            name_template: self.config.agreement_name_template.clone(),
            change_guard: self.config.change_guard,
            ceilings: self.config.ceilings,
            changes_confirmed: opts.confirm_changes.contains(&mapping.customer),
            installation: inputs.installation.clone(),
            take_over: opts.take_over.clone(),
        };

        // A skipped customer needs no ConnectWise reads at all.
        if desired.skip.is_some() {
            let plan = plan_customer(&desired, &KnownCustomer::default(), &context);
            return Planned { plan, known: None };
        }

        let known = match read_known(&self.client, &self.store, &desired).await {
            Ok(known) => known,
            Err(error) => {
                tracing::warn!(
                    customer.id = %mapping.customer,
                    error = %error,
                    "could not read what ConnectWise holds for customer {}",
                    mapping.customer
                );
                return failed(error.to_string());
            }
        };
        let plan = plan_customer(&desired, &known, &context);
        tracing::debug!(
            customer.id = %mapping.customer,
            operations = plan.operations.len(),
            findings = plan.findings.len(),
            "planned customer {}",
            mapping.customer
        );
        Planned {
            plan,
            known: Some(known),
        }
    }
}

/// One customer's outcome over two passes of a run: what both applied, the operations of both,
/// and the findings and status of the second, which saw the state the first pass left.
fn merge_passes(
    first: CustomerPlan,
    counts: AppliedCounts,
    mut errors: Vec<String>,
    second: CustomerPlan,
    more: AppliedCounts,
    more_errors: Vec<String>,
) -> (CustomerPlan, AppliedCounts, Vec<String>) {
    let mut plan = second;
    let mut operations = first.operations;
    operations.append(&mut plan.operations);
    plan.operations = operations;
    errors.extend(more_errors);
    (plan, counts.plus(&more), errors)
}

/// Whether `text` has the shape of an installation id: `hyi-` and 16 lowercase hex digits.
fn is_installation_id(text: &str) -> bool {
    text.strip_prefix("hyi-").is_some_and(|hex| {
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// One line for a customer's failed writes. During an outage every write fails with the same
/// cause, so the line gives the count and the first message instead of repeating the cause once
/// per write; the audit log holds each write's own answer.
fn failed_writes_summary(errors: &[String], run_id: &RunId) -> String {
    match errors {
        [] => String::new(),
        [only] => only.clone(),
        [first, ..] => {
            let mut distinct: Vec<&String> = errors.iter().collect();
            distinct.sort();
            distinct.dedup();
            format!(
                "{} writes failed ({} distinct error(s)); the first: {first}; \
                 `hyalto audit --run {run_id}` shows each",
                errors.len(),
                distinct.len(),
            )
        }
    }
}

/// A warning for each installation named by `--take-over` that no child agreement of the run
/// came from, so a mistyped or stale id does not pass for a take-over that happened.
fn unused_take_overs(take_over: &[String], plan: &Plan) -> Vec<String> {
    let taken: HashSet<&str> = plan
        .customers
        .iter()
        .flat_map(|customer| &customer.operations)
        .filter_map(|operation| match operation {
            Operation::TakeOverChildAgreement {
                from_installation, ..
            } => Some(from_installation.as_str()),
            _ => None,
        })
        .collect();
    take_over
        .iter()
        .filter(|installation| !taken.contains(installation.as_str()))
        .map(|installation| {
            format!(
                "--take-over {installation}: no child agreement of the synced customers was \
                 written by installation {installation}, so nothing was taken over; check the id \
                 against the finding that named the other installation"
            )
        })
        .collect()
}

#[cfg(test)]
mod failed_writes_tests {
    use super::*;

    #[test]
    fn many_failed_writes_are_summarised_once_with_a_pointer_to_the_audit_log() {
        let run = RunId(7);
        let errors = vec![
            "HTTP 503".to_owned(),
            "HTTP 503".to_owned(),
            "HTTP 400".to_owned(),
        ];

        let line = failed_writes_summary(&errors, &run);

        assert_eq!(line.matches("HTTP 503").count(), 1, "{line}");
        assert!(
            line.starts_with("3 writes failed (2 distinct error(s))"),
            "{line}"
        );
        assert!(line.contains("hyalto audit --run 7"), "{line}");
    }

    #[test]
    fn a_single_failed_write_keeps_its_own_message() {
        let errors = vec!["HTTP 503".to_owned()];

        assert_eq!(failed_writes_summary(&errors, &RunId(1)), "HTTP 503");
    }
}
