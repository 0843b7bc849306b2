//! `hyalto inventory import` and `inventory show`.

use std::path::Path;

use hyalto_store::{SqliteStore, Store as _};

use crate::helpers::{SMALL_INVENTORY, TestSite};

#[tokio::test(flavor = "multi_thread")]
async fn an_import_is_shown_with_billed_quantities_and_unbilled_items_called_out() {
    let site = TestSite::start().await;
    let file = site.write_file("inventory.json", SMALL_INVENTORY);

    let imported = site
        .hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();
    let table = site.hyalto(&["inventory", "show"]).await.ok();
    let json = site.hyalto(&["inventory", "show", "--json"]).await.ok();

    assert!(imported.stdout.contains("4 new"), "{}", imported.stdout);
    assert!(table.stdout.contains("UNMAPPED"));
    assert!(table.stdout.contains("Unassigned services"));
    let view: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let acme = &view["customers"][0];
    assert_eq!(acme["id"], "acme");
    let web = acme["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|service| service["id"] == "vm-acme-1")
        .unwrap();
    let quantities: Vec<(String, String)> = web["quantities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["meter"].as_str().unwrap().to_owned(),
                q["quantity"].to_string(),
            )
        })
        .collect();
    assert!(quantities.contains(&("virtual_machine/ram".to_owned(), "6".to_owned())));
    assert!(quantities.contains(&(
        "virtual_machine/storage/performance".to_owned(),
        "101".to_owned()
    )));
    assert_eq!(view["unassignedServices"][0]["id"], "vm-spare");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_file_changes_nothing_and_names_the_file_and_path() {
    let site = TestSite::start().await;
    let good = site.write_file("good.json", SMALL_INVENTORY);
    site.hyalto(&["inventory", "import", good.to_str().unwrap()])
        .await
        .ok();
    let before = site.hyalto(&["inventory", "show", "--json"]).await.ok();
    let broken = SMALL_INVENTORY
        .replace(
            "\"takenAt\": \"2026-11-30T23:30:00Z\"",
            "\"takenAt\": \"2026-12-02T00:00:00Z\"",
        )
        .replace(
            "\"quantity\": 6144, \"unit\": \"MiB\"",
            "\"quantity\": 6144, \"unit\": \"mib\"",
        )
        .replace("\"name\": \"tps\",", "");
    let bad = site.write_file("bad.json", &broken);

    let error = site
        .hyalto(&["inventory", "import", bad.to_str().unwrap()])
        .await
        .failure();
    let after = site.hyalto(&["inventory", "show", "--json"]).await.ok();

    assert!(error.contains("bad.json"), "{error}");
    assert!(error.contains("$.services[0].resources[1].unit"), "{error}");
    assert!(error.contains("$.services[2].name"), "{error}");
    assert!(error.contains("Nothing was imported"), "{error}");
    assert_eq!(before.stdout, after.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incomplete_snapshot_changes_nothing_unless_accepted() {
    let site = TestSite::start().await;
    let incomplete = SMALL_INVENTORY.replace(
        "\"complete\": true",
        "\"complete\": false, \"incompleteReasons\": [\"org Initech timed out\"]",
    );
    let file = site.write_file("partial.json", &incomplete);

    let error = site
        .hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .failure();
    let empty = site.hyalto(&["inventory", "show"]).await.ok();
    let accepted = site
        .hyalto(&[
            "inventory",
            "import",
            "--accept-incomplete",
            file.to_str().unwrap(),
        ])
        .await
        .ok();
    let shown = site.hyalto(&["inventory", "show"]).await.ok();

    assert!(error.contains("partial.json: $.complete"), "{error}");
    assert!(error.contains("org Initech timed out"), "{error}");
    assert!(empty.stdout.contains("No inventory yet"));
    assert!(accepted.stdout.contains("INCOMPLETE"));
    assert!(shown.stdout.contains("skipped by the sync"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vm_with_several_disks_on_one_tier_imports_as_their_sum() {
    let site = TestSite::start().await;
    let one_disk =
        r#"{ "kind": "storage", "tier": "performance", "quantity": 100.5, "unit": "GiB" }"#;
    let three_disks = SMALL_INVENTORY.replace(
        one_disk,
        r#"{ "kind": "storage", "tier": "performance", "quantity": 100, "unit": "GiB" },
           { "kind": "storage", "tier": "performance", "quantity": 60, "unit": "GiB" },
           { "kind": "storage", "tier": "performance", "quantity": 40960, "unit": "MiB" }"#,
    );
    assert_ne!(three_disks, SMALL_INVENTORY);
    let file = site.write_file("three-disks.json", &three_disks);

    let imported = site
        .hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();
    let json = site.hyalto(&["inventory", "show", "--json"]).await.ok();

    assert!(imported.stdout.contains("4 new"), "{}", imported.stdout);
    let view: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let web = view["customers"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|service| service["id"] == "vm-acme-1")
        .unwrap();
    let storage: Vec<String> = web["quantities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["meter"] == "virtual_machine/storage/performance")
        .map(|q| format!("{} {}", q["quantity"], q["unit"].as_str().unwrap()))
        .collect();
    assert_eq!(storage, ["200 GiB"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_taken_months_in_the_future_is_refused_and_changes_nothing() {
    let site = TestSite::start().await;
    let future = SMALL_INVENTORY.replace(
        "\"takenAt\": \"2026-11-30T23:30:00Z\"",
        "\"takenAt\": \"2099-06-01T00:00:00Z\"",
    );
    assert_ne!(future, SMALL_INVENTORY, "the fixture's takenAt moved");
    let file = site.write_file("future.json", &future);

    let message = site
        .hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .failure();
    let shown = site.hyalto(&["inventory", "show", "--json"]).await.ok();

    assert!(message.contains("$.takenAt"), "{message}");
    assert!(
        message.contains("ahead of this machine's clock"),
        "{message}"
    );
    assert!(message.contains("Nothing was imported"), "{message}");
    assert!(!shown.stdout.contains("vm-acme-1"), "{}", shown.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_stuck_behind_a_future_snapshot_is_freed_by_replacing_it() {
    // An earlier version accepted snapshots from the future; put one straight into the store.
    let site = TestSite::start().await;
    let future_at = (chrono::Utc::now() + chrono::TimeDelta::days(40))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let future = SMALL_INVENTORY
        .replace(
            "\"takenAt\": \"2026-11-30T23:30:00Z\"",
            &format!("\"takenAt\": \"{future_at}\""),
        )
        .replace("\"id\": \"vm-spare\"", "\"id\": \"vm-spare-future\"");
    assert_ne!(future, SMALL_INVENTORY, "the fixture's takenAt moved");
    let snapshot = hyalto_domain::parse_snapshot(&future, Path::new("future.json")).unwrap();
    let store = SqliteStore::open(site.data_dir()).await.unwrap();
    store.apply_snapshot(&snapshot).await.unwrap();
    store.close().await;
    let file = site.write_file("today.json", SMALL_INVENTORY);

    let refused = site
        .hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .failure();
    let replaced = site
        .hyalto(&[
            "inventory",
            "import",
            "--replace-future-snapshot",
            file.to_str().unwrap(),
        ])
        .await
        .ok();
    let shown = site.hyalto(&["inventory", "show", "--json"]).await.ok();

    assert!(refused.contains("in the future"), "{refused}");
    assert!(refused.contains("--replace-future-snapshot"), "{refused}");
    assert!(
        replaced.stdout.contains(&format!(
            "Replaced the last snapshot of source {}",
            snapshot.source
        )),
        "{}",
        replaced.stdout
    );
    assert!(
        replaced.stdout.contains("gone     vm-spare-future"),
        "{}",
        replaced.stdout
    );
    let view: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    let last = view["sources"][0]["lastTakenAt"].as_str().unwrap();
    assert!(last.starts_with("2026-11-30T23:30:00"), "{}", shown.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn replacing_is_refused_when_the_last_snapshot_is_not_in_the_future() {
    let site = TestSite::start().await;
    let later = SMALL_INVENTORY.replace(
        "\"takenAt\": \"2026-11-30T23:30:00Z\"",
        "\"takenAt\": \"2026-12-01T06:00:00Z\"",
    );
    let later = site.write_file("later.json", &later);
    let earlier = site.write_file("earlier.json", SMALL_INVENTORY);
    site.hyalto(&["inventory", "import", later.to_str().unwrap()])
        .await
        .ok();

    let refused = site
        .hyalto(&[
            "inventory",
            "import",
            "--replace-future-snapshot",
            earlier.to_str().unwrap(),
        ])
        .await
        .failure();

    assert!(
        refused.contains("older than the one already applied"),
        "{refused}"
    );
    assert!(refused.contains("export a fresh snapshot"), "{refused}");
}
