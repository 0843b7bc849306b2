//! How hyalto reports: output to a reader that went away (`hyalto … | head -1`), the audit log
//! and the run history in the plan's words and the billing zone, and error lines that say each
//! thing once.

use std::io::Read as _;
use std::process::Stdio;

use hyalto_store::{AuditOperation, AuditStatus, NewAuditEntry, NewRun, Store as _};

use crate::helpers::{SMALL_INVENTORY, TestSite};

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_standard_output_ends_the_printing_quietly_not_in_a_panic() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    let mut command = site.command(&["connectwise", "mappings"]);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        // Closing the read end before hyalto has opened its store means its first line
        // already meets a closed pipe.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (child.wait().unwrap(), stderr)
    })
    .await
    .unwrap();

    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");
}

/// Imports [`SMALL_INVENTORY`] again, later and with acme's VM at 8 GiB of RAM instead of 6.
async fn resize_acme(site: &TestSite) {
    let resized = SMALL_INVENTORY
        .replace("2026-11-30T23:30:00Z", "2026-12-01T06:00:00Z")
        .replace("\"quantity\": 6144", "\"quantity\": 8192");
    let file = site.write_file("resized.json", &resized);
    site.hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_takes_and_shows_the_plan_s_name_for_a_quantity_change() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    site.hyalto(&["sync"]).await.ok();
    resize_acme(&site).await;
    let planned = site.hyalto(&["sync", "--dry-run"]).await.ok();
    site.hyalto(&["sync"]).await.ok();

    let table = site
        .hyalto(&["audit", "--operation", "update_quantity"])
        .await
        .ok();
    let json = site
        .hyalto(&["audit", "--operation", "update_quantity", "--json"])
        .await
        .ok();

    assert!(
        planned.stdout.contains("update_quantity"),
        "{}",
        planned.stdout
    );
    let entries: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["operation"], "update_quantity");
    assert!(table.stdout.contains("update_quantity"), "{}", table.stdout);
    assert!(
        !table.stdout.contains("update_addition"),
        "{}",
        table.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_audit_operation_is_refused_with_the_valid_names() {
    let site = TestSite::start().await;

    let error = site
        .hyalto(&["audit", "--operation", "update_quantities"])
        .await
        .failure();

    assert!(error.contains("\"update_quantities\""), "{error}");
    assert!(error.contains("update_quantity,"), "{error}");
    assert!(error.contains("adopt_child_agreement"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_history_counts_an_interrupted_run_s_writes_from_the_audit_log() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    // A run that was killed after two writes: it was started and audited, never finished.
    let store = hyalto_store::SqliteStore::open(site.data_dir())
        .await
        .unwrap();
    let run = store
        .start_run(&NewRun {
            started_at: chrono::Utc::now(),
            dry_run: false,
            customer_filter: None,
        })
        .await
        .unwrap();
    let entry = |operation, target_kind: &str, status| NewAuditEntry {
        at: chrono::Utc::now(),
        run: Some(run),
        customer: Some(hyalto_domain::CustomerId::new("acme").unwrap()),
        operation,
        target_kind: target_kind.to_owned(),
        target_id: Some(7),
        reason: "test".to_owned(),
        before: None,
        after: None,
        status,
        request_id: None,
        error_message: None,
    };
    for written in [
        entry(
            AuditOperation::CreateChildAgreement,
            "agreement",
            AuditStatus::Succeeded,
        ),
        entry(
            AuditOperation::CreateAddition,
            "addition",
            AuditStatus::Succeeded,
        ),
        entry(
            AuditOperation::CreateAddition,
            "addition",
            AuditStatus::Failed,
        ),
    ] {
        store.append_audit(&written).await.unwrap();
    }
    store.close().await;

    let json = site.hyalto(&["sync", "history", "--json"]).await.ok();
    let table = site.hyalto(&["sync", "history"]).await.ok();

    let runs: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(runs[0]["id"], run.0);
    assert_eq!(runs[0]["state"], "interrupted");
    assert_eq!(runs[0]["countsFromAuditLog"], true);
    assert_eq!(runs[0]["counts"]["agreements_created"], 1);
    assert_eq!(runs[0]["counts"]["additions_created"], 1);
    assert_eq!(runs[0]["counts"]["writes_failed"], 1);
    let row = table
        .stdout
        .lines()
        .find(|line| line.starts_with(&format!("{} ", run.0)))
        .unwrap();
    assert!(row.contains("interrupted*"), "{row}");
    assert!(row.contains("1/0 "), "{row}");
    assert!(table.stdout.contains("audit log"), "{}", table.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_history_or_audit_limit_of_zero_is_refused_rather_than_showing_nothing() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    site.hyalto(&["sync"]).await.ok();

    let history = site
        .hyalto(&["sync", "history", "--limit", "0"])
        .await
        .failure();
    let audit = site.hyalto(&["audit", "--limit", "0"]).await.failure();

    assert!(history.contains("--limit 0"), "{history}");
    assert!(history.contains("1 or more"), "{history}");
    assert!(audit.contains("1 or more"), "{audit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn history_and_audit_times_are_shown_in_the_billing_zone_it_names() {
    let site = TestSite::start().await;
    site.write_file(
        "config.toml",
        "[sync]\nbilling_timezone = \"Pacific/Kiritimati\"\n",
    );
    site.set_up_acme().await;
    site.hyalto(&["sync"]).await.ok();

    let history = site.hyalto(&["sync", "history"]).await.ok();
    let json = site.hyalto(&["sync", "history", "--json"]).await.ok();
    let audit = site.hyalto(&["audit", "--limit", "1"]).await.ok();

    let runs: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let started: chrono::DateTime<chrono::Utc> =
        runs[0]["startedAt"].as_str().unwrap().parse().unwrap();
    // Kiritimati is 14 hours ahead of UTC all year.
    let local = (started + chrono::Duration::hours(14))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert!(
        history.stdout.contains("STARTED (Pacific/Kiritimati)"),
        "{}",
        history.stdout
    );
    assert!(
        history.stdout.contains(&local),
        "{local}\n{}",
        history.stdout
    );
    assert!(
        audit.stdout.contains("AT (Pacific/Kiritimati)"),
        "{}",
        audit.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_read_names_its_cause_once_in_the_error_line() {
    let site = TestSite::start().await;
    site.configure().await;
    // 501 is not worth retrying, so the refresh fails at once on the agreements.
    let rule = serde_json::json!({
        "method": "GET",
        "pathTemplate": "/finance/agreements",
        "kind": "server_error",
        "status": 501,
        "count": 10,
    });
    reqwest::Client::new()
        .post(format!("{}/_sandbox/faults/rules", site.sandbox.site_url()))
        .json(&rule)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let error = site.hyalto(&["connectwise", "refresh"]).await.failure();

    let line = error
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap();
    assert!(line.contains("agreements"), "{line}");
    assert_eq!(line.matches("GET /finance/agreements").count(), 1, "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_from_the_future_is_refused_in_one_evenly_spaced_sentence() {
    let site = TestSite::start().await;
    let future = SMALL_INVENTORY.replace("2026-11-30T23:30:00Z", "2099-01-01T00:00:00Z");
    let file = site.write_file("future.json", &future);

    let error = site
        .hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .failure();

    assert!(error.contains("taken in the future."), "{error}");
    assert!(!error.contains("   "), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_lease_taken_over_is_told_once_not_as_a_warning_and_a_note() {
    let mut site = TestSite::start().await;
    site.set_up_acme().await;
    let Some(host) = hyalto_store::this_host() else {
        // Without a host name hyalto never decides that a holder is gone.
        return;
    };
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let store = hyalto_store::SqliteStore::open(site.data_dir())
        .await
        .unwrap();
    store
        .try_acquire_sync_lease(
            &format!("pid{dead_pid}-00000000000000aa@{host}"),
            chrono::Utc::now(),
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    store.close().await;
    // The default log level, as a user runs hyalto.
    site.env.push(("RUST_LOG".to_owned(), "warn".to_owned()));

    let synced = site.hyalto(&["sync"]).await.ok();

    assert_eq!(
        synced.stderr.matches("no longer").count(),
        1,
        "{}",
        synced.stderr
    );
    assert!(synced.stderr.contains("note:"), "{}", synced.stderr);
    assert!(!synced.stderr.contains("WARN"), "{}", synced.stderr);
}
