//! Sync links between services and the ConnectWise records written for them.

use chrono::NaiveDate;
use hyalto_domain::{MeterKey, ResourceKind, ServiceKind};
use hyalto_store::{AdditionLink, AdditionState, AgreementLink, Store as _, StoreError};

use crate::helpers::{
    TestStore, at, customer, customer_id, decimal, open_store, service_id, snapshot, vm,
};

async fn store_with_services() -> TestStore {
    let test = open_store().await;
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            vec![customer("acme", "Acme"), customer("zeta", "Zeta")],
            vec![
                vm("vm-1", Some("acme"), "4", "16"),
                vm("vm-2", Some("zeta"), "2", "8"),
            ],
        ))
        .await
        .unwrap();
    test
}

fn day(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, day).unwrap()
}

fn agreement(agreement_id: i64, service: &str, customer: &str) -> AgreementLink {
    AgreementLink {
        agreement_id,
        service: service_id(service),
        customer: customer_id(customer),
        parent_agreement_id: 9001,
        ownership_key: format!("hyalto:{service}"),
        ended_on: None,
    }
}

fn ram_meter() -> MeterKey {
    MeterKey {
        service_kind: ServiceKind::VirtualMachine,
        resource: ResourceKind::Ram,
        tier: None,
    }
}

fn addition(addition_id: i64, agreement_id: i64, service: &str, quantity: &str) -> AdditionLink {
    AdditionLink {
        addition_id,
        agreement_id,
        service: service_id(service),
        meter: ram_meter(),
        catalog_item_id: 31,
        ownership_key: format!("hyalto:{service}:ram"),
        quantity: decimal(quantity),
        unit_price: Some(decimal("2.50")),
        unit_cost: Some(decimal("1.25")),
        effective_date: day(1),
        state: AdditionState::Active,
    }
}

#[tokio::test]
async fn links_for_a_customer_hold_its_agreements_and_their_additions_only() {
    let test = store_with_services().await;
    test.store
        .record_agreement_link(&agreement(500, "vm-1", "acme"))
        .await
        .unwrap();
    test.store
        .record_agreement_link(&agreement(600, "vm-2", "zeta"))
        .await
        .unwrap();
    test.store
        .record_addition_link(&addition(5001, 500, "vm-1", "16"))
        .await
        .unwrap();
    test.store
        .record_addition_link(&addition(6001, 600, "vm-2", "8"))
        .await
        .unwrap();

    let acme = test
        .store
        .links_for_customer(&customer_id("acme"))
        .await
        .unwrap();
    let vm2 = test
        .store
        .links_for_service(&service_id("vm-2"))
        .await
        .unwrap();

    assert_eq!(acme.agreements.len(), 1);
    assert_eq!(acme.agreements[0].link, agreement(500, "vm-1", "acme"));
    assert_eq!(acme.additions.len(), 1);
    assert_eq!(acme.additions[0].link, addition(5001, 500, "vm-1", "16"));
    assert_eq!(vm2.additions[0].link.addition_id, 6001);
}

#[tokio::test]
async fn recording_an_addition_again_updates_what_was_last_written() {
    let test = store_with_services().await;
    test.store
        .record_agreement_link(&agreement(500, "vm-1", "acme"))
        .await
        .unwrap();
    test.store
        .record_addition_link(&addition(5001, 500, "vm-1", "16"))
        .await
        .unwrap();
    let first = test
        .store
        .links_for_service(&service_id("vm-1"))
        .await
        .unwrap();

    test.store
        .record_addition_link(&addition(5001, 500, "vm-1", "32"))
        .await
        .unwrap();
    let second = test
        .store
        .links_for_service(&service_id("vm-1"))
        .await
        .unwrap();

    assert_eq!(second.additions.len(), 1);
    assert_eq!(second.additions[0].link.quantity, decimal("32"));
    assert_eq!(
        second.additions[0].created_at,
        first.additions[0].created_at
    );
}

#[tokio::test]
async fn a_second_active_addition_for_the_same_meter_is_refused() {
    let test = store_with_services().await;
    test.store
        .record_agreement_link(&agreement(500, "vm-1", "acme"))
        .await
        .unwrap();
    test.store
        .record_addition_link(&addition(5001, 500, "vm-1", "16"))
        .await
        .unwrap();

    let error = test
        .store
        .record_addition_link(&addition(5002, 500, "vm-1", "32"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, StoreError::InvalidInput { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("already has an active addition"),
        "{error}"
    );
}

#[tokio::test]
async fn cancel_and_replace_keeps_the_cancelled_addition_beside_the_new_one() {
    let test = store_with_services().await;
    test.store
        .record_agreement_link(&agreement(500, "vm-1", "acme"))
        .await
        .unwrap();
    test.store
        .record_addition_link(&addition(5001, 500, "vm-1", "16"))
        .await
        .unwrap();

    let mut cancelled = addition(5001, 500, "vm-1", "16");
    cancelled.state = AdditionState::Cancelled { on: day(9) };
    test.store.record_addition_link(&cancelled).await.unwrap();
    let mut replacement = addition(5002, 500, "vm-1", "32");
    replacement.effective_date = day(10);
    test.store.record_addition_link(&replacement).await.unwrap();
    let links = test
        .store
        .links_for_service(&service_id("vm-1"))
        .await
        .unwrap();

    let additions: Vec<_> = links
        .additions
        .into_iter()
        .map(|recorded| recorded.link)
        .collect();
    assert_eq!(additions, [cancelled, replacement]);
}

#[tokio::test]
async fn an_addition_whose_agreement_was_never_recorded_is_refused() {
    let test = store_with_services().await;

    let error = test
        .store
        .record_addition_link(&addition(5001, 777, "vm-1", "16"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, StoreError::InvalidInput { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("777"), "{error}");
}

#[tokio::test]
async fn a_service_has_one_active_agreement_but_keeps_its_ended_ones() {
    let test = store_with_services().await;
    test.store
        .record_agreement_link(&agreement(500, "vm-1", "acme"))
        .await
        .unwrap();

    let second_active = test
        .store
        .record_agreement_link(&agreement(501, "vm-1", "acme"))
        .await;
    let mut ended = agreement(500, "vm-1", "acme");
    ended.ended_on = Some(day(4));
    test.store.record_agreement_link(&ended).await.unwrap();
    test.store
        .record_agreement_link(&agreement(501, "vm-1", "acme"))
        .await
        .unwrap();
    let links = test
        .store
        .links_for_service(&service_id("vm-1"))
        .await
        .unwrap();

    assert!(
        matches!(second_active, Err(StoreError::InvalidInput { .. })),
        "{second_active:?}"
    );
    let agreements: Vec<_> = links
        .agreements
        .into_iter()
        .map(|recorded| recorded.link)
        .collect();
    assert_eq!(agreements, [ended, agreement(501, "vm-1", "acme")]);
}
