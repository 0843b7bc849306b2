//! The append-only audit log.

use hyalto_store::{
    AuditFilter, AuditOperation, AuditStatus, NewAuditEntry, NewRun, Store as _, WriteIntent,
};
use serde_json::json;

use crate::helpers::{at, customer_id, open_store, raw_connection};

fn entry(hour: u32, customer: &str, operation: AuditOperation) -> NewAuditEntry {
    NewAuditEntry {
        at: at(2, hour),
        run: None,
        customer: Some(customer_id(customer)),
        operation,
        target_kind: "addition".to_owned(),
        target_id: Some(i64::from(hour)),
        reason: format!("hour {hour}"),
        before: None,
        after: Some(json!({"quantity": 16.0})),
        status: AuditStatus::Succeeded,
        request_id: Some(format!("req-{hour}")),
        error_message: None,
    }
}

#[tokio::test]
async fn an_appended_entry_reads_back_exactly() {
    let test = open_store().await;
    let run = test
        .store
        .start_run(&NewRun {
            started_at: at(2, 0),
            dry_run: false,
            customer_filter: None,
        })
        .await
        .unwrap();
    let appended = NewAuditEntry {
        run: Some(run),
        before: Some(json!({"quantity": 8})),
        status: AuditStatus::Failed,
        error_message: Some("The quantity can't be negative".to_owned()),
        ..entry(1, "o'brien & co", AuditOperation::UpdateAddition)
    };

    let id = test.store.append_audit(&appended).await.unwrap();
    let read = test
        .store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap();

    assert_eq!(read.len(), 1);
    assert_eq!(read[0].id, id);
    assert_eq!(read[0].entry, appended);
    assert_eq!(
        read[0].entry.after.as_ref().unwrap()["quantity"].to_string(),
        "16.0"
    );
}

#[tokio::test]
async fn audit_entries_filter_by_customer_and_operation_newest_first_within_the_limit() {
    let test = open_store().await;
    for (hour, customer, operation) in [
        (1, "acme", AuditOperation::CreateAddition),
        (2, "zeta", AuditOperation::CreateAddition),
        (3, "acme", AuditOperation::CancelAddition),
        (4, "acme", AuditOperation::CreateAddition),
        (5, "acme", AuditOperation::CreateAddition),
        (
            6,
            "acme",
            AuditOperation::Other("rename_agreement".to_owned()),
        ),
    ] {
        test.store
            .append_audit(&entry(hour, customer, operation))
            .await
            .unwrap();
    }

    let acme_creates = test
        .store
        .audit_entries(&AuditFilter {
            customer: Some(customer_id("acme")),
            operation: Some(AuditOperation::CreateAddition),
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let zeta = test
        .store
        .audit_entries(&AuditFilter {
            customer: Some(customer_id("zeta")),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let others = test
        .store
        .audit_entries(&AuditFilter {
            operation: Some(AuditOperation::from_name("rename_agreement")),
            ..AuditFilter::default()
        })
        .await
        .unwrap();

    let hours: Vec<_> = acme_creates
        .iter()
        .map(|found| found.entry.target_id.unwrap())
        .collect();
    assert_eq!(hours, [5, 4]);
    assert_eq!(zeta.len(), 1);
    assert_eq!(zeta[0].entry.reason, "hour 2");
    assert_eq!(others.len(), 1);
    assert_eq!(
        others[0].entry.operation,
        AuditOperation::Other("rename_agreement".to_owned())
    );
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_audit_entries() {
    let test = open_store().await;
    test.store
        .append_audit(&entry(1, "acme", AuditOperation::CreateAddition))
        .await
        .unwrap();
    let mut raw = raw_connection(&test.store).await;

    let update = sqlx::query("UPDATE audit_log SET reason = 'rewritten'")
        .execute(&mut raw)
        .await;
    let delete = sqlx::query("DELETE FROM audit_log").execute(&mut raw).await;
    let entries = test
        .store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap();

    let update_error = update.unwrap_err().to_string();
    let delete_error = delete.unwrap_err().to_string();
    assert!(update_error.contains("append-only"), "{update_error}");
    assert!(delete_error.contains("append-only"), "{delete_error}");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entry.reason, "hour 1");
}

#[test]
fn named_operations_round_trip_through_their_names() {
    for operation in [
        AuditOperation::CreateChildAgreement,
        AuditOperation::EndChildAgreement,
        AuditOperation::CreateMasterAgreement,
        AuditOperation::CreateAddition,
        AuditOperation::UpdateAddition,
        AuditOperation::CancelAddition,
        AuditOperation::CreateCatalogItem,
        AuditOperation::AdoptRecord,
    ] {
        assert_eq!(AuditOperation::from_name(operation.as_str()), operation);
    }
    assert_eq!(
        AuditOperation::from_name("create_addition"),
        AuditOperation::CreateAddition
    );
}

#[tokio::test]
async fn own_writes_are_found_by_record_among_any_number_of_others() {
    let test = open_store().await;
    let wanted = NewAuditEntry {
        target_id: Some(7),
        after: Some(json!({"cancelledDate": "2026-12-03T00:00:00Z"})),
        status: AuditStatus::Unknown,
        ..entry(1, "acme", AuditOperation::CancelAddition)
    };
    test.store.append_audit(&wanted).await.unwrap();
    for hour in 2..20 {
        let other = NewAuditEntry {
            target_id: Some(1000 + i64::from(hour)),
            ..entry(hour, "acme", AuditOperation::CancelAddition)
        };
        test.store.append_audit(&other).await.unwrap();
    }
    let ended = NewAuditEntry {
        target_kind: "agreement".to_owned(),
        target_id: Some(7),
        ..entry(3, "acme", AuditOperation::EndChildAgreement)
    };
    test.store.append_audit(&ended).await.unwrap();
    test.store
        .record_write_intent(&WriteIntent {
            at: at(2, 21),
            run: None,
            customer: Some(customer_id("acme")),
            operation: AuditOperation::CancelAddition,
            target_kind: "addition".to_owned(),
            target_id: 8,
            sent: json!({"cancelledDate": "2026-12-04T00:00:00Z"}),
        })
        .await
        .unwrap();

    let own = test
        .store
        .own_writes(&AuditOperation::CancelAddition, "addition", &[7, 8, 9])
        .await
        .unwrap();
    let none = test
        .store
        .own_writes(&AuditOperation::CancelAddition, "addition", &[])
        .await
        .unwrap();

    let mut found: Vec<(i64, String)> = own
        .iter()
        .map(|write| (write.target_id, write.sent["cancelledDate"].to_string()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (7, "\"2026-12-03T00:00:00Z\"".to_owned()),
            (8, "\"2026-12-04T00:00:00Z\"".to_owned()),
        ]
    );
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_installation_id_is_created_once_and_kept() {
    let test = open_store().await;

    let first = test.store.installation_id().await.unwrap();
    let again = test.store.installation_id().await.unwrap();
    let other = open_store().await.store.installation_id().await.unwrap();

    assert!(first.starts_with("hyi-") && first.len() == 20, "{first}");
    assert_eq!(first, again);
    assert_ne!(first, other, "another data dir is another installation");
}
