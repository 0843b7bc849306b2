//! Creating, patching and deleting agreements and additions against the sandbox.

use hyalto_connectwise::models::{
    BillCustomer, CatalogItemReference, CompanyReference, CwDate, NewAddition, NewAgreement,
    NewCatalogItem, PatchOperation, ProductClass, Reference,
};
use hyalto_connectwise::{Error, Field, ListQuery};
use rust_decimal::Decimal;

use crate::helpers::{TestSite, spawn};

/// The demo's "Private Cloud Services" agreement type and the vCPU catalog item.
async fn cloud_type_and_vcpu(site: &TestSite) -> (i64, i64) {
    let types = site
        .client
        .agreement_types(&ListQuery::filter(
            Field::new("name").eq("Private Cloud Services"),
        ))
        .await
        .unwrap();
    let items = site
        .client
        .catalog_items(&ListQuery::filter(Field::new("identifier").eq("VMW-VCPU")))
        .await
        .unwrap();
    (types[0].id, items[0].id)
}

/// A create body for a new agreement of company 1.
pub fn new_agreement(name: &str, type_id: i64) -> NewAgreement {
    let mut body = NewAgreement::new(name, Reference::by_id(type_id), CompanyReference::by_id(1));
    body.contact = Some(Reference::by_id(1));
    body.start_date = CwDate::from_ymd(2025, 3, 1);
    body.no_ending_date_flag = Some(true);
    body
}

#[tokio::test]
async fn an_agreement_and_addition_are_created_patched_and_read_back() {
    let site = spawn().await;
    let (type_id, vcpu_id) = cloud_type_and_vcpu(&site).await;

    let mut body = new_agreement("Tenant 42 – compute", type_id);
    body.parent_agreement = None;
    let agreement = site.client.create_agreement(&body).await.unwrap();
    let mut line = NewAddition::new(CatalogItemReference::by_id(vcpu_id));
    line.quantity = Some(Decimal::new(48, 0));
    line.unit_price = Some("12.345".parse().unwrap());
    line.effective_date = CwDate::from_ymd(2025, 3, 1);
    line.invoice_description = Some("vCPU – cluster A (48 allocated)".to_owned());
    let addition = site
        .client
        .create_addition(agreement.id, &line)
        .await
        .unwrap();
    let patched = site
        .client
        .patch_addition(
            agreement.id,
            addition.id,
            &[
                PatchOperation::replace("quantity", Decimal::new(525, 1)),
                PatchOperation::replace("cancelledDate", CwDate::from_ymd(2025, 3, 31).unwrap()),
            ],
        )
        .await
        .unwrap();
    let read_back = site
        .client
        .addition(agreement.id, addition.id)
        .await
        .unwrap();
    let stored_agreement = site.client.agreement(agreement.id).await.unwrap();

    assert_eq!(
        stored_agreement.name.as_deref(),
        Some("Tenant 42 – compute")
    );
    assert_eq!(stored_agreement.start_date, CwDate::from_ymd(2025, 3, 1));
    assert!(stored_agreement.info.unwrap().last_updated.is_some());
    assert_eq!(addition.quantity, Some(Decimal::new(48, 0)));
    assert_eq!(addition.bill_customer, Some(BillCustomer::Billable));
    assert_eq!(patched.quantity, Some(Decimal::new(525, 1)));
    assert_eq!(read_back.quantity, Some(Decimal::new(525, 1)));
    assert_eq!(read_back.unit_price, Some("12.345".parse().unwrap()));
    assert_eq!(read_back.effective_date, CwDate::from_ymd(2025, 3, 1));
    assert_eq!(read_back.cancelled_date, CwDate::from_ymd(2025, 3, 31));
    assert_eq!(read_back.agreement_id, Some(agreement.id));
    assert_eq!(
        site.client
            .addition_count(agreement.id, None)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn an_agreement_patch_applies_several_operations_together() {
    let site = spawn().await;
    let (type_id, _) = cloud_type_and_vcpu(&site).await;
    let agreement = site
        .client
        .create_agreement(&new_agreement("To cancel", type_id))
        .await
        .unwrap();

    let patched = site
        .client
        .patch_agreement(
            agreement.id,
            &[
                PatchOperation::replace("cancelledFlag", true),
                PatchOperation::replace("dateCancelled", CwDate::from_ymd(2025, 6, 30).unwrap()),
                PatchOperation::replace("reasonCancelled", "Tenant left"),
            ],
        )
        .await
        .unwrap();

    assert_eq!(patched.cancelled_flag, Some(true));
    assert_eq!(patched.date_cancelled, CwDate::from_ymd(2025, 6, 30));
    assert_eq!(patched.reason_cancelled.as_deref(), Some("Tenant left"));
}

#[tokio::test]
async fn a_deleted_addition_is_gone() {
    let site = spawn().await;
    let (type_id, vcpu_id) = cloud_type_and_vcpu(&site).await;
    let agreement = site
        .client
        .create_agreement(&new_agreement("Short-lived", type_id))
        .await
        .unwrap();
    let addition = site
        .client
        .create_addition(
            agreement.id,
            &NewAddition::new(CatalogItemReference::by_id(vcpu_id)),
        )
        .await
        .unwrap();

    site.client
        .delete_addition(agreement.id, addition.id)
        .await
        .unwrap();

    let error = site
        .client
        .addition(agreement.id, addition.id)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error}");
}

#[tokio::test]
async fn a_catalog_item_is_created_and_counted() {
    let site = spawn().await;
    let before = site.client.catalog_count(None).await.unwrap();

    let item = site
        .client
        .create_catalog_item(&NewCatalogItem {
            identifier: "VMW-GPU".to_owned(),
            description: "vGPU per month".to_owned(),
            subcategory: Reference::by_id(1),
            product_type: Reference::by_id(1),
            customer_description: "One virtual GPU, billed monthly.".to_owned(),
            product_class: Some(ProductClass::Service),
            price: Some(Decimal::new(9900, 2)),
            ..NewCatalogItem::default()
        })
        .await
        .unwrap();

    assert_eq!(item.identifier.as_deref(), Some("VMW-GPU"));
    assert_eq!(item.price, Some(Decimal::new(99, 0)));
    assert_eq!(site.client.catalog_count(None).await.unwrap(), before + 1);
}
