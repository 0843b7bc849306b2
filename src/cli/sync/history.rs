//! `hyalto sync history`: the latest sync runs and what each did.

use anyhow::Context as _;
use hyalto_store::{RunOutcome, Store, SyncRun};
use serde::Serialize;

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
    counts: hyalto_store::RunCounts,
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
            counts: run.counts,
            results: run.results,
        }
    }
}

pub async fn run(context: &Context, limit: u32, json: bool) -> anyhow::Result<()> {
    let store = context.store().await?;
    let runs = store
        .list_runs(limit)
        .await
        .context("could not read the sync runs")?;
    let views: Vec<RunView> = runs.into_iter().map(RunView::from).collect();

    if json {
        return print_json(&views);
    }
    if views.is_empty() {
        println!("No sync has run yet; try `hyalto sync --dry-run`.");
        return Ok(());
    }
    let mut table = Table::new([
        "RUN",
        "STARTED",
        "DRY",
        "CUSTOMER",
        "OUTCOME",
        "CHILDREN +/END",
        "ADDITIONS +/~/-",
        "ADOPTED",
        "FAILED WRITES",
    ]);
    for view in &views {
        let counts = &view.counts;
        table.row([
            view.id.to_string(),
            view.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            if view.dry_run { "yes" } else { "no" }.to_owned(),
            view.customer.clone().unwrap_or_else(|| "all".to_owned()),
            match view.outcome {
                Some(outcome) => outcome.as_str().to_owned(),
                None if view.finished_at.is_none() => "running or interrupted".to_owned(),
                None => String::new(),
            },
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
    println!("See each run's writes with `hyalto audit --run RUN`.");
    Ok(())
}
