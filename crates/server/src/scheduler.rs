//! The sync jobs of `hyalto serve`: on a schedule, and on demand ("Sync now", the API).
//!
//! One job runs at a time in this process, and the store's sync lease keeps syncs of other
//! processes (`hyalto sync`, a second server) and of a restarted server out while it writes. A
//! job that finds the lease held ends as `busy` and writes nothing. At shutdown the schedule
//! stops and the job in flight runs to its end, so every write it started is finished and
//! recorded (audit log, links, run) before the process exits.
//!
//! A scheduled job and Sync now first collect the saved inventory sources that are due (each
//! by its own interval, as `hyalto inventory sources` saved it), then sync. A source that
//! cannot be read has its customers skipped by that sync, never cancelled. Apply does not
//! collect: it must write the plan the user saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyalto_app::collect;
use hyalto_app::sync::{RunError, run};
use hyalto_connectwise::CallObserver;
use hyalto_domain::CustomerId;
use hyalto_store::{SqliteStore, Store as _};
use hyalto_sync::{Progress, RunReport, SyncConfig, SyncEngine, SyncOptions};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::refresh::connect;

/// What started a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The configured interval.
    Schedule,
    /// A user: Sync now, Apply, or `POST /api/v1/sync`.
    Manual,
}

/// A sync job of this process, running or ended.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncJob {
    /// What started it.
    pub trigger: Trigger,
    /// Who started it, for manual jobs.
    pub started_by: Option<String>,
    /// Only this customer, if one was chosen.
    pub customer: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether it is still running.
    pub running: bool,
    /// The sync run it recorded (see the history), once the engine started one.
    pub run_id: Option<i64>,
    /// Customers finished so far.
    pub customers_done: usize,
    /// Customers in the run.
    pub customers_total: usize,
    /// How it ended: `succeeded`, `partially_failed`, `failed` or `busy` (another sync held
    /// the lease, nothing was written).
    pub outcome: Option<&'static str>,
    /// What went wrong, or what the run did, in words.
    pub message: Option<String>,
}

/// What a job needs to run.
#[derive(Clone)]
pub struct JobContext {
    /// The store.
    pub store: SqliteStore,
    /// The metrics, also told about every ConnectWise call.
    pub metrics: Arc<Metrics>,
    /// How the engine bills.
    pub config: SyncConfig,
}

/// Starts jobs one at a time and keeps the latest. Clones share the state.
#[derive(Clone, Default)]
pub struct Scheduler {
    latest: Arc<Mutex<Option<SyncJob>>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Scheduler {
    /// The latest job of this process, running or ended.
    pub fn latest(&self) -> Option<SyncJob> {
        self.lock().clone()
    }

    /// Whether a job is running.
    pub fn is_running(&self) -> bool {
        self.lock().as_ref().is_some_and(|job| job.running)
    }

    /// Starts a job in the background unless one is running (then `None`); returns its first
    /// state.
    pub fn start(
        &self,
        context: &JobContext,
        trigger: Trigger,
        started_by: Option<String>,
        customer: Option<CustomerId>,
        collect: bool,
    ) -> Option<SyncJob> {
        // The slot is claimed under the lock, so two requests cannot both start a job.
        {
            let mut latest = self.lock();
            if latest.as_ref().is_some_and(|job| job.running) {
                return None;
            }
            *latest = Some(SyncJob {
                trigger,
                started_by,
                customer: customer.as_ref().map(ToString::to_string),
                started_at: Utc::now(),
                finished_at: None,
                running: true,
                run_id: None,
                customers_done: 0,
                customers_total: 0,
                outcome: None,
                message: None,
            });
        }

        let scheduler = self.clone();
        let context = context.clone();
        let handle = tokio::spawn(async move {
            let job = scheduler.clone();
            let job_context = context.clone();
            let ended = off_thread(move || async move {
                let collected = if collect {
                    job.collect(&job_context).await
                } else {
                    Collected::default()
                };
                let (outcome, message) = job.run(&job_context, customer).await;
                collected.merge(outcome, message)
            })
            .await;
            let (outcome, message) = ended.unwrap_or_else(|| {
                (
                    "failed",
                    "The sync stopped abnormally; see the server log.".to_owned(),
                )
            });
            context
                .metrics
                .sync_runs
                .get_or_create(&crate::metrics::OutcomeLabels { outcome })
                .inc();
            scheduler.update(|job| {
                job.running = false;
                job.finished_at = Some(Utc::now());
                job.outcome = Some(outcome);
                job.message = Some(message);
            });
        });
        *self.task.lock().unwrap_or_else(|error| error.into_inner()) = Some(handle);
        self.latest()
    }

    /// Waits for the job in flight, if any, to end.
    pub async fn wait_idle(&self) {
        let handle = self
            .task
            .lock()
            .unwrap_or_else(|error| error.into_inner())
            .take();
        if let Some(handle) = handle {
            if self.is_running() {
                tracing::info!("waiting for the sync in flight to finish");
            }
            if let Err(error) = handle.await {
                tracing::error!(%error, "the sync job ended abnormally");
            }
        }
    }

    /// Starts a job every `interval` until `stop` turns true. The first job starts one
    /// interval after the server, so starting it never writes at once.
    pub fn run_schedule(
        &self,
        context: JobContext,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let scheduler = self.clone();
        tokio::spawn(async move {
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
                if scheduler
                    .start(&context, Trigger::Schedule, None, None, true)
                    .is_none()
                {
                    tracing::info!("skipped a scheduled sync: the previous one is still running");
                }
            }
        })
    }

    /// Collects the saved sources that are due, one after the other, timing each.
    async fn collect(&self, context: &JobContext) -> Collected {
        let mut collected = Collected::default();
        let due = match collect::due_sources(&context.store, Utc::now()).await {
            Ok(due) => due,
            Err(error) => {
                collected
                    .failed
                    .push(format!("the saved sources could not be read: {error}"));
                return collected;
            }
        };

        for name in due {
            let started = std::time::Instant::now();
            let result =
                collect::collect_saved(&context.store, std::slice::from_ref(&name), false).await;
            let (outcome, note) = match result {
                Ok(summaries) => match summaries.into_iter().next() {
                    Some(summary) if summary.collected => (
                        "collected",
                        Ok(format!(
                            "Collected {name}: {} VMs{}.",
                            summary.vms_listed,
                            if summary.complete {
                                ""
                            } else {
                                " (incomplete)"
                            }
                        )),
                    ),
                    Some(summary) => (
                        "failed",
                        Err(format!(
                            "{name} could not be collected ({}); its customers are skipped, \
                             nothing is cancelled",
                            summary.error.unwrap_or_default()
                        )),
                    ),
                    None => continue,
                },
                Err(error) => (
                    "failed",
                    Err(format!("{name} could not be collected: {error}")),
                ),
            };
            context
                .metrics
                .collection_duration
                .get_or_create(&crate::metrics::CollectionLabels {
                    source: name.to_string(),
                    outcome,
                })
                .observe(started.elapsed().as_secs_f64());
            match note {
                Ok(note) => collected.notes.push(note),
                Err(problem) => {
                    tracing::warn!(source.name = %name, problem = %problem, "a scheduled collection failed");
                    collected.failed.push(problem);
                }
            }
        }
        collected
    }

    async fn run(
        &self,
        context: &JobContext,
        customer: Option<CustomerId>,
    ) -> (&'static str, String) {
        let connection = match context.store.load_connection().await {
            Ok(Some(connection)) => connection,
            Ok(None) => {
                return (
                    "failed",
                    "No ConnectWise connection is configured: configure it under Billing › \
                     Integrations first."
                        .to_owned(),
                );
            }
            Err(error) => return ("failed", format!("Could not read the connection: {error}.")),
        };
        let client = match connect(&connection).await {
            Ok(client) => client,
            Err(message) => return ("failed", message),
        };
        let observer: Arc<dyn CallObserver> = context.metrics.clone();
        let engine = SyncEngine::new(
            context.store.clone(),
            client.observed(observer),
            context.config.clone(),
        );

        let mut options = SyncOptions::at(Utc::now());
        options.customer = customer;
        let progress = |event: Progress| match event {
            Progress::Started { run_id, customers } => self.update(|job| {
                job.run_id = Some(run_id.0);
                job.customers_total = customers;
            }),
            Progress::CustomerFinished { done, .. } => {
                self.update(|job| job.customers_done = done);
            }
            Progress::Operation { .. } => {}
        };

        match run(&engine, &options, &progress).await {
            Ok(ran) => {
                if let Some(holder) = ran.freed_stale_lease {
                    tracing::warn!(lease.holder = %holder, "took over a stale sync lease");
                }
                record_metrics(&context.metrics, &ran.report);
                self.update(|job| job.run_id = Some(ran.report.run_id.0));
                summarize(&ran.report)
            }
            Err(RunError::Busy { holder, lease }) => {
                let until = lease.map_or_else(String::new, |lease| {
                    format!(" until {}", lease.expires_at.format("%Y-%m-%d %H:%M UTC"))
                });
                (
                    "busy",
                    format!(
                        "Another sync ({holder}) holds the sync lease{until}, so nothing was \
                         written; try again when it has finished."
                    ),
                )
            }
            Err(error) => ("failed", format!("The sync could not run: {error}.")),
        }
    }

    fn update(&self, change: impl FnOnce(&mut SyncJob)) {
        if let Some(job) = self.lock().as_mut() {
            change(job);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SyncJob>> {
        self.latest
            .lock()
            .unwrap_or_else(|error| error.into_inner())
    }
}

/// What the collection before a sync did, told in the job's message.
#[derive(Default)]
struct Collected {
    /// One sentence per source collected.
    notes: Vec<String>,
    /// One sentence per source that could not be collected.
    failed: Vec<String>,
}

impl Collected {
    /// The job's outcome and message with the collection's: a source that could not be
    /// collected makes a succeeded sync `partially_failed`, since its customers were skipped.
    fn merge(self, outcome: &'static str, message: String) -> (&'static str, String) {
        let outcome = if outcome == "succeeded" && !self.failed.is_empty() {
            "partially_failed"
        } else {
            outcome
        };
        let mut parts = self.notes;
        parts.extend(self.failed.into_iter().map(|problem| {
            let mut sentence = problem;
            sentence.push('.');
            sentence
        }));
        parts.push(message);
        (outcome, parts.join(" "))
    }
}

/// Runs the future `make` builds to its end on a thread of the blocking pool.
///
/// The engine's futures hold borrows across their concurrent steps that the compiler cannot
/// prove `Send`, so they cannot be given to `tokio::spawn` or an axum handler directly; driven
/// on their own thread they still use the runtime's I/O and timers. `None` when it panicked.
pub async fn off_thread<F, Fut, T>(make: F) -> Option<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || runtime.block_on(make())).await {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(%error, "a sync task ended abnormally");
            None
        }
    }
}

/// Counts a run's writes and stamps the customers it finished without a failure.
fn record_metrics(metrics: &Metrics, report: &RunReport) {
    metrics.writes("create_child_agreement", report.created_agreements);
    metrics.writes("create_addition", report.created_additions);
    metrics.writes("update_addition", report.updated);
    metrics.writes("cancel_addition", report.cancelled);
    metrics.writes("end_child_agreement", report.ended);
    metrics.writes("rename_child_agreement", report.renamed);

    let now = Utc::now().timestamp_millis() as f64 / 1000.0;
    for plan in &report.plan.customers {
        let failed = report
            .failed_customers
            .iter()
            .any(|(customer, _)| customer == &plan.customer);
        let synced = plan.status.applies();
        if synced && !failed && report.writes_stopped.is_none() {
            metrics
                .customer_last_success
                .get_or_create(&crate::metrics::CustomerLabels {
                    customer: plan.customer.to_string(),
                })
                .set(now);
        }
    }
}

/// A run's outcome and what it did, in words.
fn summarize(report: &RunReport) -> (&'static str, String) {
    // A skipped customer is billed from nothing this run, so the run did not fully succeed.
    let outcome = if report.failed_customers.is_empty()
        && report.skipped_customers.is_empty()
        && report.writes_stopped.is_none()
    {
        "succeeded"
    } else {
        "partially_failed"
    };
    let mut message = report.counts_sentence();
    for (customer, reason) in &report.skipped_customers {
        message.push_str(&format!(" Skipped {customer}: {reason}."));
    }
    for (customer, error) in &report.failed_customers {
        message.push_str(&format!(" Failed {customer}: {error}."));
    }
    if let Some(reason) = &report.writes_stopped {
        message.push_str(&format!(" Writes stopped: {reason}."));
    }
    (outcome, message)
}
