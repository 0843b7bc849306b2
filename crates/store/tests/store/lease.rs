//! The sync lease, across two handles on the same database file (as two processes would be).

use std::time::Duration;

use hyalto_store::{Store as _, StoreError, new_holder_id};

use crate::helpers::{at, open_in, open_store};

const TEN_MINUTES: Duration = Duration::from_secs(600);

#[tokio::test]
async fn a_second_process_cannot_take_an_unexpired_lease() {
    let test = open_store().await;
    let other_process = open_in(test.dir.path()).await;
    let taken = test
        .store
        .try_acquire_sync_lease("first", at(1, 8), TEN_MINUTES)
        .await
        .unwrap();

    let error = other_process
        .try_acquire_sync_lease("second", at(1, 8) + Duration::from_secs(599), TEN_MINUTES)
        .await
        .unwrap_err();

    assert_eq!(taken.holder, "first");
    assert_eq!(taken.expires_at, at(1, 8) + TEN_MINUTES);
    assert!(
        matches!(&error, StoreError::LeaseHeld { holder, expires_at }
            if holder == "first" && *expires_at == at(1, 8) + TEN_MINUTES),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_old_holder_can_no_longer_renew() {
    let test = open_store().await;
    let other_process = open_in(test.dir.path()).await;
    test.store
        .try_acquire_sync_lease("first", at(1, 8), TEN_MINUTES)
        .await
        .unwrap();

    let takeover_time = at(1, 8) + TEN_MINUTES;
    let taken = other_process
        .try_acquire_sync_lease("second", takeover_time, TEN_MINUTES)
        .await;
    let renewal = test
        .store
        .renew_sync_lease("first", takeover_time, TEN_MINUTES)
        .await;
    let released_by_old_holder = test.store.release_sync_lease("first").await.unwrap();
    let current = test.store.current_sync_lease().await.unwrap().unwrap();

    let taken = taken.unwrap();
    assert_eq!(taken.holder, "second");
    assert_eq!(taken.acquired_at, takeover_time);
    assert!(
        matches!(renewal, Err(StoreError::LeaseLost { .. })),
        "{renewal:?}"
    );
    assert!(!released_by_old_holder);
    assert_eq!(current.holder, "second");
}

#[tokio::test]
async fn the_holder_renews_and_releases_its_lease_and_then_another_may_take_it() {
    let test = open_store().await;
    let other_process = open_in(test.dir.path()).await;
    let taken = test
        .store
        .try_acquire_sync_lease("first", at(1, 8), TEN_MINUTES)
        .await
        .unwrap();

    let renewed = test
        .store
        .renew_sync_lease("first", at(1, 9), TEN_MINUTES)
        .await
        .unwrap();
    let reacquired = test
        .store
        .try_acquire_sync_lease("first", at(1, 9), TEN_MINUTES)
        .await
        .unwrap();
    let released = test.store.release_sync_lease("first").await.unwrap();
    let after_release = other_process.current_sync_lease().await.unwrap();
    let taken_by_other = other_process
        .try_acquire_sync_lease("second", at(1, 9), TEN_MINUTES)
        .await
        .unwrap();

    assert_eq!(renewed.expires_at, at(1, 9) + TEN_MINUTES);
    assert_eq!(renewed.acquired_at, taken.acquired_at);
    assert_eq!(
        reacquired.acquired_at, taken.acquired_at,
        "taking it again is a renewal"
    );
    assert!(released);
    assert!(after_release.is_none());
    assert_eq!(taken_by_other.holder, "second");
}

#[tokio::test]
async fn two_processes_racing_for_a_free_lease_get_exactly_one_winner() {
    let test = open_store().await;
    let first = test.store.clone();
    let second = open_in(test.dir.path()).await;

    let (first_result, second_result) = tokio::join!(
        tokio::spawn(async move {
            first
                .try_acquire_sync_lease("a", at(1, 8), TEN_MINUTES)
                .await
        }),
        tokio::spawn(async move {
            second
                .try_acquire_sync_lease("b", at(1, 8), TEN_MINUTES)
                .await
        }),
    );
    let results = [first_result.unwrap(), second_result.unwrap()];

    let winners = results.iter().filter(|result| result.is_ok()).count();
    let held = results
        .iter()
        .filter(|result| matches!(result, Err(StoreError::LeaseHeld { .. })));
    assert_eq!(winners, 1, "{results:?}");
    assert_eq!(held.count(), 1, "{results:?}");
}

#[test]
fn holder_ids_differ_between_calls() {
    let first = new_holder_id();
    let second = new_holder_id();

    assert_ne!(first, second);
    assert!(
        first.starts_with(&format!("pid{}-", std::process::id())),
        "{first}"
    );
}
