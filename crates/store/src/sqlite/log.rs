//! Sync runs and the append-only audit log in SQLite.

use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{
    get_bool, get_i64, get_instant, get_opt_i64, get_opt_instant, get_opt_json, get_opt_parsed,
    get_opt_text, get_text, instant, json,
};
use crate::StoreResult;
use crate::audit::{
    AuditEntry, AuditFilter, AuditId, AuditOperation, AuditStatus, NewAuditEntry, OwnWrite,
    WriteIntent,
};
use crate::error::StoreError;
use crate::runs::{NewRun, RunCounts, RunFinish, RunId, RunOutcome, SyncRun};

pub(super) async fn start_run(store: &SqliteStore, run: &NewRun) -> StoreResult<RunId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sync_runs (started_at, dry_run, customer_filter) VALUES (?, ?, ?) \
         RETURNING id",
    )
    .bind(instant(run.started_at))
    .bind(run.dry_run)
    .bind(
        run.customer_filter
            .as_ref()
            .map(|customer| customer.as_str()),
    )
    .fetch_one(&store.pool)
    .await?;

    Ok(RunId(id))
}

pub(super) async fn finish_run(
    store: &SqliteStore,
    run: RunId,
    finish: &RunFinish,
) -> StoreResult<()> {
    let counts =
        serde_json::to_string(&finish.counts).map_err(|error| StoreError::InvalidInput {
            what: "run counts",
            reason: error.to_string(),
        })?;
    let mut transaction = store.begin_write().await?;

    let result = sqlx::query(
        "UPDATE sync_runs SET finished_at = ?, outcome = ?, counts = ?, results = ? \
         WHERE id = ? AND finished_at IS NULL",
    )
    .bind(instant(finish.finished_at))
    .bind(finish.outcome.as_str())
    .bind(counts)
    .bind(json(&finish.results))
    .bind(run.0)
    .execute(&mut *transaction)
    .await?;

    // Nothing updated: either the run does not exist or it already finished; say which.
    if result.rows_affected() == 0 {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM sync_runs WHERE id = ?")
            .bind(run.0)
            .fetch_optional(&mut *transaction)
            .await?;
        return Err(match exists {
            None => StoreError::NotFound {
                what: "sync run",
                id: run.to_string(),
            },
            Some(_) => StoreError::InvalidInput {
                what: "run result",
                reason: format!("sync run {run} has already finished"),
            },
        });
    }

    transaction.commit().await?;
    Ok(())
}

/// One run (`only`), or the latest `limit` runs, newest first.
pub(super) async fn runs(
    store: &SqliteStore,
    only: Option<RunId>,
    limit: u32,
) -> StoreResult<Vec<SyncRun>> {
    let rows = sqlx::query(
        "SELECT * FROM sync_runs WHERE ?1 IS NULL OR id = ?1 ORDER BY id DESC LIMIT ?2",
    )
    .bind(only.map(|run| run.0))
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;

    rows.iter().map(sync_run).collect()
}

fn sync_run(row: &SqliteRow) -> StoreResult<SyncRun> {
    let counts_json = get_text(row, "counts")?;
    let counts: RunCounts =
        serde_json::from_str(&counts_json).map_err(|error| StoreError::Corrupt {
            what: "run counts",
            value: counts_json.clone(),
            reason: error.to_string(),
        })?;
    let outcome = get_opt_text(row, "outcome")?
        .map(|text| {
            RunOutcome::parse(&text).ok_or(StoreError::Corrupt {
                what: "run outcome",
                value: text,
                reason: "expected succeeded, partially_failed or failed".to_owned(),
            })
        })
        .transpose()?;

    Ok(SyncRun {
        id: RunId(get_i64(row, "id")?),
        started_at: get_instant(row, "started_at")?,
        dry_run: get_bool(row, "dry_run")?,
        customer_filter: get_opt_parsed(row, "customer_filter", "customer id")?,
        finished_at: get_opt_instant(row, "finished_at")?,
        outcome,
        counts,
        results: get_opt_json(row, "results")?,
    })
}

pub(super) async fn append_audit(
    store: &SqliteStore,
    entry: &NewAuditEntry,
) -> StoreResult<AuditId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, run_id, customer_id, operation, target_kind, target_id, \
                                reason, before_json, after_json, status, request_id, \
                                error_message) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         RETURNING id",
    )
    .bind(instant(entry.at))
    .bind(entry.run.map(|run| run.0))
    .bind(entry.customer.as_ref().map(|customer| customer.as_str()))
    .bind(entry.operation.as_str())
    .bind(&entry.target_kind)
    .bind(entry.target_id)
    .bind(&entry.reason)
    .bind(entry.before.as_ref().map(json))
    .bind(entry.after.as_ref().map(json))
    .bind(entry.status.as_str())
    .bind(&entry.request_id)
    .bind(&entry.error_message)
    .fetch_one(&store.pool)
    .await?;

    tracing::debug!(
        audit.id = id,
        audit.operation = %entry.operation,
        audit.status = entry.status.as_str(),
        "appended an audit entry"
    );
    Ok(AuditId(id))
}

pub(super) async fn audit_entries(
    store: &SqliteStore,
    filter: &AuditFilter,
) -> StoreResult<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT * FROM audit_log \
         WHERE (?1 IS NULL OR customer_id = ?1) \
           AND (?2 IS NULL OR operation = ?2) \
           AND (?3 IS NULL OR run_id = ?3) \
         ORDER BY id DESC LIMIT ?4",
    )
    .bind(filter.customer.as_ref().map(|customer| customer.as_str()))
    .bind(filter.operation.as_ref().map(AuditOperation::as_str))
    .bind(filter.run.map(|run| run.0))
    .bind(i64::from(filter.limit))
    .fetch_all(&store.pool)
    .await?;

    rows.iter().map(audit_entry).collect()
}

pub(super) async fn record_write_intent(
    store: &SqliteStore,
    intent: &WriteIntent,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO write_intents (at, run_id, customer_id, operation, target_kind, target_id, \
                                    sent_json) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(instant(intent.at))
    .bind(intent.run.map(|run| run.0))
    .bind(intent.customer.as_ref().map(|customer| customer.as_str()))
    .bind(intent.operation.as_str())
    .bind(&intent.target_kind)
    .bind(intent.target_id)
    .bind(json(&intent.sent))
    .execute(&store.pool)
    .await?;
    Ok(())
}

pub(super) async fn own_writes(
    store: &SqliteStore,
    operation: &AuditOperation,
    target_kind: &str,
    target_ids: &[i64],
) -> StoreResult<Vec<OwnWrite>> {
    if target_ids.is_empty() {
        return Ok(Vec::new());
    }
    // The ids travel as one JSON array, so any number of them is one statement; each side of
    // the union is answered by its (target_kind, target_id, operation) index.
    let ids = serde_json::Value::from(target_ids.to_vec());
    let rows = sqlx::query(
        "SELECT target_id, after_json AS sent FROM audit_log \
         WHERE target_kind = ?1 AND operation = ?2 AND after_json IS NOT NULL \
           AND target_id IN (SELECT value FROM json_each(?3)) \
         UNION ALL \
         SELECT target_id, sent_json AS sent FROM write_intents \
         WHERE target_kind = ?1 AND operation = ?2 \
           AND target_id IN (SELECT value FROM json_each(?3))",
    )
    .bind(target_kind)
    .bind(operation.as_str())
    .bind(json(&ids))
    .fetch_all(&store.pool)
    .await?;

    rows.iter()
        .map(|row| {
            Ok(OwnWrite {
                target_id: get_i64(row, "target_id")?,
                sent: get_opt_json(row, "sent")?.unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}

fn audit_entry(row: &SqliteRow) -> StoreResult<AuditEntry> {
    let status_text = get_text(row, "status")?;
    let status = AuditStatus::parse(&status_text).ok_or_else(|| StoreError::Corrupt {
        what: "audit status",
        value: status_text.clone(),
        reason: "expected succeeded, failed or unknown".to_owned(),
    })?;

    Ok(AuditEntry {
        id: AuditId(get_i64(row, "id")?),
        entry: NewAuditEntry {
            at: get_instant(row, "at")?,
            run: get_opt_i64(row, "run_id")?.map(RunId),
            customer: get_opt_parsed(row, "customer_id", "customer id")?,
            operation: AuditOperation::from_name(&get_text(row, "operation")?),
            target_kind: get_text(row, "target_kind")?,
            target_id: get_opt_i64(row, "target_id")?,
            reason: get_text(row, "reason")?,
            before: get_opt_json(row, "before_json")?,
            after: get_opt_json(row, "after_json")?,
            status,
            request_id: get_opt_text(row, "request_id")?,
            error_message: get_opt_text(row, "error_message")?,
        },
    })
}
