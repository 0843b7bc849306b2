//! Lost answers, rate limits, server errors and missing permissions.

use hyalto_connectwise::models::{Addition, CwDate, PatchOperation};
use hyalto_domain::CustomerId;
use hyalto_store::{
    AuditFilter, AuditOperation, AuditStatus, MappingOptions, NewAuditEntry, QuantityChangeMode,
    Store as _, WriteIntent,
};
use hyalto_sync::{Finding, RunReport, SyncConfig};
use serde_json::json;

use crate::helpers::*;

/// O'Brien with two VMs and Müller with an edge gateway, mapped and imported.
async fn seeded(world: World) -> World {
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

/// Asserts O'Brien and Müller have exactly one child per service and one active line per
/// product, with the right quantities.
async fn assert_billed_exactly_once(world: &World) {
    let obrien: Vec<_> = world
        .children(OBRIEN.2)
        .await
        .into_iter()
        .filter(|child| {
            child
                .internal_notes
                .as_deref()
                .is_some_and(|n| n.contains("hy1-"))
        })
        .collect();
    assert_eq!(obrien.len(), 2, "one child per VM");
    let vm_a = world.child_named(OBRIEN.2, "vm-a").await;
    let additions = world.additions(vm_a.id).await;
    assert_eq!(additions.len(), 3);
    assert_eq!(active_line(&additions, VCPU).quantity, Some(decimal("4")));
    assert_eq!(active_line(&additions, RAM).quantity, Some(decimal("16")));
    let vm_b = world.child_named(OBRIEN.2, "vm-b").await;
    assert_eq!(world.additions(vm_b.id).await.len(), 3);
    let edge = world.child_named(MULLER.2, "edge-1").await;
    let lines = world.additions(edge.id).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(active_line(&lines, PUBLIC_IP).quantity, Some(decimal("3")));
}

#[tokio::test]
async fn a_lost_answer_to_an_addition_post_never_duplicates_it() {
    let world = seeded(world().await).await;
    world
        .add_fault(json!({
            "method": "POST",
            "pathTemplate": "/finance/agreements/{id}/additions",
            "kind": "commit_then_drop",
            "count": 2
        }))
        .await;

    let first = world.sync(at(3, 12)).await;
    let rerun = world.sync(at(3, 13)).await;

    assert_eq!(
        first.created_additions, 7,
        "lost answers are found by key at once"
    );
    let entries = world
        .store
        .audit_entries(&AuditFilter {
            run: Some(first.run_id),
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let unknown = entries
        .iter()
        .filter(|e| e.entry.status == AuditStatus::Unknown)
        .count();
    let found = entries
        .iter()
        .filter(|e| e.entry.operation == AuditOperation::AdoptRecord)
        .count();
    assert_eq!((unknown, found), (2, 2));
    assert_eq!(rerun.created_additions, 0);
    assert_billed_exactly_once(&world).await;
    world.take_stats().await;
    world.sync(at(3, 14)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_lost_answer_to_a_child_post_never_duplicates_it() {
    let world = seeded(world().await).await;
    world
        .add_fault(json!({
            "method": "POST",
            "pathTemplate": "/finance/agreements",
            "kind": "commit_then_drop",
            "count": 2
        }))
        .await;

    world.sync(at(3, 12)).await;
    world.sync(at(3, 13)).await;

    assert_billed_exactly_once(&world).await;
}

#[tokio::test]
async fn a_lost_answer_found_by_nobody_is_adopted_by_the_next_sync() {
    let world = seeded(world().await).await;
    // The answer is lost and the look-up right after fails too (through every retry), so
    // this run cannot know.
    world
        .add_fault(json!({
            "method": "POST",
            "pathTemplate": "/finance/agreements/{id}/additions",
            "kind": "commit_then_drop",
            "count": 1
        }))
        .await;
    world
        .add_fault(json!({
            "method": "GET",
            "pathTemplate": "/finance/agreements/{id}/additions",
            "kind": "server_error",
            "status": 503,
            "count": 7
        }))
        .await;

    let first = world.sync(at(3, 12)).await;
    let second = world.sync(at(3, 13)).await;

    assert!(!first.failed_customers.is_empty());
    assert_eq!(second.adopted, 1);
    assert_billed_exactly_once(&world).await;
}

#[tokio::test]
async fn a_storm_of_rate_limits_and_server_errors_converges() {
    let world = seeded(world().await).await;
    world
        .set_faults(json!({
            "rateLimitShare": 0.1,
            "serverErrorShare": 0.25,
            "serverErrorStatuses": [502, 503, 504],
            "dropShare": 0.2
        }))
        .await;

    for hour in 12..18 {
        let report = world.sync(at(3, hour)).await;
        if report.failed_customers.is_empty() && report.plan.write_count() == 0 {
            break;
        }
    }
    world.set_faults(json!({})).await;
    world.sync(at(3, 20)).await;

    assert_billed_exactly_once(&world).await;
    world.take_stats().await;
    world.sync(at(3, 21)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_missing_permission_stops_every_write_and_names_the_right() {
    let world = seeded(
        world_denying(
            SyncConfig {
                concurrency: 1,
                ..SyncConfig::default()
            },
            vec![("POST", "/finance/agreements/{id}/additions")],
        )
        .await,
    )
    .await;

    let report = world.sync(at(3, 12)).await;
    let stats = world.take_stats().await;

    let stopped = report.writes_stopped.expect("writes were stopped");
    assert!(stopped.contains("/finance/agreements/"), "{stopped}");
    assert_eq!(report.created_additions, 0);
    // One child was created, its first addition refused, and nothing was tried after that.
    assert_eq!(method_count(&stats, "POST"), 2, "{stats}");
    let failed: Vec<_> = world
        .store
        .audit_entries(&AuditFilter {
            run: Some(report.run_id),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.entry.status == AuditStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].entry.request_id.is_some());
    assert!(
        failed[0]
            .entry
            .error_message
            .as_deref()
            .unwrap()
            .contains("403")
    );
}

#[tokio::test]
async fn lost_answers_to_patches_are_confirmed_by_reading_back() {
    let world = seeded(world().await).await;
    world.sync(at(3, 12)).await;
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 8, 16, 100),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;
    world
        .add_fault(json!({ "method": "PATCH", "kind": "commit_then_drop", "count": 10 }))
        .await;

    let report = world.sync(at(4, 12)).await;

    assert!(
        report.failed_customers.is_empty(),
        "{:?}",
        report.failed_customers
    );
    assert_eq!(report.updated, 1);
    assert_eq!(report.cancelled, 3);
    assert_eq!(report.ended, 1);
    world.take_stats().await;
    world.sync(at(4, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

/// O'Brien's vm-a synced on 3 December with cancel-and-replace, then resized from 4 to 8
/// vCPUs on 4 December. Returns the world and vm-a's child id.
async fn resized_with_cancel_and_replace() -> (World, i64) {
    let world = seeded(world().await).await;
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
    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    (world, child)
}

/// The vCPU lines of an agreement: (cancelled ones, active ones).
async fn vcpu_lines(world: &World, child: i64) -> (Vec<Addition>, Vec<Addition>) {
    world
        .additions(child)
        .await
        .into_iter()
        .filter(|a| a.product.as_ref().and_then(|p| p.id) == Some(VCPU))
        .partition(|a| a.cancelled_date.is_some())
}

fn reports_a_hand_edit(report: &RunReport) -> bool {
    report
        .plan
        .customers
        .iter()
        .flat_map(|customer| &customer.findings)
        .any(|finding| matches!(finding, Finding::DeletedInConnectWise { .. }))
}

#[tokio::test]
async fn an_interrupted_cancel_and_replace_is_finished_by_a_later_sync() {
    let (world, child) = resized_with_cancel_and_replace().await;
    // ConnectWise saves the cancellation but every answer is lost (the client resends a PATCH
    // up to six times), and reading the line back fails through every retry too, so the run
    // cannot know the cancellation happened.
    world
        .add_fault(json!({
            "method": "PATCH",
            "pathTemplate": "/finance/agreements/{id}/additions/{id}",
            "kind": "commit_then_drop",
            "count": 7
        }))
        .await;
    world
        .add_fault(json!({
            "method": "GET",
            "pathTemplate": "/finance/agreements/{id}/additions/{id}",
            "kind": "server_error",
            "status": 503,
            "count": 7
        }))
        .await;

    let interrupted = world.sync(at(4, 12)).await;
    let (cancelled, active) = vcpu_lines(&world, child).await;
    assert!(!interrupted.failed_customers.is_empty());
    assert_eq!(interrupted.created_additions, 0, "no replacement yet");
    assert_eq!((cancelled.len(), active.len()), (1, 0));

    // The rerun is a day later, when "yesterday" is no longer the date that run sent.
    let rerun = world.sync(at(5, 12)).await;

    assert!(!reports_a_hand_edit(&rerun), "{:?}", rerun.plan);
    assert!(
        rerun.failed_customers.is_empty(),
        "{:?}",
        rerun.failed_customers
    );
    assert_eq!(rerun.created_additions, 1);
    assert_eq!(
        rerun.cancelled, 0,
        "the cancellation is recorded, not sent again"
    );
    let (cancelled, active) = vcpu_lines(&world, child).await;
    assert_eq!((cancelled.len(), active.len()), (1, 1));
    assert_eq!(cancelled[0].quantity, Some(decimal("4")));
    assert_eq!(cancelled[0].cancelled_date, CwDate::from_ymd(2026, 12, 3));
    assert_eq!(active[0].quantity, Some(decimal("8")));
    assert_eq!(active[0].effective_date, CwDate::from_ymd(2026, 12, 4));
    world.take_stats().await;
    world.sync(at(5, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn an_interrupted_cancellation_is_found_however_many_audit_entries_follow_it() {
    let (world, child) = resized_with_cancel_and_replace().await;
    world
        .add_fault(json!({
            "method": "PATCH",
            "pathTemplate": "/finance/agreements/{id}/additions/{id}",
            "kind": "commit_then_drop",
            "count": 7
        }))
        .await;
    world
        .add_fault(json!({
            "method": "GET",
            "pathTemplate": "/finance/agreements/{id}/additions/{id}",
            "kind": "server_error",
            "status": 503,
            "count": 7
        }))
        .await;
    world.sync(at(4, 12)).await;
    // Long after, the customer's log holds more than ten thousand newer cancellations.
    for target in 0..10_050 {
        world
            .store
            .append_audit(&NewAuditEntry {
                at: at(4, 13),
                run: None,
                customer: Some(CustomerId::new(OBRIEN.0).unwrap()),
                operation: AuditOperation::CancelAddition,
                target_kind: "addition".to_owned(),
                target_id: Some(1_000_000 + target),
                reason: "an unrelated cancellation".to_owned(),
                before: None,
                after: Some(json!({ "cancelledDate": "2026-12-03T00:00:00Z" })),
                status: AuditStatus::Succeeded,
                request_id: None,
                error_message: None,
            })
            .await
            .unwrap();
    }

    let rerun = world.sync(at(9, 12)).await;

    assert!(!reports_a_hand_edit(&rerun), "{:?}", rerun.plan);
    assert_eq!(rerun.created_additions, 1);
    let (cancelled, active) = vcpu_lines(&world, child).await;
    assert_eq!((cancelled.len(), active.len()), (1, 1));
    assert_eq!(active[0].effective_date, CwDate::from_ymd(2026, 12, 4));
}

#[tokio::test]
async fn a_crash_after_a_cancellation_was_sent_and_before_its_audit_entry_is_finished_later() {
    let (world, child) = resized_with_cancel_and_replace().await;
    // The run recorded its intent and sent the cancellation, ConnectWise saved it, and the
    // process died before the audit entry: only the intent is in the store.
    let (_, active) = vcpu_lines(&world, child).await;
    world
        .store
        .record_write_intent(&WriteIntent {
            at: at(4, 12),
            run: None,
            customer: Some(CustomerId::new(OBRIEN.0).unwrap()),
            operation: AuditOperation::CancelAddition,
            target_kind: "addition".to_owned(),
            target_id: active[0].id,
            sent: json!({ "cancelledDate": "2026-12-03T00:00:00Z" }),
        })
        .await
        .unwrap();
    world
        .client
        .patch_addition(
            child,
            active[0].id,
            &[PatchOperation::replace(
                "cancelledDate",
                CwDate::from_ymd(2026, 12, 3).unwrap(),
            )],
        )
        .await
        .unwrap();

    // The rerun is days later, when only the intent can tell the date was hyalto's.
    let rerun = world.sync(at(6, 12)).await;

    assert!(!reports_a_hand_edit(&rerun), "{:?}", rerun.plan);
    assert_eq!(rerun.created_additions, 1);
    assert_eq!(rerun.cancelled, 0);
    let (cancelled, active) = vcpu_lines(&world, child).await;
    assert_eq!((cancelled.len(), active.len()), (1, 1));
    assert_eq!(active[0].quantity, Some(decimal("8")));
    assert_eq!(active[0].effective_date, CwDate::from_ymd(2026, 12, 4));
}

#[tokio::test]
async fn every_cancellation_is_recorded_as_an_intent_before_it_is_sent() {
    let (world, child) = resized_with_cancel_and_replace().await;
    let (_, active) = vcpu_lines(&world, child).await;
    // ConnectWise fails the write: the audit entry says failed, the intent remains.
    world
        .add_fault(json!({
            "method": "PATCH",
            "pathTemplate": "/finance/agreements/{id}/additions/{id}",
            "kind": "server_error",
            "status": 500,
            "count": 1
        }))
        .await;

    world.sync(at(4, 12)).await;

    let own = world
        .store
        .own_writes(&AuditOperation::CancelAddition, "addition", &[active[0].id])
        .await
        .unwrap();
    assert_eq!(
        own.len(),
        2,
        "the intent and the failed audit entry: {own:?}"
    );
    assert!(
        own.iter()
            .all(|write| write.sent["cancelledDate"] == json!("2026-12-03T00:00:00Z"))
    );
}

#[tokio::test]
async fn a_crash_between_a_cancellation_and_its_record_is_finished_the_same_day() {
    let (world, child) = resized_with_cancel_and_replace().await;
    // The process died right after ConnectWise saved the cancellation: nothing reached the
    // store, not even the audit log.
    let (_, active) = vcpu_lines(&world, child).await;
    world
        .client
        .patch_addition(
            child,
            active[0].id,
            &[PatchOperation::replace(
                "cancelledDate",
                CwDate::from_ymd(2026, 12, 3).unwrap(),
            )],
        )
        .await
        .unwrap();

    let rerun = world.sync(at(4, 13)).await;

    assert!(!reports_a_hand_edit(&rerun), "{:?}", rerun.plan);
    assert_eq!(rerun.created_additions, 1);
    let (cancelled, active) = vcpu_lines(&world, child).await;
    assert_eq!((cancelled.len(), active.len()), (1, 1));
    assert_eq!(cancelled[0].cancelled_date, CwDate::from_ymd(2026, 12, 3));
    assert_eq!(active[0].quantity, Some(decimal("8")));
    assert_eq!(active[0].effective_date, CwDate::from_ymd(2026, 12, 4));
    world.take_stats().await;
    world.sync(at(4, 14)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_hand_cancellation_on_another_date_is_still_reported() {
    let (world, child) = resized_with_cancel_and_replace().await;
    let (_, active) = vcpu_lines(&world, child).await;
    world
        .client
        .patch_addition(
            child,
            active[0].id,
            &[PatchOperation::replace(
                "cancelledDate",
                CwDate::from_ymd(2026, 12, 2).unwrap(),
            )],
        )
        .await
        .unwrap();
    world.take_stats().await;

    let report = world.sync(at(4, 12)).await;

    assert!(reports_a_hand_edit(&report), "{:?}", report.plan);
    assert_eq!(writes(&world.take_stats().await), 0);
    let (cancelled, active) = vcpu_lines(&world, child).await;
    assert_eq!((cancelled.len(), active.len()), (1, 0));
}

#[tokio::test]
async fn an_interrupted_end_of_a_child_is_finished_when_its_service_comes_back() {
    let world = seeded(world().await).await;
    world.sync(at(3, 12)).await;
    let old = world.child_named(OBRIEN.2, "vm-b").await;
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
    // The run of 4 December cancelled vm-b's lines and ended its child, but the answer to the
    // end was lost and reading it back failed: ConnectWise holds the end, the audit log says
    // "unknown" with the date sent, and the link still says the child runs.
    world
        .client
        .patch_agreement(
            old.id,
            &[
                PatchOperation::replace("endDate", CwDate::from_ymd(2026, 12, 4).unwrap()),
                PatchOperation::replace("noEndingDateFlag", false),
            ],
        )
        .await
        .unwrap();
    world
        .store
        .append_audit(&NewAuditEntry {
            at: at(4, 12),
            run: None,
            customer: Some(CustomerId::new(OBRIEN.0).unwrap()),
            operation: AuditOperation::EndChildAgreement,
            target_kind: "agreement".to_owned(),
            target_id: Some(old.id),
            reason: "vm-b is gone since 2026-12-04".to_owned(),
            before: Some(json!({ "endDate": null, "noEndingDateFlag": true })),
            after: Some(json!({ "endDate": "2026-12-04T00:00:00Z", "noEndingDateFlag": false })),
            status: AuditStatus::Unknown,
            request_id: None,
            error_message: Some("the connection dropped".to_owned()),
        })
        .await
        .unwrap();
    world
        .import(&snapshot(
            at(5, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                vm("vm-b", OBRIEN.0, 2, 8, 50),
                edge("edge-1", MULLER.0, 3),
            ],
        ))
        .await;

    let report = world.sync(at(5, 12)).await;

    assert!(!reports_a_hand_edit(&report), "{:?}", report.plan);
    assert_eq!(report.created_agreements, 1);
    assert_eq!(report.created_additions, 3);
    assert_eq!(
        report.cancelled, 3,
        "the lines the interrupted run did not reach"
    );
    let children: Vec<_> = world
        .children(OBRIEN.2)
        .await
        .into_iter()
        .filter(|c| c.name.as_deref().is_some_and(|n| n.contains("vm-b")))
        .collect();
    assert_eq!(children.len(), 2);
    let ended = world.client.agreement(old.id).await.unwrap();
    assert_eq!(ended.end_date, CwDate::from_ymd(2026, 12, 4));
    world.take_stats().await;
    world.sync(at(5, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

/// O'Brien with one VM first seen on 28 November, mapped, whose first sync (on 3 December)
/// loses its vCPU line to a server error.
async fn first_sync_without_its_vcpu_line() -> (World, i64) {
    let world = world().await;
    world.map_products().await;
    let seen = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 28, 10, 0, 0).unwrap();
    world
        .import(&snapshot(
            seen,
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 4, 16, 100)],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;
    world
        .add_fault(json!({
            "method": "POST",
            "pathTemplate": "/finance/agreements/{id}/additions",
            "kind": "server_error",
            "count": 1
        }))
        .await;
    let first = world.sync(at(3, 12)).await;
    assert_eq!(first.created_additions, 2, "{first:?}");
    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    (world, child)
}

#[tokio::test]
async fn a_line_a_failed_first_sync_never_created_starts_on_the_services_first_day() {
    let (world, child) = first_sync_without_its_vcpu_line().await;

    let second = world.sync(at(4, 12)).await;

    assert_eq!(second.created_additions, 1, "{second:?}");
    let lines = world.additions(child).await;
    for product in [VCPU, RAM, STORAGE_STANDARD] {
        assert_eq!(
            active_line(&lines, product).effective_date,
            CwDate::from_ymd(2026, 11, 28),
            "{lines:?}"
        );
    }
    let reason = second.plan.customers[0]
        .operations
        .iter()
        .find(|operation| operation.name() == "create_addition")
        .map(|operation| operation.reason().to_owned())
        .unwrap();
    assert!(
        reason.contains("since it was first billed here on 2026-11-28")
            && reason.contains("never created"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_meter_that_appeared_later_starts_on_the_day_it_was_first_seen() {
    let world = world().await;
    world.map_products().await;
    let mut small = vm("vm-a", OBRIEN.0, 4, 16, 100);
    small
        .resources
        .retain(|r| r.kind != hyalto_domain::ResourceKind::Storage);
    world
        .import(&snapshot(at(1, 10), demo_customers(), vec![small]))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;
    world.sync(at(1, 12)).await;
    world
        .import(&snapshot(
            at(2, 10),
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 4, 16, 100)],
        ))
        .await;

    let report = world.sync(at(5, 12)).await;

    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    let storage = active_line(&world.additions(child).await, STORAGE_STANDARD).clone();
    assert_eq!(storage.effective_date, CwDate::from_ymd(2026, 12, 2));
    let reason = report.plan.customers[0]
        .operations
        .iter()
        .find(|operation| operation.name() == "create_addition")
        .map(|operation| operation.reason().to_owned())
        .unwrap();
    assert!(reason.contains("since 2026-12-02"), "{reason}");
}
