//! Users, sessions, API tokens, record refreshes and forgetting the connection.

use chrono::Duration;
use hyalto_store::{
    NewApiToken, NewSession, NewUser, RefreshOutcome, Store as _, StoreError, StoredConnection,
    User,
};
use secrecy::SecretString;

use crate::helpers::{at, open_store};

fn new_user(username: &str, is_admin: bool) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password_hash: format!("$argon2id$hash-of-{username}"),
        is_admin,
        created_at: at(1, 9),
    }
}

async fn add(store: &hyalto_store::SqliteStore, username: &str) -> User {
    store.create_user(&new_user(username, false)).await.unwrap()
}

#[tokio::test]
async fn a_user_is_found_by_name_whatever_the_case_with_the_hash() {
    let test = open_store().await;
    let added = test
        .store
        .create_user(&new_user("Alice", true))
        .await
        .unwrap();

    let found = test.store.user_credentials("alice").await.unwrap().unwrap();
    let missing = test.store.user_credentials("bob").await.unwrap();

    assert_eq!(found.user, added);
    assert!(found.user.is_admin);
    assert_eq!(found.password_hash, "$argon2id$hash-of-Alice");
    assert!(missing.is_none());
}

#[tokio::test]
async fn a_second_user_of_the_same_name_is_refused() {
    let test = open_store().await;
    add(&test.store, "alice").await;

    let error = test
        .store
        .create_user(&new_user("ALICE", false))
        .await
        .unwrap_err();

    assert!(matches!(error, StoreError::InvalidInput { .. }), "{error}");
    assert!(error.to_string().contains("exists already"), "{error}");
    assert_eq!(test.store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn users_are_listed_by_name() {
    let test = open_store().await;
    add(&test.store, "victor").await;
    add(&test.store, "alice").await;

    let names: Vec<String> = test
        .store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.username)
        .collect();

    assert_eq!(names, ["alice", "victor"]);
}

#[tokio::test]
async fn a_session_is_found_until_it_expires_or_is_deleted() {
    let test = open_store().await;
    let user = add(&test.store, "alice").await;
    let session = NewSession {
        token_hash: "hash-1".to_owned(),
        user: user.id,
        csrf_token: "csrf-1".to_owned(),
        created_at: at(1, 9),
        expires_at: at(1, 21),
    };
    test.store.create_session(&session).await.unwrap();

    let live = test.store.session("hash-1", at(1, 20)).await.unwrap();
    let expired = test.store.session("hash-1", at(1, 21)).await.unwrap();
    let other = test.store.session("hash-2", at(1, 10)).await.unwrap();
    let deleted = test.store.delete_session("hash-1").await.unwrap();
    let after = test.store.session("hash-1", at(1, 10)).await.unwrap();

    let live = live.unwrap();
    assert_eq!(live.user, user);
    assert_eq!(live.csrf_token, "csrf-1");
    assert!(expired.is_none());
    assert!(other.is_none());
    assert!(deleted);
    assert!(after.is_none());
}

#[tokio::test]
async fn expired_sessions_are_swept_and_live_ones_kept() {
    let test = open_store().await;
    let user = add(&test.store, "alice").await;
    for (hash, ends) in [("old", at(1, 10)), ("new", at(2, 10))] {
        let session = NewSession {
            token_hash: hash.to_owned(),
            user: user.id,
            csrf_token: "csrf".to_owned(),
            created_at: ends - Duration::hours(12),
            expires_at: ends,
        };
        test.store.create_session(&session).await.unwrap();
    }

    let swept = test.store.delete_expired_sessions(at(1, 12)).await.unwrap();

    assert_eq!(swept, 1);
    assert!(
        test.store
            .session("new", at(1, 12))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_api_token_finds_its_user_and_records_its_use() {
    let test = open_store().await;
    let user = add(&test.store, "alice").await;
    let token = NewApiToken {
        user: user.id,
        name: "monitoring".to_owned(),
        token_hash: "token-hash".to_owned(),
        created_at: at(1, 9),
    };
    let created = test.store.create_api_token(&token).await.unwrap();

    let found = test
        .store
        .user_by_api_token("token-hash", at(1, 11))
        .await
        .unwrap();
    let unknown = test
        .store
        .user_by_api_token("other", at(1, 11))
        .await
        .unwrap();
    let listed = test.store.api_tokens_of(user.id).await.unwrap();

    assert_eq!(created.last_used_at, None);
    assert_eq!(found, Some(user));
    assert!(unknown.is_none());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "monitoring");
    assert_eq!(listed[0].last_used_at, Some(at(1, 11)));
}

#[tokio::test]
async fn a_token_name_is_unique_per_user() {
    let test = open_store().await;
    let alice = add(&test.store, "alice").await;
    let bob = add(&test.store, "bob").await;
    let token = |user: &User, hash: &str| NewApiToken {
        user: user.id,
        name: "ci".to_owned(),
        token_hash: hash.to_owned(),
        created_at: at(1, 9),
    };
    test.store
        .create_api_token(&token(&alice, "h1"))
        .await
        .unwrap();

    let same_user = test.store.create_api_token(&token(&alice, "h2")).await;
    let other_user = test.store.create_api_token(&token(&bob, "h3")).await;

    let error = same_user.unwrap_err();
    assert!(error.to_string().contains("choose another name"), "{error}");
    assert!(other_user.is_ok());
}

#[tokio::test]
async fn record_refreshes_are_kept_newest_first_with_their_outcome() {
    let test = open_store().await;
    let first = test.store.start_record_refresh(at(1, 9)).await.unwrap();
    let succeeded = RefreshOutcome::Succeeded { records: 42 };
    test.store
        .finish_record_refresh(first, at(1, 10), &succeeded)
        .await
        .unwrap();
    let second = test.store.start_record_refresh(at(2, 9)).await.unwrap();
    let failed = RefreshOutcome::Failed {
        message: "the API member's security role refused GET /company/companies".to_owned(),
    };
    test.store
        .finish_record_refresh(second, at(2, 10), &failed)
        .await
        .unwrap();
    let running = test.store.start_record_refresh(at(3, 9)).await.unwrap();

    let refreshes = test.store.record_refreshes(10).await.unwrap();

    let ids: Vec<i64> = refreshes.iter().map(|refresh| refresh.id).collect();
    assert_eq!(ids, [running, second, first]);
    assert_eq!(refreshes[0].finished_at, None);
    assert!(
        refreshes[1]
            .error_message
            .as_deref()
            .unwrap()
            .contains("security role")
    );
    assert_eq!(refreshes[1].records, None);
    assert_eq!(refreshes[2].records, Some(42));
    assert_eq!(refreshes[2].finished_at, Some(at(1, 10)));
}

#[tokio::test]
async fn removing_the_connection_forgets_it_once() {
    let test = open_store().await;
    test.store
        .save_connection(&StoredConnection {
            site_url: "https://cw.example.test".to_owned(),
            company_id: "examplemsp".to_owned(),
            public_key: "PublicKey123".to_owned(),
            private_key: SecretString::from("private"),
            client_id: "client".to_owned(),
            api_version: "2025.1".to_owned(),
            ca_file: None,
            insecure: false,
        })
        .await
        .unwrap();

    let first = test.store.remove_connection().await.unwrap();
    let second = test.store.remove_connection().await.unwrap();

    assert!(first);
    assert!(!second);
    assert!(test.store.load_connection().await.unwrap().is_none());
}
