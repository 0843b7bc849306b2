//! The record refreshes the server runs, and forgetting the ConnectWise connection.

use chrono::{DateTime, Utc};

use super::SqliteStore;
use super::codec::{get_i64, get_instant, get_opt_i64, get_opt_instant, get_opt_text, instant};
use crate::StoreResult;
use crate::users::{RecordRefresh, RefreshOutcome};

pub(super) async fn start_record_refresh(
    store: &SqliteStore,
    started_at: DateTime<Utc>,
) -> StoreResult<i64> {
    let row = sqlx::query("INSERT INTO cw_refreshes (started_at) VALUES (?) RETURNING id")
        .bind(instant(started_at))
        .fetch_one(&store.pool)
        .await?;
    get_i64(&row, "id")
}

pub(super) async fn finish_record_refresh(
    store: &SqliteStore,
    id: i64,
    finished_at: DateTime<Utc>,
    outcome: &RefreshOutcome,
) -> StoreResult<()> {
    let (records, message) = match outcome {
        RefreshOutcome::Succeeded { records } => {
            (Some(i64::try_from(*records).unwrap_or(i64::MAX)), None)
        }
        RefreshOutcome::Failed { message } => (None, Some(message.as_str())),
    };
    sqlx::query(
        "UPDATE cw_refreshes SET finished_at = ?, records = ?, error_message = ? WHERE id = ?",
    )
    .bind(instant(finished_at))
    .bind(records)
    .bind(message)
    .bind(id)
    .execute(&store.pool)
    .await?;
    Ok(())
}

pub(super) async fn record_refreshes(
    store: &SqliteStore,
    limit: u32,
) -> StoreResult<Vec<RecordRefresh>> {
    let rows = sqlx::query(
        "SELECT id, started_at, finished_at, records, error_message FROM cw_refreshes \
         ORDER BY id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(&store.pool)
    .await?;

    rows.iter()
        .map(|row| {
            Ok(RecordRefresh {
                id: get_i64(row, "id")?,
                started_at: get_instant(row, "started_at")?,
                finished_at: get_opt_instant(row, "finished_at")?,
                records: get_opt_i64(row, "records")?.map(|count| count.max(0).unsigned_abs()),
                error_message: get_opt_text(row, "error_message")?,
            })
        })
        .collect()
}

pub(super) async fn remove_connection(store: &SqliteStore) -> StoreResult<bool> {
    // The cache, the mappings and the history stay: they name records of the site, and
    // connecting to the same site again picks up where hyalto left off.
    let result = sqlx::query("DELETE FROM cw_connection WHERE id = 1")
        .execute(&store.pool)
        .await?;
    let removed = result.rows_affected() > 0;
    if removed {
        tracing::info!("removed the ConnectWise connection");
    }
    Ok(removed)
}
