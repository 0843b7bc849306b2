//! The billing operations of the API: products, inventory push, plan, sync, history and
//! audit, with their 403 and bad-input answers, and one sync from push to additions.

use std::time::Duration;

use hyalto_store::{CwRecordKind, Store as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, Body, INVENTORY, TestApp};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let body = match body {
        Some(value) => Body::Json(value),
        None => Body::None,
    };
    let answer = app.send(method, path, Auth::Token(token), body).await;
    let json = if answer.text.is_empty() {
        Value::Null
    } else {
        answer.json()
    };
    (answer.status, json)
}

#[tokio::test]
async fn a_viewer_may_not_change_a_product_mapping() {
    let app = TestApp::start().await;
    let body = json!({ "meter": "virtual_machine/cpu", "catalogItemId": "1" });

    let (status, answer) = call(
        &app,
        Method::PUT,
        "/api/v1/products",
        &app.viewer_token,
        Some(&body),
    )
    .await;

    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(app.store.list_product_mappings().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_meter_or_an_uncached_catalog_item_is_refused_by_field() {
    let app = TestApp::start().await;
    let token = app.admin_token.clone();

    let (status, answer) = call(
        &app,
        Method::PUT,
        "/api/v1/products",
        &token,
        Some(&json!({ "meter": "vm" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"]["fields"]["meter"].is_string(), "{answer}");

    let body = json!({ "meter": "virtual_machine/cpu", "catalogItemId": "999999" });
    let (status, answer) = call(&app, Method::PUT, "/api/v1/products", &token, Some(&body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]["fields"]["catalogItemId"]
            .as_str()
            .unwrap()
            .contains("refresh"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_invalid_inventory_push_names_the_json_path_and_records_nothing() {
    let app = TestApp::start().await;
    let body = json!({ "format": "hyalto.inventory/v1", "source": "x", "takenAt": "2026-11-30T00:00:00Z", "complete": true, "customers": [], "services": [{ "id": "vm" }] });

    let (status, answer) = call(
        &app,
        Method::POST,
        "/api/v1/inventory",
        &app.admin_token,
        Some(&body),
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("$.services[0]"), "{message}");
    assert!(message.contains("Nothing was imported."), "{message}");
    assert!(app.store.list_customers().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_incomplete_inventory_is_refused_unless_accepted() {
    let app = TestApp::start().await;
    let mut body: Value = serde_json::from_str(INVENTORY).unwrap();
    body["complete"] = json!(false);
    body["incompleteReasons"] = json!(["one host did not answer"]);

    let (refused, _) = call(
        &app,
        Method::POST,
        "/api/v1/inventory",
        &app.admin_token,
        Some(&body),
    )
    .await;
    let (accepted, answer) = call(
        &app,
        Method::POST,
        "/api/v1/inventory?acceptIncomplete=true",
        &app.admin_token,
        Some(&body),
    )
    .await;

    assert_eq!(refused, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(accepted, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn the_audit_filter_refuses_an_unknown_operation_and_a_bad_limit() {
    let app = TestApp::start().await;

    let (status, answer) = call(
        &app,
        Method::GET,
        "/api/v1/audit?operation=delete_everything&limit=0",
        &app.viewer_token,
        None,
    )
    .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]["fields"]["operation"]
            .as_str()
            .unwrap()
            .contains("create_addition"),
        "{answer}"
    );
    assert!(answer["error"]["fields"]["limit"].is_string(), "{answer}");
}

#[tokio::test]
async fn a_sync_without_a_connection_answers_409_and_the_usage_of_an_unknown_service_404() {
    let app = TestApp::start().await;

    let (sync, answer) = call(&app, Method::POST, "/api/v1/sync", &app.viewer_token, None).await;
    let (usage, _) = call(
        &app,
        Method::GET,
        "/api/v1/services/nothing/usage",
        &app.viewer_token,
        None,
    )
    .await;

    assert_eq!(sync, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "not_configured");
    assert_eq!(usage, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_pushed_inventory_is_planned_synced_and_shown_with_its_additions() {
    let app = TestApp::start().await;
    let token = app.admin_token.clone();
    app.configure().await;
    app.wait_for_refresh().await;

    // Inventory, a catalog item for each meter, and a mapping.
    let inventory: Value = serde_json::from_str(INVENTORY).unwrap();
    let (pushed, report) = call(
        &app,
        Method::POST,
        "/api/v1/inventory",
        &token,
        Some(&inventory),
    )
    .await;
    assert_eq!(pushed, StatusCode::CREATED, "{report}");
    assert_eq!(report["added"].as_array().unwrap().len(), 2);
    let item = app
        .store
        .list_cw_records(CwRecordKind::CatalogItem)
        .await
        .unwrap()[0]
        .id;
    for meter in ["virtual_machine/cpu", "virtual_machine/ram"] {
        let body = json!({ "meter": meter, "catalogItemId": item.to_string() });
        let (status, answer) =
            call(&app, Method::PUT, "/api/v1/products", &token, Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (suggested, suggestions) =
        call(&app, Method::GET, "/api/v1/suggestions", &token, None).await;
    assert_eq!(suggested, StatusCode::OK);
    assert!(suggestions["suggestions"].is_array());
    let body = json!({ "customer": "acme", "companyId": 1, "agreementId": 1 });
    let (mapped, answer) = call(&app, Method::POST, "/api/v1/mappings", &token, Some(&body)).await;
    assert_eq!(mapped, StatusCode::CREATED, "{answer}");

    // The plan, then a refused Apply of a plan nobody saw, then the sync.
    let (planned, preview) = call(&app, Method::GET, "/api/v1/plan", &token, None).await;
    assert_eq!(planned, StatusCode::OK, "{preview}");
    assert_eq!(preview["writes"], 3, "{preview}");
    let stale = json!({ "fingerprint": "0000" });
    let (refused, answer) = call(&app, Method::POST, "/api/v1/sync", &token, Some(&stale)).await;
    assert_eq!(refused, StatusCode::CONFLICT);
    assert_eq!(answer["error"]["code"], "plan_changed");
    let apply = json!({ "fingerprint": preview["fingerprint"] });
    let (started, answer) = call(
        &app,
        Method::POST,
        "/api/v1/sync",
        &app.viewer_token,
        Some(&apply),
    )
    .await;
    assert_eq!(started, StatusCode::ACCEPTED, "{answer}");

    let mut job = Value::Null;
    for _ in 0..200 {
        job = call(&app, Method::GET, "/api/v1/sync", &token, None)
            .await
            .1;
        if job["job"]["running"] == json!(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(job["job"]["outcome"], "succeeded", "{job}");

    // Where each meter is billed, the history, the audit log and the metrics.
    let inventory = call(&app, Method::GET, "/api/v1/inventory", &token, None)
        .await
        .1;
    let acme = &inventory["customers"][0];
    assert!(acme["services"][0]["agreementId"].is_i64(), "{acme}");
    assert!(
        acme["services"][0]["meters"][0]["additionId"].is_i64(),
        "{acme}"
    );
    assert_eq!(inventory["unmapped"], json!(["initech"]));
    let runs = call(&app, Method::GET, "/api/v1/runs?limit=5", &token, None)
        .await
        .1;
    assert_eq!(runs["runs"][0]["outcome"], "succeeded", "{runs}");
    let audit = call(
        &app,
        Method::GET,
        "/api/v1/audit?customer=acme&operation=create_addition",
        &token,
        None,
    )
    .await
    .1;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
    let usage = call(
        &app,
        Method::GET,
        "/api/v1/services/vm-acme-1/usage",
        &token,
        None,
    )
    .await
    .1;
    assert_eq!(usage["series"].as_array().unwrap().len(), 2, "{usage}");
    let metrics = app
        .send(Method::GET, "/metrics", Auth::Token(&token), Body::None)
        .await
        .text;
    assert!(
        metrics.contains("hyalto_sync_runs_total{outcome=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hyalto_connectwise_writes_total{operation=\"create_addition\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hyalto_connectwise_calls_total{method=\"POST\",status=\"201\"}"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("hyalto_customer_last_successful_sync_timestamp_seconds{customer=\"acme\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_runs_limits_sync_bodies_and_plans_without_a_connection_are_explained() {
    let app = TestApp::start().await;
    let token = app.viewer_token.clone();

    let (limit, limit_answer) = call(&app, Method::GET, "/api/v1/runs?limit=0", &token, None).await;
    let body = json!({ "customer": 5 });
    let (sync, sync_answer) = call(&app, Method::POST, "/api/v1/sync", &token, Some(&body)).await;
    let (plan, plan_answer) = call(&app, Method::GET, "/api/v1/plan", &token, None).await;

    assert_eq!(limit, StatusCode::BAD_REQUEST);
    assert!(
        limit_answer["error"]["fields"]["limit"].is_string(),
        "{limit_answer}"
    );
    assert_eq!(sync, StatusCode::BAD_REQUEST);
    assert_eq!(
        sync_answer["error"]["code"], "invalid_json",
        "{sync_answer}"
    );
    assert_eq!(plan, StatusCode::CONFLICT);
    assert_eq!(
        plan_answer["error"]["code"], "not_configured",
        "{plan_answer}"
    );
}

#[tokio::test]
async fn an_empty_fingerprint_or_an_unmapped_customer_is_refused_before_anything_runs() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    let token = app.viewer_token.clone();

    let empty = json!({ "fingerprint": "" });
    let (empty_sync, empty_answer) =
        call(&app, Method::POST, "/api/v1/sync", &token, Some(&empty)).await;
    let unknown = json!({ "customer": "nonexist" });
    let (unknown_sync, unknown_answer) =
        call(&app, Method::POST, "/api/v1/sync", &token, Some(&unknown)).await;
    let (plan, plan_answer) = call(
        &app,
        Method::GET,
        "/api/v1/plan?customer=nonexist",
        &token,
        None,
    )
    .await;
    let (_, status) = call(&app, Method::GET, "/api/v1/sync", &token, None).await;

    assert_eq!(empty_sync, StatusCode::BAD_REQUEST, "{empty_answer}");
    let message = empty_answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("preview first"), "{empty_answer}");
    assert_eq!(unknown_sync, StatusCode::BAD_REQUEST, "{unknown_answer}");
    let field = unknown_answer["error"]["fields"]["customer"]
        .as_str()
        .unwrap();
    assert!(field.contains("nonexist"), "{unknown_answer}");
    assert_eq!(plan, StatusCode::BAD_REQUEST, "{plan_answer}");
    let field = plan_answer["error"]["fields"]["customer"].as_str().unwrap();
    assert!(field.contains("nonexist"), "{plan_answer}");
    assert!(status["job"].is_null(), "a sync started: {status}");
}
