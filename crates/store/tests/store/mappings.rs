//! Company and product mappings.

use hyalto_domain::{MeterKey, ResourceKind, ServiceKind};
use hyalto_store::{
    CompanyMapping, DriftPolicy, MappingOptions, ProductMapping, QuantityChangeMode, Store as _,
    StoreError,
};

use crate::helpers::{TestStore, at, customer, customer_id, decimal, open_store, snapshot};

async fn store_with_customers() -> TestStore {
    let test = open_store().await;
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            vec![customer("acme", "Acme"), customer("zeta", "Zeta")],
            vec![],
        ))
        .await
        .unwrap();
    test
}

fn mapping(customer: &str, company_id: i64, agreement_id: i64) -> CompanyMapping {
    CompanyMapping {
        customer: customer_id(customer),
        company_id,
        agreement_id,
        options: MappingOptions::default(),
    }
}

#[tokio::test]
async fn customers_are_listed_with_their_mapping_and_unmapped_ones_are_called_out() {
    let test = store_with_customers().await;
    let mut acme = mapping("acme", 250, 9001);
    acme.options = MappingOptions {
        quantity_change: QuantityChangeMode::CancelAndReplace,
        drift: DriftPolicy::Report,
        recreate_deleted: true,
        child_agreement_type_id: Some(12),
    };

    test.store.set_company_mapping(&acme).await.unwrap();
    let customers = test.store.list_customers().await.unwrap();

    assert_eq!(customers.len(), 2);
    assert_eq!(customers[0].mapping.as_ref(), Some(&acme));
    assert!(customers[0].is_mapped());
    assert_eq!(customers[1].customer.id, customer_id("zeta"));
    assert!(!customers[1].is_mapped());
}

#[tokio::test]
async fn mapping_an_unknown_customer_is_refused() {
    let test = store_with_customers().await;

    let error = test
        .store
        .set_company_mapping(&mapping("ghost", 1, 2))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, StoreError::NotFound { what: "customer", id } if id == "ghost"),
        "{error:?}"
    );
    assert!(test.store.list_company_mappings().await.unwrap().is_empty());
}

#[tokio::test]
async fn mapping_a_customer_again_replaces_its_mapping_and_unmapping_removes_it() {
    let test = store_with_customers().await;
    test.store
        .set_company_mapping(&mapping("acme", 250, 9001))
        .await
        .unwrap();

    test.store
        .set_company_mapping(&mapping("acme", 251, 9002))
        .await
        .unwrap();
    let replaced = test
        .store
        .get_company_mapping(&customer_id("acme"))
        .await
        .unwrap();
    let removed = test
        .store
        .remove_company_mapping(&customer_id("acme"))
        .await
        .unwrap();
    let removed_again = test
        .store
        .remove_company_mapping(&customer_id("acme"))
        .await
        .unwrap();
    let after = test
        .store
        .get_company_mapping(&customer_id("acme"))
        .await
        .unwrap();

    assert_eq!(replaced, Some(mapping("acme", 251, 9002)));
    assert!(removed);
    assert!(!removed_again);
    assert_eq!(after, None);
}

#[test]
fn mapping_options_parse_from_their_names_and_refuse_others() {
    assert_eq!(
        "in_place".parse::<QuantityChangeMode>().unwrap(),
        QuantityChangeMode::InPlace
    );
    assert_eq!(
        "cancel_and_replace".parse::<QuantityChangeMode>().unwrap(),
        QuantityChangeMode::CancelAndReplace
    );
    assert_eq!(
        "report".parse::<DriftPolicy>().unwrap(),
        DriftPolicy::Report
    );
    let error = "sometimes".parse::<DriftPolicy>().unwrap_err();
    assert!(error.to_string().contains("overwrite report"), "{error}");
}

fn meter(tier: Option<&str>) -> MeterKey {
    MeterKey {
        service_kind: ServiceKind::VirtualMachine,
        resource: ResourceKind::Storage,
        tier: tier.map(str::to_owned),
    }
}

#[tokio::test]
async fn product_mappings_with_and_without_a_tier_are_distinct_and_replaceable() {
    let test = open_store().await;
    let untiered = ProductMapping {
        key: meter(None),
        catalog_item_id: 10,
        unit_price: None,
        unit_cost: None,
    };
    let gold = ProductMapping {
        key: meter(Some("gold")),
        catalog_item_id: 11,
        unit_price: Some(decimal("0.125")),
        unit_cost: Some(decimal("0.0400")),
    };
    test.store.set_product_mapping(&untiered).await.unwrap();
    test.store.set_product_mapping(&gold).await.unwrap();

    let replacement = ProductMapping {
        catalog_item_id: 20,
        ..untiered.clone()
    };
    test.store.set_product_mapping(&replacement).await.unwrap();
    let listed = test.store.list_product_mappings().await.unwrap();
    let removed = test
        .store
        .remove_product_mapping(&meter(Some("gold")))
        .await
        .unwrap();
    let removed_missing = test
        .store
        .remove_product_mapping(&meter(Some("silver")))
        .await
        .unwrap();
    let after = test.store.list_product_mappings().await.unwrap();

    assert_eq!(listed, [replacement.clone(), gold]);
    assert_eq!(
        listed[1].unit_cost.unwrap().to_string(),
        "0.0400",
        "the scale is kept"
    );
    assert!(removed);
    assert!(!removed_missing);
    assert_eq!(after, [replacement]);
}
