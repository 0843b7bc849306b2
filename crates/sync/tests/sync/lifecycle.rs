//! A customer's services over time: first sync, no-change sync, resizes, removals, holds,
//! incomplete inventory, names and dates.

use hyalto_connectwise::models::{BillCustomer, CwDate, PatchOperation};
use hyalto_store::{
    AuditFilter, AuditStatus, MappingOptions, QuantityChangeMode, RunOutcome, Store as _,
};
use hyalto_sync::{CustomerStatus, SyncConfig, SyncError, SyncOptions};

use crate::helpers::*;

/// O'Brien has two VMs, Müller an edge gateway; 東京 and Smith are known but unmapped.
async fn two_customers() -> World {
    let world = world().await;
    world.map_products().await;
    world
        .import(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                vm("vm-b", OBRIEN.0, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;
    world.map(MULLER, MappingOptions::default()).await;
    world
}

#[tokio::test]
async fn the_first_sync_creates_children_and_additions_as_specified() {
    let world = two_customers().await;

    let report = world.sync(at(3, 12)).await;

    assert_eq!(report.created_agreements, 3);
    assert_eq!(report.created_additions, 7);
    assert!(
        report.failed_customers.is_empty(),
        "{:?}",
        report.failed_customers
    );

    let child = world.child_named(OBRIEN.2, "vm-a.example").await;
    assert_eq!(child.name.as_deref(), Some("Virtual machine: vm-a.example"));
    assert_eq!(child.company.as_ref().unwrap().id, Some(OBRIEN.1));
    assert_eq!(child.contact.as_ref().unwrap().id, Some(1));
    assert_eq!(child.start_date, CwDate::from_ymd(2026, 12, 1));
    assert_eq!(child.no_ending_date_flag, Some(true));
    assert!(child.internal_notes.unwrap().contains("hyalto-key: hy1-"));

    let additions = world.additions(child.id).await;
    assert_eq!(additions.len(), 3);
    let vcpu = additions
        .iter()
        .find(|a| a.product.as_ref().unwrap().id == Some(VCPU))
        .unwrap();
    assert_eq!(vcpu.quantity, Some(decimal("4")));
    assert_eq!(vcpu.bill_customer, Some(BillCustomer::Billable));
    assert_eq!(vcpu.effective_date, CwDate::from_ymd(2026, 12, 1));
    assert_eq!(
        vcpu.invoice_description.as_deref(),
        Some("vCPU – vm-a.example")
    );
    assert!(vcpu.serial_number.as_deref().unwrap().starts_with("hy1-"));

    // The demo's own children of O'Brien's master are left alone.
    assert_eq!(world.children(OBRIEN.2).await.len(), 4);
}

#[tokio::test]
async fn a_second_sync_with_nothing_changed_makes_no_writes() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    world.take_stats().await;

    let report = world.sync(at(3, 13)).await;
    let stats = world.take_stats().await;

    assert_eq!(writes(&stats), 0, "{stats}");
    assert_eq!(report.plan.write_count(), 0);
    assert_eq!(
        report.created_additions + report.updated + report.cancelled,
        0
    );
}

#[tokio::test]
async fn a_resize_updates_the_quantity_in_place() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    let child = world.child_named(OBRIEN.2, "vm-a.example").await;
    let before = world.additions(child.id).await;

    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 8, 16, 100),
                vm("vm-b", OBRIEN.0, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    world.take_stats().await;
    let report = world.sync(at(4, 12)).await;
    let stats = world.take_stats().await;

    assert_eq!(report.updated, 1);
    assert_eq!(method_count(&stats, "PATCH"), 1);
    assert_eq!(method_count(&stats, "POST"), 0);
    let after = world.additions(child.id).await;
    assert_eq!(after.len(), before.len());
    let vcpu = after
        .iter()
        .find(|a| a.product.as_ref().unwrap().id == Some(VCPU))
        .unwrap();
    assert_eq!(vcpu.quantity, Some(decimal("8")));
    assert_eq!(vcpu.effective_date, CwDate::from_ymd(2026, 12, 1));
}

#[tokio::test]
async fn cancel_and_replace_ends_the_old_line_yesterday_and_starts_a_new_one_today() {
    let world = two_customers().await;
    let options = MappingOptions {
        quantity_change: QuantityChangeMode::CancelAndReplace,
        ..MappingOptions::default()
    };
    world.map(OBRIEN, options).await;
    world.sync(at(3, 12)).await;

    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 8, 16, 100),
                vm("vm-b", OBRIEN.0, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    let report = world.sync(at(4, 12)).await;

    assert_eq!(report.cancelled, 1);
    assert_eq!(report.created_additions, 1);
    let child = world.child_named(OBRIEN.2, "vm-a.example").await;
    let lines: Vec<_> = world
        .additions(child.id)
        .await
        .into_iter()
        .filter(|a| a.product.as_ref().unwrap().id == Some(VCPU))
        .collect();
    assert_eq!(lines.len(), 2);
    let old = lines.iter().find(|a| a.cancelled_date.is_some()).unwrap();
    let new = lines.iter().find(|a| a.cancelled_date.is_none()).unwrap();
    assert_eq!(old.quantity, Some(decimal("4")));
    assert_eq!(old.cancelled_date, CwDate::from_ymd(2026, 12, 3));
    assert_eq!(new.quantity, Some(decimal("8")));
    assert_eq!(new.effective_date, CwDate::from_ymd(2026, 12, 4));
    assert_ne!(old.serial_number, new.serial_number);

    // And the next sync is quiet.
    world.take_stats().await;
    world.sync(at(4, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_deleted_service_is_cancelled_and_its_child_ended_never_deleted() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    let child = world.child_named(OBRIEN.2, "vm-b.example").await;

    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    world.take_stats().await;
    let report = world.sync(at(5, 12)).await;
    let stats = world.take_stats().await;

    assert_eq!(report.cancelled, 3);
    assert_eq!(report.ended, 1);
    assert_eq!(method_count(&stats, "DELETE"), 0);
    let additions = world.additions(child.id).await;
    assert_eq!(additions.len(), 3, "nothing was deleted");
    for addition in &additions {
        // The day the service was found gone is the last day billed.
        assert_eq!(addition.cancelled_date, CwDate::from_ymd(2026, 12, 4));
    }
    let ended = world.client.agreement(child.id).await.unwrap();
    assert_eq!(ended.end_date, CwDate::from_ymd(2026, 12, 4));
    assert_eq!(ended.no_ending_date_flag, Some(false));

    world.sync(at(5, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn an_incomplete_snapshot_skips_the_customer_and_cancels_nothing() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;

    let mut partial = snapshot(
        at(4, 10),
        demo_customers(),
        vec![vm("vm-a", OBRIEN.0, 8, 16, 100)],
    );
    partial.completeness = hyalto_domain::Completeness::Incomplete {
        reasons: vec!["host esx-2 did not answer".to_owned()],
    };
    world.import(&partial).await;
    world.take_stats().await;
    let report = world.sync(at(4, 12)).await;

    assert_eq!(writes(&world.take_stats().await), 0);
    let skipped: Vec<_> = report
        .skipped_customers
        .iter()
        .map(|(c, _)| c.as_str())
        .collect();
    assert!(skipped.contains(&OBRIEN.0));
    assert!(skipped.contains(&MULLER.0));
    assert!(report.skipped_customers[0].1.contains("esx-2"));
}

#[tokio::test]
async fn a_mass_removal_is_held_until_confirmed() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;

    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![edge("edge-1", MULLER.0, 3)],
        ))
        .await;
    world.take_stats().await;
    let held = world.sync(at(4, 12)).await;

    assert_eq!(writes(&world.take_stats().await), 0);
    let obrien = held
        .plan
        .customers
        .iter()
        .find(|plan| plan.customer.as_str() == OBRIEN.0)
        .unwrap();
    assert_eq!(
        obrien.status,
        CustomerStatus::RemovalsHeld {
            vanished: 2,
            total: 2
        }
    );

    let mut confirm = SyncOptions::at(at(4, 13));
    confirm.confirm_removals = vec![hyalto_domain::CustomerId::new(OBRIEN.0).unwrap()];
    let confirmed = world.sync_with(confirm).await;

    assert_eq!(confirmed.cancelled, 6);
    assert_eq!(confirmed.ended, 2);
}

#[tokio::test]
async fn company_names_with_quotes_ampersands_and_non_ascii_sync_cleanly() {
    let config = SyncConfig {
        agreement_name_template: "{customer} – {kind}: {service}".to_owned(),
        ..SyncConfig::default()
    };
    let world = world_with(config).await;
    world.map_products().await;
    world
        .import(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![
                vm("vm-t", TOKYO.0, 2, 4, 20),
                vm("vm-s", SMITH.0, 1, 2, 10),
                vm("vm-o", OBRIEN.0, 1, 2, 10),
            ],
        ))
        .await;
    world.map(TOKYO, MappingOptions::default()).await;
    world.map(SMITH, MappingOptions::default()).await;
    world.map(OBRIEN, MappingOptions::default()).await;

    let report = world.sync(at(3, 12)).await;

    assert!(
        report.failed_customers.is_empty(),
        "{:?}",
        report.failed_customers
    );
    assert_eq!(report.created_agreements, 3);
    let tokyo = world.child_named(TOKYO.2, "vm-t").await;
    assert_eq!(
        tokyo.name.as_deref(),
        Some("東京 Cloud KK – Virtual machine: vm-t.example")
    );
    let smith = world.child_named(SMITH.2, "vm-s").await;
    assert!(
        smith
            .name
            .unwrap()
            .starts_with("Smith & Jones \"The Builders\"")
    );
    world
        .child_named(OBRIEN.2, "O'Brien & Sons – Virtual machine: vm-o")
        .await;

    world.take_stats().await;
    world.sync(at(3, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

/// Syncs one VM first seen at `seen` (UTC) with billing zone `tz`; returns its child's start
/// date and its first addition's effective date.
async fn dates_in(tz: chrono_tz::Tz, seen: chrono::DateTime<chrono::Utc>) -> (CwDate, CwDate) {
    let config = SyncConfig {
        billing_tz: tz,
        ..SyncConfig::default()
    };
    let world = world_with(config).await;
    world.map_products().await;
    world
        .import(&snapshot(
            seen,
            demo_customers(),
            vec![vm("vm-z", OBRIEN.0, 1, 2, 10)],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;

    world.sync(at(3, 12)).await;

    let child = world.child_named(OBRIEN.2, "vm-z").await;
    let addition = world.additions(child.id).await.remove(0);
    (child.start_date.unwrap(), addition.effective_date.unwrap())
}

#[tokio::test]
async fn dates_are_days_in_the_billing_time_zone_far_east() {
    // 11:00 UTC on 1 December is already 01:00 on 2 December in Kiritimati (UTC+14).
    let (start, effective) = dates_in(chrono_tz::Pacific::Kiritimati, at(1, 11)).await;

    assert_eq!(start, CwDate::from_ymd(2026, 12, 2).unwrap());
    assert_eq!(effective, CwDate::from_ymd(2026, 12, 2).unwrap());
}

#[tokio::test]
async fn dates_are_days_in_the_billing_time_zone_far_west() {
    // 10:00 UTC on 1 December is still 23:00 on 30 November in Pago Pago (UTC-11).
    let (start, effective) = dates_in(chrono_tz::Pacific::Pago_Pago, at(1, 10)).await;

    assert_eq!(start, CwDate::from_ymd(2026, 11, 30).unwrap());
    assert_eq!(effective, CwDate::from_ymd(2026, 11, 30).unwrap());
}

#[tokio::test]
async fn a_dry_run_plans_everything_and_writes_nothing() {
    let world = two_customers().await;
    let mut dry = SyncOptions::at(at(3, 12));
    dry.dry_run = true;

    let report = world.sync_with(dry).await;
    let stats = world.take_stats().await;

    assert_eq!(writes(&stats), 0);
    assert_eq!(report.plan.write_count(), 10);
    assert_eq!(report.created_agreements, 0);
    let run = world.store.get_run(report.run_id).await.unwrap().unwrap();
    assert!(run.dry_run);
    assert!(run.finished_at.is_some());
}

#[tokio::test]
async fn every_write_is_audited_and_the_run_recorded() {
    let world = two_customers().await;

    let report = world.sync(at(3, 12)).await;

    let entries = world
        .store
        .audit_entries(&AuditFilter {
            run: Some(report.run_id),
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 10);
    assert!(
        entries
            .iter()
            .all(|entry| entry.entry.status == AuditStatus::Succeeded
                && entry.entry.target_id.is_some()
                && !entry.entry.reason.is_empty())
    );
    let run = world.store.get_run(report.run_id).await.unwrap().unwrap();
    assert_eq!(run.outcome, Some(RunOutcome::Succeeded));
    assert_eq!(run.counts.additions_created, 7);
    assert_eq!(run.counts.agreements_created, 3);
}

#[tokio::test]
async fn a_sync_while_another_holds_the_lease_is_refused() {
    let world = two_customers().await;
    world
        .store
        .try_acquire_sync_lease(
            "other-sync",
            chrono::Utc::now(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();

    let result = world.engine.run(&SyncOptions::at(at(3, 12)), &|_| {}).await;

    assert!(matches!(result, Err(SyncError::Busy { holder }) if holder == "other-sync"));
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_dry_run_needs_no_lease_and_leaves_the_holder_alone() {
    let world = two_customers().await;
    world
        .store
        .try_acquire_sync_lease(
            "other-sync",
            chrono::Utc::now(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let options = SyncOptions {
        dry_run: true,
        ..SyncOptions::at(at(3, 12))
    };

    let report = world.engine.run(&options, &|_| {}).await.unwrap();

    assert!(
        report.plan.write_count() > 0,
        "the preview still plans the first sync"
    );
    assert_eq!(writes(&world.take_stats().await), 0);
    let lease = world.store.current_sync_lease().await.unwrap().unwrap();
    assert_eq!(lease.holder, "other-sync");
}

#[tokio::test]
async fn a_service_moved_to_another_customer_is_billed_there_and_ended_here() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    let old_child = world.child_named(OBRIEN.2, "vm-b").await;

    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                vm("vm-b", MULLER.0, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    // The syncs run two days after the snapshot that showed the move: the dates follow the
    // snapshot, not the day of the sync. The old customer's child ends in the first run; the
    // new one's link may have to wait for it.
    world.sync(at(6, 12)).await;
    world.sync(at(6, 13)).await;

    // O'Brien is billed up to the day before the move was seen, Müller from that day on.
    let ended = world.client.agreement(old_child.id).await.unwrap();
    assert_eq!(ended.end_date, CwDate::from_ymd(2026, 12, 3));
    let old_lines = world.additions(old_child.id).await;
    assert_eq!(old_lines.len(), 3);
    assert!(
        old_lines
            .iter()
            .all(|line| line.cancelled_date == CwDate::from_ymd(2026, 12, 3)),
        "{old_lines:?}"
    );
    let new_child = world.child_named(MULLER.2, "vm-b").await;
    assert_eq!(new_child.start_date, CwDate::from_ymd(2026, 12, 4));
    let new_lines = world.additions(new_child.id).await;
    assert_eq!(new_lines.len(), 3);
    assert!(
        new_lines
            .iter()
            .all(|line| line.effective_date == CwDate::from_ymd(2026, 12, 4)
                && line.cancelled_date.is_none()),
        "{new_lines:?}"
    );
    world.take_stats().await;
    world.sync(at(6, 14)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_customer_mapped_to_another_master_keeps_its_old_children_in_view_until_they_end() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    let old_a = world.child_named(OBRIEN.2, "vm-a").await;
    let old_b = world.child_named(OBRIEN.2, "vm-b").await;
    let new_master = (OBRIEN.0, MULLER.1, MULLER.2);
    world.map(new_master, MappingOptions::default()).await;
    world.take_stats().await;

    // While the old children run, they are reported as under the previous master, never as
    // deleted by hand, and no second child is made under the new master.
    let report = world.sync(at(4, 12)).await;

    assert_eq!(writes(&world.take_stats().await), 0);
    let obrien = report
        .plan
        .customers
        .iter()
        .find(|customer| customer.customer.as_str() == OBRIEN.0)
        .unwrap();
    let texts: Vec<String> = obrien.findings.iter().map(ToString::to_string).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.iter().all(|text| text.contains(&format!(
        "is under the previous master agreement {}; end it there or map back",
        OBRIEN.2
    ))));
    assert!(texts.iter().all(|text| !text.contains("by hand")));

    // Someone ends vm-a's old child on the 4th; vm-b is gone from the snapshot of the 5th.
    world
        .client
        .patch_agreement(
            old_a.id,
            &[
                PatchOperation::replace("endDate", CwDate::from_ymd(2026, 12, 4).unwrap()),
                PatchOperation::replace("noEndingDateFlag", false),
            ],
        )
        .await
        .unwrap();
    world
        .import(&snapshot(
            at(5, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    let report = world.sync(at(5, 12)).await;
    assert!(report.failed_customers.is_empty(), "{report:?}");

    // vm-b's lines stop on its old child, which ends, on the day it was found gone.
    let ended_b = world.client.agreement(old_b.id).await.unwrap();
    assert_eq!(ended_b.end_date, CwDate::from_ymd(2026, 12, 5));
    let lines_b = world.additions(old_b.id).await;
    assert!(
        lines_b
            .iter()
            .all(|line| line.cancelled_date == CwDate::from_ymd(2026, 12, 5)),
        "{lines_b:?}"
    );

    // vm-a's old lines stop on its end date, and it bills under the new master from the 5th.
    let lines_a = world.additions(old_a.id).await;
    assert!(
        lines_a
            .iter()
            .all(|line| line.cancelled_date == CwDate::from_ymd(2026, 12, 4)),
        "{lines_a:?}"
    );
    let new_a = world.child_named(MULLER.2, "vm-a").await;
    assert_eq!(new_a.start_date, CwDate::from_ymd(2026, 12, 5));
    let new_lines = world.additions(new_a.id).await;
    assert_eq!(new_lines.len(), 3);
    assert!(
        new_lines
            .iter()
            .all(|line| line.effective_date == CwDate::from_ymd(2026, 12, 5))
    );

    world.take_stats().await;
    world.sync(at(5, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_held_customer_gets_its_other_changes_is_reported_as_held_and_the_run_succeeds() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;

    // Both of O'Brien's VMs vanish (2 of 3 services: held) while a new one appears.
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![vm("vm-c", OBRIEN.0, 1, 2, 10), edge("edge-1", MULLER.0, 3)],
        ))
        .await;
    let mut options = SyncOptions::at(at(4, 12));
    options.customer = Some(hyalto_domain::CustomerId::new(OBRIEN.0).unwrap());
    let held = world.sync_with(options).await;

    assert_eq!(held.created_agreements, 1);
    assert_eq!(held.cancelled, 0);
    assert_eq!(held.ended, 0);
    assert!(held.skipped_customers.is_empty(), "{held:?}");
    assert!(held.failed_customers.is_empty(), "{held:?}");
    assert_eq!(held.held_customers.len(), 1);
    assert_eq!(held.held_customers[0].0.as_str(), OBRIEN.0);
    assert!(
        held.held_customers[0]
            .1
            .starts_with("removals held; other changes applied"),
        "{:?}",
        held.held_customers
    );
    let run = world.store.get_run(held.run_id).await.unwrap().unwrap();
    assert_eq!(run.outcome, Some(RunOutcome::Succeeded));
}

/// O'Brien's vm-b, synced on the 3rd, shows up under Müller in the snapshot of the 4th.
async fn moved_after_a_sync() -> (World, i64) {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    let old_child = world.child_named(OBRIEN.2, "vm-b").await.id;
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                vm("vm-b", MULLER.0, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    (world, old_child)
}

#[tokio::test]
async fn a_move_completes_in_one_full_sync() {
    let (world, old_child) = moved_after_a_sync().await;

    let report = world.sync(at(6, 12)).await;

    assert!(report.failed_customers.is_empty(), "{report:?}");
    let ended = world.client.agreement(old_child).await.unwrap();
    assert_eq!(ended.end_date, CwDate::from_ymd(2026, 12, 3));
    let new_child = world.child_named(MULLER.2, "vm-b").await;
    assert_eq!(new_child.start_date, CwDate::from_ymd(2026, 12, 4));
    assert_eq!(world.additions(new_child.id).await.len(), 3);
    world.take_stats().await;
    world.sync(at(6, 14)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn the_new_customer_creates_nothing_while_the_old_one_still_bills_the_service() {
    let (world, old_child) = moved_after_a_sync().await;
    let muller = hyalto_domain::CustomerId::new(MULLER.0).unwrap();
    world.take_stats().await;

    let waiting = world
        .sync_with(SyncOptions {
            customer: Some(muller.clone()),
            ..SyncOptions::at(at(6, 12))
        })
        .await;

    assert_eq!(method_count(&world.take_stats().await, "POST"), 0);
    assert!(waiting.failed_customers.is_empty(), "{waiting:?}");
    let finding = waiting.plan.customers[0]
        .findings
        .iter()
        .find(|finding| matches!(finding, hyalto_sync::Finding::BilledElsewhere { .. }))
        .map(ToString::to_string)
        .expect("the wait is reported");
    assert!(
        finding.contains("obrien") && finding.contains(&old_child.to_string()),
        "{finding}"
    );

    world
        .sync_with(SyncOptions {
            customer: Some(hyalto_domain::CustomerId::new(OBRIEN.0).unwrap()),
            ..SyncOptions::at(at(6, 13))
        })
        .await;
    let done = world
        .sync_with(SyncOptions {
            customer: Some(muller),
            ..SyncOptions::at(at(6, 14))
        })
        .await;
    assert!(done.failed_customers.is_empty(), "{done:?}");
    assert_eq!(done.created_agreements, 1);
    let new_child = world.child_named(MULLER.2, "vm-b").await;
    assert_eq!(new_child.start_date, CwDate::from_ymd(2026, 12, 4));
}

#[tokio::test]
async fn confirmations_and_take_overs_that_cannot_apply_are_refused_before_anything_runs() {
    let world = two_customers().await;
    let id = |text: &str| hyalto_domain::CustomerId::new(text).unwrap();
    let cases = [
        SyncOptions {
            confirm_changes: vec![id("cust33")],
            ..SyncOptions::at(at(3, 12))
        },
        SyncOptions {
            confirm_removals: vec![id("nosuch")],
            ..SyncOptions::at(at(3, 12))
        },
        SyncOptions {
            customer: Some(id(OBRIEN.0)),
            confirm_changes: vec![id(MULLER.0)],
            ..SyncOptions::at(at(3, 12))
        },
        SyncOptions {
            take_over: vec!["bogus".to_owned()],
            ..SyncOptions::at(at(3, 12))
        },
    ];

    for options in cases {
        let error = world.engine.run(&options, &|_| {}).await.unwrap_err();
        assert!(
            matches!(error, SyncError::InvalidOption { .. }),
            "{options:?}: {error}"
        );
    }
    assert!(world.store.list_runs(10).await.unwrap().is_empty());
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn an_absurd_first_quantity_is_held_and_storage_vanishing_is_held_too() {
    let world = world().await;
    world.map_products().await;
    world
        .import(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 500),
                vm("vm-huge", OBRIEN.0, 5000, 16, 100),
            ],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;

    let first = world.sync(at(3, 12)).await;

    let huge = world.child_named(OBRIEN.2, "vm-huge").await.id;
    let lines = world.additions(huge).await;
    assert!(
        lines
            .iter()
            .all(|line| line.product.as_ref().unwrap().id != Some(VCPU)),
        "{lines:?}"
    );
    assert!(
        first
            .held_customers
            .iter()
            .any(|(customer, why)| customer.as_str() == OBRIEN.0
                && why.contains("--confirm-changes obrien")),
        "{first:?}"
    );

    let mut no_disk = vm("vm-a", OBRIEN.0, 4, 16, 0);
    no_disk.resources.retain(|r| r.quantity > decimal("0"));
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![no_disk, vm("vm-huge", OBRIEN.0, 5000, 16, 100)],
        ))
        .await;
    let second = world.sync(at(4, 12)).await;

    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    assert!(
        active_line(&world.additions(child).await, STORAGE_STANDARD)
            .cancelled_date
            .is_none()
    );
    let held: Vec<String> = second.plan.customers[0]
        .findings
        .iter()
        .map(ToString::to_string)
        .filter(|text| text.contains("held"))
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
}

#[tokio::test]
async fn a_name_of_emoji_is_cut_to_100_utf16_units_and_accepted() {
    let world = world().await;
    world.map_products().await;
    let mut rocket = vm("vm-emoji", OBRIEN.0, 2, 4, 10);
    rocket.name = "🚀".repeat(120);
    world
        .import(&snapshot(at(1, 10), demo_customers(), vec![rocket]))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;

    let report = world.sync(at(3, 12)).await;

    assert!(report.failed_customers.is_empty(), "{report:?}");
    let child = world.child_named(OBRIEN.2, "🚀").await;
    let name = child.name.unwrap();
    assert!(name.encode_utf16().count() <= 100, "{name}");
    assert!(name.ends_with('🚀'), "no half of a pair: {name}");
    assert_eq!(world.additions(child.id).await.len(), 3);
}

#[tokio::test]
async fn a_dry_run_with_holds_says_nothing_was_applied_and_names_the_customer() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    // Both of O'Brien's VMs vanish (held) and Müller's gateway jumps absurdly (held).
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![edge("edge-1", MULLER.0, 3000)],
        ))
        .await;

    let preview = world
        .sync_with(SyncOptions {
            dry_run: true,
            ..SyncOptions::at(at(4, 12))
        })
        .await;

    let held: Vec<&String> = preview
        .held_customers
        .iter()
        .map(|(_, text)| text)
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held.iter()
            .all(|text| !text.contains("applied") && text.contains("other changes planned")),
        "{held:?}"
    );
    assert!(
        held.iter()
            .any(|text| text.contains("--confirm-removals obrien"))
    );
    assert!(
        held.iter()
            .any(|text| text.contains("--confirm-changes muller"))
    );
    let muller = preview
        .plan
        .customers
        .iter()
        .find(|plan| plan.customer.as_str() == MULLER.0)
        .unwrap();
    assert_eq!(muller.status, CustomerStatus::ChangesHeld { changes: 1 });
    let findings: usize = preview
        .plan
        .customers
        .iter()
        .map(|p| p.findings.len())
        .sum();
    assert_eq!(preview.reported, findings as u64);
}

/// The children of `service` under both O'Brien's and Müller's masters, each with its first
/// and last day billed (the last day is `None` while it runs).
async fn lives_of(world: &World, service: &str) -> Vec<(i64, CwDate, Option<CwDate>)> {
    let mut lives = Vec::new();
    for master in [OBRIEN.2, MULLER.2] {
        for child in world.children(master).await {
            if child.name.as_deref().unwrap_or_default().contains(service) {
                lives.push((child.id, child.start_date.unwrap(), child.end_date));
            }
        }
    }
    lives.sort_by_key(|(_, start, _)| *start);
    lives
}

#[tokio::test]
async fn a_move_back_on_the_day_of_the_move_never_bills_a_day_twice() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    let place = |owner: &str, hour: u32| {
        snapshot(
            at(4, hour),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                vm("vm-b", owner, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        )
    };

    // vm-b goes to Müller and comes back to O'Brien on the 4th, with a sync after each.
    world.import(&place(MULLER.0, 10)).await;
    world.sync(at(4, 10)).await;
    world.import(&place(OBRIEN.0, 11)).await;
    let report = world.sync(at(4, 11)).await;

    assert!(report.failed_customers.is_empty(), "{report:?}");
    let lives = lives_of(&world, "vm-b").await;
    assert_eq!(lives.len(), 3, "{lives:?}");
    for pair in lives.windows(2) {
        let (_, _, end) = pair[0];
        let (_, next_start, _) = pair[1];
        let end = end.expect("only the last child runs");
        assert!(end < next_start, "a day is billed twice: {lives:?}");
    }

    // Every line of every child bills only inside its child's life, and the new child's
    // lines start with it.
    for (child, start, end) in &lives {
        for line in world.additions(*child).await {
            assert!(line.effective_date.unwrap() >= *start, "{line:?}");
            if let (Some(cancelled), Some(end)) = (line.cancelled_date, end) {
                assert!(cancelled <= *end, "{line:?}");
            }
        }
    }
    let (newest, start, end) = lives[2];
    assert_eq!(end, None);
    let lines = world.additions(newest).await;
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|line| line.effective_date == Some(start)),
        "{lines:?}"
    );
    world.take_stats().await;
    world.sync(at(4, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn the_first_lines_after_a_move_back_say_the_service_moved() {
    let world = two_customers().await;
    world.sync(at(3, 12)).await;
    let place = |owner: &str, day: u32| {
        snapshot(
            at(day, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                vm("vm-b", owner, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        )
    };
    world.import(&place(MULLER.0, 4)).await;
    world.sync(at(4, 12)).await;
    world.import(&place(OBRIEN.0, 5)).await;

    let report = world.sync(at(5, 12)).await;

    let reasons: Vec<String> = report
        .plan
        .customers
        .iter()
        .flat_map(|customer| &customer.operations)
        .filter(|operation| {
            operation.name() == "create_addition" && operation.service().as_str() == "vm-b"
        })
        .map(|operation| operation.reason().to_owned())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for reason in &reasons {
        assert!(
            reason.contains("moved to customer obrien on 2026-12-05"),
            "{reason}"
        );
        assert!(!reason.contains("never created"), "{reason}");
    }
    let lives = lives_of(&world, "vm-b").await;
    assert_eq!(lives.len(), 3, "{lives:?}");
    assert_eq!(Some(lives[2].1), CwDate::from_ymd(2026, 12, 5));
}
