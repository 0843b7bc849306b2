//! `hyalto sync`: dry runs, idempotence, dates whatever the host time zone, and the audit log.

use std::collections::BTreeSet;

use crate::helpers::{SMALL_INVENTORY, TestSite, writes};

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_shows_the_plan_and_writes_nothing() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    site.take_calls_by_verb().await;

    let dry = site.hyalto(&["sync", "--dry-run", "--json"]).await.ok();
    let calls = site.take_calls_by_verb().await;
    let audit = site
        .hyalto(&["audit", "--operation", "create_addition", "--json"])
        .await
        .ok();
    let table = site.hyalto(&["sync", "--dry-run"]).await.ok();

    let report: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    let operations = report["plan"]["customers"][0]["operations"]
        .as_array()
        .unwrap();
    assert!(
        operations
            .iter()
            .any(|op| op["op"] == "create_child_agreement")
    );
    assert_eq!(writes(&calls), 0, "{calls}");
    assert_eq!(audit.stdout.trim(), "[]");
    assert!(table.stdout.contains("Dry run"), "{}", table.stdout);
    assert!(table.stdout.contains("create_addition"), "{}", table.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sync_without_changes_writes_nothing() {
    let site = TestSite::start().await;
    site.set_up_acme().await;

    let first = site.hyalto(&["sync"]).await.ok();
    site.take_calls_by_verb().await;
    let second = site.hyalto(&["sync"]).await.ok();
    let calls = site.take_calls_by_verb().await;
    let history = site.hyalto(&["sync", "history", "--json"]).await.ok();

    assert!(
        first.stdout.contains("child agreements 2 created"),
        "{}",
        first.stdout
    );
    assert!(
        second
            .stdout
            .contains("additions 0 created, 0 updated, 0 cancelled")
    );
    assert_eq!(writes(&calls), 0, "{calls}");
    let runs: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[1]["counts"]["additions_created"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmapped_customer_is_not_billed() {
    let site = TestSite::start().await;
    site.set_up_acme().await;

    site.hyalto(&["sync"]).await.ok();
    let audit = site
        .hyalto(&["audit", "--customer", "initech", "--json"])
        .await
        .ok();

    assert_eq!(audit.stdout.trim(), "[]");
}

/// The calendar dates of every record a sync created, read from the audit log.
async fn written_dates(site: &TestSite) -> BTreeSet<String> {
    let audit = site.hyalto(&["audit", "--json"]).await.ok();
    let entries: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    entries
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|entry| {
            ["startDate", "effectiveDate"]
                .into_iter()
                .filter_map(|field| entry["after"][field].as_str().map(str::to_owned))
                .map(move |date| format!("{} {date}", entry["operation"]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_are_the_same_whatever_the_host_time_zone() {
    // The inventory was taken at 23:30 UTC on 30 November: already 1 December in Kiritimati
    // (UTC+14), still 30 November in Pago Pago (UTC-11). The billing zone is UTC, so both hosts
    // must write 30 November.
    let mut east = TestSite::start().await;
    east.env
        .push(("TZ".to_owned(), "Pacific/Kiritimati".to_owned()));
    let mut west = TestSite::start().await;
    west.env
        .push(("TZ".to_owned(), "Pacific/Pago_Pago".to_owned()));

    for site in [&east, &west] {
        site.set_up_acme().await;
        site.hyalto(&["sync"]).await.ok();
    }
    let east_dates = written_dates(&east).await;
    let west_dates = written_dates(&west).await;

    assert!(!east_dates.is_empty());
    assert_eq!(east_dates, west_dates);
    assert!(
        east_dates.iter().all(|date| date.contains("2026-11-30")),
        "{east_dates:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_removal_is_held_until_confirmed() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    site.hyalto(&["sync"]).await.ok();
    let without_acme = crate::helpers::SMALL_INVENTORY
        .replace("2026-11-30T23:30:00Z", "2026-12-01T08:00:00Z")
        .replace("\"customer\": \"acme\"", "\"customer\": null");
    let file = site.write_file("day2.json", &without_acme);
    site.hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();

    let dry = site.hyalto(&["sync", "--dry-run"]).await.ok();
    let held = site.hyalto(&["sync"]).await.ok();
    let confirmed = site
        .hyalto(&["sync", "--confirm-removals", "acme"])
        .await
        .ok();

    assert!(held.stdout.contains("0 cancelled"), "{}", held.stdout);
    assert!(held.stdout.contains("removals held"), "{}", held.stdout);
    // The header of a customer with held removals is worded by mode.
    assert!(
        held.stdout.contains("removals held; other changes applied"),
        "{}",
        held.stdout
    );
    assert!(
        !held.stdout.contains("nothing is written"),
        "{}",
        held.stdout
    );
    assert!(
        dry.stdout
            .contains("other changes planned; nothing is written by a plan or a dry run"),
        "{}",
        dry.stdout
    );
    assert!(
        confirmed.stdout.contains("4 cancelled"),
        "{}",
        confirmed.stdout
    );
    assert!(confirmed.stdout.contains("2 ended"), "{}", confirmed.stdout);
}

/// Writes a sync lease for `holder`, good for ten minutes, straight into the site's store.
async fn hold_lease(site: &TestSite, holder: &str) {
    use hyalto_store::Store as _;

    let store = hyalto_store::SqliteStore::open(site.data_dir())
        .await
        .unwrap();
    store
        .try_acquire_sync_lease(
            holder,
            chrono::Utc::now(),
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_left_by_a_killed_sync_on_this_host_is_taken_over_at_once() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    let Some(host) = hyalto_store::this_host() else {
        // Without a host name hyalto never decides a holder is gone; the next test covers that.
        return;
    };
    // A process that has ended: its pid names nothing any more.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    hold_lease(&site, &format!("pid{dead_pid}-00000000000000aa@{host}")).await;

    let synced = site.hyalto(&["sync"]).await.ok();

    assert!(synced.stdout.contains("Sync run"), "{}", synced.stdout);
    assert!(
        synced.stderr.contains("it was taken over"),
        "{}",
        synced.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_held_elsewhere_says_until_when_and_how_to_take_it_over() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    hold_lease(&site, "pid1-00000000000000bb@another-host.invalid").await;

    let message = site.hyalto(&["sync"]).await.failure();

    assert!(message.contains("another sync (pid1-"), "{message}");
    assert!(message.contains("holds the sync lease"), "{message}");
    assert!(
        message.contains("If no hyalto sync is running"),
        "{message}"
    );
    assert!(message.contains("can be taken over after"), "{message}");

    // A preview writes nothing to ConnectWise, so it needs no lease and still runs.
    let dry = site.hyalto(&["sync", "--dry-run"]).await.ok();
    assert!(dry.stdout.contains("Dry run"), "{}", dry.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_implausible_jump_is_held_until_confirm_changes_names_the_customer() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    site.hyalto(&["sync"]).await.ok();
    let jumped = SMALL_INVENTORY
        .replace("2026-11-30T23:30:00Z", "2026-12-01T08:00:00Z")
        .replace("\"quantity\": 100.5", "\"quantity\": 50000");
    let file = site.write_file("jumped.json", &jumped);
    site.hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();
    site.take_calls_by_verb().await;

    let held = site.hyalto(&["sync"]).await.ok();
    let held_calls = site.take_calls_by_verb().await;
    let confirmed = site
        .hyalto(&["sync", "--confirm-changes", "acme"])
        .await
        .ok();
    let confirmed_calls = site.take_calls_by_verb().await;

    assert!(held.stdout.contains("looks implausible"), "{}", held.stdout);
    assert!(
        held.stdout.contains("--confirm-changes acme"),
        "{}",
        held.stdout
    );
    assert_eq!(writes(&held_calls), 0, "{held_calls}");
    assert!(
        confirmed.stdout.contains("additions 0 created, 1 updated"),
        "{}",
        confirmed.stdout
    );
    assert_eq!(writes(&confirmed_calls), 1, "{confirmed_calls}");
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmations_for_unknown_customers_and_bogus_take_overs_are_errors() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    site.take_calls_by_verb().await;

    let unknown = site.hyalto(&["sync", "--confirm-changes", "cust33"]).await;
    let outside = site
        .hyalto(&["sync", "--customer", "acme", "--confirm-removals", "cust2"])
        .await;
    let bogus = site.hyalto(&["sync", "--take-over", "bogus"]).await;

    let calls = site.take_calls_by_verb().await;
    for (run, says) in [
        (&unknown, "--confirm-changes cust33"),
        (&outside, "--confirm-removals cust2"),
        (&bogus, "--take-over bogus"),
    ] {
        assert!(!run.success, "{}", run.stdout);
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
    assert_eq!(writes(&calls), 0, "{calls}");
}
