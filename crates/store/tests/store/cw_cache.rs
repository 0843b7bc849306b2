//! The ConnectWise record cache.

use hyalto_store::{CachedRecord, CwRecordKind, Store as _};
use serde_json::json;

use crate::helpers::{at, open_store};

#[tokio::test]
async fn replacing_a_kind_drops_records_no_longer_listed_and_leaves_other_kinds_alone() {
    let test = open_store().await;
    let store = &test.store;
    store
        .replace_cw_records(
            CwRecordKind::Company,
            &[
                (1, json!({"id": 1, "name": "A"})),
                (2, json!({"id": 2, "name": "B"})),
            ],
            at(1, 0),
        )
        .await
        .unwrap();
    store
        .replace_cw_records(CwRecordKind::Contact, &[(1, json!({"id": 1}))], at(1, 0))
        .await
        .unwrap();

    store
        .replace_cw_records(
            CwRecordKind::Company,
            &[
                (2, json!({"id": 2, "name": "B renamed"})),
                (3, json!({"id": 3})),
            ],
            at(2, 0),
        )
        .await
        .unwrap();
    let companies = store.list_cw_records(CwRecordKind::Company).await.unwrap();
    let contacts = store.list_cw_records(CwRecordKind::Contact).await.unwrap();

    let ids: Vec<i64> = companies.iter().map(|record| record.id).collect();
    assert_eq!(ids, [2, 3]);
    assert_eq!(companies[0].body["name"], "B renamed");
    assert_eq!(companies[0].fetched_at, at(2, 0));
    assert_eq!(contacts.len(), 1);
}

#[tokio::test]
async fn a_put_record_reads_back_with_exact_numbers_and_its_fetch_time() {
    let test = open_store().await;
    let record = CachedRecord {
        kind: CwRecordKind::CatalogItem,
        id: 77,
        body: serde_json::from_str(r#"{"id": 77, "price": 12.50, "cost": 0.1000000000000000001}"#)
            .unwrap(),
        fetched_at: at(3, 9),
    };

    test.store.put_cw_record(&record).await.unwrap();
    let read = test
        .store
        .get_cw_record(CwRecordKind::CatalogItem, 77)
        .await
        .unwrap();
    let missing = test
        .store
        .get_cw_record(CwRecordKind::Company, 77)
        .await
        .unwrap();

    let read = read.unwrap();
    assert_eq!(read, record);
    assert_eq!(read.body["price"].to_string(), "12.50");
    assert_eq!(read.body["cost"].to_string(), "0.1000000000000000001");
    assert!(missing.is_none());
}

#[test]
fn record_kinds_parse_from_their_names() {
    for kind in CwRecordKind::ALL {
        assert_eq!(kind.as_str().parse::<CwRecordKind>().unwrap(), kind);
    }
    assert!("invoice".parse::<CwRecordKind>().is_err());
}
