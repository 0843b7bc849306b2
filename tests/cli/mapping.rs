//! `hyalto connectwise map`: the checks on customer, company and agreement.

use hyalto_connectwise::models::PatchOperation;

use crate::helpers::{SMALL_INVENTORY, TestSite};

async fn imported_site() -> TestSite {
    let site = TestSite::start().await;
    site.configure().await;
    let file = site.write_file("inventory.json", SMALL_INVENTORY);
    site.hyalto(&["inventory", "import", file.to_str().unwrap()])
        .await
        .ok();
    site
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_is_mapped_to_its_company_master_agreement() {
    let site = imported_site().await;

    site.hyalto(&[
        "connectwise",
        "map",
        "--customer",
        "acme",
        "--company",
        "1",
        "--agreement",
        "1",
        "--quantity-changes",
        "cancel_and_replace",
        "--drift",
        "report",
    ])
    .await
    .ok();
    let mappings = site
        .hyalto(&["connectwise", "mappings", "--json"])
        .await
        .ok();

    let mappings: serde_json::Value = serde_json::from_str(&mappings.stdout).unwrap();
    assert_eq!(mappings[0]["customer"], "acme");
    assert_eq!(mappings[0]["agreementId"], 1);
    assert_eq!(mappings[0]["quantityChanges"], "cancel_and_replace");
    assert_eq!(mappings[0]["drift"], "report");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agreement_of_another_company_is_refused() {
    let site = imported_site().await;

    let error = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "acme",
            "--company",
            "1",
            "--agreement",
            "3",
        ])
        .await
        .failure();

    assert!(
        error.contains("agreement 3 belongs to company 3"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_agreement_is_refused() {
    let site = imported_site().await;
    site.client()
        .await
        .patch_agreement(5, &[PatchOperation::replace("cancelledFlag", true)])
        .await
        .unwrap();

    let error = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "acme",
            "--company",
            "5",
            "--agreement",
            "5",
        ])
        .await
        .failure();

    assert!(error.contains("agreement 5 is cancelled"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_agreement_cannot_be_a_master() {
    let site = imported_site().await;

    let error = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "acme",
            "--company",
            "1",
            "--agreement",
            "9",
        ])
        .await
        .failure();

    assert!(
        error.contains("is itself a child of agreement 1"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_customer_is_refused_with_the_known_ones_listed() {
    let site = imported_site().await;

    let error = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "globex",
            "--company",
            "1",
            "--agreement",
            "1",
        ])
        .await
        .failure();

    assert!(error.contains("no customer \"globex\" is known"), "{error}");
    assert!(error.contains("acme, initech"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_agreement_can_be_created_and_is_audited() {
    let site = imported_site().await;

    let mapped = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "initech",
            "--company",
            "10",
            "--create-agreement",
            "Ødegaard – Private Cloud",
            "--type",
            "1",
        ])
        .await
        .ok();
    let audit = site
        .hyalto(&["audit", "--operation", "create_master_agreement", "--json"])
        .await
        .ok();

    assert!(mapped.stdout.contains("Created master agreement"));
    let audit: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(audit[0]["status"], "succeeded");
    assert_eq!(audit[0]["after"]["company"]["id"], 10);
    assert_eq!(audit[0]["customer"], "initech");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_companys_agreements_show_which_can_be_masters() {
    let site = imported_site().await;

    let listed = site
        .hyalto(&["connectwise", "agreements", "--company", "1", "--json"])
        .await
        .ok();
    let unknown = site
        .hyalto(&["connectwise", "agreements", "--company", "999"])
        .await
        .failure();

    let rows: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let statuses: Vec<(i64, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["id"].as_i64().unwrap(), row["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, vec![(1, "active"), (9, "child"), (10, "child")]);
    assert!(
        unknown.contains("company 999 is not in the cache"),
        "{unknown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mapping_again_keeps_the_policies_unless_a_flag_changes_them() {
    let site = imported_site().await;
    site.hyalto(&[
        "connectwise",
        "map",
        "--customer",
        "acme",
        "--company",
        "1",
        "--agreement",
        "1",
        "--quantity-changes",
        "cancel_and_replace",
        "--drift",
        "report",
        "--recreate-deleted",
        "--child-type",
        "2",
    ])
    .await
    .ok();

    let again = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "acme",
            "--company",
            "1",
            "--agreement",
            "1",
            "--drift",
            "overwrite",
        ])
        .await
        .ok();
    let mappings = site
        .hyalto(&["connectwise", "mappings", "--json"])
        .await
        .ok();

    assert!(
        again.stdout.contains(
            "Effective options: quantity changes cancel_and_replace, drift overwrite, recreate \
             deleted yes, child agreement type 2."
        ),
        "{}",
        again.stdout
    );
    let mappings: serde_json::Value = serde_json::from_str(&mappings.stdout).unwrap();
    assert_eq!(mappings[0]["quantityChanges"], "cancel_and_replace");
    assert_eq!(mappings[0]["drift"], "overwrite");
    assert_eq!(mappings[0]["recreateDeleted"], true);
    assert_eq!(mappings[0]["childAgreementTypeId"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn agreements_show_their_type_id_and_agreement_types_lists_every_cached_type() {
    let site = imported_site().await;

    let agreements = site
        .hyalto(&["connectwise", "agreements", "--company", "1", "--json"])
        .await
        .ok();
    let table = site
        .hyalto(&["connectwise", "agreements", "--company", "1"])
        .await
        .ok();
    let types = site
        .hyalto(&["connectwise", "agreement-types", "--json"])
        .await
        .ok();
    let types_table = site.hyalto(&["connectwise", "agreement-types"]).await.ok();

    let agreements: serde_json::Value = serde_json::from_str(&agreements.stdout).unwrap();
    let types: serde_json::Value = serde_json::from_str(&types.stdout).unwrap();
    let type_id = agreements[0]["typeId"].as_i64().unwrap();
    let listed = types
        .as_array()
        .unwrap()
        .iter()
        .find(|kind| kind["id"] == type_id)
        .unwrap();
    assert_eq!(listed["name"], agreements[0]["typeName"]);
    assert!(
        table
            .stdout
            .contains(&format!("{type_id} {}", listed["name"].as_str().unwrap())),
        "{}",
        table.stdout
    );
    assert!(
        types_table
            .stdout
            .contains(listed["name"].as_str().unwrap()),
        "{}",
        types_table.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_agreement_type_is_refused_with_the_ids_that_exist() {
    let site = imported_site().await;
    let types = site
        .hyalto(&["connectwise", "agreement-types", "--json"])
        .await
        .ok();
    let types: serde_json::Value = serde_json::from_str(&types.stdout).unwrap();
    let first = &types[0];
    let named = format!("{} ({}", first["id"], first["name"].as_str().unwrap());

    let create = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "acme",
            "--company",
            "1",
            "--create-agreement",
            "Acme cloud",
            "--type",
            "999",
        ])
        .await
        .failure();
    let child = site
        .hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "acme",
            "--company",
            "1",
            "--agreement",
            "1",
            "--child-type",
            "999",
        ])
        .await
        .failure();
    let mappings = site
        .hyalto(&["connectwise", "mappings", "--json"])
        .await
        .ok();

    assert!(create.contains("--type 999"), "{create}");
    assert!(create.contains(&named), "{create}");
    assert!(!create.contains("correct the request"), "{create}");
    assert!(child.contains("--child-type 999"), "{child}");
    assert!(child.contains(&named), "{child}");
    assert_eq!(mappings.stdout.trim(), "[]");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_mapping_prints_its_options_once_named() {
    let site = imported_site().await;

    let mapped = site
        .hyalto(&[
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
    let again = site
        .hyalto(&[
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

    assert!(
        mapped.stdout.contains("\nOptions: quantity changes"),
        "{}",
        mapped.stdout
    );
    assert!(
        !mapped.stdout.contains("Options options"),
        "{}",
        mapped.stdout
    );
    assert!(
        again
            .stdout
            .contains("\nEffective options: quantity changes"),
        "{}",
        again.stdout
    );
}
