//! vCenter to ConnectWise, end to end: govmomi's vCenter simulator (hyalto's launcher in
//! `tools/vcsim`), `hyalto inventory collect`, saved sources, `hyalto sync` and the ConnectWise
//! sandbox, with the simulator changed over SOAP between runs the way an administrator would.
//!
//! The simulator starts with four VMs (1 vCPU, 32 MB, one 1 MiB disk each) in `/DC0/vm`; each
//! test moves three into `/DC0/vm/acme` (billed to O'Brien & Sons' master agreement 1) and one
//! into `/DC0/vm/globex` (Société Générale Services' master agreement 2).

use std::collections::BTreeMap;
use std::path::PathBuf;

use hyalto_connectwise::{Field, ListQuery};
use hyalto_vsphere::test_support::{Admin, PASSWORD, USERNAME, Vcsim};

use crate::helpers::{TestSite, writes};

/// The environment variable the tests put the vCenter password in.
const PASSWORD_VAR: &str = "HYALTO_TEST_VSPHERE_PASSWORD";

const VM0: &str = "DC0_C0_RP0_VM0";
const VM1: &str = "DC0_C0_RP0_VM1";
const VM2: &str = "DC0_C0_RP0_VM2";
const VM3: &str = "DC0_C0_RP0_VM3";

const RULES: &str = r#"
[[rules]]
folder = "/DC0/vm/acme"
customer = "acme"
name = "Acme"

[[rules]]
folder = "/DC0/vm/globex"
customer = "globex"
name = "Globex"
"#;

/// A sandbox, a simulator whose VMs are placed in the customers' folders, and the rules file.
struct Lab {
    site: TestSite,
    vcsim: Vcsim,
    admin: Admin,
    rules: PathBuf,
    /// Managed object ids by VM name, and of the two customer folders.
    vms: BTreeMap<&'static str, String>,
    acme_folder: String,
    globex_folder: String,
}

impl Lab {
    /// Starts everything; VMs 0 to 2 go to acme and VM 3 to globex. Pages of two objects make
    /// every listing take several pages.
    async fn start() -> Lab {
        let mut site = TestSite::start().await;
        site.env
            .push((PASSWORD_VAR.to_owned(), PASSWORD.to_owned()));
        let vcsim = Vcsim::start(&["-vm", "4", "-page-size", "2"]);
        let mut admin = vcsim.admin().await;

        let root = admin.find("DC0/vm").await;
        let acme_folder = admin.create_folder(&root, "acme").await;
        let globex_folder = admin.create_folder(&root, "globex").await;
        let mut vms = BTreeMap::new();
        for name in [VM0, VM1, VM2, VM3] {
            vms.insert(name, admin.find(&format!("DC0/vm/{name}")).await);
        }
        for name in [VM0, VM1, VM2] {
            admin.move_into_folder(&acme_folder, &vms[name]).await;
        }
        admin.move_into_folder(&globex_folder, &vms[VM3]).await;
        let rules = site.write_file("rules.toml", RULES);

        Lab {
            site,
            vcsim,
            admin,
            rules,
            vms,
            acme_folder,
            globex_folder,
        }
    }

    /// `hyalto inventory collect vsphere` against the simulator, recorded as source `vc`.
    fn collect_args(&self) -> Vec<String> {
        [
            "inventory",
            "collect",
            "vsphere",
            "--url",
            &self.vcsim.url,
            "--username",
            USERNAME,
            "--password-env",
            PASSWORD_VAR,
            "--rules",
            self.rules.to_str().unwrap(),
            "--source",
            "vc",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect()
    }

    async fn hyalto(&self, args: &[&str]) -> crate::helpers::Run {
        self.site.hyalto(args).await
    }

    async fn collect(&self) -> crate::helpers::Run {
        let args = self.collect_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.hyalto(&args).await
    }

    /// Collects, maps the default products and both customers, and syncs once; returns the
    /// collection's run.
    async fn collect_map_and_sync(&self) -> crate::helpers::Run {
        self.site.configure().await;
        let collected = self.collect().await.ok();
        self.hyalto(&["connectwise", "products", "defaults"])
            .await
            .ok();
        for (customer, company) in [("acme", "1"), ("globex", "2")] {
            self.hyalto(&[
                "connectwise",
                "map",
                "--customer",
                customer,
                "--company",
                company,
                "--agreement",
                company,
            ])
            .await
            .ok();
        }
        self.hyalto(&["sync"]).await.ok();
        collected
    }

    /// The child agreements of a master agreement that bill simulator VMs, by VM name.
    async fn children(&self, master: i64) -> BTreeMap<String, Child> {
        let client = self.site.client().await;
        let agreements = client
            .agreements(&ListQuery::filter(
                Field::new("parentAgreement/id").eq(master),
            ))
            .await
            .unwrap();

        let mut children = BTreeMap::new();
        for agreement in agreements {
            let name = agreement.name.clone().unwrap_or_default();
            let Some(vm) = name.split(": ").nth(1).filter(|vm| vm.starts_with("DC0_")) else {
                continue;
            };
            let additions = client
                .additions(agreement.id, &ListQuery::default())
                .await
                .unwrap();
            let lines = additions
                .iter()
                .map(|addition| Line {
                    product: addition
                        .product
                        .as_ref()
                        .and_then(|product| product.identifier.clone())
                        .unwrap_or_default(),
                    quantity: addition
                        .quantity
                        .unwrap_or_default()
                        .normalize()
                        .to_string(),
                    effective: addition.effective_date.map(|date| date.date().to_string()),
                    cancelled: addition.cancelled_date.map(|date| date.date().to_string()),
                })
                .collect();
            children.insert(
                vm.to_owned(),
                Child {
                    start: agreement.start_date.map(|date| date.date().to_string()),
                    end: agreement.end_date.map(|date| date.date().to_string()),
                    lines,
                },
            );
        }
        children
    }
}

/// A child agreement as ConnectWise holds it.
#[derive(Debug, Clone)]
struct Child {
    start: Option<String>,
    end: Option<String>,
    lines: Vec<Line>,
}

/// One addition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    product: String,
    quantity: String,
    effective: Option<String>,
    cancelled: Option<String>,
}

impl Child {
    /// The running lines' quantities by product.
    fn running(&self) -> BTreeMap<String, String> {
        self.lines
            .iter()
            .filter(|line| line.cancelled.is_none())
            .map(|line| (line.product.clone(), line.quantity.clone()))
            .collect()
    }
}

/// The day a collection taken now is recorded on, in the default billing zone (UTC).
fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

fn yesterday() -> String {
    (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string()
}

fn tomorrow() -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collection_and_a_sync_give_each_assigned_vm_a_child_with_cpu_ram_and_storage() {
    let mut lab = Lab::start().await;
    let root = lab.admin.find("DC0/vm").await;
    let pool = lab.admin.find("DC0/host/DC0_C0/Resources").await;
    lab.admin
        .create_vm_without_disks(&root, &pool, "nobodys", 1, 256)
        .await;

    let collected = lab.collect_map_and_sync().await;
    let acme = lab.children(1).await;
    let globex = lab.children(2).await;

    assert!(
        collected.stdout.contains("5 VMs")
            && collected.stdout.contains("customer acme: 3 VMs")
            && collected.stdout.contains("unassigned nobodys"),
        "{}",
        collected.stdout
    );
    assert_eq!(
        acme.keys().collect::<Vec<_>>(),
        [VM0, VM1, VM2],
        "{acme:#?}"
    );
    assert_eq!(globex.keys().collect::<Vec<_>>(), [VM3], "{globex:#?}");
    for child in acme.values().chain(globex.values()) {
        assert_eq!(child.end, None);
        assert_eq!(child.running().len(), 3, "cpu, ram and storage: {child:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resize_in_vcenter_updates_the_additions_at_the_next_sync() {
    let mut lab = Lab::start().await;
    lab.collect_map_and_sync().await;
    let before = lab.children(1).await[VM0].running();
    let vm0 = lab.vms[VM0].clone();

    lab.admin.reconfigure_cpu_memory(&vm0, 4, 8192).await;
    lab.admin.add_disk(&vm0, 1, 10 * 1024 * 1024).await;
    lab.admin.grow_disk(&vm0, 0, 2 * 1024 * 1024).await;
    lab.collect().await.ok();
    let sync = lab.hyalto(&["sync"]).await.ok();
    let after = lab.children(1).await;

    let resized = after[VM0].running();
    assert_eq!(resized.len(), 3, "{:#?}", after[VM0]);
    for (product, quantity) in &before {
        assert_ne!(
            resized.get(product),
            Some(quantity),
            "{product} did not follow the resize: {:#?}",
            after[VM0]
        );
    }
    assert!(
        resized.values().any(|quantity| quantity == "4"),
        "4 vCPUs: {resized:?}"
    );
    assert!(
        resized.values().any(|quantity| quantity == "12"),
        "10 GiB + 2 GiB of disk: {resized:?}"
    );
    assert_eq!(after[VM1].running(), before, "an untouched VM changed");
    assert!(sync.stdout.contains("additions"), "{}", sync.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destroyed_vm_has_its_additions_cancelled_and_its_child_ended() {
    let mut lab = Lab::start().await;
    lab.collect_map_and_sync().await;
    let vm1 = lab.vms[VM1].clone();

    lab.admin.power_off(&vm1).await;
    lab.admin.destroy(&vm1).await;
    let collected = lab.collect().await.ok();
    lab.hyalto(&["sync"]).await.ok();
    let children = lab.children(1).await;

    assert!(collected.stdout.contains("gone"), "{}", collected.stdout);
    let gone = &children[VM1];
    assert!(gone.end.is_some(), "the child was not ended: {gone:#?}");
    assert!(gone.running().is_empty(), "lines still run: {gone:#?}");
    assert!(children[VM0].end.is_none() && children[VM2].end.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_vm_gets_a_new_child_and_a_vm_made_a_template_stops_billing() {
    let mut lab = Lab::start().await;
    lab.collect_map_and_sync().await;
    let pool = lab.admin.find("DC0/host/DC0_C0/Resources").await;
    let acme_folder = lab.acme_folder.clone();
    let vm2 = lab.vms[VM2].clone();

    lab.admin
        .create_vm_without_disks(&acme_folder, &pool, "DC0_new", 2, 2048)
        .await;
    lab.admin.power_off(&vm2).await;
    lab.admin.mark_as_template(&vm2).await;
    let collected = lab.collect().await.ok();
    lab.hyalto(&["sync"]).await.ok();
    let children = lab.children(1).await;

    assert!(
        collected.stdout.contains(&format!("template   {VM2}")),
        "{}",
        collected.stdout
    );
    let new = &children["DC0_new"];
    assert!(new.end.is_none());
    assert!(
        new.running().values().any(|quantity| quantity == "2"),
        "2 vCPUs: {new:#?}"
    );
    let template = &children[VM2];
    assert!(template.end.is_some(), "billing went on: {template:#?}");
    assert!(template.running().is_empty(), "{template:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vm_moved_to_another_customers_folder_ends_at_the_old_customer_and_starts_at_the_new() {
    let mut lab = Lab::start().await;
    lab.collect_map_and_sync().await;
    let globex_folder = lab.globex_folder.clone();
    let vm2 = lab.vms[VM2].clone();
    let size_before = lab.children(1).await[VM2].running();

    lab.admin.move_into_folder(&globex_folder, &vm2).await;
    let collected = lab.collect().await.ok();
    lab.hyalto(&["sync"]).await.ok();
    lab.site.take_calls_by_verb().await;
    let again = lab.hyalto(&["sync"]).await.ok();
    let calls = lab.site.take_calls_by_verb().await;
    let acme = lab.children(1).await;
    let globex = lab.children(2).await;

    assert!(collected.stdout.contains("changed"), "{}", collected.stdout);
    assert_eq!(
        writes(&calls),
        0,
        "one sync completed the move: {}",
        again.stdout
    );
    let old = &acme[VM2];
    let new = &globex[VM2];
    let old_end = old.end.clone().expect("the old child is ended");
    assert!(old.running().is_empty(), "{old:#?}");
    assert!(
        old.lines
            .iter()
            .all(|line| line.cancelled.as_deref() == Some(old_end.as_str())),
        "the old lines end with the old child: {old:#?}"
    );
    // The old customer is billed up to the day before the move was seen and the new one
    // from that day; a child that started on the move day itself cannot end before it
    // started, so it ends on that day, and the new child starts the day after so that no day
    // is billed twice.
    let day_before = yesterday();
    let same_day = old_end == today() && old.start.as_deref() == Some(&today());
    assert!(old_end == day_before || same_day, "{old:#?}");
    let new_start = if same_day { tomorrow() } else { today() };
    assert_eq!(new.start.as_deref(), Some(new_start.as_str()), "{new:#?}");
    assert_eq!(
        new.running(),
        size_before,
        "billed the same at the new customer"
    );
    assert!(
        new.lines
            .iter()
            .all(|line| line.effective.as_deref() == Some(new_start.as_str())),
        "{new:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_503_in_the_middle_of_a_collection_makes_it_incomplete_and_nothing_is_cancelled() {
    let mut lab = Lab::start().await;
    lab.collect_map_and_sync().await;
    let vm0 = lab.vms[VM0].clone();
    lab.admin.power_off(&vm0).await;
    lab.admin.destroy(&vm0).await;

    // The VM listing's second page fails: the first page has been read by then.
    lab.vcsim
        .fail_call("ContinueRetrievePropertiesEx", 0, 503)
        .await;
    let collected = lab.collect().await.ok();
    lab.site.take_calls_by_verb().await;
    let sync = lab.hyalto(&["sync", "--json"]).await;
    let calls = lab.site.take_calls_by_verb().await;
    let children = lab.children(1).await;

    assert!(
        collected.stdout.contains("INCOMPLETE") && collected.stdout.contains("503"),
        "{}",
        collected.stdout
    );
    assert_eq!(writes(&calls), 0, "{calls}");
    assert!(
        sync.stdout.contains("incomplete"),
        "the skip is not reported: {}",
        sync.stdout
    );
    assert!(children[VM0].end.is_none(), "{:#?}", children[VM0]);
    assert_eq!(children[VM0].running().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_with_a_message_naming_the_vcenter() {
    let mut lab = Lab::start().await;
    lab.site
        .env
        .push((PASSWORD_VAR.to_owned(), "not-the-password".to_owned()));

    let error = lab.collect().await.failure();
    let show = lab.hyalto(&["inventory", "show", "--json"]).await.ok();

    assert!(error.contains(&lab.vcsim.url), "{error}");
    assert!(error.contains("user name or password"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");
    let view: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(
        view["sources"],
        serde_json::json!([]),
        "nothing is recorded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_holding_a_password_is_refused_without_repeating_it_or_recording_anything() {
    let mut site = TestSite::start().await;
    site.env
        .push((PASSWORD_VAR.to_owned(), "given-apart".to_owned()));

    let run = site
        .hyalto(&[
            "inventory",
            "collect",
            "vsphere",
            "--url",
            "http://lab:S3cret-in-url@127.0.0.1:9/sdk",
            "--username",
            "lab",
            "--password-env",
            PASSWORD_VAR,
            "--source",
            "lab-vc",
        ])
        .await;
    let show = site.hyalto(&["inventory", "show", "--json"]).await.ok();

    assert!(!run.success, "stdout:\n{}", run.stdout);
    assert!(
        run.stderr.contains("user name or password"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("S3cret-in-url"), "{}", run.stdout);
    assert!(!run.stderr.contains("S3cret-in-url"), "{}", run.stderr);
    let view: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(
        view["sources"],
        serde_json::json!([]),
        "nothing is recorded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_sources_are_added_listed_tested_collected_and_removed_and_never_show_the_password() {
    let lab = Lab::start().await;
    let password_file = lab.site.write_file("vc-password", &format!("{PASSWORD}\n"));

    lab.hyalto(&[
        "inventory",
        "sources",
        "add",
        "vsphere",
        "vc-lab",
        "--url",
        &lab.vcsim.url,
        "--username",
        USERNAME,
        "--password-file",
        password_file.to_str().unwrap(),
        "--rules",
        lab.rules.to_str().unwrap(),
        "--interval",
        "30m",
    ])
    .await
    .ok();
    std::fs::remove_file(&password_file).unwrap();
    let listed = lab.hyalto(&["inventory", "sources", "list"]).await.ok();
    let listed_json = lab
        .hyalto(&["inventory", "sources", "list", "--json"])
        .await
        .ok();
    let tested = lab
        .hyalto(&["inventory", "sources", "test", "vc-lab"])
        .await
        .ok();
    let after_test = lab.hyalto(&["inventory", "show", "--json"]).await.ok();
    let collected = lab
        .hyalto(&["inventory", "collect", "--source", "vc-lab"])
        .await
        .ok();
    let all = lab
        .hyalto(&["inventory", "collect", "--all", "--json"])
        .await
        .ok();
    let removed = lab
        .hyalto(&["inventory", "sources", "remove", "vc-lab"])
        .await
        .ok();
    let after_remove = lab
        .hyalto(&["inventory", "sources", "list", "--json"])
        .await
        .ok();
    let removed_again = lab
        .hyalto(&["inventory", "sources", "remove", "vc-lab"])
        .await
        .failure();

    for output in [&listed.stdout, &listed_json.stdout, &tested.stdout] {
        assert!(!output.contains(PASSWORD), "the password leaked: {output}");
    }
    assert!(listed.stdout.contains("vc-lab") && listed.stdout.contains("30m"));
    let sources: serde_json::Value = serde_json::from_str(&listed_json.stdout).unwrap();
    assert_eq!(sources[0]["name"], "vc-lab");
    assert_eq!(sources[0]["intervalSecs"], 1800);
    assert_eq!(sources[0]["rulesCount"], 2);
    assert!(tested.stdout.contains("read 4 VMs"), "{}", tested.stdout);
    let view: serde_json::Value = serde_json::from_str(&after_test.stdout).unwrap();
    assert_eq!(
        view["sources"],
        serde_json::json!([]),
        "a test records nothing"
    );
    assert!(
        collected.stdout.contains("customer acme: 3 VMs"),
        "{}",
        collected.stdout
    );
    let summaries: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(summaries[0]["source"], "vc-lab");
    assert_eq!(summaries[0]["complete"], true);
    assert!(removed.stdout.contains("Removed source vc-lab"));
    assert_eq!(after_remove.stdout.trim(), "[]");
    assert!(
        removed_again.contains("no source named vc-lab"),
        "{removed_again}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_source_whose_password_is_refused_fails_its_test_naming_the_vcenter() {
    let lab = Lab::start().await;

    let mut command = lab.site.command(&[
        "inventory",
        "sources",
        "add",
        "vsphere",
        "vc-wrong",
        "--url",
        &lab.vcsim.url,
        "--username",
        USERNAME,
        "--password-env",
        "WRONG",
    ]);
    command.env("WRONG", "wrong-password");
    let added = command.output().unwrap();
    let error = lab
        .hyalto(&["inventory", "sources", "test", "vc-wrong"])
        .await
        .failure();

    assert!(added.status.success());
    assert!(error.contains(&lab.vcsim.url), "{error}");
    assert!(error.contains("user name or password"), "{error}");
    assert!(!error.contains("wrong-password"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_collect_collects_saved_sources_first_and_one_that_fails_has_its_customers_skipped() {
    let mut lab = Lab::start().await;
    lab.site.configure().await;
    let add = |password_var: &str| {
        let mut command = lab.site.command(&[
            "inventory",
            "sources",
            "add",
            "vsphere",
            "vc-lab",
            "--url",
            &lab.vcsim.url,
            "--username",
            USERNAME,
            "--password-env",
            password_var,
            "--rules",
            lab.rules.to_str().unwrap(),
            "--replace",
        ]);
        command.env("WRONG_PASSWORD", "not-the-password");
        assert!(command.output().unwrap().status.success());
    };
    add(PASSWORD_VAR);
    lab.hyalto(&["inventory", "collect", "--all"]).await.ok();
    lab.hyalto(&["connectwise", "products", "defaults"])
        .await
        .ok();
    lab.hyalto(&[
        "connectwise",
        "map",
        "--customer",
        "acme",
        "--company",
        "1",
        "--agreement",
        "1",
    ])
    .await
    .ok();
    let vm3 = lab.vms[VM3].clone();
    let acme_folder = lab.acme_folder.clone();
    lab.admin.move_into_folder(&acme_folder, &vm3).await;

    let first = lab.hyalto(&["sync", "--collect"]).await.ok();
    let billed = lab.children(1).await;
    let vm0 = lab.vms[VM0].clone();
    lab.admin.power_off(&vm0).await;
    lab.admin.destroy(&vm0).await;
    add("WRONG_PASSWORD");
    lab.site.take_calls_by_verb().await;
    let second = lab.hyalto(&["sync", "--collect"]).await;
    let calls = lab.site.take_calls_by_verb().await;
    let after = lab.children(1).await;
    let sources = lab
        .hyalto(&["inventory", "sources", "list", "--json"])
        .await
        .ok();

    assert!(
        first.stdout.contains("customer acme: 4 VMs"),
        "the sync did not collect first: {}",
        first.stdout
    );
    assert_eq!(
        billed.len(),
        4,
        "VM3 moved to acme before the sync: {billed:#?}"
    );
    assert!(
        !second.success,
        "a failed collection must not pass unnoticed"
    );
    assert!(
        second.stdout.contains("NOT COLLECTED") && second.stdout.contains(&lab.vcsim.url),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("incomplete"), "{}", second.stdout);
    assert!(
        second.stderr.contains("could not collect vc-lab"),
        "{}",
        second.stderr
    );
    assert_eq!(writes(&calls), 0, "{calls}");
    assert!(after[VM0].end.is_none(), "{:#?}", after[VM0]);
    let sources: serde_json::Value = serde_json::from_str(&sources.stdout).unwrap();
    assert!(
        sources[0]["lastAttempt"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("user name or password")),
        "{sources}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vsphere_bench_measures_both_clients_listing_every_vm() {
    let site = TestSite::start().await;
    let launcher = hyalto_vsphere::test_support::launcher();

    let run = site
        .hyalto(&[
            "bench",
            "vsphere",
            "--vms",
            "30",
            "--page-size",
            "7",
            "--launcher",
            launcher.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok();

    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for client in ["hyalto", "govmomi"] {
        let figures = &report[client];
        assert_eq!(figures["vms"], 30, "{report}");
        assert!(figures["wallMs"].as_u64().unwrap() > 0, "{report}");
        // A process that ran at all has a resident set of some megabytes.
        assert!(figures["peakRssMib"].as_f64().unwrap() > 1.0, "{report}");
    }
}
