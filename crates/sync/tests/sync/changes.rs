//! Changes to an already billed service: its product mapping, its name, implausible quantity
//! jumps, quantities with floating-point noise, and a child left under a previous master.

use hyalto_connectwise::models::CwDate;
use hyalto_domain::{ResourceKind, Unit};
use hyalto_store::{AuditFilter, AuditOperation, MappingOptions, ProductMapping, Store as _};
use hyalto_sync::{Finding, Operation, SyncOptions};

use crate::helpers::*;

/// The seed's catalog item for performance storage, used as "another product".
const STORAGE_PERFORMANCE: i64 = 4;

/// O'Brien with one VM (4 vCPU, 16 GiB, 100 GiB), first seen on the 1st and synced on the 3rd;
/// returns the world and the VM's child id.
async fn one_vm() -> (World, i64) {
    let world = world().await;
    world.map_products().await;
    world
        .import(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 4, 16, 100)],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;
    world.sync(at(3, 12)).await;
    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    (world, child)
}

async fn set_product(
    world: &World,
    meter: &str,
    item: i64,
    price: Option<&str>,
    cost: Option<&str>,
) {
    world
        .store
        .set_product_mapping(&ProductMapping {
            key: meter_key(meter),
            catalog_item_id: item,
            unit_price: price.map(decimal),
            unit_cost: cost.map(decimal),
        })
        .await
        .unwrap();
}

/// The lines of `product` on an agreement, active or not.
async fn lines_of(
    world: &World,
    child: i64,
    product: i64,
) -> Vec<hyalto_connectwise::models::Addition> {
    world
        .additions(child)
        .await
        .into_iter()
        .filter(|line| line.product.as_ref().and_then(|p| p.id) == Some(product))
        .collect()
}

#[tokio::test]
async fn a_product_mapping_that_names_another_item_replaces_the_line_from_the_change_day() {
    let (world, child) = one_vm().await;
    let old = active_line(&world.additions(child).await, STORAGE_STANDARD).id;
    set_product(
        &world,
        "virtual_machine/storage/standard",
        STORAGE_PERFORMANCE,
        None,
        None,
    )
    .await;

    let report = world.sync(at(5, 12)).await;

    assert!(report.failed_customers.is_empty(), "{report:?}");
    let customer = &report.plan.customers[0];
    assert!(customer.operations.iter().any(|op| matches!(
        op,
        Operation::CreateAddition { product_id, reason, .. }
            if *product_id == STORAGE_PERFORMANCE
                && reason.contains("product changed from catalog item 3 to 4")
    )));
    let cancelled = lines_of(&world, child, STORAGE_STANDARD).await;
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].id, old);
    assert_eq!(cancelled[0].cancelled_date, CwDate::from_ymd(2026, 12, 4));
    let additions = world.additions(child).await;
    let new = active_line(&additions, STORAGE_PERFORMANCE);
    assert_eq!(new.quantity, Some(decimal("100")));
    assert_eq!(new.effective_date, CwDate::from_ymd(2026, 12, 5));
    let live = additions
        .iter()
        .filter(|line| line.cancelled_date.is_none())
        .count();
    assert_eq!(live, 3, "one live line per meter: {additions:?}");

    world.take_stats().await;
    world.sync(at(5, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_changed_price_override_replaces_the_line_even_in_place_mode() {
    let (world, child) = one_vm().await;
    set_product(
        &world,
        "virtual_machine/ram",
        RAM,
        Some("3.75"),
        Some("1.5"),
    )
    .await;

    let report = world.sync(at(6, 12)).await;

    assert_eq!(report.cancelled, 1);
    assert_eq!(report.created_additions, 1);
    assert_eq!(report.updated, 0);
    let lines = lines_of(&world, child, RAM).await;
    assert_eq!(lines.len(), 2);
    let old = lines.iter().find(|l| l.cancelled_date.is_some()).unwrap();
    assert_eq!(old.cancelled_date, CwDate::from_ymd(2026, 12, 5));
    let new = lines.iter().find(|l| l.cancelled_date.is_none()).unwrap();
    assert_eq!(new.unit_price, Some(decimal("3.75")));
    assert_eq!(new.unit_cost, Some(decimal("1.5")));
    assert_eq!(new.effective_date, CwDate::from_ymd(2026, 12, 6));

    world.take_stats().await;
    world.sync(at(6, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_product_change_on_a_line_that_started_today_corrects_it_in_place() {
    let (world, child) = one_vm().await;
    // vm-a gets a public IP meter on the 7th (billed from the 7th), whose product then changes
    // the same day.
    let mut with_ip = vm("vm-a", OBRIEN.0, 4, 16, 100);
    with_ip.resources.push(hyalto_domain::Resource {
        kind: ResourceKind::PublicIp,
        tier: None,
        quantity: decimal("1"),
        unit: Unit::Count,
    });
    set_product(&world, "virtual_machine/public_ip", PUBLIC_IP, None, None).await;
    world
        .import(&snapshot(at(7, 10), demo_customers(), vec![with_ip]))
        .await;
    world.sync(at(7, 11)).await;
    let line = active_line(&world.additions(child).await, PUBLIC_IP).id;
    set_product(&world, "virtual_machine/public_ip", 5, None, None).await;

    let report = world.sync(at(7, 12)).await;

    assert!(report.failed_customers.is_empty(), "{report:?}");
    assert!(lines_of(&world, child, PUBLIC_IP).await.is_empty());
    let new = lines_of(&world, child, 5).await;
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].id, line, "the same line, corrected");
    assert_eq!(new[0].effective_date, CwDate::from_ymd(2026, 12, 7));
    assert_eq!(new[0].cancelled_date, None);
    world.take_stats().await;
    world.sync(at(7, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_renamed_service_renames_its_child_agreement_and_audits_it() {
    let (world, child) = one_vm().await;
    let mut renamed = vm("vm-a", OBRIEN.0, 4, 16, 100);
    renamed.name = format!("web-{}", "x".repeat(120));
    world
        .import(&snapshot(at(4, 10), demo_customers(), vec![renamed]))
        .await;
    world.take_stats().await;

    let report = world.sync(at(4, 12)).await;

    let stats = world.take_stats().await;
    assert_eq!(report.renamed, 1);
    assert_eq!(method_count(&stats, "PATCH"), 1);
    assert_eq!(writes(&stats), 1);
    let name = world.client.agreement(child).await.unwrap().name.unwrap();
    assert!(name.starts_with("Virtual machine: web-xxx"), "{name}");
    assert_eq!(name.chars().count(), 100);
    let audit = world
        .store
        .audit_entries(&AuditFilter {
            operation: Some(AuditOperation::RenameChildAgreement),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.target_id, Some(child));

    world.sync(at(4, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn an_implausible_jump_is_held_while_other_changes_apply_until_confirmed() {
    let world = world().await;
    world.map_products().await;
    world
        .import(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 100),
                vm("vm-b", OBRIEN.0, 2, 8, 50),
            ],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;
    world.sync(at(3, 12)).await;
    let child_a = world.child_named(OBRIEN.2, "vm-a").await.id;
    let child_b = world.child_named(OBRIEN.2, "vm-b").await.id;
    // vm-a's disk jumps from 100 GiB to 20,000 GiB; vm-b gets a plausible resize.
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![
                vm("vm-a", OBRIEN.0, 4, 16, 20_000),
                vm("vm-b", OBRIEN.0, 4, 8, 50),
            ],
        ))
        .await;

    let held = world.sync(at(4, 12)).await;

    assert_eq!(held.updated, 1);
    assert!(held.failed_customers.is_empty());
    assert_eq!(held.held_customers.len(), 1, "{held:?}");
    assert!(
        held.held_customers[0]
            .1
            .contains("--confirm-changes obrien")
    );
    assert!(
        held.plan.customers[0]
            .findings
            .iter()
            .any(|finding| matches!(
                finding,
                Finding::ChangeHeld { last_written, desired, .. }
                    if *last_written == Some(decimal("100")) && *desired == decimal("20000")
            ))
    );
    let a_lines = world.additions(child_a).await;
    assert_eq!(
        active_line(&a_lines, STORAGE_STANDARD).quantity,
        Some(decimal("100"))
    );
    let b_lines = world.additions(child_b).await;
    assert_eq!(active_line(&b_lines, VCPU).quantity, Some(decimal("4")));

    // Held again on the next plain sync, written once confirmed, and not held after that.
    world.take_stats().await;
    world.sync(at(4, 13)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
    let mut confirm = SyncOptions::at(at(4, 14));
    confirm.confirm_changes = vec![hyalto_domain::CustomerId::new(OBRIEN.0).unwrap()];
    let confirmed = world.sync_with(confirm).await;
    assert_eq!(confirmed.updated, 1);
    assert!(confirmed.held_customers.is_empty());
    let a_lines = world.additions(child_a).await;
    assert_eq!(
        active_line(&a_lines, STORAGE_STANDARD).quantity,
        Some(decimal("20000"))
    );
    world.take_stats().await;
    world.sync(at(4, 15)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
}

#[tokio::test]
async fn a_quantity_with_floating_point_noise_bills_the_whole_unit_it_means() {
    let world = world().await;
    world.map_products().await;
    let mut noisy = vm("vm-a", OBRIEN.0, 4, 16, 100);
    noisy.resources[1].quantity = decimal("20.0000001");
    world
        .import(&snapshot(at(1, 10), demo_customers(), vec![noisy]))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;

    world.sync(at(3, 12)).await;

    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    let additions = world.additions(child).await;
    assert_eq!(active_line(&additions, RAM).quantity, Some(decimal("20")));
}

#[tokio::test]
async fn a_child_under_a_previous_master_keeps_following_usage_until_it_ends() {
    let (world, old_child) = one_vm().await;
    let new_master = (OBRIEN.0, MULLER.1, MULLER.2);
    world.map(new_master, MappingOptions::default()).await;
    world
        .import(&snapshot(
            at(4, 10),
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 8, 16, 100)],
        ))
        .await;

    let report = world.sync(at(4, 12)).await;

    assert!(report.failed_customers.is_empty(), "{report:?}");
    assert_eq!(report.updated, 1);
    assert_eq!(report.created_agreements, 0);
    assert!(
        report.plan.customers[0]
            .findings
            .iter()
            .any(|finding| matches!(
                finding,
                Finding::ChildUnderPreviousMaster { agreement_id, .. } if *agreement_id == old_child
            ))
    );
    let additions = world.additions(old_child).await;
    assert_eq!(active_line(&additions, VCPU).quantity, Some(decimal("8")));
    assert!(world.children(MULLER.2).await.iter().all(|child| {
        !child
            .name
            .as_deref()
            .is_some_and(|name| name.contains("vm-a"))
    }));
}

#[tokio::test]
async fn another_installations_child_is_neither_adopted_nor_duplicated_until_taken_over() {
    let (world, child) = one_vm().await;
    let first = world.store.installation_id().await.unwrap();
    let notes = world
        .client
        .agreement(child)
        .await
        .unwrap()
        .internal_notes
        .unwrap();
    assert!(
        notes.contains(&format!("hyalto-installation: {first}")),
        "{notes}"
    );

    // A second data dir with the same inventory and mappings syncs into the same ConnectWise.
    let other = world.other_installation().await;
    let second = other.store.installation_id().await.unwrap();
    assert_ne!(first, second);
    for (key, item) in [
        ("virtual_machine/cpu", VCPU),
        ("virtual_machine/ram", RAM),
        ("virtual_machine/storage/standard", STORAGE_STANDARD),
    ] {
        other
            .store
            .set_product_mapping(&ProductMapping {
                key: meter_key(key),
                catalog_item_id: item,
                unit_price: None,
                unit_cost: None,
            })
            .await
            .unwrap();
    }
    other
        .store
        .apply_snapshot(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 4, 16, 100)],
        ))
        .await
        .unwrap();
    other
        .store
        .set_company_mapping(&hyalto_store::CompanyMapping {
            customer: hyalto_domain::CustomerId::new(OBRIEN.0).unwrap(),
            company_id: OBRIEN.1,
            agreement_id: OBRIEN.2,
            options: MappingOptions::default(),
        })
        .await
        .unwrap();
    world.take_stats().await;

    let refused = other
        .engine
        .run(&SyncOptions::at(at(3, 13)), &|_| {})
        .await
        .unwrap();

    assert_eq!(writes(&world.take_stats().await), 0);
    let text: Vec<String> = refused.plan.customers[0]
        .findings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(text[0].contains(&format!("another hyalto installation {first}")));
    assert!(text[0].contains(&format!("hyalto sync --take-over {first}")));
    // Exactly one child for vm-a: the first installation's.
    assert_eq!(world.child_named(OBRIEN.2, "vm-a").await.id, child);

    let mut take_over = SyncOptions::at(at(3, 14));
    take_over.take_over = vec![first.clone()];
    let taken = other.engine.run(&take_over, &|_| {}).await.unwrap();

    assert!(taken.failed_customers.is_empty(), "{taken:?}");
    assert!(taken.warnings.is_empty(), "{:?}", taken.warnings);
    assert_eq!(taken.created_agreements + taken.created_additions, 0);
    assert_eq!(taken.adopted, 4, "the child and its three lines");

    // Taking over the same installation again, or one that wrote nothing here, takes nothing
    // and says so.
    let unknown = "hyi-0000000000000000".to_owned();
    let mut again = SyncOptions::at(at(3, 14));
    again.take_over = vec![first.clone(), unknown.clone()];
    let idle = other.engine.run(&again, &|_| {}).await.unwrap();
    assert_eq!(idle.warnings.len(), 2, "{:?}", idle.warnings);
    assert!(idle.warnings[0].contains(&first), "{:?}", idle.warnings);
    assert!(
        idle.warnings[1].contains(&unknown) && idle.warnings[1].contains("nothing was taken over"),
        "{:?}",
        idle.warnings
    );
    let notes = world
        .client
        .agreement(child)
        .await
        .unwrap()
        .internal_notes
        .unwrap();
    assert!(
        notes.contains(&format!("hyalto-installation: {second}")),
        "{notes}"
    );
    assert!(!notes.contains(&first));
    world.take_stats().await;
    other
        .engine
        .run(&SyncOptions::at(at(3, 15)), &|_| {})
        .await
        .unwrap();
    assert_eq!(writes(&world.take_stats().await), 0);

    // The first installation, still running, sees its child taken over and stops writing to
    // it, even with a resize and a rename to write.
    let mut renamed = vm("vm-a", OBRIEN.0, 8, 16, 100);
    renamed.name = "renamed.example".to_owned();
    world
        .import(&snapshot(at(4, 10), demo_customers(), vec![renamed]))
        .await;
    let stale = world.sync(at(4, 12)).await;
    assert_eq!(writes(&world.take_stats().await), 0);
    let text: Vec<String> = stale.plan.customers[0]
        .findings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        text.iter()
            .any(|line| line.contains(&format!("taken over by installation {second}"))),
        "{text:?}"
    );
}

#[tokio::test]
async fn repeated_price_changes_on_a_lines_first_day_correct_it_in_place() {
    let world = world().await;
    world.map_products().await;
    set_product(&world, "virtual_machine/cpu", VCPU, Some("5"), None).await;
    world
        .import(&snapshot(
            at(3, 8),
            demo_customers(),
            vec![vm("vm-a", OBRIEN.0, 4, 16, 100)],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;
    world.sync(at(3, 10)).await;

    set_product(&world, "virtual_machine/cpu", VCPU, Some("6"), None).await;
    world.sync(at(3, 11)).await;
    set_product(
        &world,
        "virtual_machine/cpu",
        STORAGE_PERFORMANCE,
        Some("7"),
        None,
    )
    .await;
    let last = world.sync(at(3, 12)).await;

    assert!(last.failed_customers.is_empty(), "{last:?}");
    let child = world.child_named(OBRIEN.2, "vm-a").await.id;
    let lines = world.additions(child).await;
    assert_eq!(lines.len(), 3, "no line was replaced: {lines:?}");
    let cpu = active_line(&lines, STORAGE_PERFORMANCE);
    assert_eq!(cpu.effective_date, CwDate::from_ymd(2026, 12, 3));
    assert_eq!(cpu.unit_price, Some(decimal("7")));
    assert_eq!(cpu.quantity, Some(decimal("4")));

    // The service ends the same day: every line can be cancelled by that day.
    world
        .import(&snapshot(at(3, 13), demo_customers(), Vec::new()))
        .await;
    world
        .sync_with(SyncOptions {
            confirm_removals: vec![hyalto_domain::CustomerId::new(OBRIEN.0).unwrap()],
            ..SyncOptions::at(at(3, 14))
        })
        .await;
    let lines = world.additions(child).await;
    assert!(
        lines
            .iter()
            .all(|line| line.cancelled_date == CwDate::from_ymd(2026, 12, 3)),
        "{lines:?}"
    );
}

#[tokio::test]
async fn an_absurd_first_quantity_of_any_resource_kind_is_held() {
    let world = world().await;
    world.map_products().await;
    for key in [
        "virtual_machine/public_ip",
        "virtual_data_center/cpu",
        "virtual_machine/gpu",
    ] {
        world
            .store
            .set_product_mapping(&ProductMapping {
                key: meter_key(key),
                catalog_item_id: if key.ends_with("cpu") {
                    VCPU
                } else {
                    PUBLIC_IP
                },
                unit_price: None,
                unit_cost: None,
            })
            .await
            .unwrap();
    }
    let resource = |kind: ResourceKind, quantity: &str, unit: Unit| hyalto_domain::Resource {
        kind,
        tier: None,
        quantity: decimal(quantity),
        unit,
    };
    let mut vm_ips = vm("vm-a", OBRIEN.0, 4, 16, 100);
    vm_ips.resources.push(resource(
        ResourceKind::PublicIp,
        "999999999999999",
        Unit::Count,
    ));
    vm_ips.resources.push(resource(
        ResourceKind::Other("gpu".to_owned()),
        "5000000",
        Unit::Count,
    ));
    let mut vdc = edge("vdc-a", OBRIEN.0, 1);
    vdc.kind = hyalto_domain::ServiceKind::VirtualDataCenter;
    vdc.resources = vec![resource(ResourceKind::Cpu, "999999999999999", Unit::Ghz)];
    let gateway = edge("edge-a", OBRIEN.0, 50_000_000);
    world
        .import(&snapshot(
            at(1, 10),
            demo_customers(),
            vec![vm_ips, vdc, gateway],
        ))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;

    let report = world.sync(at(3, 12)).await;

    // Each absurd meter is held, one per kind family; the VM's plausible meters are billed.
    let held: Vec<String> = report.plan.customers[0]
        .findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::ChangeHeld { meter, .. } => Some(meter.to_string()),
            _ => None,
        })
        .collect();
    for key in [
        "virtual_machine/public_ip",
        "virtual_machine/gpu",
        "virtual_data_center/cpu",
        "edge_gateway/public_ip",
    ] {
        assert!(
            held.iter().any(|meter| meter == key),
            "{key} not held: {:?}",
            report.plan.customers[0].findings
        );
    }
    assert_eq!(report.held_customers.len(), 1, "{report:?}");
    let vm_lines = world
        .additions(world.child_named(OBRIEN.2, "vm-a").await.id)
        .await;
    assert_eq!(active_line(&vm_lines, VCPU).quantity, Some(decimal("4")));
    assert!(
        vm_lines
            .iter()
            .all(|line| line.quantity < Some(decimal("1000000"))),
        "{vm_lines:?}"
    );
    let children = world.children(OBRIEN.2).await;
    assert!(
        children
            .iter()
            .all(|child| !child.name.as_deref().unwrap_or("").contains("gateway")),
        "{children:?}"
    );
}

#[tokio::test]
async fn a_long_name_is_cut_between_emoji_never_inside_one() {
    let world = world().await;
    world.map_products().await;
    let mut thumbs = vm("vm-a", OBRIEN.0, 4, 16, 100);
    thumbs.name = "\u{1F44D}\u{1F3FD}".repeat(40);
    world
        .import(&snapshot(at(1, 10), demo_customers(), vec![thumbs]))
        .await;
    world.map(OBRIEN, MappingOptions::default()).await;

    world.sync(at(3, 12)).await;

    // "Virtual machine: " leaves 83 UTF-16 units: twenty whole thumbs (4 units each) fit, and
    // the twenty-first is left out whole rather than cut off its skin tone.
    let name = world
        .child_named(OBRIEN.2, "Virtual machine")
        .await
        .name
        .unwrap();
    assert!(name.encode_utf16().count() <= 100, "{name}");
    assert_eq!(
        name,
        format!("Virtual machine: {}", "\u{1F44D}\u{1F3FD}".repeat(20))
    );
}
