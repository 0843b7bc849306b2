//! Control endpoints under `/_sandbox/` for tests, demos and benchmarks. They need no
//! authentication, are never faulted and are not counted in the statistics. The invoice preview
//! also takes an optional `periodStart=YYYY-MM-DD`.
//!
//! | method and path | what it does |
//! | --- | --- |
//! | `GET /_sandbox/faults` | the fault configuration, with the rules not yet consumed |
//! | `PUT /_sandbox/faults` | replaces the whole fault configuration |
//! | `DELETE /_sandbox/faults` | removes every fault |
//! | `POST /_sandbox/faults/rules` | appends a one-shot rule |
//! | `GET /_sandbox/codebase`, `POST /_sandbox/codebase` | reads or changes the codebase |
//! | `GET /_sandbox/stats[?reset=true]`, `DELETE /_sandbox/stats` | request counts, reset |
//! | `GET /_sandbox/invoices/preview?agreementId=N` | next-invoice approximation (§9.7) |

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::AppState;
use super::config::validate_codebase;
use super::errors::ApiError;
use super::faults::{FaultConfig, FaultRule, from_json_object};
use super::stats::Stats;

/// The control routes, to be nested under `/_sandbox`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/faults/rules", post(add_rule))
        .route("/codebase", get(get_codebase).post(set_codebase))
        .route("/stats", get(get_stats).delete(reset_stats))
        .route("/invoices/preview", get(invoice_preview))
}

/// Reads a control body, which must be a JSON object with named fields.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    from_json_object(body)
        .map_err(|error| ApiError::bad_request(format!("The request body is not valid: {error}")))
}

async fn get_faults(State(app): State<Arc<AppState>>) -> Json<FaultConfig> {
    Json(app.faults().config().clone())
}

async fn put_faults(State(app): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let config: FaultConfig = parse_body(&body)?;

    let mut faults = app.faults();
    faults.replace(config).map_err(ApiError::bad_request)?;
    tracing::info!(faults = ?faults.config(), "fault configuration replaced");

    Ok(Json(faults.config().clone()).into_response())
}

async fn clear_faults(State(app): State<Arc<AppState>>) -> StatusCode {
    let mut faults = app.faults();
    // The default configuration is always valid, so replacing with it cannot fail.
    let _ = faults.replace(FaultConfig::default());
    tracing::info!("all faults cleared");
    StatusCode::NO_CONTENT
}

async fn add_rule(State(app): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let rule: FaultRule = parse_body(&body)?;

    let mut faults = app.faults();
    faults
        .push_rule(rule.clone())
        .map_err(ApiError::bad_request)?;
    tracing::info!(rule = ?rule, "fault rule added");

    Ok((StatusCode::CREATED, Json(faults.config().clone())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodebaseChange {
    codebase: String,
}

async fn get_codebase(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({ "codebase": app.codebase() }))
}

async fn set_codebase(State(app): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let change: CodebaseChange = parse_body(&body)?;
    validate_codebase(&change.codebase).map_err(ApiError::bad_request)?;

    let previous = app.set_codebase(change.codebase.clone());
    tracing::info!(
        previous = %previous,
        codebase = %change.codebase,
        "codebase changed; the previous codebase path now answers 404"
    );

    Ok(Json(json!({ "codebase": change.codebase, "previous": previous })).into_response())
}

async fn get_stats(State(app): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Json<Stats> {
    let reset = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(name, value)| name == "reset" && value.eq_ignore_ascii_case("true"));

    Json(app.take_stats(reset))
}

async fn reset_stats(State(app): State<Arc<AppState>>) -> StatusCode {
    *app.stats() = Stats::default();
    StatusCode::NO_CONTENT
}

async fn invoice_preview(
    State(app): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut agreement_id = None;
    let mut period_start = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name.eq_ignore_ascii_case("agreementId") {
            let id = value.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("agreementId must be a whole number, got {value:?}"))
            })?;
            agreement_id = Some(id);
        } else if name.eq_ignore_ascii_case("periodStart") {
            let date = NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| {
                ApiError::bad_request(format!("periodStart must be YYYY-MM-DD, got {value:?}"))
            })?;
            period_start = Some(date);
        }
    }
    let agreement_id =
        agreement_id.ok_or_else(|| ApiError::bad_request("agreementId is required"))?;

    let preview = app
        .store
        .invoice_preview(agreement_id, period_start)
        .await?;
    Ok(Json(preview).into_response())
}
