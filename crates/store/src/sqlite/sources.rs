//! Saved inventory sources in SQLite, with their passwords sealed.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyalto_domain::SourceId;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{
    get_bool, get_i64, get_instant, get_opt_instant, get_opt_text, get_parsed, get_text, instant,
};
use crate::StoreResult;
use crate::error::StoreError;
use crate::sources::{CollectionAttempt, SavedSource};

/// Associated data bound into every sealed source password, so a value sealed for another
/// purpose (such as the ConnectWise private key) cannot be swapped in.
pub(super) const PASSWORD_PURPOSE: &[u8] = b"hyalto saved_sources.password v1";

/// How a source password is named in errors.
pub(super) const PASSWORD_WHAT: &str = "password of a saved source";

/// The columns every query reads; never the sealed password.
const COLUMNS: &str = "name, kind, url, username, ca_file, insecure, rules, interval_secs, \
                       created_at, updated_at, last_attempt_at, last_error";

pub(super) async fn save_source(
    store: &SqliteStore,
    source: &SavedSource,
    password: &SecretString,
    replace: bool,
) -> StoreResult<()> {
    let ca_file = source
        .ca_file
        .as_ref()
        .map(|path| {
            path.to_str()
                .map(str::to_owned)
                .ok_or_else(|| StoreError::InvalidInput {
                    what: "CA file path",
                    reason: format!("{} is not valid UTF-8", path.display()),
                })
        })
        .transpose()?;
    let interval_secs = i64::try_from(source.interval.as_secs())
        .ok()
        .filter(|secs| *secs > 0)
        .ok_or_else(|| StoreError::InvalidInput {
            what: "collection interval",
            reason: "it must be at least one second".to_owned(),
        })?;
    let sealed = store
        .key
        .seal(password.expose_secret().as_bytes(), PASSWORD_PURPOSE);

    // A replacement keeps the creation time and the last attempt: the source is the same one
    // with new settings.
    let conflict = if replace {
        "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url, \
         username = excluded.username, password_sealed = excluded.password_sealed, \
         ca_file = excluded.ca_file, insecure = excluded.insecure, rules = excluded.rules, \
         interval_secs = excluded.interval_secs, updated_at = excluded.updated_at"
    } else {
        ""
    };
    let result = sqlx::query(&format!(
        "INSERT INTO saved_sources (name, kind, url, username, password_sealed, ca_file, \
                                    insecure, rules, interval_secs, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {conflict}"
    ))
    .bind(source.name.as_str())
    .bind(source.kind.as_str())
    .bind(&source.url)
    .bind(&source.username)
    .bind(sealed)
    .bind(ca_file)
    .bind(source.insecure)
    .bind(&source.rules)
    .bind(interval_secs)
    .bind(instant(source.created_at))
    .bind(instant(source.updated_at))
    .execute(&store.pool)
    .await;

    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(StoreError::InvalidInput {
                what: "saved source",
                reason: format!("a source named {} is saved already", source.name),
            });
        }
        Err(error) => return Err(error.into()),
    }

    tracing::info!(
        source.name = %source.name,
        source.kind = %source.kind,
        source.url = %source.url,
        "saved an inventory source"
    );
    Ok(())
}

pub(super) async fn saved_sources(store: &SqliteStore) -> StoreResult<Vec<SavedSource>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM saved_sources ORDER BY name"
    ))
    .fetch_all(&store.pool)
    .await?;

    rows.iter().map(source_from_row).collect()
}

pub(super) async fn saved_source(
    store: &SqliteStore,
    name: &SourceId,
) -> StoreResult<Option<SavedSource>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM saved_sources WHERE name = ?"
    ))
    .bind(name.as_str())
    .fetch_optional(&store.pool)
    .await?;

    row.as_ref().map(source_from_row).transpose()
}

pub(super) async fn saved_source_password(
    store: &SqliteStore,
    name: &SourceId,
) -> StoreResult<Option<SecretString>> {
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT password_sealed FROM saved_sources WHERE name = ?")
            .bind(name.as_str())
            .fetch_optional(&store.pool)
            .await?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };

    let opened = store.key.open(&sealed, PASSWORD_PURPOSE, PASSWORD_WHAT)?;
    let password = String::from_utf8(opened).map_err(|_| StoreError::Corrupt {
        what: PASSWORD_WHAT,
        value: "[redacted]".to_owned(),
        reason: "it is not UTF-8 text".to_owned(),
    })?;
    Ok(Some(SecretString::from(password)))
}

pub(super) async fn remove_saved_source(store: &SqliteStore, name: &SourceId) -> StoreResult<bool> {
    let removed = sqlx::query("DELETE FROM saved_sources WHERE name = ?")
        .bind(name.as_str())
        .execute(&store.pool)
        .await?
        .rows_affected();

    if removed > 0 {
        tracing::info!(source.name = %name, "removed a saved inventory source");
    }
    Ok(removed > 0)
}

pub(super) async fn record_source_attempt(
    store: &SqliteStore,
    name: &SourceId,
    attempt: &CollectionAttempt,
) -> StoreResult<()> {
    let updated =
        sqlx::query("UPDATE saved_sources SET last_attempt_at = ?, last_error = ? WHERE name = ?")
            .bind(instant(attempt.at))
            .bind(attempt.error.as_deref())
            .bind(name.as_str())
            .execute(&store.pool)
            .await?
            .rows_affected();

    if updated == 0 {
        return Err(StoreError::NotFound {
            what: "saved source",
            id: name.to_string(),
        });
    }
    Ok(())
}

fn source_from_row(row: &SqliteRow) -> StoreResult<SavedSource> {
    let interval_secs = get_i64(row, "interval_secs")?;
    let interval = u64::try_from(interval_secs)
        .map(Duration::from_secs)
        .map_err(|_| StoreError::Corrupt {
            what: "collection interval",
            value: interval_secs.to_string(),
            reason: "it is negative".to_owned(),
        })?;
    let last_attempt_at: Option<DateTime<Utc>> = get_opt_instant(row, "last_attempt_at")?;
    let last_error = get_opt_text(row, "last_error")?;

    Ok(SavedSource {
        name: get_parsed(row, "name", "source name")?,
        kind: get_parsed(row, "kind", "source kind")?,
        url: get_text(row, "url")?,
        username: get_text(row, "username")?,
        ca_file: get_opt_text(row, "ca_file")?.map(PathBuf::from),
        insecure: get_bool(row, "insecure")?,
        rules: get_text(row, "rules")?,
        interval,
        created_at: get_instant(row, "created_at")?,
        updated_at: get_instant(row, "updated_at")?,
        last_attempt: last_attempt_at.map(|at| CollectionAttempt {
            at,
            error: last_error,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store as _;
    use crate::sources::SourceKind;

    const PASSWORD: &str = "Correct-Horse-Battery-7";

    async fn store(dir: &std::path::Path) -> SqliteStore {
        let key =
            crate::secret::KeyEncryptionKey::load_or_create_file(&dir.join("secret.key")).unwrap();
        SqliteStore::open_with_key(dir, key).await.unwrap()
    }

    fn source(name: &str, url: &str) -> SavedSource {
        let at = Utc::now();
        SavedSource {
            name: SourceId::new(name).unwrap(),
            kind: SourceKind::Vsphere,
            url: url.to_owned(),
            username: "reader@vsphere.local".to_owned(),
            ca_file: Some(PathBuf::from("/etc/hyalto/vmca.pem")),
            insecure: false,
            rules: "[[rules]]\nattribute = \"Customer\"\n".to_owned(),
            interval: Duration::from_secs(900),
            created_at: at,
            updated_at: at,
            last_attempt: None,
        }
    }

    #[tokio::test]
    async fn a_saved_source_reads_back_and_its_password_opens_but_is_not_stored_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let saved = source("vc-paris", "https://vc.example.com/sdk");

        store
            .save_source(&saved, &SecretString::from(PASSWORD), false)
            .await
            .unwrap();

        let listed = store.saved_sources().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].url, saved.url);
        assert_eq!(listed[0].rules, saved.rules);
        assert_eq!(listed[0].interval, Duration::from_secs(900));
        assert_eq!(listed[0].ca_file, saved.ca_file);
        let password = store
            .saved_source_password(&saved.name)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(password.expose_secret(), PASSWORD);
        let sealed: Vec<u8> = sqlx::query_scalar("SELECT password_sealed FROM saved_sources")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(
            !sealed
                .windows(PASSWORD.len())
                .any(|window| window == PASSWORD.as_bytes()),
            "the password is stored in clear"
        );
    }

    #[tokio::test]
    async fn a_second_source_of_the_same_name_is_refused_unless_it_replaces_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let first = source("vc-paris", "https://vc1.example.com/sdk");
        let second = source("vc-paris", "https://vc2.example.com/sdk");
        store
            .save_source(&first, &SecretString::from("one"), false)
            .await
            .unwrap();

        let refused = store
            .save_source(&second, &SecretString::from("two"), false)
            .await
            .unwrap_err();
        store
            .save_source(&second, &SecretString::from("two"), true)
            .await
            .unwrap();

        assert!(refused.to_string().contains("saved already"), "{refused}");
        let kept = store.saved_source(&first.name).await.unwrap().unwrap();
        assert_eq!(kept.url, "https://vc2.example.com/sdk");
        let password = store.saved_source_password(&first.name).await.unwrap();
        assert_eq!(password.unwrap().expose_secret(), "two");
    }

    #[tokio::test]
    async fn an_attempt_is_recorded_and_a_removed_source_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let saved = source("vc-paris", "https://vc.example.com/sdk");
        store
            .save_source(&saved, &SecretString::from(PASSWORD), false)
            .await
            .unwrap();
        let attempt = CollectionAttempt {
            at: Utc::now(),
            error: Some("the vCenter refused the password".to_owned()),
        };

        store
            .record_source_attempt(&saved.name, &attempt)
            .await
            .unwrap();
        let read = store.saved_source(&saved.name).await.unwrap().unwrap();
        let removed = store.remove_saved_source(&saved.name).await.unwrap();
        let removed_again = store.remove_saved_source(&saved.name).await.unwrap();
        let unknown = store.record_source_attempt(&saved.name, &attempt).await;

        assert_eq!(
            read.last_attempt.unwrap().error.as_deref(),
            Some("the vCenter refused the password")
        );
        assert!(removed);
        assert!(!removed_again);
        assert!(matches!(unknown, Err(StoreError::NotFound { .. })));
        assert!(
            store
                .saved_source_password(&saved.name)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_key_rotation_reseals_source_passwords_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let saved = source("vc-paris", "https://vc.example.com/sdk");
        store
            .save_source(&saved, &SecretString::from(PASSWORD), false)
            .await
            .unwrap();
        let other = tempfile::tempdir().unwrap();
        let new_key =
            crate::secret::KeyEncryptionKey::load_or_create_file(&other.path().join("new.key"))
                .unwrap();

        let report = store.reseal_secrets(&new_key).await.unwrap();
        store.close().await;
        let reopened = SqliteStore::open_with_key(dir.path(), new_key)
            .await
            .unwrap();
        let secrets = reopened.sealed_secrets().await.unwrap();
        let password = reopened
            .saved_source_password(&saved.name)
            .await
            .unwrap()
            .unwrap();

        assert_eq!(report.resealed, [PASSWORD_WHAT]);
        assert!(secrets.iter().any(|secret| secret.what == PASSWORD_WHAT
            && secret.state == crate::secret::SealState::OpensWithCurrentKey));
        assert_eq!(password.expose_secret(), PASSWORD);
    }
}
