//! `hyalto sync history`: the latest sync runs and what each did.
//!
//! A run records its counts when it finishes. A run that never finished (killed, or still
//! running) has none, but its writes are in the audit log as they happen, so its counts are
//! read from there instead.

use anyhow::Context as _;
use hyalto_store::{AuditFilter, RunOutcome, SqliteStore, Store, SyncRun};
use serde::Serialize;

use crate::cli::audit::{check_limit, counts_from_entries, time_title, wall_time};
use crate::cli::context::Context;
use crate::cli::output::{Table, print_json};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunView {
    id: i64,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
    dry_run: bool,
    customer: Option<String>,
    outcome: Option<RunOutcome>,
    /// `running`, `interrupted` or `running or interrupted` for a run with no outcome.
    state: Option<&'static str>,
    counts: hyalto_store::RunCounts,
    /// Whether `counts` were read from the audit log because the run recorded none.
    counts_from_audit_log: bool,
    results: Option<serde_json::Value>,
}

impl From<SyncRun> for RunView {
    fn from(run: SyncRun) -> RunView {
        RunView {
            id: run.id.0,
            started_at: run.started_at,
            finished_at: run.finished_at,
            dry_run: run.dry_run,
            customer: run.customer_filter.map(|customer| customer.to_string()),
            outcome: run.outcome,
            state: None,
            counts: run.counts,
            counts_from_audit_log: false,
            results: run.results,
        }
    }
}

pub async fn run(context: &Context, limit: u32, json: bool) -> anyhow::Result<()> {
    check_limit(limit, "runs")?;
    let store = context.store().await?;
    let runs = store
        .list_runs(limit)
        .await
        .context("could not read the sync runs")?;
    let mut views: Vec<RunView> = runs.into_iter().map(RunView::from).collect();
    complete_unfinished(store, &mut views).await?;

    if json {
        return print_json(&views);
    }
    if views.is_empty() {
        println!("No sync has run yet; try `hyalto sync --dry-run`.");
        return Ok(());
    }
    let zone = context.config.billing_tz;
    let mut table = Table::new([
        "RUN".to_owned(),
        time_title("STARTED", zone),
        "DRY".to_owned(),
        "CUSTOMER".to_owned(),
        "OUTCOME".to_owned(),
        "CHILDREN +/END".to_owned(),
        "ADDITIONS +/~/-".to_owned(),
        "ADOPTED".to_owned(),
        "FAILED WRITES".to_owned(),
    ]);
    for view in &views {
        let counts = &view.counts;
        let mut outcome = match (view.outcome, view.state) {
            (Some(outcome), _) => outcome.as_str().to_owned(),
            (None, Some(state)) => state.to_owned(),
            (None, None) => String::new(),
        };
        if view.counts_from_audit_log {
            outcome.push('*');
        }
        table.row([
            view.id.to_string(),
            wall_time(view.started_at, zone),
            if view.dry_run { "yes" } else { "no" }.to_owned(),
            view.customer.clone().unwrap_or_else(|| "all".to_owned()),
            outcome,
            format!("{}/{}", counts.agreements_created, counts.agreements_ended),
            format!(
                "{}/{}/{}",
                counts.additions_created, counts.additions_updated, counts.additions_cancelled
            ),
            counts.records_adopted.to_string(),
            counts.writes_failed.to_string(),
        ]);
    }
    print!("{}", table.render());
    if views.iter().any(|view| view.counts_from_audit_log) {
        println!("* The run did not finish: its counts are its writes in the audit log.");
    }
    println!("See each run's writes with `hyalto audit --run RUN`.");
    Ok(())
}

/// Names the state of each run without an outcome and counts its writes from the audit log.
///
/// Writing runs hold the sync lease, one at a time. So an unfinished writing run is running
/// only if it is the newest writing run and the lease is held now; any other was killed. A dry
/// run takes no lease, so nothing tells a running one from a killed one.
async fn complete_unfinished(store: &SqliteStore, views: &mut [RunView]) -> anyhow::Result<()> {
    if views.iter().all(|view| view.finished_at.is_some()) {
        return Ok(());
    }
    let lease_held = store
        .current_sync_lease()
        .await
        .context("could not read the sync lease")?
        .is_some_and(|lease| lease.expires_at > chrono::Utc::now());
    let newest_writing = views
        .iter()
        .filter(|view| !view.dry_run)
        .map(|view| view.id)
        .max();

    for view in views.iter_mut().filter(|view| view.finished_at.is_none()) {
        view.state = Some(if view.dry_run {
            "running or interrupted"
        } else if lease_held && Some(view.id) == newest_writing {
            "running"
        } else {
            "interrupted"
        });
        let entries = store
            .audit_entries(&AuditFilter {
                run: Some(hyalto_store::RunId(view.id)),
                limit: u32::MAX,
                ..AuditFilter::default()
            })
            .await
            .with_context(|| format!("could not read the audit log of run {}", view.id))?;
        view.counts = counts_from_entries(&entries);
        view.counts_from_audit_log = true;
    }
    Ok(())
}
