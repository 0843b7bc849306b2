//! Sync runs.

use hyalto_store::{NewRun, RunCounts, RunFinish, RunId, RunOutcome, Store as _, StoreError};
use serde_json::json;

use crate::helpers::{at, customer_id, open_store};

fn new_run(hour: u32, dry_run: bool) -> NewRun {
    NewRun {
        started_at: at(1, hour),
        dry_run,
        customer_filter: None,
    }
}

fn finish(hour: u32, additions_created: u64) -> RunFinish {
    RunFinish {
        finished_at: at(1, hour),
        outcome: RunOutcome::PartiallyFailed,
        counts: RunCounts {
            additions_created,
            customers_failed: 1,
            ..RunCounts::default()
        },
        results: json!({
            "acme": {"status": "ok"},
            "zeta": {"status": "failed", "request_id": "r-1"},
        }),
    }
}

#[tokio::test]
async fn runs_are_listed_newest_first_with_what_they_did() {
    let test = open_store().await;
    let first = test.store.start_run(&new_run(1, false)).await.unwrap();
    test.store.finish_run(first, &finish(2, 30)).await.unwrap();
    let second = test
        .store
        .start_run(&NewRun {
            customer_filter: Some(customer_id("acme")),
            ..new_run(3, true)
        })
        .await
        .unwrap();

    let runs = test.store.list_runs(10).await.unwrap();
    let latest_only = test.store.list_runs(1).await.unwrap();

    assert_eq!(
        runs.iter().map(|run| run.id).collect::<Vec<_>>(),
        [second, first]
    );
    assert_eq!(latest_only.len(), 1);
    assert!(runs[0].dry_run);
    assert_eq!(runs[0].customer_filter, Some(customer_id("acme")));
    assert_eq!(runs[0].finished_at, None);
    assert_eq!(runs[0].outcome, None);
    assert_eq!(runs[0].counts, RunCounts::default());
    assert_eq!(runs[1].finished_at, Some(at(1, 2)));
    assert_eq!(runs[1].outcome, Some(RunOutcome::PartiallyFailed));
    assert_eq!(runs[1].counts.additions_created, 30);
    assert_eq!(runs[1].counts.customers_failed, 1);
    assert_eq!(
        runs[1].results.as_ref().unwrap()["zeta"]["request_id"],
        "r-1"
    );
}

#[tokio::test]
async fn a_run_finishes_only_once() {
    let test = open_store().await;
    let run = test.store.start_run(&new_run(1, false)).await.unwrap();
    test.store.finish_run(run, &finish(2, 1)).await.unwrap();

    let error = test
        .store
        .finish_run(run, &finish(3, 99))
        .await
        .unwrap_err();
    let stored = test.store.get_run(run).await.unwrap().unwrap();

    assert!(error.to_string().contains("already finished"), "{error}");
    assert_eq!(stored.finished_at, Some(at(1, 2)));
    assert_eq!(stored.counts.additions_created, 1);
}

#[tokio::test]
async fn finishing_an_unknown_run_is_not_found() {
    let test = open_store().await;

    let error = test
        .store
        .finish_run(RunId(42), &finish(2, 1))
        .await
        .unwrap_err();
    let missing = test.store.get_run(RunId(42)).await.unwrap();

    assert!(
        matches!(
            error,
            StoreError::NotFound {
                what: "sync run",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(missing.is_none());
}
