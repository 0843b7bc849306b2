//! The billing pages: Products, Customers, Preview with Apply, History, Sync now, and the
//! suggestions on Map Company, driven through their forms.

use reqwest::{Method, StatusCode};

use crate::helpers::{Auth, Body, TestApp};
use crate::pages::{page, post_form};

#[tokio::test]
async fn the_customers_page_calls_out_unmapped_customers_and_shows_quantities() {
    let app = TestApp::start().await;
    app.import_inventory().await;
    let session = app.log_in("victor").await;

    let answer = page(&app, &session, "/billing/customers").await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.text.contains("Not mapped, so not billed"),
        "{}",
        answer.text
    );
    // The name is escaped, never rendered as markup.
    assert!(
        answer.text.contains("Acme &amp; &lt;Söhne&gt;"),
        "{}",
        answer.text
    );
    assert!(
        answer.text.contains("virtual_machine&#x2f;ram"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn a_viewer_sees_the_products_but_cannot_change_them() {
    let app = TestApp::start().await;
    app.import_inventory().await;
    let session = app.log_in("victor").await;

    let shown = page(&app, &session, "/billing/products").await;
    let changed = post_form(
        &app,
        &session,
        "/billing/products",
        &[("meter", "virtual_machine/cpu"), ("catalogItemId", "1")],
    )
    .await;

    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.text.contains("none: not billed"), "{}", shown.text);
    assert!(!shown.text.contains("name=\"catalogItemId\""));
    assert_eq!(changed.status, StatusCode::FORBIDDEN);
    assert!(app.store_has_no_product_mappings().await);
}

#[tokio::test]
async fn an_admin_chooses_a_catalog_item_for_a_meter_on_the_products_page() {
    let app = TestApp::start().await;
    app.configure().await;
    app.wait_for_refresh().await;
    app.import_inventory().await;
    let session = app.log_in("alice").await;

    let form = page(&app, &session, "/billing/products").await;
    let item = first_option(&form.text);
    let saved = post_form(
        &app,
        &session,
        "/billing/products",
        &[("meter", "virtual_machine/cpu"), ("catalogItemId", &item)],
    )
    .await;

    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(saved.location(), "/billing/products?done=saved");
    assert!(!app.store_has_no_product_mappings().await);
}

#[tokio::test]
async fn sync_now_without_the_csrf_token_is_refused_and_starts_nothing() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    let session = app.log_in("alice").await;

    let answer = app
        .send(
            Method::POST,
            "/billing/sync",
            Auth::Session(&session),
            Body::Form(&[]),
        )
        .await;

    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(app.get("/api/v1/sync").await.json()["job"].is_null());
}

#[tokio::test]
async fn the_preview_lists_the_writes_and_apply_runs_exactly_that_plan() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    let session = app.log_in("victor").await;

    let preview = page(&app, &session, "/billing/preview").await;
    let fingerprint = hidden(&preview.text, "fingerprint");
    let stale = post_form(
        &app,
        &session,
        "/billing/preview/apply",
        &[("fingerprint", "0000")],
    )
    .await;
    let applied = post_form(
        &app,
        &session,
        "/billing/preview/apply",
        &[("fingerprint", &fingerprint)],
    )
    .await;

    assert_eq!(preview.status, StatusCode::OK);
    assert!(
        preview.text.contains("<td class=\"num\">4</td>"),
        "the quantity is a plain number: {}",
        preview.text
    );
    assert!(
        preview.text.contains("create_child_agreement"),
        "{}",
        preview.text
    );
    assert!(
        preview.text.contains("<strong>3</strong> writes planned"),
        "{}",
        preview.text
    );
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(
        stale.text.contains("changed since the preview"),
        "{}",
        stale.text
    );
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.text);
    assert_eq!(app.wait_for_sync().await["outcome"], "succeeded");
}

#[tokio::test]
async fn the_history_page_filters_the_audit_log_and_draws_a_service_chart() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    app.send(
        Method::POST,
        "/api/v1/sync",
        Auth::Token(&app.admin_token),
        Body::None,
    )
    .await;
    app.wait_for_sync().await;
    let session = app.log_in("victor").await;

    let additions = page(
        &app,
        &session,
        "/billing/history?customer=acme&operation=create_addition&service=vm-acme-1",
    )
    .await;
    let bad = page(&app, &session, "/billing/history?operation=drop_table").await;

    assert_eq!(additions.status, StatusCode::OK);
    assert_eq!(
        additions.text.matches("<td>create_addition</td>").count(),
        2
    );
    assert!(!additions.text.contains("<td>create_child_agreement</td>"));
    assert_eq!(additions.text.matches("<svg class=\"chart\"").count(), 2);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("is not an operation"), "{}", bad.text);
}

#[tokio::test]
async fn map_company_suggests_a_company_of_the_same_name_and_maps_only_on_a_click() {
    let app = TestApp::start().await;
    app.configure().await;
    app.wait_for_refresh().await;
    let inventory = serde_json::json!({
        "format": "hyalto.inventory/v1", "source": "suggest", "takenAt": "2026-11-30T00:00:00Z",
        "complete": true, "customers": [{ "id": "northwind", "name": "NORTHWIND TRADERS, Inc." }], "services": []
    });
    let pushed = app
        .send(
            Method::POST,
            "/api/v1/inventory",
            Auth::Token(&app.admin_token),
            Body::Json(&inventory),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.text);
    let session = app.log_in("alice").await;

    let shown = page(&app, &session, "/billing/map-company").await;
    let suggestions = app.get("/api/v1/suggestions").await.json();
    let before = app.get("/api/v1/mappings").await.json();

    let suggestion = &suggestions["suggestions"][0];
    assert_eq!(suggestion["customer"], "northwind", "{suggestions}");
    assert_eq!(
        suggestion["companyName"], "Northwind Traders",
        "{suggestions}"
    );
    assert!(
        shown
            .text
            .contains("> NORTHWIND TRADERS, Inc. to Northwind Traders</span>"),
        "{}",
        shown.text
    );
    assert!(
        before["mappings"].as_array().unwrap().is_empty(),
        "showing a suggestion maps nothing"
    );

    let agreement = suggestion["agreementId"]
        .as_i64()
        .expect("Northwind Traders has one active agreement");
    let company = suggestion["companyId"].as_i64().unwrap();
    let clicked = post_form(
        &app,
        &session,
        "/billing/map-company",
        &[
            ("customer", "northwind"),
            ("companyId", &company.to_string()),
            ("agreementId", &agreement.to_string()),
        ],
    )
    .await;
    assert_eq!(clicked.status, StatusCode::SEE_OTHER, "{}", clicked.text);
    let after = app.get("/api/v1/mappings").await.json();
    assert_eq!(after["mappings"][0]["customer"], "northwind", "{after}");
}

/// The value of the first catalog item option in a page.
fn first_option(html: &str) -> String {
    let start = html
        .find("<option value=\"\">None (not billed)</option>")
        .unwrap();
    let rest = &html[start..];
    let value = rest.split("<option value=\"").nth(2).unwrap();
    value.split('"').next().unwrap().to_owned()
}

/// The value of the hidden field `name`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn integrations_says_how_often_it_syncs_and_leaves_an_unset_ca_file_empty() {
    let app = TestApp::start_scheduled(std::time::Duration::from_secs(900)).await;
    app.configure().await;
    app.wait_for_refresh().await;
    let session = app.log_in("alice").await;

    let answer = page(&app, &session, "/billing/integrations").await;

    assert!(
        answer.text.contains("synced every 15 minutes"),
        "{}",
        answer.text
    );
    assert!(answer.text.contains("Sync now"));
    assert!(
        answer
            .text
            .contains(r#"id="caFile" name="caFile" type="text" value="""#),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn apply_with_an_empty_fingerprint_asks_for_a_preview_and_starts_nothing() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    let session = app.log_in("victor").await;

    let applied = post_form(
        &app,
        &session,
        "/billing/preview/apply",
        &[("fingerprint", "")],
    )
    .await;
    let status = app.get("/api/v1/sync").await.json();

    assert_eq!(applied.status, StatusCode::BAD_REQUEST, "{}", applied.text);
    assert!(
        applied.text.contains("open the preview first"),
        "{}",
        applied.text
    );
    assert!(status["job"].is_null(), "a sync started: {status}");
}

#[tokio::test]
async fn a_second_sync_now_while_one_runs_shows_the_page_with_a_message() {
    let app = TestApp::start().await;
    app.prepare_billing().await;
    let session = app.log_in("victor").await;
    app.sandbox_latency(300).await;

    let first = post_form(&app, &session, "/billing/sync", &[]).await;
    let second = post_form(&app, &session, "/billing/sync", &[]).await;

    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text);
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    let content_type = second
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        second.text.contains("A sync is running already"),
        "{}",
        second.text
    );
    app.wait_for_sync().await;
}
