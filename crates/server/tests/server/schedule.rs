//! The scheduler: syncs on an interval, one at a time under the store's lease, and a shutdown
//! that lets the sync in flight finish and record its run.

use std::time::Duration;

use chrono::Utc;
use hyalto_store::{AuditFilter, Store as _};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, Body, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_sync_bills_a_mapped_customer_without_a_click() {
    let app = TestApp::start_scheduled(Duration::from_millis(300)).await;
    app.prepare_billing().await;

    let mut job = json!(null);
    for _ in 0..100 {
        job = app.get("/api/v1/sync").await.json();
        if job["job"]["outcome"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(job["job"]["trigger"], "schedule", "{job}");
    assert_eq!(job["job"]["outcome"], "succeeded", "{job}");
    let written = app
        .store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(written.len(), 3, "a child agreement and two additions");
}

#[tokio::test]
async fn a_sync_started_while_another_process_holds_the_lease_writes_nothing() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    let other = "pid1-00000000000000ff@another-host";
    app.store
        .try_acquire_sync_lease(other, Utc::now(), Duration::from_secs(600))
        .await
        .unwrap();

    let answer = app
        .send(
            Method::POST,
            "/api/v1/sync",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    let job = app.wait_for_sync().await;

    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(job["outcome"], "busy", "{job}");
    assert!(job["message"].as_str().unwrap().contains(other), "{job}");
    assert!(
        app.store
            .audit_entries(&AuditFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_second_sync_now_while_one_runs_answers_409() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    app.sandbox_latency(300).await;

    let first = app
        .send(
            Method::POST,
            "/api/v1/sync",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    let second = app
        .send(
            Method::POST,
            "/api/v1/sync",
            Auth::Token(&app.viewer_token),
            Body::None,
        )
        .await;

    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    assert_eq!(app.wait_for_sync().await["outcome"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutting_down_lets_the_sync_in_flight_finish_and_record_its_run() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    app.sandbox_latency(200).await;

    let answer = app
        .send(
            Method::POST,
            "/api/v1/sync",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = app.shut_down().await;

    let run = store.list_runs(1).await.unwrap().remove(0);
    assert!(
        run.finished_at.is_some(),
        "the run was not recorded as finished"
    );
    assert_eq!(run.outcome, Some(hyalto_store::RunOutcome::Succeeded));
    assert_eq!(run.counts.additions_created, 2);
    assert!(
        store.current_sync_lease().await.unwrap().is_none(),
        "the lease was given back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_now_collects_the_saved_sources_first_and_skips_the_customers_of_one_it_cannot_read() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    // The inventory's source, saved as a vCenter that does not answer.
    let now = Utc::now();
    let source = hyalto_store::SavedSource {
        name: hyalto_domain::SourceId::new("test-vcloud").unwrap(),
        kind: hyalto_store::SourceKind::Vsphere,
        url: "https://127.0.0.1:9/sdk".to_owned(),
        username: "collector".to_owned(),
        ca_file: None,
        insecure: false,
        rules: String::new(),
        interval: Duration::from_secs(900),
        created_at: now,
        updated_at: now,
        last_attempt: None,
    };
    let password = secrecy::SecretString::from("a vCenter password".to_owned());
    app.store
        .save_source(&source, &password, false)
        .await
        .unwrap();

    let answer = app
        .send(
            Method::POST,
            "/api/v1/sync",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    let job = app.wait_for_sync().await;

    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(job["outcome"], "partially_failed", "{job}");
    let message = job["message"].as_str().unwrap();
    assert!(
        message.contains("test-vcloud could not be collected"),
        "{message}"
    );
    assert!(!message.contains("a vCenter password"), "{message}");
    assert!(
        app.store
            .audit_entries(&AuditFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "nothing is billed from a source that could not be read"
    );
    let saved = app.store.saved_source(&source.name).await.unwrap().unwrap();
    assert!(saved.last_attempt.unwrap().error.is_some());
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(
            "hyalto_collection_duration_seconds_count{source=\"test-vcloud\",outcome=\"failed\"} 1"
        ),
        "{metrics}"
    );
}
