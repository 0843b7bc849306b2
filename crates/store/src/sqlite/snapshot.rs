//! Applying an inventory snapshot in SQLite.
//!
//! A snapshot can list tens of thousands of services, so the work is done in a fixed number of
//! statements rather than a few per service: the stored state of every listed service is read
//! in two queries, the differences are worked out in memory, and each kind of write is one
//! statement over a JSON array (`json_each`). All of it runs in one write transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use hyalto_domain::{Completeness, Service, ServiceId, Snapshot};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use super::codec::{get_decimal, get_opt_text, get_text, instant, parse, parse_instant, text};
use crate::StoreResult;
use crate::error::StoreError;
use crate::inventory::{FutureSnapshotReplaced, SnapshotReport};

/// What is stored about a listed service before the snapshot is applied.
struct StoredService {
    customer: Option<String>,
    kind: String,
    name: String,
    power_state: Option<String>,
    gone: bool,
}

/// A resource's identity within its service: kind and tier, as stored.
type ResourceIdentity = (String, Option<String>);

/// A stored resource's quantity and unit.
struct StoredAmount {
    quantity: Decimal,
    unit: String,
}

/// The writes a snapshot needs, gathered before any is made. Each list becomes one statement.
#[derive(Default)]
struct Writes {
    /// Services starting a life (new or revived), as JSON objects of their columns.
    starting: Vec<Value>,
    /// Present services whose customer, kind, name or power state changed.
    updated: Vec<Value>,
    /// Services whose stored resources are replaced.
    resources_replaced: Vec<String>,
    /// The new resource rows of those services, in snapshot order.
    resources: Vec<Value>,
    /// Usage history rows.
    history: Vec<Value>,
}

pub(super) async fn apply_snapshot(
    store: &SqliteStore,
    snapshot: &Snapshot,
) -> StoreResult<SnapshotReport> {
    apply(store, snapshot, None).await
}

pub(super) async fn apply_snapshot_replacing_future(
    store: &SqliteStore,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> StoreResult<SnapshotReport> {
    apply(store, snapshot, Some(now)).await
}

/// Applies `snapshot`; with `replace_future_after` set, a newest snapshot of the source dated
/// after that instant is replaced rather than refusing this older one.
async fn apply(
    store: &SqliteStore,
    snapshot: &Snapshot,
    replace_future_after: Option<DateTime<Utc>>,
) -> StoreResult<SnapshotReport> {
    validate(snapshot)?;
    let source = snapshot.source.as_str();
    let taken_at = instant(snapshot.taken_at);
    let mut transaction = store.begin_write().await?;

    // A snapshot older than one already applied would undo newer knowledge: services it lists
    // could come back to life and services it misses could be buried. The one exception is a
    // newest snapshot dated in the future, which is no knowledge at all about its date.
    let last_taken_at: Option<String> =
        sqlx::query_scalar("SELECT last_taken_at FROM inventory_sources WHERE id = ?")
            .bind(source)
            .fetch_optional(&mut *transaction)
            .await?;
    let mut replaced_future = None;
    if let Some(last_taken_at) = last_taken_at
        && last_taken_at > taken_at
    {
        let last = parse_instant(&last_taken_at)?;
        match replace_future_after {
            Some(now) if last > now => {
                let replaced = bring_back_future(&mut transaction, source, &taken_at, last).await?;
                replaced_future = Some(replaced);
            }
            _ => {
                return Err(StoreError::StaleSnapshot {
                    source_id: source.to_owned(),
                    taken_at: snapshot.taken_at,
                    last_taken_at: last,
                });
            }
        }
    }

    // Read what is stored about the listed services, then decide every write in memory.
    let listed_ids = json_array(
        snapshot
            .services
            .iter()
            .map(|service| json!(service.id.as_str())),
    );
    let stored_services = stored_services(&mut transaction, &listed_ids).await?;
    let mut stored_resources = stored_resources(&mut transaction, &listed_ids).await?;
    let mut report = SnapshotReport {
        customers_seen: snapshot.customers.len(),
        replaced_future,
        ..SnapshotReport::default()
    };
    let mut writes = Writes::default();
    for service in &snapshot.services {
        let stored = stored_services.get(service.id.as_str());
        let resources = stored_resources
            .remove(service.id.as_str())
            .unwrap_or_default();
        plan_service(service, stored, &resources, &mut writes, &mut report);
    }
    report.history_rows = writes.history.len();

    write_source_and_customers(&mut transaction, snapshot, &taken_at).await?;
    write_services(&mut transaction, source, &taken_at, &listed_ids, &writes).await?;

    // Only a complete snapshot says anything about what is missing.
    if snapshot.completeness.is_complete() {
        report.gone = mark_missing_gone(&mut transaction, source, &taken_at, &listed_ids).await?;
    }

    transaction.commit().await?;
    tracing::info!(
        inventory.source = source,
        snapshot.taken_at = %taken_at,
        snapshot.complete = snapshot.completeness.is_complete(),
        services.added = report.added.len(),
        services.revived = report.revived.len(),
        services.changed = report.changed.len(),
        services.unchanged = report.unchanged,
        services.gone = report.gone.len(),
        history.rows = report.history_rows,
        "applied an inventory snapshot from {source}"
    );
    Ok(report)
}

/// Brings every instant of `source` later than `taken_at` back to it, and makes the services
/// that a future snapshot (claiming `future_taken_at`) marked gone present again.
///
/// The future snapshot's content was real, only its date was wrong, so its rows are kept and
/// re-dated rather than deleted: what it reported counts as reported at `taken_at`, and the
/// replacing snapshot is then applied over it as a later one would be. Its burials are undone
/// because a complete replacing snapshot buries again what is really gone, with its own date.
async fn bring_back_future(
    transaction: &mut Transaction<'static, Sqlite>,
    source: &str,
    taken_at: &str,
    future_taken_at: DateTime<Utc>,
) -> StoreResult<FutureSnapshotReplaced> {
    let unburied: Vec<String> = sqlx::query_scalar(
        "UPDATE services SET gone_at = NULL WHERE source_id = ?1 AND gone_at > ?2 RETURNING id",
    )
    .bind(source)
    .bind(taken_at)
    .fetch_all(&mut **transaction)
    .await?;

    let services_redated = sqlx::query(
        "UPDATE services SET \
             first_seen = min(first_seen, ?2), \
             last_seen = min(last_seen, ?2), \
             customer_since = CASE WHEN customer_since > ?2 THEN ?2 ELSE customer_since END \
         WHERE source_id = ?1 \
           AND (first_seen > ?2 OR last_seen > ?2 OR customer_since > ?2)",
    )
    .bind(source)
    .bind(taken_at)
    .execute(&mut **transaction)
    .await?
    .rows_affected();

    let history_redated = sqlx::query(
        "UPDATE usage_history SET observed_at = ?2 WHERE source_id = ?1 AND observed_at > ?2",
    )
    .bind(source)
    .bind(taken_at)
    .execute(&mut **transaction)
    .await?
    .rows_affected();

    let customers_redated = sqlx::query(
        "UPDATE customers SET first_seen = min(first_seen, ?2), last_seen = min(last_seen, ?2) \
         WHERE source_id = ?1 AND (first_seen > ?2 OR last_seen > ?2)",
    )
    .bind(source)
    .bind(taken_at)
    .execute(&mut **transaction)
    .await?
    .rows_affected();

    // The source's own marks follow, so that the replacing snapshot is no longer older.
    sqlx::query(
        "UPDATE inventory_sources SET \
             last_taken_at = ?2, \
             last_complete_at = CASE WHEN last_complete_at > ?2 THEN ?2 ELSE last_complete_at END \
         WHERE id = ?1",
    )
    .bind(source)
    .bind(taken_at)
    .execute(&mut **transaction)
    .await?;

    let mut services_unburied = unburied
        .iter()
        .map(|id| parse(id, "service id"))
        .collect::<StoreResult<Vec<ServiceId>>>()?;
    services_unburied.sort();
    tracing::warn!(
        inventory.source = source,
        snapshot.future_taken_at = %future_taken_at,
        snapshot.taken_at = taken_at,
        services.redated = services_redated,
        services.unburied = services_unburied.len(),
        history.redated = history_redated,
        "replacing a snapshot dated in the future"
    );

    Ok(FutureSnapshotReplaced {
        future_taken_at,
        services_redated: usize::try_from(services_redated).unwrap_or(usize::MAX),
        services_unburied,
        history_redated: usize::try_from(history_redated).unwrap_or(usize::MAX),
        customers_redated: usize::try_from(customers_redated).unwrap_or(usize::MAX),
    })
}

/// Checks the rules the tables rely on, before anything is written.
fn validate(snapshot: &Snapshot) -> StoreResult<()> {
    let invalid = |reason: String| StoreError::InvalidSnapshot {
        source_id: snapshot.source.to_string(),
        reason,
    };

    let mut customers = HashSet::new();
    for customer in &snapshot.customers {
        if !customers.insert(&customer.id) {
            return Err(invalid(format!("customer {} is listed twice", customer.id)));
        }
    }

    let mut services = HashSet::new();
    for service in &snapshot.services {
        if !services.insert(&service.id) {
            return Err(invalid(format!("service {} is listed twice", service.id)));
        }
        if let Some(customer) = &service.customer
            && !customers.contains(customer)
        {
            return Err(invalid(format!(
                "service {} names customer {customer}, which the snapshot does not list",
                service.id
            )));
        }

        let mut resources = HashSet::new();
        for resource in &service.resources {
            if resource.tier.as_deref() == Some("") {
                return Err(invalid(format!(
                    "service {} has a {} resource with an empty tier",
                    service.id, resource.kind
                )));
            }
            if !resources.insert((&resource.kind, &resource.tier)) {
                let tier = resource.tier.as_ref().map(|tier| format!("/{tier}"));
                return Err(invalid(format!(
                    "service {} lists resource {}{} twice",
                    service.id,
                    resource.kind,
                    tier.unwrap_or_default()
                )));
            }
        }
    }

    Ok(())
}

async fn stored_services(
    transaction: &mut Transaction<'static, Sqlite>,
    listed_ids: &str,
) -> StoreResult<HashMap<String, StoredService>> {
    let rows = sqlx::query(
        "SELECT id, customer_id, kind, name, power_state, gone_at FROM services \
         WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(listed_ids)
    .fetch_all(&mut **transaction)
    .await?;

    rows.iter()
        .map(|row| {
            let stored = StoredService {
                customer: get_opt_text(row, "customer_id")?,
                kind: get_text(row, "kind")?,
                name: get_text(row, "name")?,
                power_state: get_opt_text(row, "power_state")?,
                gone: get_opt_text(row, "gone_at")?.is_some(),
            };
            Ok((get_text(row, "id")?, stored))
        })
        .collect()
}

async fn stored_resources(
    transaction: &mut Transaction<'static, Sqlite>,
    listed_ids: &str,
) -> StoreResult<HashMap<String, HashMap<ResourceIdentity, StoredAmount>>> {
    let rows = sqlx::query(
        "SELECT service_id, kind, tier, quantity, unit FROM service_resources \
         WHERE service_id IN (SELECT value FROM json_each(?))",
    )
    .bind(listed_ids)
    .fetch_all(&mut **transaction)
    .await?;

    let mut resources: HashMap<String, HashMap<ResourceIdentity, StoredAmount>> = HashMap::new();
    for row in &rows {
        let identity = (get_text(row, "kind")?, get_opt_text(row, "tier")?);
        let amount = StoredAmount {
            quantity: get_decimal(row, "quantity")?,
            unit: get_text(row, "unit")?,
        };
        resources
            .entry(get_text(row, "service_id")?)
            .or_default()
            .insert(identity, amount);
    }
    Ok(resources)
}

/// Works out the writes for one listed service and counts it in the report.
fn plan_service(
    service: &Service,
    stored: Option<&StoredService>,
    stored_resources: &HashMap<ResourceIdentity, StoredAmount>,
    writes: &mut Writes,
    report: &mut SnapshotReport,
) {
    let id = service.id.as_str();
    let columns = json!({
        "id": id,
        "customer_id": service.customer.as_ref().map(|customer| customer.as_str()),
        "kind": service.kind.as_str(),
        "name": service.name,
        "power_state": service.power_state.map(|state| state.as_str()),
    });

    // A new service, or one coming back after it was gone, starts a life: first_seen is this
    // snapshot and every resource is a first sighting in the history.
    let present = match stored {
        Some(stored) if !stored.gone => stored,
        _ => {
            writes.starting.push(columns);
            writes.resources_replaced.push(id.to_owned());
            for resource in &service.resources {
                let row = resource_row(
                    id,
                    resource.kind.as_str(),
                    &resource.tier,
                    text(&resource.quantity),
                    resource.unit.as_str(),
                );
                writes.resources.push(row.clone());
                writes.history.push(row);
            }
            if stored.is_some() {
                report.revived.push(service.id.clone());
            } else {
                report.added.push(service.id.clone());
            }
            return;
        }
    };

    let fields_changed = present.customer.as_deref()
        != service.customer.as_ref().map(|customer| customer.as_str())
        || present.kind != service.kind.as_str()
        || present.name != service.name
        || present.power_state.as_deref() != service.power_state.map(|state| state.as_str());
    if fields_changed {
        writes.updated.push(columns);
    }

    // A resource is news when it was not stored before or its quantity or unit differs;
    // decimals compare by value, so "4" and "4.00" are the same quantity.
    let history_before = writes.history.len();
    let mut reported = HashSet::new();
    for resource in &service.resources {
        let identity = (resource.kind.as_str().to_owned(), resource.tier.clone());
        let is_news = match stored_resources.get(&identity) {
            None => true,
            Some(amount) => {
                amount.quantity != resource.quantity || amount.unit != resource.unit.as_str()
            }
        };
        if is_news {
            writes.history.push(resource_row(
                id,
                &identity.0,
                &identity.1,
                text(&resource.quantity),
                resource.unit.as_str(),
            ));
        }
        reported.insert(identity);
    }

    // A resource no longer reported on a present service dropped to zero.
    let mut vanished: Vec<_> = stored_resources
        .iter()
        .filter(|(identity, _)| !reported.contains(*identity))
        .collect();
    vanished.sort_by(|left, right| left.0.cmp(right.0));
    for ((kind, tier), amount) in vanished {
        writes
            .history
            .push(resource_row(id, kind, tier, "0".to_owned(), &amount.unit));
    }

    let resources_changed = writes.history.len() > history_before;
    if resources_changed {
        writes.resources_replaced.push(id.to_owned());
        for resource in &service.resources {
            writes.resources.push(resource_row(
                id,
                resource.kind.as_str(),
                &resource.tier,
                text(&resource.quantity),
                resource.unit.as_str(),
            ));
        }
    }

    if fields_changed || resources_changed {
        report.changed.push(service.id.clone());
    } else {
        report.unchanged += 1;
    }
}

/// One resource (or history) row as a JSON object for `json_each`. The quantity stays a JSON
/// string so its exact decimal text reaches the column.
fn resource_row(
    service: &str,
    kind: &str,
    tier: &Option<String>,
    quantity: String,
    unit: &str,
) -> Value {
    json!({ "service_id": service, "kind": kind, "tier": tier, "quantity": quantity, "unit": unit })
}

fn json_array(values: impl IntoIterator<Item = Value>) -> String {
    Value::Array(values.into_iter().collect()).to_string()
}

async fn write_source_and_customers(
    transaction: &mut Transaction<'static, Sqlite>,
    snapshot: &Snapshot,
    taken_at: &str,
) -> StoreResult<()> {
    let (last_complete_at, incomplete_reasons) = match &snapshot.completeness {
        Completeness::Complete => (Some(taken_at), None),
        Completeness::Incomplete { reasons } => (None, Some(json!(reasons).to_string())),
    };
    sqlx::query(
        "INSERT INTO inventory_sources (id, last_taken_at, last_complete_at, incomplete_reasons) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET \
             last_taken_at = excluded.last_taken_at, \
             last_complete_at = coalesce(excluded.last_complete_at, last_complete_at), \
             incomplete_reasons = excluded.incomplete_reasons",
    )
    .bind(snapshot.source.as_str())
    .bind(taken_at)
    .bind(last_complete_at)
    .bind(incomplete_reasons)
    .execute(&mut **transaction)
    .await?;

    // Customers are added or renamed, never removed; first_seen stays from their first sight.
    // (`WHERE true` is how SQLite tells an upsert's SELECT from a join.)
    let customers = json_array(
        snapshot
            .customers
            .iter()
            .map(|customer| json!([customer.id.as_str(), customer.name])),
    );
    sqlx::query(
        "INSERT INTO customers (id, name, source_id, first_seen, last_seen) \
         SELECT value ->> 0, value ->> 1, ?2, ?3, ?3 FROM json_each(?1) WHERE true \
         ON CONFLICT (id) DO UPDATE SET \
             name = excluded.name, source_id = excluded.source_id, \
             last_seen = max(last_seen, excluded.last_seen)",
    )
    .bind(customers)
    .bind(snapshot.source.as_str())
    .bind(taken_at)
    .execute(&mut **transaction)
    .await?;

    Ok(())
}

async fn write_services(
    transaction: &mut Transaction<'static, Sqlite>,
    source: &str,
    taken_at: &str,
    listed_ids: &str,
    writes: &Writes,
) -> StoreResult<()> {
    if !writes.starting.is_empty() {
        sqlx::query(
            "INSERT INTO services (id, source_id, customer_id, kind, name, power_state, \
                                   first_seen, last_seen, gone_at, customer_since) \
             SELECT value ->> 'id', ?2, value ->> 'customer_id', value ->> 'kind', \
                    value ->> 'name', value ->> 'power_state', ?3, ?3, NULL, ?3 \
             FROM json_each(?1) WHERE true \
             ON CONFLICT (id) DO UPDATE SET \
                 source_id = excluded.source_id, customer_id = excluded.customer_id, \
                 kind = excluded.kind, name = excluded.name, \
                 power_state = excluded.power_state, first_seen = excluded.first_seen, \
                 last_seen = excluded.last_seen, gone_at = NULL, \
                 customer_since = excluded.customer_since",
        )
        .bind(json_array(writes.starting.iter().cloned()))
        .bind(source)
        .bind(taken_at)
        .execute(&mut **transaction)
        .await?;
    }

    if !writes.updated.is_empty() {
        sqlx::query(
            "UPDATE services SET customer_id = changed.customer_id, kind = changed.kind, \
                                 name = changed.name, power_state = changed.power_state, \
                                 customer_since = CASE \
                                     WHEN services.customer_id IS changed.customer_id \
                                     THEN services.customer_since ELSE ?2 END \
             FROM (SELECT value ->> 'id' AS id, value ->> 'customer_id' AS customer_id, \
                          value ->> 'kind' AS kind, value ->> 'name' AS name, \
                          value ->> 'power_state' AS power_state \
                   FROM json_each(?1)) AS changed \
             WHERE services.id = changed.id",
        )
        .bind(json_array(writes.updated.iter().cloned()))
        .bind(taken_at)
        .execute(&mut **transaction)
        .await?;
    }

    // Every listed service now belongs to this source and was seen at taken_at. A service
    // another source reported before moves here; that is logged, since it is rare.
    let moved: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, source_id FROM services \
         WHERE id IN (SELECT value FROM json_each(?1)) AND source_id <> ?2",
    )
    .bind(listed_ids)
    .bind(source)
    .fetch_all(&mut **transaction)
    .await?;
    for (service, previous_source) in &moved {
        tracing::warn!(
            service.id = %service,
            inventory.source = source,
            inventory.previous_source = %previous_source,
            "service {service} is now reported by source {source} instead of {previous_source}"
        );
    }
    sqlx::query(
        "UPDATE services SET source_id = ?2, last_seen = max(last_seen, ?3) \
         WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(listed_ids)
    .bind(source)
    .bind(taken_at)
    .execute(&mut **transaction)
    .await?;

    if !writes.resources_replaced.is_empty() {
        sqlx::query(
            "DELETE FROM service_resources WHERE service_id IN (SELECT value FROM json_each(?))",
        )
        .bind(json_array(
            writes.resources_replaced.iter().map(|id| json!(id)),
        ))
        .execute(&mut **transaction)
        .await?;
        sqlx::query(
            "INSERT INTO service_resources (service_id, kind, tier, quantity, unit) \
             SELECT value ->> 'service_id', value ->> 'kind', value ->> 'tier', \
                    value ->> 'quantity', value ->> 'unit' \
             FROM json_each(?) ORDER BY key",
        )
        .bind(json_array(writes.resources.iter().cloned()))
        .execute(&mut **transaction)
        .await?;
    }

    if !writes.history.is_empty() {
        sqlx::query(
            "INSERT INTO usage_history (service_id, source_id, kind, tier, quantity, unit, \
                                        observed_at) \
             SELECT value ->> 'service_id', ?2, value ->> 'kind', value ->> 'tier', \
                    value ->> 'quantity', value ->> 'unit', ?3 \
             FROM json_each(?1) ORDER BY key",
        )
        .bind(json_array(writes.history.iter().cloned()))
        .bind(source)
        .bind(taken_at)
        .execute(&mut **transaction)
        .await?;
    }

    Ok(())
}

/// Marks gone every present service last reported by `source` that the snapshot does not list,
/// and returns them by id.
async fn mark_missing_gone(
    transaction: &mut Transaction<'static, Sqlite>,
    source: &str,
    taken_at: &str,
    listed_ids: &str,
) -> StoreResult<Vec<ServiceId>> {
    let mut gone: Vec<String> = sqlx::query_scalar(
        "UPDATE services SET gone_at = ?2 \
         WHERE source_id = ?1 AND gone_at IS NULL \
           AND id NOT IN (SELECT value FROM json_each(?3)) \
         RETURNING id",
    )
    .bind(source)
    .bind(taken_at)
    .bind(listed_ids)
    .fetch_all(&mut **transaction)
    .await?;
    gone.sort();

    gone.iter().map(|id| parse(id, "service id")).collect()
}
