//! Logging in and out, sessions, cookies, CSRF and the login rate limit.

use hyalto_cw_sandbox::SandboxConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, Body, PASSWORD, Session, TestApp, hidden_csrf};

/// Posts the login form with a fresh login CSRF token.
async fn try_login(app: &TestApp, username: &str, password: &str) -> crate::helpers::Answer {
    let page = app
        .send(Method::GET, "/login", Auth::None, Body::None)
        .await;
    let token = page.cookie("hyalto_login_csrf");
    app.send(
        Method::POST,
        "/login",
        Auth::Cookie(&format!("hyalto_login_csrf={token}")),
        Body::Form(&[
            ("username", username),
            ("password", password),
            ("csrf_token", &token),
            ("next", "/billing/map-company"),
        ]),
    )
    .await
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_the_login_page() {
    let app = TestApp::start().await;

    let answer = app
        .send(
            Method::GET,
            "/billing/map-company?search=a",
            Auth::None,
            Body::None,
        )
        .await;

    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.location(),
        "/login?next=/billing/map-company%3Fsearch%3Da"
    );
}

#[tokio::test]
async fn the_login_page_and_the_static_assets_need_no_login() {
    let app = TestApp::start().await;

    let login = app
        .send(Method::GET, "/login", Auth::None, Body::None)
        .await;
    let css = app
        .send(Method::GET, "/static/app.css", Auth::None, Body::None)
        .await;
    let js = app
        .send(Method::GET, "/static/app.js", Auth::None, Body::None)
        .await;

    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login
            .text
            .contains("<label for=\"password\">Password</label>")
    );
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.text.contains("pollRefresh"));
}

#[tokio::test]
async fn logging_in_sets_a_session_cookie_that_scripts_cannot_read_and_leads_on() {
    let app = TestApp::start().await;

    let answer = try_login(&app, "alice", PASSWORD).await;

    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(answer.location(), "/billing/map-company");
    let cookie = answer
        .set_cookies()
        .into_iter()
        .find(|cookie| cookie.starts_with("hyalto_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );
    let token = answer.cookie("hyalto_session");
    assert_eq!(token.len(), 64);
}

#[tokio::test]
async fn the_session_cookie_is_secure_behind_an_https_address() {
    let app =
        TestApp::start_with(Some("https://hyalto.example.com"), SandboxConfig::default()).await;

    let answer = try_login(&app, "alice", PASSWORD).await;

    let cookie = answer
        .set_cookies()
        .into_iter()
        .find(|cookie| cookie.starts_with("hyalto_session="))
        .unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = TestApp::start().await;

    let wrong_password = try_login(&app, "alice", "not the password").await;
    let unknown_user = try_login(&app, "mallory", PASSWORD).await;

    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_user.status, StatusCode::UNAUTHORIZED);
    let message = "The username or password is wrong.";
    assert!(wrong_password.text.contains(message));
    assert!(unknown_user.text.contains(message));
    assert!(
        wrong_password
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with("hyalto_session="))
    );
}

#[tokio::test]
async fn failed_logins_lock_the_username_even_for_the_right_password() {
    let app = TestApp::start().await;

    for _ in 0..hyalto_server::auth::MAX_FAILURES {
        let answer = try_login(&app, "alice", "guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let locked = try_login(&app, "ALICE", PASSWORD).await;
    let other_user = try_login(&app, "victor", PASSWORD).await;
    let metrics = app.get("/metrics").await.text;

    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        locked
            .text
            .contains("Too many failed logins for this username")
    );
    assert_eq!(other_user.status, StatusCode::SEE_OTHER);
    assert!(
        metrics.contains("hyalto_logins_total{outcome=\"rate_limited\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_login_without_the_login_page_s_token_is_refused() {
    let app = TestApp::start().await;

    let answer = app
        .send(
            Method::POST,
            "/login",
            Auth::None,
            Body::Form(&[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", "x"),
            ]),
        )
        .await;

    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with("hyalto_session="))
    );
}

#[tokio::test]
async fn a_login_never_leads_to_another_site() {
    let app = TestApp::start().await;
    let page = app
        .send(Method::GET, "/login", Auth::None, Body::None)
        .await;
    let token = page.cookie("hyalto_login_csrf");

    let answer = app
        .send(
            Method::POST,
            "/login",
            Auth::Cookie(&format!("hyalto_login_csrf={token}")),
            Body::Form(&[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", &token),
                ("next", "//evil.example.com/"),
            ]),
        )
        .await;

    assert_eq!(answer.location(), "/billing/integrations");
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let app = TestApp::start().await;
    let session = app.log_in("alice").await;

    let logout = app
        .send(
            Method::POST,
            "/logout",
            Auth::Session(&session),
            Body::Form(&[("csrf_token", &session.csrf)]),
        )
        .await;
    let after = app
        .send(
            Method::GET,
            "/billing/integrations",
            Auth::Session(&session),
            Body::None,
        )
        .await;

    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    assert_eq!(logout.location(), "/login");
    assert!(
        logout
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("hyalto_session=;"))
    );
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/login"));
}

#[tokio::test]
async fn a_form_without_the_session_s_csrf_token_is_refused() {
    let app = TestApp::start().await;
    app.configure().await;
    app.import_inventory().await;
    let session = app.log_in("alice").await;
    let forged = Session {
        cookie: session.cookie.clone(),
        csrf: "0".repeat(64),
    };

    let missing = app
        .send(
            Method::POST,
            "/logout",
            Auth::Session(&session),
            Body::Form(&[]),
        )
        .await;
    let wrong = app
        .send(
            Method::POST,
            "/billing/map-company",
            Auth::Session(&session),
            Body::Form(&[
                ("csrf_token", &forged.csrf),
                ("customer", "acme"),
                ("companyId", "1"),
                ("agreementId", "1"),
            ]),
        )
        .await;
    let disconnect = app
        .send(
            Method::POST,
            "/billing/integrations/disconnect",
            Auth::Session(&session),
            Body::Form(&[("csrf_token", "")]),
        )
        .await;

    for answer in [&missing, &wrong, &disconnect] {
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
        assert!(answer.text.contains("This form has expired"));
    }
    assert_eq!(
        app.get("/api/v1/mappings").await.json()["mappings"],
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/connection").await.json()["configured"],
        true
    );
}

#[tokio::test]
async fn an_api_write_with_a_session_needs_the_csrf_header_and_a_token_does_not() {
    let app = TestApp::start().await;
    app.configure().await;
    app.import_inventory().await;
    let session = app.log_in("alice").await;
    let body = json!({ "customer": "acme", "companyId": 1, "agreementId": 1 });

    let without = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            Auth::Session(&session),
            Body::Json(&body),
        )
        .await;
    let with = app
        .send(
            Method::POST,
            "/api/v1/mappings",
            Auth::SessionWithCsrf(&session),
            Body::Json(&body),
        )
        .await;
    let read = app
        .send(
            Method::GET,
            "/api/v1/mappings",
            Auth::Session(&session),
            Body::None,
        )
        .await;
    let by_token = app
        .send(
            Method::DELETE,
            "/api/v1/mappings/acme",
            Auth::Token(&app.admin_token),
            Body::None,
        )
        .await;

    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert!(
        without.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-CSRF-Token")
    );
    assert_eq!(with.status, StatusCode::CREATED, "{}", with.text);
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(by_token.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn each_session_has_its_own_csrf_token() {
    let app = TestApp::start().await;

    let first = app.log_in("alice").await;
    let second = app.log_in("alice").await;

    assert_ne!(first.cookie, second.cookie);
    assert_ne!(first.csrf, second.csrf);
    let page = app
        .send(
            Method::GET,
            "/billing/map-company",
            Auth::Session(&second),
            Body::None,
        )
        .await;
    assert_eq!(hidden_csrf(&page.text), second.csrf);
}
