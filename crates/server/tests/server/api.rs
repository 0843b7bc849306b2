//! The REST API: every operation, its 401/403 answers and its answers to bad input.

use hyalto_cw_sandbox::SandboxConfig;
use hyalto_cw_sandbox::store::Denial;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, Body, TestApp};

/// Every operation of the API with its path parameters filled in.
const OPERATIONS: &[(&str, &str)] = &[
    ("GET", "/api/v1/connection"),
    ("PUT", "/api/v1/connection"),
    ("DELETE", "/api/v1/connection"),
    ("GET", "/api/v1/connection/refresh"),
    ("POST", "/api/v1/connection/refresh"),
    ("GET", "/api/v1/companies"),
    ("GET", "/api/v1/companies/1/agreements"),
    ("GET", "/api/v1/customers"),
    ("GET", "/api/v1/mappings"),
    ("POST", "/api/v1/mappings"),
    ("DELETE", "/api/v1/mappings/acme"),
    ("GET", "/api/v1/products"),
    ("PUT", "/api/v1/products"),
    ("GET", "/api/v1/inventory"),
    ("POST", "/api/v1/inventory"),
    ("GET", "/api/v1/plan"),
    ("GET", "/api/v1/sync"),
    ("POST", "/api/v1/sync"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/services/vm-acme-1/usage"),
    ("GET", "/api/v1/suggestions"),
    ("GET", "/api/v1/openapi.json"),
];

#[tokio::test]
async fn every_operation_answers_401_with_json_without_a_token() {
    let app = TestApp::start().await;
    assert_eq!(OPERATIONS.len(), hyalto_server::api::ROUTES.len());

    for (method, path) in OPERATIONS {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let answer = app.send(method.clone(), path, Auth::None, Body::None).await;

        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let body = answer.json();
        assert_eq!(body["error"]["code"], "unauthenticated", "{method} {path}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("hyalto user token create"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_token_that_is_not_known_answers_401() {
    let app = TestApp::start().await;

    let answer = app
        .send(
            Method::GET,
            "/api/v1/customers",
            Auth::Token("0123abcd"),
            Body::None,
        )
        .await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_bearer_scheme_is_read_whatever_its_case() {
    let app = TestApp::start().await;
    let http = reqwest::Client::new();

    let answer = http
        .get(format!("{}/api/v1/customers", app.server.url()))
        .header("authorization", format!("bearer {}", app.viewer_token))
        .send()
        .await
        .unwrap();

    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_health_check_needs_no_login_and_metrics_need_one() {
    let app = TestApp::start().await;

    let health = app
        .send(Method::GET, "/healthz", Auth::None, Body::None)
        .await;
    let anonymous_metrics = app
        .send(Method::GET, "/metrics", Auth::None, Body::None)
        .await;
    let metrics = app.get("/metrics").await;

    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(anonymous_metrics.status, StatusCode::UNAUTHORIZED);
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains(
            "hyalto_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("hyalto_sync_last_run_succeeded"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_to_a_token() {
    let app = TestApp::start().await;

    let answer = app.get("/api/v1/openapi.json").await;

    assert_eq!(answer.status, StatusCode::OK);
    let document = answer.json();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/mappings"]["post"].is_object());
}

#[tokio::test]
async fn configure_reports_every_missing_field_at_once() {
    let app = TestApp::start().await;

    let answer = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::Json(&json!({ "url": "", "publicKey": "abc" })),
        )
        .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "invalid_input");
    for field in ["url", "companyId", "privateKey", "clientId"] {
        assert!(error["fields"][field].is_string(), "{field}: {error}");
    }
    assert!(error["fields"]["publicKey"].is_null(), "{error}");
}

#[tokio::test]
async fn configure_refuses_a_body_that_is_not_the_json_it_takes() {
    let app = TestApp::start().await;
    let token = Auth::Token(&app.admin_token);

    let not_an_object = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            token,
            Body::Json(&json!("url")),
        )
        .await;
    let wrong_type = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            token,
            Body::Json(&json!({ "url": "x", "insecure": "yes" })),
        )
        .await;

    for answer in [&not_an_object, &wrong_type] {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "invalid_json");
        assert!(
            error["message"].as_str().unwrap().contains("openapi.json"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn configure_names_the_private_key_when_connectwise_refuses_the_keys() {
    let app = TestApp::start().await;
    let mut body = app.configure_body();
    body["privateKey"] = json!("not-the-key");

    let answer = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::Json(&body),
        )
        .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let error = &answer.json()["error"];
    assert!(
        error["fields"]["privateKey"]
            .as_str()
            .unwrap()
            .contains("refused the API keys"),
        "{error}"
    );
    let status = app.get("/api/v1/connection").await.json();
    assert_eq!(
        status["configured"], false,
        "nothing is stored after a refusal"
    );
}

#[tokio::test]
async fn configure_names_the_company_id_the_site_does_not_know() {
    let app = TestApp::start().await;
    let mut body = app.configure_body();
    body["companyId"] = json!("nosuchcompany");

    let answer = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::Json(&body),
        )
        .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(answer.json()["error"]["fields"]["companyId"].is_string());
}

#[tokio::test]
async fn configure_refuses_an_api_member_that_may_not_write_unless_told_to_skip_the_check() {
    let sandbox = SandboxConfig {
        deny: vec![Denial {
            method: "POST".to_owned(),
            path: "/finance/agreements/{id}/additions".to_owned(),
        }],
        ..SandboxConfig::default()
    };
    let app = TestApp::start_with(None, sandbox).await;
    let mut body = app.configure_body();

    let refused = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::Json(&body),
        )
        .await;
    let status = app.get("/api/v1/connection").await.json();
    body["skipWriteCheck"] = json!(true);
    let skipped = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::Json(&body),
        )
        .await;
    app.wait_for_refresh().await;

    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "missing_rights");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("POST /finance/agreements/{id}/additions"),
        "{message}"
    );
    assert!(message.contains("Finance module"), "{message}");
    assert_eq!(
        status["configured"], false,
        "nothing is stored after a refusal"
    );
    assert_eq!(skipped.status, StatusCode::ACCEPTED, "{}", skipped.text);
}

#[tokio::test]
async fn configure_stores_the_connection_and_refreshes_the_records_in_the_background() {
    let app = TestApp::start().await;

    let answer = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::Json(&app.configure_body()),
        )
        .await;
    let progress = app.wait_for_refresh().await;
    let status = app.get("/api/v1/connection").await.json();

    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.json()["configured"], true);
    assert!(progress["errorMessage"].is_null(), "{progress}");
    assert!(progress["records"].as_u64().unwrap() > 10, "{progress}");
    let companies = progress["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kind| kind["label"] == "companies")
        .unwrap();
    assert_eq!(companies["done"], true);
    assert_eq!(status["companyId"], app.sandbox.config().company_id);
    assert!(
        status["lastSuccessfulRefresh"]["finishedAt"].is_string(),
        "{status}"
    );
    assert!(status.get("privateKey").is_none(), "{status}");
    app.assert_private_key_never_sent();
}

#[tokio::test]
async fn a_user_who_is_not_an_admin_cannot_change_the_connection() {
    let app = TestApp::start().await;
    app.configure().await;
    let viewer = Auth::Token(&app.viewer_token);

    let configure = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            viewer,
            Body::Json(&app.configure_body()),
        )
        .await;
    let refresh = app
        .send(
            Method::POST,
            "/api/v1/connection/refresh",
            viewer,
            Body::None,
        )
        .await;
    let disconnect = app
        .send(Method::DELETE, "/api/v1/connection", viewer, Body::None)
        .await;
    let read = app
        .send(Method::GET, "/api/v1/connection", viewer, Body::None)
        .await;

    for answer in [&configure, &refresh, &disconnect] {
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
        assert_eq!(answer.json()["error"]["code"], "forbidden");
    }
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["configured"], true);
}

#[tokio::test]
async fn refresh_runs_again_and_refuses_without_a_connection() {
    let app = TestApp::start().await;

    let unconfigured = app
        .send(
            Method::POST,
            "/api/v1/connection/refresh",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    app.configure().await;
    let started = app
        .send(
            Method::POST,
            "/api/v1/connection/refresh",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    let progress = app.wait_for_refresh().await;

    assert_eq!(unconfigured.status, StatusCode::CONFLICT);
    assert_eq!(unconfigured.json()["error"]["code"], "not_configured");
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    assert_ne!(started.json()["id"], json!(0));
    assert!(progress["records"].as_u64().unwrap() > 0, "{progress}");
}

#[tokio::test]
async fn a_refresh_refused_by_connectwise_leaves_its_message_as_the_last_error() {
    // The API member may read the system but not the companies, so configure's check passes
    // and the background refresh is refused.
    let sandbox = SandboxConfig {
        deny: vec![Denial {
            method: "GET".to_owned(),
            path: "/company/companies".to_owned(),
        }],
        ..SandboxConfig::default()
    };
    let app = TestApp::start_with(None, sandbox).await;

    let answer = app
        .send(
            Method::PUT,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::Json(&app.configure_body()),
        )
        .await;
    let progress = app.wait_for_refresh().await;
    let status = app.get("/api/v1/connection").await.json();
    let metrics = app.get("/metrics").await.text;

    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    let message = progress["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("could not read the companies"),
        "{message}"
    );
    assert!(message.contains("/company/companies"), "{message}");
    assert_eq!(
        status["lastRefresh"]["errorMessage"],
        progress["errorMessage"]
    );
    assert!(status["lastSuccessfulRefresh"].is_null(), "{status}");
    assert!(
        metrics.contains("hyalto_record_refreshes_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn disconnect_forgets_the_connection_and_says_when_there_is_none() {
    let app = TestApp::start().await;
    app.configure().await;

    let first = app
        .send(
            Method::DELETE,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    let second = app
        .send(
            Method::DELETE,
            "/api/v1/connection",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;
    let status = app.get("/api/v1/connection").await.json();

    assert_eq!(first.status, StatusCode::NO_CONTENT);
    assert_eq!(second.status, StatusCode::NOT_FOUND);
    assert_eq!(status["configured"], false);
}

#[tokio::test]
async fn companies_are_searched_by_name_identifier_or_id() {
    let app = TestApp::start().await;
    app.configure().await;

    let all = app.get("/api/v1/companies").await.json();
    let by_name = app.get("/api/v1/companies?search=m%C3%BCller").await.json();
    let by_identifier = app.get("/api/v1/companies?search=obrien").await.json();
    let none = app.get("/api/v1/companies?search=zzzz").await.json();

    assert!(all["companies"].as_array().unwrap().len() >= 8, "{all}");
    assert_eq!(by_name["companies"][0]["name"], "Müller GmbH");
    assert_eq!(by_name["companies"].as_array().unwrap().len(), 1);
    assert_eq!(by_identifier["companies"][0]["id"], 1);
    assert_eq!(none["companies"], json!([]));
}

#[tokio::test]
async fn agreements_of_a_company_are_its_active_masters_unless_all_are_asked_for() {
    let app = TestApp::start().await;
    app.configure().await;

    let active = app.get("/api/v1/companies/1/agreements").await.json();
    let all = app
        .get("/api/v1/companies/1/agreements?status=all")
        .await
        .json();
    let unknown = app.get("/api/v1/companies/999999/agreements").await;
    let not_a_number = app.get("/api/v1/companies/abc/agreements").await;
    let bad_filter = app.get("/api/v1/companies/1/agreements?status=open").await;

    let active = active["agreements"].as_array().unwrap();
    assert!(active.iter().all(|a| a["status"] == "active"), "{active:?}");
    assert!(active.iter().any(|a| a["id"] == 1), "{active:?}");
    assert!(
        !active.iter().any(|a| a["id"] == 9),
        "a child is not a master: {active:?}"
    );
    assert!(
        all["agreements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["status"] == "child")
    );
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(not_a_number.status, StatusCode::BAD_REQUEST);
    assert!(not_a_number.json()["error"]["fields"]["id"].is_string());
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert!(bad_filter.json()["error"]["fields"]["status"].is_string());
}

#[tokio::test]
async fn customers_list_the_inventory_with_their_mapping() {
    let app = TestApp::start().await;
    app.import_inventory().await;

    let customers = app.get("/api/v1/customers").await.json();

    let customers = customers["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 2);
    assert_eq!(customers[0]["id"], "acme");
    assert_eq!(customers[0]["name"], "Acme & <Söhne>");
    assert_eq!(customers[0]["presentServices"], 1);
    assert!(customers[0]["companyId"].is_null());
}

#[tokio::test]
async fn a_customer_is_mapped_listed_and_unmapped() {
    let app = TestApp::start().await;
    app.configure().await;
    app.import_inventory().await;
    let token = Auth::Token(&app.admin_token);

    let mapped = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            token,
            Body::Json(&json!({ "customer": "acme", "companyId": 1, "agreementId": 1 })),
        )
        .await;
    let listed = app.get("/api/v1/mappings").await.json();
    let unmapped = app
        .send(Method::DELETE, "/api/v1/mappings/acme", token, Body::None)
        .await;
    let again = app
        .send(Method::DELETE, "/api/v1/mappings/acme", token, Body::None)
        .await;
    let after = app.get("/api/v1/mappings").await.json();

    assert_eq!(mapped.status, StatusCode::CREATED, "{}", mapped.text);
    assert_eq!(mapped.json()["companyName"], "O'Brien & Sons");
    assert_eq!(listed["mappings"][0]["customer"], "acme");
    assert_eq!(listed["mappings"][0]["agreementId"], 1);
    assert_eq!(listed["mappings"][0]["quantityChanges"], "in_place");
    assert_eq!(unmapped.status, StatusCode::NO_CONTENT);
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(after["mappings"], json!([]));
}

#[tokio::test]
async fn mapping_names_each_missing_field() {
    let app = TestApp::start().await;
    app.configure().await;

    let answer = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            Auth::Token(&app.admin_token),
            Body::Json(&json!({})),
        )
        .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let fields = &answer.json()["error"]["fields"];
    for field in ["customer", "companyId", "agreementId"] {
        assert!(fields[field].is_string(), "{field}: {fields}");
    }
}

#[tokio::test]
async fn mapping_refuses_an_unknown_customer_and_another_company_s_agreement() {
    let app = TestApp::start().await;
    app.configure().await;
    app.import_inventory().await;
    let token = Auth::Token(&app.admin_token);

    let unknown = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            token,
            Body::Json(&json!({ "customer": "nobody", "companyId": 1, "agreementId": 1 })),
        )
        .await;
    let foreign = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            token,
            Body::Json(&json!({ "customer": "acme", "companyId": 1, "agreementId": 3 })),
        )
        .await;
    let child = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            token,
            Body::Json(&json!({ "customer": "acme", "companyId": 1, "agreementId": 9 })),
        )
        .await;

    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.json()["error"]["fields"]["customer"].is_string());
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST);
    let message = foreign.json()["error"]["fields"]["agreementId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("belongs to company 3"), "{message}");
    assert_eq!(child.status, StatusCode::BAD_REQUEST);
    assert!(
        child.json()["error"]["fields"]["agreementId"]
            .as_str()
            .unwrap()
            .contains("child")
    );
    assert_eq!(
        app.get("/api/v1/mappings").await.json()["mappings"],
        json!([])
    );
}

#[tokio::test]
async fn mapping_without_a_connection_says_to_configure_first() {
    let app = TestApp::start().await;
    app.import_inventory().await;

    let answer = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            Auth::Token(&app.admin_token),
            Body::Json(&json!({ "customer": "acme", "companyId": 1, "agreementId": 1 })),
        )
        .await;

    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.json()["error"]["code"], "not_configured");
}
