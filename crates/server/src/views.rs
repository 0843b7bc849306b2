//! What the Products, Customers, Preview and History pages show, shared with their API
//! operations: each view is read once here and rendered as HTML or sent as JSON.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hyalto_app::browse::cached_name;
use hyalto_domain::{CustomerId, MeterKey, ServiceId, meter};
use hyalto_store::{
    AdditionState, AuditEntry, AuditFilter, AuditOperation, CwRecordKind, Presence, ProductMapping,
    Store, SyncRun,
};
use hyalto_sync::{CustomerStatus, Plan, SyncEngine, SyncOptions};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::Shared;
use crate::actions::require_admin_to;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::refresh::connect;

/// A meter and the catalog item it bills to.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductRow {
    /// `service_kind/resource[/tier]`.
    pub meter: String,
    /// The ConnectWise catalog item, when mapped.
    pub catalog_item_id: Option<i64>,
    /// Its cached identifier or name.
    pub catalog_item_name: String,
    /// The unit price override.
    pub unit_price: Option<String>,
    /// The unit cost override.
    pub unit_cost: Option<String>,
    /// How many present services bill this meter now.
    pub services: usize,
}

/// Every meter the inventory uses or a mapping names, with its catalog item.
pub async fn products(state: &Shared) -> Result<Vec<ProductRow>, ApiError> {
    let store = &state.store;
    let mappings = store.list_product_mappings().await?;

    // Meters in use are counted from the services billed now, so an unmapped one shows up.
    let mut used: BTreeMap<MeterKey, usize> = BTreeMap::new();
    for summary in store.list_customers().await? {
        for record in store
            .services_of_customer(&summary.customer.id, Presence::PresentOnly)
            .await?
        {
            for quantity in meter(&record.service, &state.sync_config.rules) {
                *used
                    .entry(MeterKey::for_quantity(&record.service.kind, &quantity))
                    .or_default() += 1;
            }
        }
    }

    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for mapping in &mappings {
        seen.insert(mapping.key.clone());
        rows.push(ProductRow {
            meter: mapping.key.to_string(),
            catalog_item_id: Some(mapping.catalog_item_id),
            catalog_item_name: cached_name(
                store,
                CwRecordKind::CatalogItem,
                mapping.catalog_item_id,
            )
            .await,
            unit_price: mapping.unit_price.map(|price| price.to_string()),
            unit_cost: mapping.unit_cost.map(|cost| cost.to_string()),
            services: used.get(&mapping.key).copied().unwrap_or(0),
        });
    }
    for (key, services) in used {
        if !seen.contains(&key) {
            rows.push(ProductRow {
                meter: key.to_string(),
                catalog_item_id: None,
                catalog_item_name: String::new(),
                unit_price: None,
                unit_cost: None,
                services,
            });
        }
    }
    rows.sort_by(|a, b| a.meter.cmp(&b.meter));
    Ok(rows)
}

/// A product mapping to set, as a form or a JSON body sends it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProductBody {
    /// `service_kind/resource[/tier]`.
    pub meter: String,
    /// The catalog item's id; `None` (or an empty form field) removes the mapping.
    pub catalog_item_id: Option<String>,
}

/// Sets (or, without a catalog item, removes) the catalog item of a meter. Admins only: it
/// changes what every customer is billed for. Price overrides already set are kept.
pub async fn set_product(
    state: &Shared,
    principal: &Principal,
    body: &ProductBody,
) -> Result<Option<ProductRow>, ApiError> {
    require_admin_to(principal, "change which catalog item a meter bills to")?;

    let key: MeterKey = body.meter.trim().parse().map_err(|error| {
        ApiError::invalid(vec![(
            "meter".to_owned(),
            format!(
                "{error}; write it as service_kind/resource or service_kind/resource/tier, such \
                 as virtual_machine/cpu."
            ),
        )])
    })?;
    let text = body.catalog_item_id.as_deref().unwrap_or("").trim();
    if text.is_empty() {
        state.store.remove_product_mapping(&key).await?;
        tracing::info!(meter = %key, user.name = %principal.user.username, "removed a product mapping");
        return Ok(None);
    }
    let Ok(id) = text.parse::<i64>() else {
        return Err(ApiError::invalid(vec![(
            "catalogItemId".to_owned(),
            format!("{text:?} is not a catalog item id; ids are whole numbers."),
        )]));
    };
    let Some(item) = state
        .store
        .get_cw_record(CwRecordKind::CatalogItem, id)
        .await?
    else {
        return Err(ApiError::invalid(vec![(
            "catalogItemId".to_owned(),
            format!(
                "Catalog item {id} is not among the cached records: choose one from the list, \
                 or refresh the records under Integrations if it is new."
            ),
        )]));
    };
    if item
        .body
        .get("inactiveFlag")
        .and_then(|flag| flag.as_bool())
        == Some(true)
    {
        return Err(ApiError::invalid(vec![(
            "catalogItemId".to_owned(),
            format!("Catalog item {id} is inactive in ConnectWise; choose an active one."),
        )]));
    }

    let existing = state
        .store
        .list_product_mappings()
        .await?
        .into_iter()
        .find(|mapping| mapping.key == key);
    let mapping = ProductMapping {
        key: key.clone(),
        catalog_item_id: id,
        unit_price: existing.as_ref().and_then(|m| m.unit_price),
        unit_cost: existing.as_ref().and_then(|m| m.unit_cost),
    };
    state.store.set_product_mapping(&mapping).await?;
    tracing::info!(meter = %key, catalog_item.id = id, user.name = %principal.user.username, "set a product mapping");
    Ok(products(state)
        .await?
        .into_iter()
        .find(|row| row.meter == key.to_string()))
}

/// The catalog items of the cache, for choosing one: id and name, by name.
pub async fn catalog_items(state: &Shared) -> Result<Vec<(i64, String)>, ApiError> {
    let mut items: Vec<(i64, String)> = state
        .store
        .list_cw_records(CwRecordKind::CatalogItem)
        .await?
        .into_iter()
        .filter(|record| record.body.get("inactiveFlag").and_then(|f| f.as_bool()) != Some(true))
        .map(|record| {
            let name = ["identifier", "description"]
                .iter()
                .filter_map(|field| record.body.get(*field).and_then(|v| v.as_str()))
                .collect::<Vec<_>>()
                .join(" – ");
            (record.id, name)
        })
        .collect();
    items.sort_by_key(|item| item.1.to_lowercase());
    Ok(items)
}

/// A resource of a service with where it is billed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterView {
    /// The meter.
    pub meter: String,
    /// The billed quantity now (in billing units).
    pub quantity: String,
    /// The active addition that bills it, if one does.
    pub addition_id: Option<i64>,
    /// The quantity that addition carries.
    pub billed_quantity: Option<String>,
}

/// A service with its meters and child agreement.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its power state, when reported.
    pub power_state: Option<String>,
    /// The running child agreement that bills it, if one does.
    pub agreement_id: Option<i64>,
    /// A link to that agreement in ConnectWise, when the site is known.
    pub agreement_url: Option<String>,
    /// Its metered quantities.
    pub meters: Vec<MeterView>,
}

/// A customer with its services.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerServices {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is mapped (only mapped customers are billed).
    pub mapped: bool,
    /// The company, when mapped.
    pub company_id: Option<i64>,
    /// Its cached name.
    pub company_name: Option<String>,
    /// The master agreement, when mapped.
    pub agreement_id: Option<i64>,
    /// A link to it in ConnectWise, when the site is known.
    pub agreement_url: Option<String>,
    /// Its present services.
    pub services: Vec<ServiceView>,
}

/// The inventory as billed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryView {
    /// Every customer, by id.
    pub customers: Vec<CustomerServices>,
    /// Services assigned to no customer, billed to nobody.
    pub unassigned: Vec<ServiceView>,
    /// Ids of customers that are not mapped, so none of their services are billed.
    pub unmapped: Vec<String>,
}

/// The link ConnectWise's own screens use to open an agreement, on the stored site.
pub fn agreement_url(site: Option<&str>, id: i64) -> Option<String> {
    let site = site?.trim().trim_end_matches('/');
    if site.is_empty() {
        return None;
    }
    let origin = if site.starts_with("http://") || site.starts_with("https://") {
        site.to_owned()
    } else {
        format!("https://{site}")
    };
    Some(format!(
        "{origin}/v4_6_release/services/system_io/router/openrecord.rails?recordType=AgreementFV&recid={id}"
    ))
}

/// Customers, their services and quantities, and where each is billed.
pub async fn inventory(state: &Shared) -> Result<InventoryView, ApiError> {
    let store = &state.store;
    let site = store.load_connection().await?.map(|c| c.site_url);
    let rules = &state.sync_config.rules;

    let mut customers = Vec::new();
    let mut unmapped = Vec::new();
    for summary in store.list_customers().await? {
        let links = store.links_for_customer(&summary.customer.id).await?;
        let mut services = Vec::new();
        for record in store
            .services_of_customer(&summary.customer.id, Presence::PresentOnly)
            .await?
        {
            let agreement = links.agreements.iter().find(|recorded| {
                recorded.link.service == record.service.id && recorded.link.ended_on.is_none()
            });
            let meters = meter(&record.service, rules)
                .into_iter()
                .map(|quantity| {
                    let key = MeterKey::for_quantity(&record.service.kind, &quantity);
                    let addition = links.additions.iter().find(|recorded| {
                        recorded.link.service == record.service.id
                            && recorded.link.meter == key
                            && recorded.link.state == AdditionState::Active
                    });
                    MeterView {
                        meter: key.to_string(),
                        quantity: quantity.quantity.normalize().to_string(),
                        addition_id: addition.map(|a| a.link.addition_id),
                        billed_quantity: addition.map(|a| a.link.quantity.normalize().to_string()),
                    }
                })
                .collect();
            let agreement_id = agreement.map(|a| a.link.agreement_id);
            services.push(ServiceView {
                id: record.service.id.to_string(),
                name: record.service.name.clone(),
                kind: record.service.kind.to_string(),
                power_state: record.service.power_state.map(|p| p.to_string()),
                agreement_id,
                agreement_url: agreement_id.and_then(|id| agreement_url(site.as_deref(), id)),
                meters,
            });
        }

        let mapping = summary.mapping.as_ref();
        if mapping.is_none() {
            unmapped.push(summary.customer.id.to_string());
        }
        let company_name = match mapping {
            Some(m) => Some(cached_name(store, CwRecordKind::Company, m.company_id).await),
            None => None,
        };
        customers.push(CustomerServices {
            id: summary.customer.id.to_string(),
            name: summary.customer.name.clone(),
            mapped: mapping.is_some(),
            company_id: mapping.map(|m| m.company_id),
            company_name,
            agreement_id: mapping.map(|m| m.agreement_id),
            agreement_url: mapping.and_then(|m| agreement_url(site.as_deref(), m.agreement_id)),
            services,
        });
    }

    let unassigned = store
        .unassigned_services(Presence::PresentOnly)
        .await?
        .into_iter()
        .map(|record| ServiceView {
            id: record.service.id.to_string(),
            name: record.service.name.clone(),
            kind: record.service.kind.to_string(),
            power_state: record.service.power_state.map(|p| p.to_string()),
            agreement_id: None,
            agreement_url: None,
            meters: meter(&record.service, rules)
                .into_iter()
                .map(|quantity| MeterView {
                    meter: MeterKey::for_quantity(&record.service.kind, &quantity).to_string(),
                    quantity: quantity.quantity.normalize().to_string(),
                    addition_id: None,
                    billed_quantity: None,
                })
                .collect(),
        })
        .collect();

    Ok(InventoryView {
        customers,
        unassigned,
        unmapped,
    })
}

/// A dry-run plan with the fingerprint Apply sends back.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The plan, customer by customer.
    pub plan: Plan,
    /// ConnectWise writes it would make.
    pub writes: usize,
    /// SHA-256 of the plan; Apply refuses when the plan made then differs.
    pub fingerprint: String,
    /// The plan as a readable table.
    pub text: String,
    /// One row per operation, for the Preview page.
    pub rows: Vec<PreviewRow>,
}

/// One planned operation as the Preview page lists it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRow {
    /// The customer.
    pub customer: String,
    /// The operation, such as `create_addition`.
    pub operation: &'static str,
    /// The service.
    pub service: String,
    /// The meter, for operations on an addition.
    pub meter: Option<String>,
    /// The quantity written, when the operation writes one.
    pub quantity: Option<String>,
    /// Why, in plain words.
    pub reason: String,
}

/// The rows of a plan: quantities read from the operation's JSON, where they are exact.
fn preview_rows(plan: &Plan) -> Vec<PreviewRow> {
    let mut rows = Vec::new();
    for customer in &plan.customers {
        for operation in &customer.operations {
            let quantity = serde_json::to_value(operation)
                .ok()
                .and_then(|json| json.get("quantity").filter(|q| q.is_number()).cloned())
                .map(|quantity| quantity.to_string());
            rows.push(PreviewRow {
                customer: customer.customer.to_string(),
                operation: operation.name(),
                service: operation.service().to_string(),
                meter: operation.meter().map(ToString::to_string),
                quantity,
                reason: operation.reason().to_owned(),
            });
        }
    }
    rows
}

/// Plans a sync of every mapped customer (or one) without writing anything anywhere.
pub async fn preview(state: &Shared, customer: Option<CustomerId>) -> Result<Preview, ApiError> {
    let state = state.clone();
    crate::scheduler::off_thread(move || async move { make_preview(&state, customer).await })
        .await
        .unwrap_or_else(|| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The plan could not be made; see the server log.",
            ))
        })
}

async fn make_preview(state: &Shared, customer: Option<CustomerId>) -> Result<Preview, ApiError> {
    let Some(connection) = state.store.load_connection().await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_configured",
            "No ConnectWise connection is configured: configure it under Billing › Integrations \
             (or PUT /api/v1/connection) first.",
        ));
    };
    let client = connect(&connection).await.map_err(ApiError::connectwise)?;
    let observer: std::sync::Arc<dyn hyalto_connectwise::CallObserver> = state.metrics.clone();
    let engine = SyncEngine::new(
        state.store.clone(),
        client.observed(observer),
        state.sync_config.clone(),
    );
    let mut options = SyncOptions::at(Utc::now());
    options.dry_run = true;
    options.customer = customer;
    let plan = engine
        .plan(&options)
        .await
        .map_err(|error| ApiError::connectwise(format!("The plan could not be made: {error}.")))?;

    Ok(Preview {
        writes: plan.write_count(),
        fingerprint: fingerprint(&plan),
        text: plan.to_string(),
        rows: preview_rows(&plan),
        plan,
    })
}

/// SHA-256 of the plan as JSON, in hex.
pub fn fingerprint(plan: &Plan) -> String {
    let json = serde_json::to_vec(plan).unwrap_or_default();
    Sha256::digest(json)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether a customer's plan is applied by a sync.
pub fn applies(status: &CustomerStatus) -> bool {
    status.applies()
}

/// Which history to read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct HistoryQuery {
    /// Only this customer.
    pub customer: Option<String>,
    /// Only this operation, such as `create_addition`.
    pub operation: Option<String>,
    /// Only this run.
    pub run: Option<i64>,
    /// At most this many entries (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// The audit filter a query asks for, or the fields at fault.
pub fn audit_filter(query: &HistoryQuery) -> Result<AuditFilter, ApiError> {
    let mut fields = Vec::new();
    let customer = match query.customer.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match CustomerId::new(text.to_owned()) {
            Ok(id) => Some(id),
            Err(error) => {
                fields.push((
                    "customer".to_owned(),
                    format!("{text:?} is not a customer id: {error}."),
                ));
                None
            }
        },
    };
    let operation = match query.operation.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let operation = AuditOperation::from(text.to_owned());
            if matches!(operation, AuditOperation::Other(_)) {
                fields.push((
                    "operation".to_owned(),
                    format!(
                        "{text:?} is not an operation; use one of {}.",
                        OPERATIONS.join(", ")
                    ),
                ));
            }
            Some(operation)
        }
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        fields.push(("limit".to_owned(), format!("{limit} is outside 1 to 1000.")));
    }
    if !fields.is_empty() {
        return Err(ApiError::invalid(fields));
    }
    Ok(AuditFilter {
        customer,
        operation,
        run: query.run.map(hyalto_store::RunId),
        limit,
    })
}

/// The operations the audit log records by name.
pub const OPERATIONS: [&str; 10] = [
    "create_child_agreement",
    "end_child_agreement",
    "rename_child_agreement",
    "take_over_child_agreement",
    "create_master_agreement",
    "create_addition",
    "update_addition",
    "cancel_addition",
    "create_catalog_item",
    "adopt_record",
];

/// An audit entry as the history shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    /// Its id.
    pub id: i64,
    /// When the write finished or failed.
    pub at: DateTime<Utc>,
    /// The run that wrote it.
    pub run_id: Option<i64>,
    /// The customer.
    pub customer: Option<String>,
    /// The operation, such as `create_addition`.
    pub operation: String,
    /// The kind of record written, such as `addition`.
    pub target_kind: String,
    /// Its ConnectWise id.
    pub target_id: Option<i64>,
    /// Why.
    pub reason: String,
    /// How it ended: `succeeded`, `failed` or `unknown`.
    pub status: String,
    /// ConnectWise's request id.
    pub request_id: Option<String>,
    /// ConnectWise's message when it failed.
    pub error_message: Option<String>,
    /// The record before the write.
    pub before: Option<serde_json::Value>,
    /// The record after the write.
    pub after: Option<serde_json::Value>,
}

/// Audit entries matching `filter`, newest first.
pub async fn audit(state: &Shared, filter: &AuditFilter) -> Result<Vec<AuditView>, ApiError> {
    let entries: Vec<AuditEntry> = state.store.audit_entries(filter).await?;
    Ok(entries
        .into_iter()
        .map(|AuditEntry { id, entry }| AuditView {
            id: id.0,
            at: entry.at,
            run_id: entry.run.map(|run| run.0),
            customer: entry.customer.map(|c| c.to_string()),
            operation: entry.operation.to_string(),
            target_kind: entry.target_kind,
            target_id: entry.target_id,
            reason: entry.reason,
            status: entry.status.as_str().to_owned(),
            request_id: entry.request_id,
            error_message: entry.error_message,
            before: entry.before,
            after: entry.after,
        })
        .collect())
}

/// A sync run as the history shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    /// Its id.
    pub id: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished; `None` while running or when its process died.
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether it only previewed.
    pub dry_run: bool,
    /// The customer it was limited to.
    pub customer: Option<String>,
    /// `succeeded`, `partially_failed` or `failed`.
    pub outcome: Option<hyalto_store::RunOutcome>,
    /// What it did.
    pub counts: hyalto_store::RunCounts,
    /// Per-customer results.
    pub results: Option<serde_json::Value>,
}

/// The latest sync runs, newest first.
pub async fn runs(state: &Shared, limit: u32) -> Result<Vec<RunView>, ApiError> {
    Ok(state
        .store
        .list_runs(limit)
        .await?
        .into_iter()
        .map(|run: SyncRun| RunView {
            id: run.id.0,
            started_at: run.started_at,
            finished_at: run.finished_at,
            dry_run: run.dry_run,
            customer: run.customer_filter.map(|c| c.to_string()),
            outcome: run.outcome,
            counts: run.counts,
            results: run.results,
        })
        .collect())
}

/// One point of a usage chart.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePoint {
    /// When it was observed.
    pub at: DateTime<Utc>,
    /// The quantity, in the unit reported.
    pub quantity: String,
}

/// One resource's usage over time.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSeries {
    /// The resource (and tier).
    pub resource: String,
    /// The unit of the quantities.
    pub unit: String,
    /// Oldest first.
    pub points: Vec<UsagePoint>,
    /// An inline SVG line chart of the series, drawn on the server.
    pub svg: String,
}

/// Observations of one resource: when, and how much.
type Points = Vec<(DateTime<Utc>, Decimal)>;

/// A service's usage history per resource.
pub async fn usage(state: &Shared, service: &ServiceId) -> Result<Vec<UsageSeries>, ApiError> {
    let history = state.store.service_history(service).await?;
    let mut series: BTreeMap<String, (String, Points)> = BTreeMap::new();
    for observation in history {
        let name = match &observation.tier {
            Some(tier) => format!("{}/{tier}", observation.resource),
            None => observation.resource.to_string(),
        };
        let entry = series
            .entry(name)
            .or_insert_with(|| (observation.unit.to_string(), Vec::new()));
        entry
            .1
            .push((observation.observed_at, observation.quantity));
    }
    Ok(series
        .into_iter()
        .map(|(resource, (unit, points))| UsageSeries {
            svg: chart(&resource, &unit, &points),
            resource,
            unit,
            points: points
                .iter()
                .map(|(at, quantity)| UsagePoint {
                    at: *at,
                    quantity: quantity.normalize().to_string(),
                })
                .collect(),
        })
        .collect())
}

/// A small step chart (usage holds until the next observation) as inline SVG, with a title
/// for screen readers. Values are numbers and escaped text only.
fn chart(resource: &str, unit: &str, points: &[(DateTime<Utc>, Decimal)]) -> String {
    const WIDTH: f64 = 480.0;
    const HEIGHT: f64 = 120.0;
    const PAD: f64 = 28.0;

    let values: Vec<f64> = points
        .iter()
        .map(|(_, q)| q.to_string().parse::<f64>().unwrap_or(0.0))
        .collect();
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let first = points.first().map_or(0, |(at, _)| at.timestamp());
    let last = Utc::now().timestamp().max(first + 1);
    let x = |t: i64| PAD + (t - first) as f64 / (last - first) as f64 * (WIDTH - 2.0 * PAD);
    let y = |v: f64| HEIGHT - PAD - v / max * (HEIGHT - 2.0 * PAD);

    let mut path = String::new();
    for (index, ((at, _), value)) in points.iter().zip(&values).enumerate() {
        let (px, py) = (x(at.timestamp()), y(*value));
        if index == 0 {
            path.push_str(&format!("M{px:.1},{py:.1}"));
        } else {
            path.push_str(&format!(" H{px:.1} V{py:.1}"));
        }
    }
    path.push_str(&format!(" H{:.1}", x(last)));

    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let latest = points
        .last()
        .map_or_else(String::new, |(_, q)| q.normalize().to_string());
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"{title}\"><title>{title}</title>\
         <line x1=\"{PAD}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" class=\"axis\"/>\
         <text x=\"2\" y=\"{top}\" class=\"label\">{max}</text>\
         <text x=\"2\" y=\"{base}\" class=\"label\">0</text>\
         <path d=\"{path}\" class=\"line\"/></svg>",
        title = escape(&format!(
            "{resource} over time, in {unit}: {} observation(s), now {latest}",
            points.len()
        )),
        base = HEIGHT - PAD,
        right = WIDTH - PAD,
        top = PAD,
        max = max,
    )
}

/// A company whose name matches an unmapped customer's, offered on Map Company and applied
/// only when a user clicks.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    /// The customer's id.
    pub customer: String,
    /// The customer's name.
    pub customer_name: String,
    /// The company.
    pub company_id: i64,
    /// Its name.
    pub company_name: String,
    /// The company's only active master agreement, when it has exactly one; otherwise the
    /// user chooses one.
    pub agreement_id: Option<i64>,
    /// That agreement's name.
    pub agreement_name: Option<String>,
}

/// A name reduced to what identifies it: lowercase letters and digits, without legal forms
/// such as "Inc" or "GmbH".
pub fn name_key(name: &str) -> String {
    const FORMS: [&str; 12] = [
        "inc", "llc", "ltd", "gmbh", "bv", "nv", "ag", "sa", "plc", "co", "corp", "limited",
    ];
    name.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && !FORMS.contains(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// For each unmapped customer, the cached companies whose name matches its name (the same
/// words once legal forms are dropped, or one name containing the other).
pub async fn suggestions(state: &Shared) -> Result<Vec<Suggestion>, ApiError> {
    let store = &state.store;
    let companies = hyalto_app::browse::companies(store, None).await?;
    let keyed: Vec<(String, &hyalto_app::browse::CompanyRow)> = companies
        .iter()
        .map(|company| (name_key(&company.name), company))
        .filter(|(key, _)| !key.is_empty())
        .collect();

    let mut out = Vec::new();
    for summary in store.list_customers().await? {
        if summary.mapping.is_some() {
            continue;
        }
        let key = name_key(&summary.customer.name);
        if key.is_empty() {
            continue;
        }
        let matches: Vec<_> = keyed
            .iter()
            .filter(|(company, _)| {
                *company == key
                    || format!(" {company} ").contains(&format!(" {key} "))
                    || format!(" {key} ").contains(&format!(" {company} "))
            })
            .map(|(_, company)| *company)
            .take(3)
            .collect();
        for company in matches {
            let active: Vec<_> = hyalto_app::browse::agreements_of(store, company.id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .filter(|row| row.status == hyalto_app::browse::AgreementStatus::Active)
                .collect();
            let only = (active.len() == 1).then(|| &active[0]);
            out.push(Suggestion {
                customer: summary.customer.id.to_string(),
                customer_name: summary.customer.name.clone(),
                company_id: company.id,
                company_name: company.name.clone(),
                agreement_id: only.map(|row| row.id),
                agreement_name: only.map(|row| row.name.clone()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_without_case_punctuation_or_legal_form() {
        assert_eq!(name_key("Acme, Inc."), name_key("ACME"));
        assert_eq!(name_key("Initech GmbH"), "initech");
    }

    #[test]
    fn an_agreement_link_opens_the_record_on_the_site() {
        let url = agreement_url(Some("https://na.myconnectwise.net/"), 42).unwrap();

        assert!(url.starts_with("https://na.myconnectwise.net/"), "{url}");
        assert!(url.ends_with("recordType=AgreementFV&recid=42"), "{url}");
        assert_eq!(agreement_url(None, 42), None);
    }

    #[test]
    fn the_chart_is_an_accessible_svg_with_escaped_text() {
        let at = "2026-11-01T00:00:00Z".parse().unwrap();
        let svg = chart("ram<x>", "GiB", &[(at, Decimal::new(8, 0))]);

        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(svg.contains("ram&lt;x&gt;"), "{svg}");
        assert!(!svg.contains("<x>"), "{svg}");
    }
}
