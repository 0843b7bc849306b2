//! Applying snapshots and reading inventory back.

use hyalto_domain::{Completeness, ResourceKind, ServiceKind, Unit};
use hyalto_store::{Presence, SnapshotReport, Store as _, StoreError};

use crate::helpers::{
    at, customer, customer_id, decimal, incomplete, open_store, resource, service_id, snapshot, vm,
};

#[tokio::test]
async fn a_first_snapshot_adds_customers_services_resources_and_history() {
    let test = open_store().await;
    let first = snapshot(
        "vc1",
        at(1, 8),
        vec![customer("acme", "Acme & Sons"), customer("zeta", "Zeta")],
        vec![
            vm("vm-1", Some("acme"), "4", "16"),
            vm("vm-2", Some("zeta"), "2", "8"),
        ],
    );

    let report = test.store.apply_snapshot(&first).await.unwrap();
    let services = test
        .store
        .services_of_customer(&customer_id("acme"), Presence::PresentOnly)
        .await
        .unwrap();
    let history = test
        .store
        .service_history(&service_id("vm-1"))
        .await
        .unwrap();

    assert_eq!(report.customers_seen, 2);
    assert_eq!(report.added, [service_id("vm-1"), service_id("vm-2")]);
    assert_eq!(report.history_rows, 6);
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].service, first.services[0]);
    assert_eq!(services[0].first_seen, at(1, 8));
    assert_eq!(services[0].last_seen, at(1, 8));
    assert_eq!(services[0].gone_at, None);
    assert_eq!(services[0].source.as_str(), "vc1");
    assert_eq!(history.len(), 3);
    assert!(
        history
            .iter()
            .all(|observation| observation.observed_at == at(1, 8))
    );
}

#[tokio::test]
async fn reapplying_an_unchanged_inventory_writes_no_history_and_only_moves_last_seen() {
    let test = open_store().await;
    let services = vec![vm("vm-1", Some("acme"), "4", "16")];
    let customers = vec![customer("acme", "Acme")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            services.clone(),
        ))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot(&snapshot("vc1", at(2, 8), customers, services))
        .await
        .unwrap();
    let stored = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();
    let history = test
        .store
        .service_history(&service_id("vm-1"))
        .await
        .unwrap();

    assert_eq!(
        report,
        SnapshotReport {
            customers_seen: 1,
            unchanged: 1,
            ..Default::default()
        }
    );
    assert_eq!(stored.first_seen, at(1, 8));
    assert_eq!(stored.last_seen, at(2, 8));
    assert_eq!(history.len(), 3);
}

#[tokio::test]
async fn a_changed_quantity_writes_one_history_row_and_an_equal_one_written_differently_none() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            vec![vm("vm-1", Some("acme"), "4", "16")],
        ))
        .await
        .unwrap();

    // RAM grows from 16 to 32 GiB; CPU is the same number written as 4.00.
    let report = test
        .store
        .apply_snapshot(&snapshot(
            "vc1",
            at(2, 8),
            customers,
            vec![vm("vm-1", Some("acme"), "4.00", "32")],
        ))
        .await
        .unwrap();
    let history = test
        .store
        .service_history(&service_id("vm-1"))
        .await
        .unwrap();

    assert_eq!(report.changed, [service_id("vm-1")]);
    assert_eq!(report.history_rows, 1);
    let last = history.last().unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(last.resource, ResourceKind::Ram);
    assert_eq!(last.quantity, decimal("32"));
    assert_eq!(last.unit, Unit::Gib);
    assert_eq!(last.observed_at, at(2, 8));
}

#[tokio::test]
async fn a_resource_removed_from_a_present_service_is_recorded_as_zero() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    let before = vm("vm-1", Some("acme"), "4", "16");
    let mut after = before.clone();
    after
        .resources
        .retain(|resource| resource.kind != ResourceKind::Storage);
    test.store
        .apply_snapshot(&snapshot("vc1", at(1, 8), customers.clone(), vec![before]))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot(&snapshot("vc1", at(2, 8), customers, vec![after]))
        .await
        .unwrap();
    let history = test
        .store
        .service_history(&service_id("vm-1"))
        .await
        .unwrap();
    let stored = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.history_rows, 1);
    let last = history.last().unwrap();
    assert_eq!(last.resource, ResourceKind::Storage);
    assert_eq!(last.tier.as_deref(), Some("gold"));
    assert_eq!(last.quantity, decimal("0"));
    assert_eq!(stored.service.resources.len(), 2);
}

#[tokio::test]
async fn a_complete_snapshot_marks_services_it_does_not_list_as_gone() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            vec![
                vm("vm-1", Some("acme"), "4", "16"),
                vm("vm-2", Some("acme"), "2", "8"),
            ],
        ))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot(&snapshot(
            "vc1",
            at(2, 8),
            customers,
            vec![vm("vm-1", Some("acme"), "4", "16")],
        ))
        .await
        .unwrap();
    let present = test
        .store
        .services_of_customer(&customer_id("acme"), Presence::PresentOnly)
        .await
        .unwrap();
    let all = test
        .store
        .services_of_customer(&customer_id("acme"), Presence::IncludingGone)
        .await
        .unwrap();
    let summary = test
        .store
        .get_customer(&customer_id("acme"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.gone, [service_id("vm-2")]);
    assert_eq!(present.len(), 1);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].gone_at, Some(at(2, 8)));
    assert_eq!(all[1].last_seen, at(1, 8));
    assert_eq!(
        all[1].service.resources.len(),
        3,
        "a gone service keeps its last resources"
    );
    assert_eq!(summary.present_services, 1);
}

#[tokio::test]
async fn an_incomplete_snapshot_updates_what_it_lists_marks_nothing_gone_and_keeps_its_reasons() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            vec![
                vm("vm-1", Some("acme"), "4", "16"),
                vm("vm-2", Some("acme"), "2", "8"),
            ],
        ))
        .await
        .unwrap();

    let partial = incomplete(
        snapshot(
            "vc1",
            at(2, 8),
            customers,
            vec![vm("vm-1", Some("acme"), "8", "16")],
        ),
        "cluster B did not answer",
    );
    let report = test.store.apply_snapshot(&partial).await.unwrap();
    let vm2 = test
        .store
        .get_service(&service_id("vm-2"))
        .await
        .unwrap()
        .unwrap();
    let vm1 = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();
    let sources = test.store.list_sources().await.unwrap();

    assert!(report.gone.is_empty());
    assert_eq!(vm2.gone_at, None);
    assert_eq!(vm2.last_seen, at(1, 8));
    assert_eq!(vm1.service.resources[0].quantity, decimal("8"));
    assert_eq!(sources.len(), 1);
    assert_eq!(
        sources[0].completeness,
        Completeness::Incomplete {
            reasons: vec!["cluster B did not answer".to_owned()]
        }
    );
    assert_eq!(sources[0].last_taken_at, at(2, 8));
    assert_eq!(sources[0].last_complete_at, Some(at(1, 8)));
}

#[tokio::test]
async fn a_complete_snapshot_after_an_incomplete_one_clears_the_reasons() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    let services = vec![vm("vm-1", Some("acme"), "4", "16")];
    test.store
        .apply_snapshot(&incomplete(
            snapshot("vc1", at(1, 8), customers.clone(), services.clone()),
            "timeout",
        ))
        .await
        .unwrap();

    test.store
        .apply_snapshot(&snapshot("vc1", at(2, 8), customers, services))
        .await
        .unwrap();
    let sources = test.store.list_sources().await.unwrap();

    assert_eq!(sources[0].completeness, Completeness::Complete);
    assert_eq!(sources[0].last_complete_at, Some(at(2, 8)));
}

#[tokio::test]
async fn a_gone_service_that_comes_back_starts_a_new_life() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    let vm1 = vm("vm-1", Some("acme"), "4", "16");
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            vec![vm1.clone()],
        ))
        .await
        .unwrap();
    test.store
        .apply_snapshot(&snapshot("vc1", at(2, 8), customers.clone(), vec![]))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot(&snapshot("vc1", at(5, 8), customers, vec![vm1]))
        .await
        .unwrap();
    let stored = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();
    let history = test
        .store
        .service_history(&service_id("vm-1"))
        .await
        .unwrap();

    assert_eq!(report.revived, [service_id("vm-1")]);
    assert!(report.added.is_empty());
    assert_eq!(stored.first_seen, at(5, 8));
    assert_eq!(stored.gone_at, None);
    assert_eq!(
        report.history_rows, 3,
        "every resource is a first sighting in the new life"
    );
    assert_eq!(history.len(), 6);
}

#[tokio::test]
async fn a_complete_snapshot_of_one_source_leaves_other_sources_services_alone() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            vec![vm("vm-1", Some("acme"), "4", "16")],
        ))
        .await
        .unwrap();
    test.store
        .apply_snapshot(&snapshot(
            "vc2",
            at(1, 9),
            customers.clone(),
            vec![vm("vm-9", Some("acme"), "1", "2")],
        ))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot(&snapshot("vc2", at(2, 9), customers, vec![]))
        .await
        .unwrap();
    let vm1 = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.gone, [service_id("vm-9")]);
    assert_eq!(vm1.gone_at, None);
}

#[tokio::test]
async fn a_snapshot_older_than_the_last_applied_is_refused_and_changes_nothing() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(2, 8),
            customers.clone(),
            vec![vm("vm-1", Some("acme"), "4", "16")],
        ))
        .await
        .unwrap();

    let error = test
        .store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers,
            vec![vm("vm-2", Some("acme"), "1", "1")],
        ))
        .await
        .unwrap_err();
    let vm1 = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();
    let vm2 = test.store.get_service(&service_id("vm-2")).await.unwrap();

    assert!(
        matches!(error, StoreError::StaleSnapshot { .. }),
        "{error:?}"
    );
    assert_eq!(vm1.gone_at, None);
    assert!(vm2.is_none());
}

#[tokio::test]
async fn a_snapshot_breaking_the_rules_is_refused_whole() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    let mut duplicate_resource = vm("vm-3", Some("acme"), "4", "16");
    duplicate_resource
        .resources
        .push(resource(ResourceKind::Cpu, None, "1", Unit::Count));
    let cases = [
        (
            vec![
                vm("vm-1", Some("acme"), "1", "1"),
                vm("vm-1", Some("acme"), "1", "1"),
            ],
            "twice",
        ),
        (vec![vm("vm-2", Some("nobody"), "1", "1")], "does not list"),
        (vec![duplicate_resource], "lists resource cpu twice"),
    ];

    for (services, expected) in cases {
        let error = test
            .store
            .apply_snapshot(&snapshot("vc1", at(1, 8), customers.clone(), services))
            .await
            .unwrap_err();

        assert!(
            matches!(error, StoreError::InvalidSnapshot { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(expected), "{error}");
    }
    assert!(test.store.list_customers().await.unwrap().is_empty());
    assert!(test.store.list_sources().await.unwrap().is_empty());
}

#[tokio::test]
async fn unassigned_services_are_listed_apart_from_customers_services() {
    let test = open_store().await;
    let mut edge = vm("edge-1", None, "1", "1");
    edge.kind = ServiceKind::EdgeGateway;
    edge.power_state = None;
    edge.resources = vec![resource(ResourceKind::PublicIp, None, "3", Unit::Count)];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            vec![customer("acme", "Acme")],
            vec![vm("vm-1", Some("acme"), "4", "16"), edge.clone()],
        ))
        .await
        .unwrap();

    let unassigned = test
        .store
        .unassigned_services(Presence::PresentOnly)
        .await
        .unwrap();
    let acme = test
        .store
        .services_of_customer(&customer_id("acme"), Presence::PresentOnly)
        .await
        .unwrap();

    assert_eq!(unassigned.len(), 1);
    assert_eq!(unassigned[0].service, edge);
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0].service.id, service_id("vm-1"));
}

#[tokio::test]
async fn a_service_moving_to_another_customer_counts_as_changed() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme"), customer("zeta", "Zeta")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            vec![vm("vm-1", Some("acme"), "4", "16")],
        ))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot(&snapshot(
            "vc1",
            at(2, 8),
            customers,
            vec![vm("vm-1", Some("zeta"), "4", "16")],
        ))
        .await
        .unwrap();
    let zeta = test
        .store
        .services_of_customer(&customer_id("zeta"), Presence::PresentOnly)
        .await
        .unwrap();

    assert_eq!(report.changed, [service_id("vm-1")]);
    assert_eq!(report.history_rows, 0, "no quantity changed");
    assert_eq!(zeta.len(), 1);
}

#[tokio::test]
async fn customers_keep_their_first_sight_and_take_the_newest_name() {
    let test = open_store().await;
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            vec![customer("acme", "Acme")],
            vec![],
        ))
        .await
        .unwrap();

    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(3, 8),
            vec![customer("acme", "Acme Ltd")],
            vec![],
        ))
        .await
        .unwrap();
    let customers = test.store.list_customers().await.unwrap();

    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].customer.name, "Acme Ltd");
    assert_eq!(customers[0].first_seen, at(1, 8));
    assert_eq!(customers[0].last_seen, at(3, 8));
    assert!(!customers[0].is_mapped());
}

#[tokio::test]
async fn a_service_moved_to_another_customer_remembers_the_snapshot_that_showed_the_move() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme"), customer("zeta", "Zeta")];
    for (day, owner) in [(1, "acme"), (2, "acme"), (5, "zeta"), (6, "zeta")] {
        test.store
            .apply_snapshot(&snapshot(
                "vc1",
                at(day, 8),
                customers.clone(),
                vec![vm("vm-1", Some(owner), "4", "16")],
            ))
            .await
            .unwrap();
    }

    let stored = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(stored.first_seen, at(1, 8));
    assert_eq!(stored.customer_since, at(5, 8));
    assert_eq!(stored.service.customer, Some(customer_id("zeta")));
}

#[tokio::test]
async fn a_service_that_never_moves_belongs_to_its_customer_since_it_was_first_seen() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    for day in [1, 2] {
        test.store
            .apply_snapshot(&snapshot(
                "vc1",
                at(day, 8),
                customers.clone(),
                vec![vm("vm-1", Some("acme"), "4", "16")],
            ))
            .await
            .unwrap();
    }

    let stored = test
        .store
        .get_service(&service_id("vm-1"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(stored.customer_since, stored.first_seen);
    assert_eq!(stored.customer_since, at(1, 8));
}

#[tokio::test]
async fn a_snapshot_older_than_a_future_dated_one_replaces_it_when_asked() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    let now = at(3, 12);
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            vec![
                vm("vm-1", Some("acme"), "4", "16"),
                vm("vm-2", Some("acme"), "2", "8"),
                vm("vm-3", Some("acme"), "1", "2"),
            ],
        ))
        .await
        .unwrap();
    // A collector whose clock ran 17 days ahead: vm-3 missing, vm-1 resized, vm-4 new.
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(20, 8),
            customers.clone(),
            vec![
                vm("vm-1", Some("acme"), "8", "16"),
                vm("vm-2", Some("acme"), "2", "8"),
                vm("vm-4", Some("acme"), "1", "1"),
            ],
        ))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot_replacing_future(
            &snapshot(
                "vc1",
                at(3, 8),
                customers,
                vec![
                    vm("vm-1", Some("acme"), "8", "16"),
                    vm("vm-3", Some("acme"), "1", "2"),
                    vm("vm-4", Some("acme"), "1", "1"),
                ],
            ),
            now,
        )
        .await
        .unwrap();
    let service = |id: &'static str| {
        let store = test.store.clone();
        async move { store.get_service(&service_id(id)).await.unwrap().unwrap() }
    };
    let (vm1, vm2, vm3, vm4) = (
        service("vm-1").await,
        service("vm-2").await,
        service("vm-3").await,
        service("vm-4").await,
    );
    let vm1_history = test
        .store
        .service_history(&service_id("vm-1"))
        .await
        .unwrap();
    let sources = test.store.list_sources().await.unwrap();

    let replaced = report
        .replaced_future
        .clone()
        .expect("the future snapshot was replaced");
    assert_eq!(replaced.future_taken_at, at(20, 8));
    assert_eq!(replaced.services_unburied, [service_id("vm-3")]);
    assert_eq!(replaced.services_redated, 3, "vm-1, vm-2 and vm-4");
    assert_eq!(report.gone, [service_id("vm-2")]);
    assert!(report.revived.is_empty(), "vm-3 keeps its life: {report:?}");
    assert_eq!((vm1.first_seen, vm1.last_seen), (at(1, 8), at(3, 8)));
    assert_eq!(vm2.gone_at, Some(at(3, 8)));
    assert_eq!((vm3.first_seen, vm3.gone_at), (at(1, 8), None));
    assert_eq!((vm4.first_seen, vm4.customer_since), (at(3, 8), at(3, 8)));
    assert!(
        vm1_history
            .iter()
            .all(|observation| observation.observed_at <= at(3, 8)),
        "{vm1_history:?}"
    );
    assert_eq!(sources[0].last_taken_at, at(3, 8));
    assert_eq!(sources[0].last_complete_at, Some(at(3, 8)));
}

#[tokio::test]
async fn replacing_refuses_an_older_snapshot_when_the_newest_is_not_in_the_future() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(2, 8),
            customers.clone(),
            vec![vm("vm-1", Some("acme"), "4", "16")],
        ))
        .await
        .unwrap();

    let error = test
        .store
        .apply_snapshot_replacing_future(
            &snapshot(
                "vc1",
                at(1, 8),
                customers,
                vec![vm("vm-2", Some("acme"), "1", "1")],
            ),
            at(3, 12),
        )
        .await
        .unwrap_err();
    let vm2 = test.store.get_service(&service_id("vm-2")).await.unwrap();

    assert!(
        matches!(error, StoreError::StaleSnapshot { .. }),
        "{error:?}"
    );
    assert!(vm2.is_none());
}

#[tokio::test]
async fn replacing_with_a_newer_snapshot_is_an_ordinary_import() {
    let test = open_store().await;
    let customers = vec![customer("acme", "Acme")];
    let services = vec![vm("vm-1", Some("acme"), "4", "16")];
    test.store
        .apply_snapshot(&snapshot(
            "vc1",
            at(1, 8),
            customers.clone(),
            services.clone(),
        ))
        .await
        .unwrap();

    let report = test
        .store
        .apply_snapshot_replacing_future(&snapshot("vc1", at(2, 8), customers, services), at(3, 12))
        .await
        .unwrap();

    assert_eq!(report.replaced_future, None);
    assert_eq!(report.unchanged, 1);
}
