//! The ConnectWise connection and the ConnectWise record cache in SQLite.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{get_bool, get_i64, get_instant, get_json, get_opt_text, get_text, instant};
use crate::StoreResult;
use crate::connection::StoredConnection;
use crate::cw_cache::{CachedRecord, CwRecordKind};
use crate::error::StoreError;
use crate::secret::{
    KeyEncryptionKey, OpenedWith, ResealReport, SealState, SealedSecret, SecretError,
};

/// Associated data bound into the sealed private key, so a value sealed for another purpose
/// cannot be swapped in.
const PRIVATE_KEY_PURPOSE: &[u8] = b"hyalto cw_connection.private_key v1";

/// How the private key is named in errors.
const PRIVATE_KEY_WHAT: &str = "ConnectWise private key";

pub(super) async fn save_connection(
    store: &SqliteStore,
    connection: &StoredConnection,
) -> StoreResult<()> {
    let ca_file = connection
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
    let sealed = store.key.seal(
        connection.private_key.expose_secret().as_bytes(),
        PRIVATE_KEY_PURPOSE,
    );

    sqlx::query(
        "INSERT INTO cw_connection (id, site_url, company_id, public_key, private_key_sealed, \
                                    client_id, api_version, ca_file, insecure, updated_at) \
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET \
             site_url = excluded.site_url, company_id = excluded.company_id, \
             public_key = excluded.public_key, private_key_sealed = excluded.private_key_sealed, \
             client_id = excluded.client_id, api_version = excluded.api_version, \
             ca_file = excluded.ca_file, insecure = excluded.insecure, \
             updated_at = excluded.updated_at",
    )
    .bind(&connection.site_url)
    .bind(&connection.company_id)
    .bind(&connection.public_key)
    .bind(sealed)
    .bind(&connection.client_id)
    .bind(&connection.api_version)
    .bind(ca_file)
    .bind(connection.insecure)
    .bind(instant(Utc::now()))
    .execute(&store.pool)
    .await?;

    tracing::info!(
        cw.site = %connection.site_url,
        cw.company_id = %connection.company_id,
        "stored the ConnectWise connection"
    );
    Ok(())
}

pub(super) async fn load_connection(store: &SqliteStore) -> StoreResult<Option<StoredConnection>> {
    let row = sqlx::query("SELECT * FROM cw_connection WHERE id = 1")
        .fetch_optional(&store.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };

    let sealed: Vec<u8> = row.try_get("private_key_sealed")?;
    let opened = store
        .key
        .open(&sealed, PRIVATE_KEY_PURPOSE, PRIVATE_KEY_WHAT)?;
    let private_key = String::from_utf8(opened).map_err(|_| StoreError::Corrupt {
        what: PRIVATE_KEY_WHAT,
        value: "[redacted]".to_owned(),
        reason: "it is not UTF-8 text".to_owned(),
    })?;

    Ok(Some(StoredConnection {
        site_url: get_text(&row, "site_url")?,
        company_id: get_text(&row, "company_id")?,
        public_key: get_text(&row, "public_key")?,
        private_key: SecretString::from(private_key),
        client_id: get_text(&row, "client_id")?,
        api_version: get_text(&row, "api_version")?,
        ca_file: get_opt_text(&row, "ca_file")?.map(PathBuf::from),
        insecure: get_bool(&row, "insecure")?,
    }))
}

/// A column that holds sealed values: every one the store keeps, so that a rotation of the
/// key-encryption key re-seals them all.
struct SealedColumn {
    table: &'static str,
    column: &'static str,
    purpose: &'static [u8],
    what: &'static str,
}

/// Every sealed column. A new sealed value belongs here, or a key rotation would leave it
/// under the old key.
const SEALED_COLUMNS: [SealedColumn; 2] = [
    SealedColumn {
        table: "cw_connection",
        column: "private_key_sealed",
        purpose: PRIVATE_KEY_PURPOSE,
        what: PRIVATE_KEY_WHAT,
    },
    SealedColumn {
        table: "saved_sources",
        column: "password_sealed",
        purpose: super::sources::PASSWORD_PURPOSE,
        what: super::sources::PASSWORD_WHAT,
    },
];

pub(super) async fn sealed_secrets(store: &SqliteStore) -> StoreResult<Vec<SealedSecret>> {
    let mut secrets = Vec::new();

    for sealed_column in &SEALED_COLUMNS {
        let query = format!(
            "SELECT {} FROM {} ORDER BY rowid",
            sealed_column.column, sealed_column.table
        );
        let values: Vec<Vec<u8>> = sqlx::query_scalar(&query).fetch_all(&store.pool).await?;

        for sealed in values {
            let opened = store
                .key
                .open_telling(&sealed, sealed_column.purpose, sealed_column.what);
            let state = match opened {
                Ok((_, OpenedWith::Current)) => SealState::OpensWithCurrentKey,
                Ok((_, OpenedWith::Previous)) => SealState::OpensWithPreviousKey,
                Err(SecretError::Damaged { .. }) => SealState::Damaged,
                Err(_) => SealState::DoesNotOpen,
            };
            secrets.push(SealedSecret {
                what: sealed_column.what,
                state,
            });
        }
    }

    Ok(secrets)
}

pub(super) async fn reseal_secrets(
    store: &SqliteStore,
    new_key: &KeyEncryptionKey,
) -> StoreResult<ResealReport> {
    let mut report = ResealReport::default();

    // One write transaction for every value: the values are all under the old key or all under
    // the new one, never some of each.
    let mut transaction = store.begin_write().await?;
    for sealed_column in &SEALED_COLUMNS {
        let query = format!(
            "SELECT rowid, {} FROM {} ORDER BY rowid",
            sealed_column.column, sealed_column.table
        );
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(&query).fetch_all(&mut *transaction).await?;

        for (rowid, sealed) in rows {
            // A value a rotation cut short already re-sealed opens under the new key as is.
            if new_key
                .open_with_this_key(&sealed, sealed_column.purpose, sealed_column.what)
                .is_ok()
            {
                report.already_sealed.push(sealed_column.what);
                continue;
            }

            let opened = store
                .key
                .open(&sealed, sealed_column.purpose, sealed_column.what)?;
            let resealed = new_key.seal(&opened, sealed_column.purpose);
            let update = format!(
                "UPDATE {} SET {} = ? WHERE rowid = ?",
                sealed_column.table, sealed_column.column
            );
            sqlx::query(&update)
                .bind(resealed)
                .bind(rowid)
                .execute(&mut *transaction)
                .await?;
            report.resealed.push(sealed_column.what);
        }
    }
    transaction.commit().await?;

    tracing::info!(
        key.source = %new_key.source(),
        secrets.resealed = report.resealed.len(),
        secrets.already_sealed = report.already_sealed.len(),
        "re-sealed the stored secrets under a new key-encryption key"
    );
    Ok(report)
}

pub(super) async fn replace_cw_records(
    store: &SqliteStore,
    kind: CwRecordKind,
    records: &[(i64, serde_json::Value)],
    fetched_at: DateTime<Utc>,
) -> StoreResult<()> {
    let mut transaction = store.begin_write().await?;

    sqlx::query("DELETE FROM cw_records WHERE kind = ?")
        .bind(kind.as_str())
        .execute(&mut *transaction)
        .await?;

    let fetched_at = instant(fetched_at);
    for (id, body) in records {
        sqlx::query(
            "INSERT INTO cw_records (kind, id, body, fetched_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (kind, id) DO UPDATE SET \
                 body = excluded.body, fetched_at = excluded.fetched_at",
        )
        .bind(kind.as_str())
        .bind(id)
        .bind(body.to_string())
        .bind(&fetched_at)
        .execute(&mut *transaction)
        .await?;
    }

    transaction.commit().await?;
    tracing::debug!(cw.kind = %kind, records = records.len(), "replaced cached records");
    Ok(())
}

pub(super) async fn put_cw_record(store: &SqliteStore, record: &CachedRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO cw_records (kind, id, body, fetched_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (kind, id) DO UPDATE SET \
             body = excluded.body, fetched_at = excluded.fetched_at",
    )
    .bind(record.kind.as_str())
    .bind(record.id)
    .bind(record.body.to_string())
    .bind(instant(record.fetched_at))
    .execute(&store.pool)
    .await?;

    Ok(())
}

pub(super) async fn get_cw_record(
    store: &SqliteStore,
    kind: CwRecordKind,
    id: i64,
) -> StoreResult<Option<CachedRecord>> {
    let row = sqlx::query("SELECT * FROM cw_records WHERE kind = ? AND id = ?")
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(&store.pool)
        .await?;

    row.map(|row| cached_record(&row)).transpose()
}

pub(super) async fn list_cw_records(
    store: &SqliteStore,
    kind: CwRecordKind,
) -> StoreResult<Vec<CachedRecord>> {
    let rows = sqlx::query("SELECT * FROM cw_records WHERE kind = ? ORDER BY id")
        .bind(kind.as_str())
        .fetch_all(&store.pool)
        .await?;

    rows.iter().map(cached_record).collect()
}

fn cached_record(row: &SqliteRow) -> StoreResult<CachedRecord> {
    let kind = get_text(row, "kind")?;

    Ok(CachedRecord {
        kind: super::codec::parse(&kind, "ConnectWise record kind")?,
        id: get_i64(row, "id")?,
        body: get_json(row, "body")?,
        fetched_at: get_instant(row, "fetched_at")?,
    })
}
