//! The ConnectWise connection: stored, loaded, and its private key encrypted at rest.

use std::path::PathBuf;

use hyalto_store::secret::{finish_key_file_rotation, rotate_key_file};
use hyalto_store::{
    DATABASE_FILE_NAME, KEY_FILE_NAME, KeyEncryptionKey, OLD_KEY_FILE_NAME, SealState, SecretError,
    SqliteStore, Store as _, StoreError, StoredConnection,
};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Row as _;

use crate::helpers::{open_in, open_store, raw_connection};

const PRIVATE_KEY: &str = "pRiVaTe-KeY-4f9c2e7a";

fn connection() -> StoredConnection {
    StoredConnection {
        site_url: "https://cw.example.test".to_owned(),
        company_id: "examplemsp".to_owned(),
        public_key: "PublicKey123".to_owned(),
        private_key: SecretString::from(PRIVATE_KEY),
        client_id: "client-id-0001".to_owned(),
        api_version: "2025.1".to_owned(),
        ca_file: Some(PathBuf::from("/etc/hyalto/ca.pem")),
        insecure: false,
    }
}

#[tokio::test]
async fn a_new_store_has_no_connection() {
    let test = open_store().await;

    let loaded = test.store.load_connection().await.unwrap();

    assert!(loaded.is_none());
}

#[tokio::test]
async fn a_saved_connection_loads_back_with_its_private_key() {
    let test = open_store().await;

    test.store.save_connection(&connection()).await.unwrap();
    let loaded = test.store.load_connection().await.unwrap().unwrap();

    assert_eq!(loaded.private_key.expose_secret(), PRIVATE_KEY);
    assert_eq!(loaded.site_url, "https://cw.example.test");
    assert_eq!(loaded.company_id, "examplemsp");
    assert_eq!(loaded.public_key, "PublicKey123");
    assert_eq!(loaded.client_id, "client-id-0001");
    assert_eq!(loaded.api_version, "2025.1");
    assert_eq!(loaded.ca_file, Some(PathBuf::from("/etc/hyalto/ca.pem")));
    assert!(!loaded.insecure);
}

#[tokio::test]
async fn the_database_files_never_hold_the_private_key_in_plain_text() {
    let test = open_store().await;
    test.store.save_connection(&connection()).await.unwrap();

    let mut raw = raw_connection(&test.store).await;
    let sealed: Vec<u8> = sqlx::query("SELECT private_key_sealed FROM cw_connection")
        .fetch_one(&mut raw)
        .await
        .unwrap()
        .get(0);
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(test.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(DATABASE_FILE_NAME)
        {
            on_disk.extend(std::fs::read(path).unwrap());
        }
    }

    let needle = PRIVATE_KEY.as_bytes();
    assert_eq!(
        sealed.len(),
        24 + needle.len() + 16,
        "nonce, ciphertext and tag"
    );
    assert!(!sealed.windows(needle.len()).any(|window| window == needle));
    assert!(on_disk.len() > 4096, "the database files were read");
    assert!(!on_disk.windows(needle.len()).any(|window| window == needle));
}

#[tokio::test]
async fn saving_again_replaces_the_connection_under_a_fresh_nonce() {
    let test = open_store().await;
    let mut raw = raw_connection(&test.store).await;
    let read_sealed = async |raw: &mut sqlx::SqliteConnection| -> Vec<u8> {
        sqlx::query("SELECT private_key_sealed FROM cw_connection")
            .fetch_one(raw)
            .await
            .unwrap()
            .get(0)
    };

    test.store.save_connection(&connection()).await.unwrap();
    let first = read_sealed(&mut raw).await;
    let mut changed = connection();
    changed.site_url = "https://other.example.test".to_owned();
    test.store.save_connection(&changed).await.unwrap();
    let second = read_sealed(&mut raw).await;
    let loaded = test.store.load_connection().await.unwrap().unwrap();

    assert_ne!(first[..24], second[..24], "each write draws a new nonce");
    assert_eq!(loaded.site_url, "https://other.example.test");
    assert_eq!(loaded.private_key.expose_secret(), PRIVATE_KEY);
}

#[tokio::test]
async fn loading_under_another_key_fails_and_names_the_key_in_use() {
    let test = open_store().await;
    test.store.save_connection(&connection()).await.unwrap();
    test.store.close().await;
    let other_dir = tempfile::tempdir().unwrap();
    let other_key_path = other_dir.path().join(KEY_FILE_NAME);
    let other_key = KeyEncryptionKey::load_or_create_file(&other_key_path).unwrap();

    let reopened = SqliteStore::open_with_key(test.dir.path(), other_key)
        .await
        .unwrap();
    let error = reopened.load_connection().await.unwrap_err();

    assert!(
        matches!(error, StoreError::Secret(SecretError::WrongKey { .. })),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&other_key_path.display().to_string()),
        "{message}"
    );
    assert!(message.contains("HYALTO_SECRET_KEY"), "{message}");
    assert!(
        message.contains("hyalto connectwise configure"),
        "{message}"
    );
    assert!(!message.contains(PRIVATE_KEY), "{message}");
}

#[tokio::test]
async fn a_second_handle_with_the_same_key_file_reads_the_connection() {
    let test = open_store().await;
    test.store.save_connection(&connection()).await.unwrap();

    let second = open_in(test.dir.path()).await;
    let loaded = second.load_connection().await.unwrap().unwrap();

    assert_eq!(loaded.private_key.expose_secret(), PRIVATE_KEY);
}

#[test]
fn debug_of_a_connection_redacts_its_credentials() {
    let debug = format!("{:?}", connection());

    assert!(!debug.contains(PRIVATE_KEY), "{debug}");
    assert!(!debug.contains("PublicKey123"), "{debug}");
    assert!(!debug.contains("client-id-0001"), "{debug}");
    assert!(debug.contains("examplemsp"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
}

#[tokio::test]
async fn opening_a_new_data_dir_creates_a_private_directory_and_the_database() {
    use std::os::unix::fs::PermissionsExt as _;

    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("nested").join("data");
    let key = KeyEncryptionKey::load_or_create_file(&parent.path().join(KEY_FILE_NAME)).unwrap();

    let store = SqliteStore::open_with_key(&data_dir, key).await.unwrap();
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;

    assert_eq!(mode, 0o700);
    assert_eq!(store.database_path(), data_dir.join(DATABASE_FILE_NAME));
    assert!(store.database_path().is_file());
}

/// A copy of the key file in `data_dir`, to check later that the old key no longer opens.
fn copy_of_key_file(data_dir: &std::path::Path) -> KeyEncryptionKey {
    let folder = data_dir.join("copy-of-the-old-key");
    std::fs::create_dir(&folder).unwrap();
    let copy = folder.join(KEY_FILE_NAME);
    std::fs::copy(data_dir.join(KEY_FILE_NAME), &copy).unwrap();
    KeyEncryptionKey::load_or_create_file(&copy).unwrap()
}

/// Opens the store in `data_dir` with its key files, as `hyalto` does without the variable.
async fn reopen(data_dir: &std::path::Path) -> SqliteStore {
    let key = KeyEncryptionKey::load_key_files(data_dir).unwrap();
    SqliteStore::open_with_key(data_dir, key).await.unwrap()
}

#[tokio::test]
async fn a_rotated_key_file_reseals_the_private_key_which_the_old_key_no_longer_opens() {
    let test = open_store().await;
    test.store.save_connection(&connection()).await.unwrap();
    let old_key = copy_of_key_file(test.dir.path());

    let new_key = rotate_key_file(test.dir.path()).unwrap();
    let report = test.store.reseal_secrets(&new_key).await.unwrap();
    let removed = finish_key_file_rotation(test.dir.path()).unwrap();
    let rotated = reopen(test.dir.path()).await;
    let loaded = rotated.load_connection().await.unwrap().unwrap();
    let with_old_key = SqliteStore::open_with_key(test.dir.path(), old_key)
        .await
        .unwrap()
        .load_connection()
        .await
        .unwrap_err();

    assert_eq!(report.resealed, ["ConnectWise private key"]);
    assert!(removed);
    assert!(!test.dir.path().join(OLD_KEY_FILE_NAME).exists());
    assert_eq!(loaded.private_key.expose_secret(), PRIVATE_KEY);
    assert!(
        matches!(
            with_old_key,
            StoreError::Secret(SecretError::WrongKey { .. })
        ),
        "{with_old_key:?}"
    );
}

#[tokio::test]
async fn a_rotation_cut_short_before_the_reseal_stays_readable_and_can_be_finished() {
    let test = open_store().await;
    test.store.save_connection(&connection()).await.unwrap();
    rotate_key_file(test.dir.path()).unwrap();

    let interrupted = reopen(test.dir.path()).await;
    let loaded = interrupted.load_connection().await.unwrap().unwrap();
    let before = interrupted.sealed_secrets().await.unwrap();
    let current = KeyEncryptionKey::load_key_files(test.dir.path()).unwrap();
    let report = interrupted.reseal_secrets(&current).await.unwrap();
    finish_key_file_rotation(test.dir.path()).unwrap();
    let finished = reopen(test.dir.path()).await;
    let after = finished.sealed_secrets().await.unwrap();

    assert_eq!(loaded.private_key.expose_secret(), PRIVATE_KEY);
    assert_eq!(before[0].state, SealState::OpensWithPreviousKey);
    assert_eq!(report.resealed, ["ConnectWise private key"]);
    assert_eq!(after[0].state, SealState::OpensWithCurrentKey);
    assert_eq!(
        finished
            .load_connection()
            .await
            .unwrap()
            .unwrap()
            .private_key
            .expose_secret(),
        PRIVATE_KEY
    );
}

#[tokio::test]
async fn a_rotation_cut_short_after_the_reseal_stays_readable_and_resealing_again_changes_nothing()
{
    let test = open_store().await;
    test.store.save_connection(&connection()).await.unwrap();
    let new_key = rotate_key_file(test.dir.path()).unwrap();
    test.store.reseal_secrets(&new_key).await.unwrap();

    let interrupted = reopen(test.dir.path()).await;
    let loaded = interrupted.load_connection().await.unwrap().unwrap();
    let again = interrupted.reseal_secrets(&new_key).await.unwrap();
    let refused = rotate_key_file(test.dir.path()).unwrap_err();

    assert_eq!(loaded.private_key.expose_secret(), PRIVATE_KEY);
    assert!(again.resealed.is_empty());
    assert_eq!(again.already_sealed, ["ConnectWise private key"]);
    assert!(
        matches!(refused, SecretError::RotationUnfinished { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn resealing_under_a_key_from_the_environment_leaves_the_key_file_unable_to_open_it() {
    let test = open_store().await;
    test.store.save_connection(&connection()).await.unwrap();
    let new_key =
        KeyEncryptionKey::from_env_value("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=").unwrap();

    let report = test.store.reseal_secrets(&new_key).await.unwrap();
    let states = test.store.sealed_secrets().await.unwrap();
    let under_new_key = SqliteStore::open_with_key(test.dir.path(), new_key)
        .await
        .unwrap()
        .load_connection()
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.resealed, ["ConnectWise private key"]);
    assert_eq!(states[0].state, SealState::DoesNotOpen);
    assert_eq!(under_new_key.private_key.expose_secret(), PRIVATE_KEY);
}

#[tokio::test]
async fn a_store_without_a_connection_has_no_sealed_secrets() {
    let test = open_store().await;

    let secrets = test.store.sealed_secrets().await.unwrap();

    assert!(secrets.is_empty());
}
