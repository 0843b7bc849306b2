//! The pages: Billing › Integrations and Billing › Map Company, driven through their forms.

use hyalto_cw_sandbox::SandboxConfig;
use hyalto_cw_sandbox::store::Denial;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, Body, Session, TestApp};

/// Posts a form of `session`'s pages with its CSRF token.
pub async fn post_form(
    app: &TestApp,
    session: &Session,
    path: &str,
    fields: &[(&str, &str)],
) -> crate::helpers::Answer {
    let mut all = vec![("csrf_token", session.csrf.as_str())];
    all.extend_from_slice(fields);
    app.send(Method::POST, path, Auth::Session(session), Body::Form(&all))
        .await
}

pub async fn page(app: &TestApp, session: &Session, path: &str) -> crate::helpers::Answer {
    app.send(Method::GET, path, Auth::Session(session), Body::None)
        .await
}

#[tokio::test]
async fn the_navigation_lists_every_billing_page_and_marks_the_current_one() {
    let app = TestApp::start().await;
    let session = app.log_in("alice").await;

    let integrations = page(&app, &session, "/billing/integrations").await;

    assert_eq!(integrations.status, StatusCode::OK);
    let text = &integrations.text;
    assert!(
        text.contains(r#"<a href="/billing/integrations" aria-current="page">Integrations</a>"#)
    );
    assert!(text.contains(r#"<a href="/billing/map-company">Map Company</a>"#));
    for (path, name) in [
        ("products", "Products"),
        ("customers", "Customers"),
        ("preview", "Preview"),
        ("history", "History"),
    ] {
        assert!(
            text.contains(&format!(r#"<a href="/billing/{path}">{name}</a>"#)),
            "{name} is missing from the navigation"
        );
    }
}

#[tokio::test]
async fn the_configure_form_shows_a_message_next_to_each_field_at_fault() {
    let app = TestApp::start().await;
    let session = app.log_in("alice").await;

    let answer = post_form(
        &app,
        &session,
        "/billing/integrations/configure",
        &[
            ("url", "https://"),
            ("companyId", ""),
            ("publicKey", "pub"),
            ("privateKey", ""),
        ],
    )
    .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let text = &answer.text;
    assert!(text.contains(r#"id="url-error""#), "{text}");
    assert!(text.contains(r#"id="companyId-error""#));
    assert!(text.contains(r#"id="privateKey-error""#));
    assert!(text.contains(r#"id="clientId-error""#));
    assert!(!text.contains(r#"id="publicKey-error""#));
    assert!(text.contains(r#"aria-invalid="true""#));
    assert!(
        text.contains(r#"value="pub""#),
        "what was entered stays in the form"
    );
}

#[tokio::test]
async fn configuring_in_the_browser_shows_success_and_the_record_sync() {
    let app = TestApp::start().await;
    let session = app.log_in("alice").await;
    let config = app.sandbox.config();
    let site = app.sandbox.site_url();

    let answer = post_form(
        &app,
        &session,
        "/billing/integrations/configure",
        &[
            ("url", &site),
            ("companyId", &config.company_id),
            ("publicKey", &config.public_key),
            ("privateKey", &config.private_key),
            ("clientId", "test-client"),
        ],
    )
    .await;
    let landing = page(&app, &session, &answer.location()).await;
    app.wait_for_refresh().await;
    let later = page(&app, &session, "/billing/integrations").await;

    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(answer.location(), "/billing/integrations?done=configured");
    assert!(
        landing.text.contains("Connected to ConnectWise."),
        "{}",
        landing.text
    );
    assert!(landing.text.contains(r#"id="refresh-progress""#));
    assert!(later.text.contains("Connected as"));
    assert!(later.text.contains("records cached") || later.text.contains("records)"));
    assert!(later.text.contains("Refresh records"));
    assert!(later.text.contains("Disconnect"));
    let password_input = later
        .text
        .split("id=\"privateKey\"")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    assert!(password_input.contains(r#"value="""#), "{password_input}");
    app.assert_private_key_never_sent();
}

#[tokio::test]
async fn refresh_and_disconnect_work_from_the_page() {
    let app = TestApp::start().await;
    app.configure().await;
    let session = app.log_in("alice").await;

    let refresh = post_form(&app, &session, "/billing/integrations/refresh", &[]).await;
    app.wait_for_refresh().await;
    let disconnect = post_form(&app, &session, "/billing/integrations/disconnect", &[]).await;
    let after = page(&app, &session, &disconnect.location()).await;

    assert_eq!(refresh.location(), "/billing/integrations?done=refreshing");
    assert_eq!(
        disconnect.location(),
        "/billing/integrations?done=disconnected"
    );
    assert!(after.text.contains("Disconnected from ConnectWise."));
    assert!(after.text.contains("Not configured"));
    assert_eq!(
        app.get("/api/v1/connection").await.json()["configured"],
        false
    );
}

#[tokio::test]
async fn a_user_who_is_not_an_admin_sees_the_connection_but_no_form() {
    let app = TestApp::start().await;
    app.configure().await;
    let session = app.log_in("victor").await;

    let integrations = page(&app, &session, "/billing/integrations").await;
    let refused = post_form(&app, &session, "/billing/integrations/disconnect", &[]).await;

    assert!(
        integrations
            .text
            .contains("Only an admin can change the ConnectWise connection.")
    );
    assert!(
        !integrations
            .text
            .contains(r#"action="/billing/integrations/configure""#)
    );
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/connection").await.json()["configured"],
        true
    );
}

#[tokio::test]
async fn map_company_searches_companies_and_lists_the_chosen_one_s_active_agreements() {
    let app = TestApp::start().await;
    app.configure().await;
    app.import_inventory().await;
    let session = app.log_in("alice").await;

    let searched = page(&app, &session, "/billing/map-company?search=sons").await;
    let chosen = page(&app, &session, "/billing/map-company?search=sons&company=1").await;

    assert_eq!(searched.status, StatusCode::OK);
    assert!(
        searched.text.contains("O&#x27;Brien &amp; Sons"),
        "names are escaped"
    );
    assert!(!searched.text.contains("Müller GmbH"));
    assert!(searched.text.contains("Choose a company first"));
    assert!(
        chosen
            .text
            .contains(r#"<option value="1" selected>O&#x27;Brien &amp; Sons (#1)</option>"#),
        "{}",
        chosen.text
    );
    assert!(chosen.text.contains("Private Cloud (#1"), "{}", chosen.text);
    assert!(
        !chosen.text.contains("(#9"),
        "a child agreement is no master"
    );
    assert!(
        chosen.text.contains("Acme &amp; &lt;Söhne&gt; (acme)"),
        "customers are escaped"
    );
}

#[tokio::test]
async fn mapping_and_unmapping_from_the_page() {
    let app = TestApp::start().await;
    app.configure().await;
    app.import_inventory().await;
    let session = app.log_in("victor").await;

    let mapped = post_form(
        &app,
        &session,
        "/billing/map-company",
        &[
            ("customer", "acme"),
            ("companyId", "1"),
            ("agreementId", "1"),
            ("search", ""),
        ],
    )
    .await;
    let listed = page(&app, &session, &mapped.location()).await;
    let unmapped = post_form(
        &app,
        &session,
        "/billing/map-company/unmap",
        &[("customer", "acme")],
    )
    .await;
    let after = page(&app, &session, &unmapped.location()).await;

    assert_eq!(mapped.status, StatusCode::SEE_OTHER, "{}", mapped.text);
    assert_eq!(
        mapped.location(),
        "/billing/map-company?done=mapped&customer=acme"
    );
    assert!(listed.text.contains("Mapped acme."));
    assert!(
        listed
            .text
            .contains(r#"action="/billing/map-company/unmap""#)
    );
    assert!(
        listed
            .text
            .contains("O&#x27;Brien &amp; Sons – Private Cloud")
    );
    assert!(after.text.contains("hyalto no longer manages acme."));
    assert!(after.text.contains("No customer is mapped yet."));
}

#[tokio::test]
async fn the_map_form_names_the_missing_choices() {
    let app = TestApp::start().await;
    app.configure().await;
    app.import_inventory().await;
    let session = app.log_in("alice").await;

    let answer = post_form(
        &app,
        &session,
        "/billing/map-company",
        &[("customer", ""), ("companyId", "1"), ("agreementId", "")],
    )
    .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains(r#"id="customer-error""#));
    assert!(answer.text.contains(r#"id="agreementId-error""#));
    assert!(!answer.text.contains(r#"id="companyId-error""#));
    assert_eq!(
        app.get("/api/v1/mappings").await.json()["mappings"],
        json!([])
    );
}

#[tokio::test]
async fn an_unknown_page_answers_404() {
    let app = TestApp::start().await;
    let session = app.log_in("alice").await;

    let answer = page(&app, &session, "/billing/no-such-page").await;

    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.text.contains("There is no such page"));
}

#[tokio::test]
async fn the_status_shows_the_last_error_with_connectwise_s_refusal() {
    let sandbox = SandboxConfig {
        deny: vec![Denial {
            method: "GET".to_owned(),
            path: "/procurement/catalog".to_owned(),
        }],
        ..SandboxConfig::default()
    };
    let app = TestApp::start_with(None, sandbox).await;
    app.configure().await;
    let session = app.log_in("alice").await;

    let integrations = page(&app, &session, "/billing/integrations").await;

    let text = &integrations.text;
    assert!(text.contains("<dt>Last error</dt>"), "{text}");
    assert!(text.contains("could not read the catalog items"), "{text}");
    // minijinja's HTML escaping writes `/` as `&#x2f;`.
    assert!(
        text.contains("GET &#x2f;procurement&#x2f;catalog"),
        "{text}"
    );
    assert!(text.contains("Procurement module"), "{text}");
    assert!(
        text.contains(" UTC)"),
        "the time is shown for people: {text}"
    );
    assert!(
        text.contains("<dd>never</dd>"),
        "no record sync succeeded: {text}"
    );
    assert!(
        text.contains(r#"<tr data-kind="companies"><td>companies</td>"#),
        "{text}"
    );
}

/// Asserts that an HTML answer refuses to be framed and limits what it loads.
#[track_caller]
fn assert_refuses_framing(answer: &crate::helpers::Answer) {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header; status {}", answer.status))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("x-frame-options"), "DENY");
    let policy = header("content-security-policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("default-src 'self'"), "{policy}");
}

#[tokio::test]
async fn pages_and_the_login_page_refuse_to_be_framed_by_other_sites() {
    let app = TestApp::start().await;
    let session = app.log_in("alice").await;

    let integrations = page(&app, &session, "/billing/integrations").await;
    let login = app.get("/login").await;

    assert_eq!(integrations.status, StatusCode::OK);
    assert_refuses_framing(&integrations);
    assert_eq!(login.status, StatusCode::OK);
    assert_refuses_framing(&login);
}
