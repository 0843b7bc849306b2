//! Inventory in SQLite: reading sources, customers, services and usage history back.

use std::collections::HashMap;

use hyalto_domain::{Completeness, Customer, CustomerId, Resource, Service, ServiceId};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{
    get_decimal, get_i64, get_instant, get_opt_instant, get_opt_parsed, get_opt_text, get_parsed,
    get_text, parse_json,
};
use super::mapping::company_mapping_from_row;
use crate::StoreResult;
use crate::error::StoreError;
use crate::inventory::{CustomerSummary, Presence, ServiceRecord, SourceState, UsageObservation};

/// Which services a read returns.
pub(super) enum ServiceSelection<'a> {
    /// The services of one customer.
    Customer(&'a CustomerId),
    /// Services assigned to no customer.
    Unassigned,
    /// One service.
    One(&'a ServiceId),
}

pub(super) async fn list_sources(store: &SqliteStore) -> StoreResult<Vec<SourceState>> {
    let rows = sqlx::query("SELECT * FROM inventory_sources ORDER BY id")
        .fetch_all(&store.pool)
        .await?;

    rows.iter()
        .map(|row| {
            let completeness = match get_opt_text(row, "incomplete_reasons")? {
                None => Completeness::Complete,
                Some(reasons) => {
                    let reasons =
                        serde_json::from_value(parse_json(&reasons)?).map_err(|error| {
                            StoreError::Corrupt {
                                what: "incomplete reasons",
                                value: reasons.clone(),
                                reason: error.to_string(),
                            }
                        })?;
                    Completeness::Incomplete { reasons }
                }
            };

            Ok(SourceState {
                source: get_parsed(row, "id", "source id")?,
                last_taken_at: get_instant(row, "last_taken_at")?,
                last_complete_at: get_opt_instant(row, "last_complete_at")?,
                completeness,
            })
        })
        .collect()
}

/// Every customer, or only `only`, with its mapping and count of present services.
pub(super) async fn list_customers(
    store: &SqliteStore,
    only: Option<&CustomerId>,
) -> StoreResult<Vec<CustomerSummary>> {
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.source_id, c.first_seen, c.last_seen, \
                m.company_id, m.agreement_id, m.quantity_change_mode, m.drift_policy, \
                m.recreate_deleted, m.child_agreement_type_id, \
                (SELECT count(*) FROM services s \
                 WHERE s.customer_id = c.id AND s.gone_at IS NULL) AS present_services \
         FROM customers c LEFT JOIN company_mappings m ON m.customer_id = c.id \
         WHERE ?1 IS NULL OR c.id = ?1 \
         ORDER BY c.id",
    )
    .bind(only.map(|customer| customer.as_str()))
    .fetch_all(&store.pool)
    .await?;

    rows.iter()
        .map(|row| {
            let id: CustomerId = get_parsed(row, "id", "customer id")?;
            let mapping = company_mapping_from_row(row, &id)?;
            let present_services = get_i64(row, "present_services")?;

            Ok(CustomerSummary {
                customer: Customer {
                    id,
                    name: get_text(row, "name")?,
                },
                source: get_parsed(row, "source_id", "source id")?,
                first_seen: get_instant(row, "first_seen")?,
                last_seen: get_instant(row, "last_seen")?,
                mapping,
                present_services: u64::try_from(present_services).unwrap_or_default(),
            })
        })
        .collect()
}

pub(super) async fn services_where(
    store: &SqliteStore,
    selection: ServiceSelection<'_>,
    presence: Presence,
) -> StoreResult<Vec<ServiceRecord>> {
    let (filter, argument) = match selection {
        ServiceSelection::Customer(customer) => {
            ("services.customer_id = ?1", Some(customer.as_str()))
        }
        // The placeholder is still named so every variant binds exactly one argument.
        ServiceSelection::Unassigned => ("services.customer_id IS NULL AND ?1 IS NULL", None),
        ServiceSelection::One(service) => ("services.id = ?1", Some(service.as_str())),
    };
    let presence = match presence {
        Presence::PresentOnly => " AND services.gone_at IS NULL",
        Presence::IncludingGone => "",
    };

    let service_rows = sqlx::query(&format!(
        "SELECT services.* FROM services WHERE {filter}{presence} ORDER BY services.id"
    ))
    .bind(argument)
    .fetch_all(&store.pool)
    .await?;
    let resource_rows = sqlx::query(&format!(
        "SELECT r.service_id, r.kind, r.tier, r.quantity, r.unit \
         FROM service_resources r JOIN services ON services.id = r.service_id \
         WHERE {filter}{presence} ORDER BY r.service_id, r.rowid"
    ))
    .bind(argument)
    .fetch_all(&store.pool)
    .await?;

    let mut resources: HashMap<String, Vec<Resource>> = HashMap::new();
    for row in &resource_rows {
        resources
            .entry(get_text(row, "service_id")?)
            .or_default()
            .push(resource_from_row(row)?);
    }

    service_rows
        .iter()
        .map(|row| {
            let id = get_text(row, "id")?;
            let service = Service {
                id: super::codec::parse(&id, "service id")?,
                customer: get_opt_parsed(row, "customer_id", "customer id")?,
                kind: get_parsed(row, "kind", "service kind")?,
                name: get_text(row, "name")?,
                power_state: get_opt_parsed(row, "power_state", "power state")?,
                resources: resources.remove(&id).unwrap_or_default(),
            };

            Ok(ServiceRecord {
                service,
                source: get_parsed(row, "source_id", "source id")?,
                first_seen: get_instant(row, "first_seen")?,
                last_seen: get_instant(row, "last_seen")?,
                gone_at: get_opt_instant(row, "gone_at")?,
                customer_since: get_instant(row, "customer_since")?,
            })
        })
        .collect()
}

fn resource_from_row(row: &SqliteRow) -> StoreResult<Resource> {
    Ok(Resource {
        kind: get_parsed(row, "kind", "resource kind")?,
        tier: get_opt_text(row, "tier")?,
        quantity: get_decimal(row, "quantity")?,
        unit: get_parsed(row, "unit", "unit")?,
    })
}

pub(super) async fn service_history(
    store: &SqliteStore,
    service: &ServiceId,
) -> StoreResult<Vec<UsageObservation>> {
    let rows =
        sqlx::query("SELECT * FROM usage_history WHERE service_id = ? ORDER BY observed_at, id")
            .bind(service.as_str())
            .fetch_all(&store.pool)
            .await?;

    rows.iter()
        .map(|row| {
            let resource = resource_from_row(row)?;

            Ok(UsageObservation {
                observed_at: get_instant(row, "observed_at")?,
                source: get_parsed(row, "source_id", "source id")?,
                resource: resource.kind,
                tier: resource.tier,
                quantity: resource.quantity,
                unit: resource.unit,
            })
        })
        .collect()
}
