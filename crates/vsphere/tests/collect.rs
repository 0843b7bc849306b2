//! The vCenter collector against govmomi's vCenter simulator: listing and paging, disks and
//! templates, ownership rules, usage changes over time, and failures in the middle of a run.
//!
//! The simulator's model VMs have 1 vCPU, 32 MB of memory and one 1024 KB disk, and are named
//! `DC0_C0_RP0_VM0`, `DC0_C0_RP0_VM1`, … in the folder `/DC0/vm` and the pool
//! `/DC0/host/DC0_C0/Resources`.

mod common;

use common::{Vcsim, quantity, service};
use std::path::Path;

use hyalto_domain::{Completeness, PowerState, Snapshot, parse_snapshot, write_snapshot};
use hyalto_vsphere::{Error, collect};
use secrecy::SecretString;

const VM0: &str = "DC0_C0_RP0_VM0";
const VM1: &str = "DC0_C0_RP0_VM1";
const VM2: &str = "DC0_C0_RP0_VM2";

/// Checks the snapshot against the import format's validation: written out and read back, it
/// must be accepted unchanged.
fn assert_valid(snapshot: &Snapshot) {
    let text = write_snapshot(snapshot);
    let read = parse_snapshot(&text, Path::new("collected.json"))
        .unwrap_or_else(|error| panic!("the collected snapshot is not valid: {error}"));
    assert_eq!(&read, snapshot);
}

fn reasons(completeness: &Completeness) -> Vec<String> {
    match completeness {
        Completeness::Complete => Vec::new(),
        Completeness::Incomplete { reasons } => reasons.clone(),
    }
}

#[tokio::test]
async fn every_vm_is_listed_with_its_usage_across_at_least_three_pages() {
    let vcsim = Vcsim::start(&["-vm", "8", "-page-size", "3"]);

    let collection = collect(&vcsim.source("")).await.unwrap();

    let snapshot = &collection.snapshot;
    assert_eq!(snapshot.completeness, Completeness::Complete);
    assert_eq!(snapshot.services.len(), 8);
    let calls = vcsim.calls().await;
    assert!(
        calls
            .get("ContinueRetrievePropertiesEx")
            .copied()
            .unwrap_or(0)
            >= 2,
        "the VM listing took fewer than three pages: {calls:?}"
    );
    assert!(collection.report.pages >= 3, "{:?}", collection.report);
    for service in &snapshot.services {
        assert_eq!(quantity(service, "cpu"), "1", "{}", service.name);
        assert_eq!(quantity(service, "ram"), "32", "{}", service.name);
        assert_eq!(quantity(service, "storage"), "1", "{}", service.name);
        assert_eq!(service.power_state, Some(PowerState::On));
    }
    let vm = &collection.vms[0];
    assert_eq!(vm.folder_path.as_deref(), Some("/DC0/vm"));
    assert_eq!(
        vm.resource_pool_path.as_deref(),
        Some("/DC0/host/DC0_C0/Resources")
    );
    assert_eq!(vm.disks, 1);
    assert_eq!(snapshot.services[0].id.as_str(), vm.instance_uuid);
    assert_valid(snapshot);
}

#[tokio::test]
async fn the_page_size_asked_for_caps_each_page_below_the_servers_own() {
    let vcsim = Vcsim::start(&["-vm", "5", "-page-size", "100"]);
    let mut source = vcsim.source("");
    let whole = collect(&source).await.unwrap();
    let continued_before = vcsim
        .calls()
        .await
        .get("ContinueRetrievePropertiesEx")
        .copied();

    source.page_size = 2;
    let paged = collect(&source).await.unwrap();

    assert_eq!(
        continued_before, None,
        "the server's pages of 100 needed no continuation"
    );
    let continued = vcsim.calls().await["ContinueRetrievePropertiesEx"];
    assert!(
        continued >= 2,
        "5 VMs in pages of 2 need at least 2 continuations"
    );
    assert_eq!(paged.snapshot.services, whole.snapshot.services);
    assert_eq!(paged.snapshot.completeness, Completeness::Complete);
}

#[tokio::test]
async fn a_vm_without_disks_is_billed_zero_storage() {
    let vcsim = Vcsim::start(&["-vm", "1"]);
    let mut admin = vcsim.admin().await;
    let folder = admin.find("DC0/vm").await;
    let pool = admin.find("DC0/host/DC0_C0/Resources").await;
    admin
        .create_vm_without_disks(&folder, &pool, "diskless", 2, 512)
        .await;

    let collection = collect(&vcsim.source("")).await.unwrap();

    let diskless = service(&collection.snapshot.services, "diskless");
    assert_eq!(quantity(diskless, "storage"), "0");
    assert_eq!(quantity(diskless, "cpu"), "2");
    assert_eq!(quantity(diskless, "ram"), "512");
    assert_eq!(diskless.power_state, Some(PowerState::Off));
}

#[tokio::test]
async fn each_ownership_rule_assigns_its_vms_and_a_vm_matching_none_is_unassigned() {
    let vcsim = Vcsim::start(&["-vm", "4"]);
    let mut admin = vcsim.admin().await;
    let vm_folder = admin.find("DC0/vm").await;
    let root_pool = admin.find("DC0/host/DC0_C0/Resources").await;

    // Acme's VM sits in Acme's folder, Initech's in Initech's pool, Globex's is tagged.
    let customers = admin.create_folder(&vm_folder, "Customers").await;
    let acme = admin.create_folder(&customers, "Acme").await;
    let vm0 = admin.find(&format!("DC0/vm/{VM0}")).await;
    admin.move_into_folder(&acme, &vm0).await;
    let initech = admin.create_resource_pool(&root_pool, "initech").await;
    admin
        .create_vm_without_disks(&vm_folder, &initech, "initech-db", 1, 64)
        .await;
    let field = admin.add_custom_field("Customer").await;
    let vm1 = admin.find(&format!("DC0/vm/{VM1}")).await;
    admin.set_custom_value(&vm1, &field, "globex").await;
    let source = vcsim.source(
        r#"
        [[rules]]
        folder = "/DC0/vm/Customers/Acme"
        customer = "acme"
        name = "Acme Corporation"

        [[rules]]
        resource_pool = "initech"
        customer = "initech"

        [[rules]]
        attribute = "Customer"
        "#,
    );

    let collection = collect(&source).await.unwrap();

    let services = &collection.snapshot.services;
    let owner = |name: &str| {
        service(services, name)
            .customer
            .as_ref()
            .map(|c| c.to_string())
    };
    assert_eq!(owner(VM0).as_deref(), Some("acme"));
    assert_eq!(owner("initech-db").as_deref(), Some("initech"));
    assert_eq!(owner(VM1).as_deref(), Some("globex"));
    assert_eq!(owner(VM2), None);
    assert_eq!(owner("DC0_C0_RP0_VM3"), None);

    let names: Vec<(String, String)> = collection
        .snapshot
        .customers
        .iter()
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect();
    assert!(names.contains(&("acme".to_owned(), "Acme Corporation".to_owned())));
    assert!(names.contains(&("globex".to_owned(), "globex".to_owned())));

    let unassigned: Vec<&str> = collection
        .report
        .unassigned
        .iter()
        .map(|u| u.vm.name.as_str())
        .collect();
    assert_eq!(unassigned, vec![VM2, "DC0_C0_RP0_VM3"]);
    assert_eq!(collection.report.vms_assigned, 3);

    let moved = collection.vms.iter().find(|vm| vm.name == VM0).unwrap();
    assert_eq!(moved.folder_path.as_deref(), Some("/DC0/vm/Customers/Acme"));
    let tagged = collection.vms.iter().find(|vm| vm.name == VM1).unwrap();
    assert_eq!(
        tagged.custom_attributes.get("Customer").map(String::as_str),
        Some("globex")
    );
    assert_eq!(collection.snapshot.completeness, Completeness::Complete);
    assert_valid(&collection.snapshot);
}

#[tokio::test]
async fn a_resized_vm_with_an_added_and_a_grown_disk_shows_the_change_in_the_next_collection() {
    let vcsim = Vcsim::start(&["-vm", "2"]);
    let source = vcsim.source("");
    let before = collect(&source).await.unwrap();
    assert_eq!(
        quantity(service(&before.snapshot.services, VM0), "storage"),
        "1"
    );

    let mut admin = vcsim.admin().await;
    let vm = admin.find(&format!("DC0/vm/{VM0}")).await;
    admin.reconfigure_cpu_memory(&vm, 4, 2048).await;
    admin.add_disk(&vm, 1, 2048).await;
    admin.grow_disk(&vm, 0, 8192).await;
    let after = collect(&source).await.unwrap();

    let changed = service(&after.snapshot.services, VM0);
    assert_eq!(quantity(changed, "cpu"), "4");
    assert_eq!(quantity(changed, "ram"), "2048");
    // 8192 KB + 2048 KB = 10 MiB.
    assert_eq!(quantity(changed, "storage"), "10");
    let untouched = service(&after.snapshot.services, VM1);
    assert_eq!(quantity(untouched, "cpu"), "1");
    assert_eq!(
        changed.id,
        service(&before.snapshot.services, VM0).id,
        "the service id must survive a resize"
    );
}

#[tokio::test]
async fn a_destroyed_vm_is_missing_from_a_complete_snapshot() {
    let vcsim = Vcsim::start(&["-vm", "3"]);
    let mut admin = vcsim.admin().await;
    let vm = admin.find(&format!("DC0/vm/{VM1}")).await;
    admin.power_off(&vm).await;
    admin.destroy(&vm).await;

    let collection = collect(&vcsim.source("")).await.unwrap();

    assert_eq!(collection.snapshot.completeness, Completeness::Complete);
    let names: Vec<&str> = collection
        .snapshot
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(!names.contains(&VM1), "{names:?}");
}

#[tokio::test]
async fn a_vm_marked_as_template_is_no_longer_billed_and_is_reported_as_skipped() {
    let vcsim = Vcsim::start(&["-vm", "2"]);
    let source = vcsim.source("");
    let before = collect(&source).await.unwrap();
    assert_eq!(before.snapshot.services.len(), 2);

    let mut admin = vcsim.admin().await;
    let vm = admin.find(&format!("DC0/vm/{VM0}")).await;
    admin.power_off(&vm).await;
    admin.mark_as_template(&vm).await;
    let after = collect(&source).await.unwrap();

    assert_eq!(after.snapshot.completeness, Completeness::Complete);
    assert!(after.snapshot.services.iter().all(|s| s.name != VM0));
    assert_eq!(after.snapshot.services.len(), 1);
    let skipped: Vec<&str> = after
        .report
        .templates_skipped
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(skipped, vec![VM0]);
    assert!(after.vms.iter().any(|vm| vm.name == VM0 && vm.template));
}

#[tokio::test]
async fn a_session_that_expires_mid_listing_is_renewed_and_the_snapshot_is_complete() {
    let vcsim = Vcsim::start(&["-vm", "7", "-page-size", "3"]);
    vcsim
        .expire_sessions_before("ContinueRetrievePropertiesEx", 0)
        .await;

    let collection = collect(&vcsim.source("")).await.unwrap();

    assert_eq!(collection.report.session_renewals, 1);
    assert_eq!(collection.snapshot.completeness, Completeness::Complete);
    assert_eq!(collection.snapshot.services.len(), 7);
    let calls = vcsim.calls().await;
    assert_eq!(calls.get("Login"), Some(&2), "{calls:?}");
}

#[tokio::test]
async fn a_session_that_cannot_be_renewed_gives_an_incomplete_snapshot() {
    let vcsim = Vcsim::start(&["-vm", "7", "-page-size", "3"]);
    vcsim
        .expire_sessions_before("ContinueRetrievePropertiesEx", 0)
        .await;
    // The second login, the renewal, is refused as if the vCenter were overloaded.
    vcsim.fail_call("Login", 1, 503).await;

    let collection = collect(&vcsim.source("")).await.unwrap();

    let reasons = reasons(&collection.snapshot.completeness);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("virtual machine listing")),
        "{reasons:?}"
    );
    assert_eq!(collection.report.failures, reasons);
}

#[tokio::test]
async fn an_http_503_mid_listing_gives_an_incomplete_snapshot_that_reports_the_failure() {
    let vcsim = Vcsim::start(&["-vm", "7", "-page-size", "3"]);
    vcsim
        .fail_call("ContinueRetrievePropertiesEx", 0, 503)
        .await;

    let collection = collect(&vcsim.source("")).await.unwrap();

    let reasons = reasons(&collection.snapshot.completeness);
    assert!(!reasons.is_empty(), "the snapshot claims to be complete");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("503") && r.contains("ContinueRetrievePropertiesEx")),
        "{reasons:?}"
    );
    // The first page was read and is kept; the rest is missing, so nothing may be retired.
    assert_eq!(collection.snapshot.services.len(), 3);
    assert_eq!(collection.report.failures, reasons);
    assert_valid(&collection.snapshot);
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_an_error_naming_the_vcenter_url() {
    let vcsim = Vcsim::start(&["-vm", "1"]);
    let mut source = vcsim.source("");
    source.password = SecretString::from("wrong-password");

    let error = collect(&source).await.unwrap_err();

    assert!(matches!(error, Error::Login { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&vcsim.url), "{message}");
    assert!(message.contains("password"), "{message}");
    assert!(!message.contains("wrong-password"), "{message}");
}

#[tokio::test]
async fn an_unreachable_vcenter_is_an_error_naming_its_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let vcsim_less = hyalto_vsphere::VsphereSource::new(
        hyalto_domain::SourceId::new("gone").unwrap(),
        format!("http://127.0.0.1:{port}/sdk"),
        "user",
        SecretString::from("password"),
    );

    let error = collect(&vcsim_less).await.unwrap_err();

    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn https_is_trusted_through_a_ca_file_or_the_insecure_switch_and_refused_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let vcsim = Vcsim::start(&[
        "-vm",
        "1",
        "-tls-cert",
        cert.to_str().unwrap(),
        "-tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(vcsim.url.starts_with("https://"), "{}", vcsim.url);

    let untrusted = collect(&vcsim.source("")).await.unwrap_err();
    let mut with_ca = vcsim.source("");
    with_ca.tls.ca_file = Some(cert.clone());
    let mut insecure = vcsim.source("");
    insecure.tls.insecure = true;

    assert!(
        matches!(untrusted, Error::Certificate { .. }),
        "{untrusted:?}"
    );
    assert!(untrusted.to_string().contains("CA file"), "{untrusted}");
    assert_eq!(collect(&with_ca).await.unwrap().snapshot.services.len(), 1);
    assert_eq!(collect(&insecure).await.unwrap().snapshot.services.len(), 1);
}
