//! The sync lease in SQLite: one row, changed only inside write transactions, so two processes
//! sharing the database file see each other's leases.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{get_instant, get_text, instant};
use crate::StoreResult;
use crate::error::StoreError;
use crate::lease::SyncLease;

pub(super) async fn try_acquire(
    store: &SqliteStore,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> StoreResult<SyncLease> {
    if holder.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "lease holder",
            reason: "the holder id is empty".to_owned(),
        });
    }
    let expires_at = expiry(now, ttl)?;
    let mut transaction = store.begin_write().await?;

    // Take the row when it is free, expired, or already ours; a renewal by the same holder keeps
    // its original acquired_at. The WHERE clause of the upsert makes this one atomic step.
    let taken = sqlx::query(
        "INSERT INTO sync_lease (id, holder, acquired_at, expires_at) VALUES (1, ?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET \
             holder = excluded.holder, \
             acquired_at = CASE WHEN sync_lease.holder = excluded.holder \
                                THEN sync_lease.acquired_at ELSE excluded.acquired_at END, \
             expires_at = excluded.expires_at \
         WHERE sync_lease.holder = excluded.holder OR sync_lease.expires_at <= ?2 \
         RETURNING holder, acquired_at, expires_at",
    )
    .bind(holder)
    .bind(instant(now))
    .bind(instant(expires_at))
    .fetch_optional(&mut *transaction)
    .await?;

    if let Some(row) = taken {
        transaction.commit().await?;
        let lease = lease_from_row(&row)?;
        tracing::debug!(
            lease.holder = holder,
            lease.expires_at = %lease.expires_at,
            "{holder} took the sync lease"
        );
        return Ok(lease);
    }

    // Someone else holds an unexpired lease; report who and until when.
    let row = sqlx::query("SELECT holder, acquired_at, expires_at FROM sync_lease WHERE id = 1")
        .fetch_one(&mut *transaction)
        .await?;
    let current = lease_from_row(&row)?;
    Err(StoreError::LeaseHeld {
        holder: current.holder,
        expires_at: current.expires_at,
    })
}

pub(super) async fn renew(
    store: &SqliteStore,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> StoreResult<SyncLease> {
    let expires_at = expiry(now, ttl)?;

    // Renewing an expired lease nobody took over is safe: nobody else can have written meanwhile.
    let row = sqlx::query(
        "UPDATE sync_lease SET expires_at = ?2 WHERE id = 1 AND holder = ?1 \
         RETURNING holder, acquired_at, expires_at",
    )
    .bind(holder)
    .bind(instant(expires_at))
    .fetch_optional(&store.pool)
    .await?;

    match row {
        Some(row) => lease_from_row(&row),
        None => Err(StoreError::LeaseLost {
            holder: holder.to_owned(),
        }),
    }
}

pub(super) async fn release(store: &SqliteStore, holder: &str) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM sync_lease WHERE id = 1 AND holder = ?")
        .bind(holder)
        .execute(&store.pool)
        .await?;

    Ok(result.rows_affected() > 0)
}

pub(super) async fn current(store: &SqliteStore) -> StoreResult<Option<SyncLease>> {
    let row = sqlx::query("SELECT holder, acquired_at, expires_at FROM sync_lease WHERE id = 1")
        .fetch_optional(&store.pool)
        .await?;

    row.map(|row| lease_from_row(&row)).transpose()
}

fn expiry(now: DateTime<Utc>, ttl: Duration) -> StoreResult<DateTime<Utc>> {
    TimeDelta::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .ok_or_else(|| StoreError::InvalidInput {
            what: "lease time to live",
            reason: format!("{ttl:?} is too long"),
        })
}

fn lease_from_row(row: &SqliteRow) -> StoreResult<SyncLease> {
    Ok(SyncLease {
        holder: get_text(row, "holder")?,
        acquired_at: get_instant(row, "acquired_at")?,
        expires_at: get_instant(row, "expires_at")?,
    })
}
