//! Drift, hand-made changes and additions hyalto does not own.

use hyalto_connectwise::models::{CatalogItemReference, CwDate, NewAddition, PatchOperation};
use hyalto_store::{DriftPolicy, MappingOptions};
use hyalto_sync::{ChangeCause, Finding, Operation, SyncOptions};

use crate::helpers::*;

/// O'Brien with one VM, synced on 3 December; returns the world and the VM's child id.
async fn one_vm(options: MappingOptions) -> (World, i64) {
    let world = world().await;
    world.map_products().await;
    world
        .import(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 4, 16, 100)],
        ))
        .await;
    world.map(OBRIEN, options).await;
    world.sync(at(3, 12)).await;
    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    (world, child)
}

/// Sets the quantity of the vCPU line by hand, as someone in ConnectWise would.
async fn edit_vcpu_by_hand(world: &World, child: i64, quantity: &str) {
    let additions = world.additions(child).await;
    let vcpu = active_line(&additions, VCPU);
    world
        .client
        .patch_addition(
            child,
            vcpu.id,
            &[PatchOperation::replace("quantity", decimal(quantity))],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn drift_is_overwritten_by_default() {
    let (world, child) = one_vm(MappingOptions::default()).await;
    edit_vcpu_by_hand(&world, child, "99").await;

    let report = world.sync(at(3, 13)).await;

    let customer = &report.plan.customers[0];
    assert!(customer.operations.iter().any(|op| matches!(
        op,
        Operation::UpdateQuantity {
            cause: ChangeCause::Drift,
            ..
        }
    )));
    assert_eq!(report.updated, 1);
    let additions = world.additions(child).await;
    assert_eq!(active_line(&additions, VCPU).quantity, Some(decimal("4")));
}

#[tokio::test]
async fn drift_is_reported_and_left_under_the_report_policy() {
    let options = MappingOptions {
        drift: DriftPolicy::Report,
        ..MappingOptions::default()
    };
    let (world, child) = one_vm(options).await;
    edit_vcpu_by_hand(&world, child, "99").await;
    world.take_stats().await;

    let report = world.sync(at(3, 13)).await;

    assert_eq!(writes(&world.take_stats().await), 0);
    assert_eq!(report.reported, 1);
    assert!(
        report.plan.customers[0]
            .findings
            .iter()
            .any(|finding| matches!(
                finding,
                Finding::Drift { in_connectwise, last_written, .. }
                    if *in_connectwise == decimal("99") && *last_written == decimal("4")
            ))
    );
    let additions = world.additions(child).await;
    assert_eq!(active_line(&additions, VCPU).quantity, Some(decimal("99")));
}

#[tokio::test]
async fn a_hand_cancelled_addition_is_reported_and_recreated_only_when_asked() {
    let (world, child) = one_vm(MappingOptions::default()).await;
    let additions = world.additions(child).await;
    let vcpu = active_line(&additions, VCPU).id;
    world
        .client
        .patch_addition(
            child,
            vcpu,
            &[PatchOperation::replace(
                "cancelledDate",
                CwDate::from_ymd(2026, 12, 2).unwrap(),
            )],
        )
        .await
        .unwrap();
    world.take_stats().await;

    let reported = world.sync(at(3, 13)).await;

    assert_eq!(writes(&world.take_stats().await), 0);
    assert!(
        reported.plan.customers[0]
            .findings
            .iter()
            .any(|finding| matches!(
                finding,
                Finding::DeletedInConnectWise {
                    how: "cancelled",
                    recreated: false,
                    ..
                }
            ))
    );
    let json = serde_json::to_value(&reported.plan).unwrap();
    assert_eq!(
        json["customers"][0]["findings"][0]["finding"], "deleted_in_connectwise",
        "{json}"
    );

    let options = MappingOptions {
        recreate_deleted: true,
        ..MappingOptions::default()
    };
    world.map(OBRIEN, options).await;
    let recreated = world.sync(at(4, 12)).await;

    assert_eq!(recreated.created_additions, 1);
    let additions = world.additions(child).await;
    let line = active_line(&additions, VCPU);
    assert_eq!(line.quantity, Some(decimal("4")));
    assert_eq!(line.effective_date, CwDate::from_ymd(2026, 12, 4));
    world.take_stats().await;
    world.sync(at(4, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn an_unowned_addition_is_reported_never_duplicated_and_adopted_on_request() {
    // The VM has no storage at first; someone adds a storage line to its child by hand, and
    // then the VM gets a disk.
    let world = world().await;
    world.map_products().await;
    let mut diskless = vm("vm-a", OBRIEN.0, 4, 16, 100);
    diskless.resources.pop();
    world
        .import(&snapshot(at(1, 10), demo_customers(), vec![diskless]))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;
    world.sync(at(3, 12)).await;
    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    let mut foreign = NewAddition::new(CatalogItemReference::by_id(STORAGE_STANDARD));
    foreign.quantity = Some(decimal("80"));
    foreign.effective_date = CwDate::from_ymd(2026, 12, 1);
    let foreign = world.client.create_addition(child, &foreign).await.unwrap();
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 4, 16, 100)],
        ))
        .await;
    world.take_stats().await;

    let reported = world.sync(at(4, 12)).await;

    assert_eq!(writes(&world.take_stats().await), 0);
    assert!(reported.plan.customers[0].findings.iter().any(|finding| matches!(
        finding,
        Finding::UnownedAddition { addition_id, adopted: false, .. } if *addition_id == foreign.id
    )));

    let mut adopt = SyncOptions::at(at(4, 13));
    adopt.adopt_unowned = true;
    let adopted = world.sync_with(adopt).await;

    assert_eq!(adopted.adopted, 1);
    assert_eq!(adopted.updated, 1);
    assert_eq!(adopted.created_additions, 0);
    let additions = world.additions(child).await;
    let line = active_line(&additions, STORAGE_STANDARD);
    assert_eq!(line.id, foreign.id);
    assert_eq!(line.quantity, Some(decimal("100")));
    world.take_stats().await;
    world.sync(at(4, 14)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn an_unowned_addition_beside_hyaltos_own_line_is_reported_and_left_even_when_adopting() {
    let (world, child) = one_vm(MappingOptions::default()).await;
    let own = active_line(&world.additions(child).await, VCPU).id;
    let mut extra = NewAddition::new(CatalogItemReference::by_id(VCPU));
    extra.quantity = Some(decimal("2"));
    extra.effective_date = CwDate::from_ymd(2026, 12, 1);
    let extra = world.client.create_addition(child, &extra).await.unwrap();
    world.take_stats().await;

    let reported = world.sync(at(4, 12)).await;
    let mut adopt = SyncOptions::at(at(4, 13));
    adopt.adopt_unowned = true;
    let adopting = world.sync_with(adopt).await;

    // Both runs report the second vCPU line, write nothing and adopt nothing.
    assert_eq!(writes(&world.take_stats().await), 0);
    for report in [&reported, &adopting] {
        assert_eq!(report.adopted, 0);
        assert!(
            report.plan.customers[0]
                .findings
                .iter()
                .any(|finding| matches!(
                    finding,
                    Finding::UnownedAddition {
                        addition_id,
                        own_addition_id: Some(own_id),
                        adopted: false,
                        ..
                    } if *addition_id == extra.id && *own_id == own
                )),
            "{:?}",
            report.plan.customers[0].findings
        );
    }
    let lines = world.additions(child).await;
    let untouched = lines.iter().find(|line| line.id == extra.id).unwrap();
    assert_eq!(untouched.quantity, Some(decimal("2")));
    assert_eq!(untouched.cancelled_date, None);
}
