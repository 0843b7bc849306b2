//! `hyalto connectwise products`: setting, listing and removing product mappings.

use std::path::Path;

use hyalto_cw_sandbox::{SandboxConfig, Seed};

use crate::helpers::{SMALL_INVENTORY, TestSite};

#[tokio::test(flavor = "multi_thread")]
async fn a_meter_is_mapped_by_identifier_with_a_price_and_unmapped_again() {
    let site = TestSite::start().await;
    site.configure().await;
    let file = site.write_file("inventory.json", SMALL_INVENTORY);
    site.hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();

    site.hyalto(&[
        "connectwise",
        "products",
        "set",
        "virtual_machine/storage/performance",
        "--item",
        "vmw-stor-perf-gb",
        "--unit-price",
        "0.25",
    ])
    .await
    .ok();
    let listed = site
        .hyalto(&["connectwise", "products", "list", "--json"])
        .await
        .ok();
    site.hyalto(&[
        "connectwise",
        "products",
        "unset",
        "virtual_machine/storage/performance",
    ])
    .await
    .ok();
    let after = site
        .hyalto(&["connectwise", "products", "list", "--json"])
        .await
        .ok();

    let rows: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["meter"] == "virtual_machine/storage/performance")
        .unwrap();
    assert_eq!(row["catalogItemId"], 4);
    assert_eq!(row["unitPrice"].to_string(), "0.25");
    let unmapped: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    let row = unmapped
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["meter"] == "virtual_machine/storage/performance")
        .unwrap();
    assert!(
        row["catalogItemId"].is_null(),
        "the inventory meter is listed as unmapped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_catalog_item_or_meter_is_refused_with_what_to_do() {
    let site = TestSite::start().await;
    site.configure().await;

    let item = site
        .hyalto(&[
            "connectwise",
            "products",
            "set",
            "virtual_machine/cpu",
            "--item",
            "NO-SUCH-SKU",
        ])
        .await
        .failure();
    let meter = site
        .hyalto(&[
            "connectwise",
            "products",
            "set",
            "vm-cpu",
            "--item",
            "VMW-VCPU",
        ])
        .await
        .failure();

    assert!(item.contains("no catalog item \"NO-SUCH-SKU\""), "{item}");
    assert!(item.contains("--create-missing"), "{item}");
    assert!(meter.contains("SERVICE_KIND/RESOURCE_KIND"), "{meter}");
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_map_every_default_meter_to_an_item_of_the_demo_seed() {
    let site = TestSite::start().await;
    site.configure().await;

    let defaults = site
        .hyalto(&["connectwise", "products", "defaults"])
        .await
        .ok();
    let listed = site
        .hyalto(&["connectwise", "products", "list", "--json"])
        .await
        .ok();

    assert!(
        !defaults.stdout.contains("Missing catalog items"),
        "{}",
        defaults.stdout
    );
    let rows: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(
        rows.iter().all(|row| row["catalogItemId"].is_i64()),
        "every meter is mapped: {rows:#?}"
    );
    let vdc_cpu = rows
        .iter()
        .find(|row| row["meter"] == "virtual_data_center/cpu")
        .unwrap();
    assert_eq!(vdc_cpu["catalogItemId"], 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_without_create_missing_name_the_missing_items() {
    // The demo seed without its VDC CPU item, written where the sandbox can read it.
    let seed_dir = tempfile::tempdir().unwrap();
    let demo_seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/cw-sandbox/seed/demo.json");
    let mut seed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo_seed).unwrap()).unwrap();
    let catalog = seed["catalog"].as_array_mut().unwrap();
    let before = catalog.len();
    catalog.retain(|item| item["identifier"] != "VMW-VDC-CPU-GHZ");
    assert_eq!(catalog.len(), before - 1);
    let seed_file = seed_dir.path().join("seed.json");
    std::fs::write(&seed_file, seed.to_string()).unwrap();
    let site = TestSite::start_with(SandboxConfig {
        seed: Seed::File(seed_file),
        ..SandboxConfig::default()
    })
    .await;
    site.configure().await;

    let defaults = site
        .hyalto(&["connectwise", "products", "defaults"])
        .await
        .ok();
    let created = site
        .hyalto(&["connectwise", "products", "defaults", "--create-missing"])
        .await
        .ok();

    assert!(
        defaults
            .stdout
            .contains("Missing catalog items: VMW-VDC-CPU-GHZ")
    );
    assert!(
        created
            .stdout
            .contains("created catalog item VMW-VDC-CPU-GHZ")
    );
    assert!(created.stdout.contains("created 1 catalog item(s)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_catalog_item_is_refused_because_connectwise_cannot_add_it() {
    let site = TestSite::start().await;
    site.configure().await;

    let message = site
        .hyalto(&[
            "connectwise",
            "products",
            "set",
            "virtual_machine/cpu",
            "--item",
            "VMW-STARTER-BUNDLE",
        ])
        .await
        .failure();
    let listed = site
        .hyalto(&["connectwise", "products", "list", "--json"])
        .await
        .ok();

    assert!(message.contains("is a Bundle"), "{message}");
    assert!(message.contains("nothing was mapped"), "{message}");
    let rows: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|row| row["catalogItemId"] != 7),
        "the bundle is not mapped: {rows:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_and_set_leave_an_inactive_catalog_item_unmapped() {
    // The demo seed with its vCPU item switched off.
    let seed_dir = tempfile::tempdir().unwrap();
    let demo_seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/cw-sandbox/seed/demo.json");
    let mut seed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo_seed).unwrap()).unwrap();
    let vcpu = seed["catalog"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|item| item["identifier"] == "VMW-VCPU")
        .unwrap();
    vcpu["inactiveFlag"] = serde_json::Value::Bool(true);
    let seed_file = seed_dir.path().join("seed.json");
    std::fs::write(&seed_file, seed.to_string()).unwrap();
    let site = TestSite::start_with(SandboxConfig {
        seed: Seed::File(seed_file),
        ..SandboxConfig::default()
    })
    .await;
    site.configure().await;

    let defaults = site
        .hyalto(&["connectwise", "products", "defaults"])
        .await
        .ok();
    let set = site
        .hyalto(&[
            "connectwise",
            "products",
            "set",
            "virtual_machine/cpu",
            "--item",
            "VMW-VCPU",
        ])
        .await
        .failure();

    assert!(
        defaults
            .stdout
            .contains("not mapped: catalog item VMW-VCPU"),
        "{}",
        defaults.stdout
    );
    assert!(
        defaults.stdout.contains("is inactive"),
        "{}",
        defaults.stdout
    );
    assert!(set.contains("is inactive"), "{set}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meter_of_a_service_kind_nothing_has_is_refused_with_the_known_kinds() {
    let site = TestSite::start().await;
    site.configure().await;
    let file = site.write_file("inventory.json", SMALL_INVENTORY);
    site.hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();

    let error = site
        .hyalto(&[
            "connectwise",
            "products",
            "set",
            "vm/ram",
            "--item",
            "VMW-RAM-GB",
        ])
        .await
        .failure();
    let listed = site
        .hyalto(&["connectwise", "products", "list", "--json"])
        .await
        .ok();

    assert!(error.contains("\"vm\""), "{error}");
    assert!(
        error.contains("edge_gateway, virtual_data_center, virtual_machine"),
        "{error}"
    );
    assert!(!listed.stdout.contains("vm/ram"), "{}", listed.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn setting_a_meter_echoes_the_unit_price_it_stored() {
    let site = TestSite::start().await;
    site.configure().await;

    let priced = site
        .hyalto(&[
            "connectwise",
            "products",
            "set",
            "virtual_machine/ram",
            "--item",
            "VMW-RAM-GB",
            "--unit-price",
            "4.50",
        ])
        .await
        .ok();
    let plain = site
        .hyalto(&[
            "connectwise",
            "products",
            "set",
            "virtual_machine/cpu",
            "--item",
            "VMW-VCPU",
        ])
        .await
        .ok();

    assert!(
        priced.stdout.contains("at unit price 4.5"),
        "{}",
        priced.stdout
    );
    assert!(
        plain.stdout.contains("at the item's own price"),
        "{}",
        plain.stdout
    );
}
