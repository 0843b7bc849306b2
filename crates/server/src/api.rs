//! The REST API under `/api/v1`, plus `/healthz` and `/metrics`.
//!
//! The OpenAPI document (`openapi.json`, served at `/api/v1/openapi.json`) is written by hand:
//! a generator would add a derive to every type and a noticeable build cost for a dozen
//! operations. [`ROUTES`] lists every operation the router serves, and a test checks that the
//! document describes exactly those.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use hyalto_app::browse::{AgreementStatus, agreements_of, companies as cached_companies};
use hyalto_store::Store;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use hyalto_app::import;

use crate::Shared;
use crate::actions::{self, ConfigureBody, MapBody};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::views;

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every operation under `/api/v1`: method and path template, as the OpenAPI document writes
/// them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/connection"),
    ("put", "/connection"),
    ("delete", "/connection"),
    ("get", "/connection/refresh"),
    ("post", "/connection/refresh"),
    ("get", "/companies"),
    ("get", "/companies/{id}/agreements"),
    ("get", "/customers"),
    ("get", "/mappings"),
    ("post", "/mappings"),
    ("delete", "/mappings/{customer}"),
    ("get", "/products"),
    ("put", "/products"),
    ("get", "/inventory"),
    ("post", "/inventory"),
    ("get", "/plan"),
    ("get", "/sync"),
    ("post", "/sync"),
    ("get", "/runs"),
    ("get", "/audit"),
    ("get", "/services/{id}/usage"),
    ("get", "/suggestions"),
    ("get", "/openapi.json"),
];

/// The API routes, to be nested under `/api/v1`.
pub fn router() -> Router<Shared> {
    Router::new()
        .route(
            "/connection",
            get(connection_status).put(configure).delete(disconnect),
        )
        .route("/connection/refresh", get(refresh_progress).post(refresh))
        .route("/companies", get(companies))
        .route("/companies/{id}/agreements", get(agreements))
        .route("/customers", get(customers))
        .route("/mappings", get(mappings).post(map))
        .route("/mappings/{customer}", axum::routing::delete(unmap))
        .route("/products", get(products).put(set_product))
        .route("/inventory", get(inventory).post(push_inventory))
        .route("/plan", get(plan))
        .route("/sync", get(sync_status).post(start_sync))
        .route("/runs", get(runs))
        .route("/audit", get(audit))
        .route("/services/{id}/usage", get(usage))
        .route("/suggestions", get(suggestions))
        .route("/openapi.json", get(openapi))
}

/// `GET /healthz`: the process serves and its store answers.
pub async fn healthz(State(state): State<Shared>) -> Response {
    match state.store.list_runs(1).await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response(),
        Err(error) => {
            tracing::error!(%error, "the health check could not read the store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "the store does not answer" })),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<Shared>) -> Response {
    // The last sync run is read at each scrape, so runs made by `hyalto sync` count too.
    let runs = state.store.list_runs(20).await.unwrap_or_default();
    if let Some(run) = runs.iter().find(|run| run.finished_at.is_some()) {
        let finished = run.finished_at.unwrap_or(run.started_at);
        state
            .metrics
            .sync_last_run
            .set(finished.timestamp_millis() as f64 / 1000.0);
        state.metrics.sync_last_succeeded.set(i64::from(
            run.outcome == Some(hyalto_store::RunOutcome::Succeeded),
        ));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Parses a JSON body, answering 400 with what is wrong.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "The body is not the JSON this operation takes ({error}); see \
                 /api/v1/openapi.json."
            ),
        )
    })
}

async fn connection_status(State(state): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(actions::status(&state).await?).into_response())
}

async fn configure(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ConfigureBody = parse(&body)?;
    let status = actions::configure(&state, &principal, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

async fn disconnect(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    actions::disconnect(&state, &principal).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn refresh(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    let progress = actions::refresh(&state, &principal).await?;
    Ok((StatusCode::ACCEPTED, Json(progress)).into_response())
}

async fn refresh_progress(State(state): State<Shared>) -> Result<Response, ApiError> {
    let last = state.store.record_refreshes(1).await?.into_iter().next();
    Ok(Json(json!({ "progress": state.refresher.latest(), "lastRefresh": last })).into_response())
}

#[derive(Deserialize)]
struct CompanySearch {
    search: Option<String>,
}

async fn companies(
    State(state): State<Shared>,
    Query(query): Query<CompanySearch>,
) -> Result<Response, ApiError> {
    let rows = cached_companies(&state.store, query.search.as_deref()).await?;
    Ok(Json(json!({ "companies": rows })).into_response())
}

#[derive(Deserialize)]
struct AgreementFilter {
    /// `active` (the default) or `all`.
    status: Option<String>,
}

async fn agreements(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(filter): Query<AgreementFilter>,
) -> Result<Response, ApiError> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(ApiError::invalid(vec![(
            "id".to_owned(),
            format!("{id:?} is not a company id; company ids are whole numbers."),
        )]));
    };
    let all = match filter.status.as_deref() {
        None | Some("active") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::invalid(vec![(
                "status".to_owned(),
                format!("{other:?} is not a filter; use active or all."),
            )]));
        }
    };

    let Some(rows) = agreements_of(&state.store, id).await? else {
        return Err(ApiError::not_found(format!(
            "Company {id} is not among the cached records: search the companies, or refresh \
             the records if it is new."
        )));
    };
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|row| all || row.status == AgreementStatus::Active)
        .collect();
    Ok(Json(json!({ "agreements": rows })).into_response())
}

async fn customers(State(state): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "customers": actions::customers(&state).await? })).into_response())
}

async fn mappings(State(state): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "mappings": actions::mappings(&state).await? })).into_response())
}

async fn map(State(state): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: MapBody = parse(&body)?;
    let view = actions::map(&state, &body).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn unmap(
    State(state): State<Shared>,
    Path(customer): Path<String>,
) -> Result<Response, ApiError> {
    actions::unmap(&state, &customer).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn products(State(state): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "products": views::products(&state).await? })).into_response())
}

async fn set_product(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: views::ProductBody = parse(&body)?;
    let row = views::set_product(&state, &principal, &body).await?;
    Ok(Json(json!({ "product": row })).into_response())
}

async fn inventory(State(state): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(views::inventory(&state).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PushQuery {
    accept_incomplete: bool,
}

/// `POST /inventory`: the import format, checked as `hyalto inventory import` checks a file.
async fn push_inventory(
    State(state): State<Shared>,
    Query(query): Query<PushQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "The body is not UTF-8 text; send the inventory as JSON in UTF-8.",
        )
    })?;
    let origin = "request body";
    let snapshot = import::parse(text, origin, chrono::Utc::now(), query.accept_incomplete)
        .map_err(import_error)?;
    let report = import::record(&state.store, &snapshot, origin)
        .await
        .map_err(import_error)?;
    tracing::info!(source = %snapshot.source, services = snapshot.services.len(), "recorded a pushed inventory snapshot");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "source": snapshot.source.to_string(),
            "takenAt": snapshot.taken_at,
            "customers": report.customers_seen,
            "added": report.added.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "revived": report.revived.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "changed": report.changed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "unchanged": report.unchanged,
            "gone": report.gone.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
    )
        .into_response())
}

fn import_error(error: import::ImportError) -> ApiError {
    match error {
        import::ImportError::Store(error) => error.into(),
        import::ImportError::Refused(message) => {
            ApiError::new(StatusCode::CONFLICT, "refused", message)
        }
        other => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_inventory",
            other.to_string(),
        ),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CustomerQuery {
    customer: Option<String>,
}

async fn plan(
    State(state): State<Shared>,
    Query(query): Query<CustomerQuery>,
) -> Result<Response, ApiError> {
    let customer = crate::actions::mapped_customer(&state, query.customer.as_deref()).await?;
    Ok(Json(views::preview(&state, customer).await?).into_response())
}

async fn sync_status(State(state): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(json!({
        "job": state.scheduler.latest(),
        "intervalSeconds": state.sync_interval.map(|interval| interval.as_secs()),
    }))
    .into_response())
}

async fn start_sync(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: actions::SyncBody = if body.is_empty() {
        actions::SyncBody::default()
    } else {
        parse(&body)?
    };
    let job = actions::start_sync(&state, &principal, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": job }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Limit {
    limit: Option<u32>,
}

async fn runs(
    State(state): State<Shared>,
    Query(query): Query<Limit>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(vec![(
            "limit".to_owned(),
            format!("{limit} is outside 1 to 500."),
        )]));
    }
    Ok(Json(json!({ "runs": views::runs(&state, limit).await? })).into_response())
}

async fn audit(
    State(state): State<Shared>,
    Query(query): Query<views::HistoryQuery>,
) -> Result<Response, ApiError> {
    let filter = views::audit_filter(&query)?;
    Ok(Json(json!({ "entries": views::audit(&state, &filter).await? })).into_response())
}

async fn usage(State(state): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let service = hyalto_domain::ServiceId::new(id.clone()).map_err(|error| {
        ApiError::invalid(vec![(
            "id".to_owned(),
            format!("{id:?} is not a service id: {error}."),
        )])
    })?;
    if state.store.get_service(&service).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "Service {service} is not in the inventory; see GET /api/v1/inventory."
        )));
    }
    Ok(Json(json!({ "series": views::usage(&state, &service).await? })).into_response())
}

async fn suggestions(State(state): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "suggestions": views::suggestions(&state).await? })).into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_openapi_document_describes_exactly_the_routes_served() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut described = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                    described.insert((method.clone(), path.clone()));
                }
            }
        }

        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
            .collect();

        assert_eq!(described, served);
    }

    #[test]
    fn every_operation_in_the_openapi_document_has_an_id_and_error_answers() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();

        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert!(
                    operation["operationId"].is_string(),
                    "{method} {path} has no operationId"
                );
                assert!(
                    operation["responses"]["401"].is_object(),
                    "{method} {path} does not describe its 401 answer"
                );
            }
        }
    }
}
