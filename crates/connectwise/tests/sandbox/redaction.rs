//! Keys never reach error text, `Debug` output or logs, whatever form the server echoes them in,
//! and redaction never mangles ordinary text.

use base64::Engine as _;
use hyalto_connectwise::{Client, ConnectionSettings, Error, SiteUrl};
use serde_json::json;

use crate::helpers::{
    CLIENT_ID, COMPANY_ID, PRIVATE_KEY, PUBLIC_KEY, assert_no_secrets, settings_for_site,
};
use crate::logging::Captured;
use crate::mock::{MockServer, Reply, company_info};

fn settings(server: &MockServer) -> ConnectionSettings {
    settings_for_site(SiteUrl::parse(&server.site()).unwrap())
}

/// A 400 answer with a ConnectWise error body and the given request id.
fn invalid(message: &str, request_id: &str) -> Reply {
    Reply::Http {
        status: 400,
        headers: vec![("x-cw-request-id", request_id.to_owned())],
        body: json!({"code": "InvalidObject", "message": message}).to_string(),
    }
}

/// Asserts that no credential appears in `text` in any case, percent-encoded or not.
fn assert_no_secret_forms(text: &str) {
    assert_no_secrets(text);
    let lower = text.to_lowercase();
    for secret in [PUBLIC_KEY, PRIVATE_KEY, CLIENT_ID] {
        let encoded: String = secret.bytes().map(|b| format!("%{b:02x}")).collect();
        for form in [secret.to_lowercase(), encoded] {
            assert!(!lower.contains(&form), "{form} leaked into: {text}");
        }
    }
}

#[tokio::test]
async fn a_request_id_that_echoes_a_key_reaches_no_error_debug_output_or_log() {
    let (captured, _guard) = Captured::start();
    let server = MockServer::start(|addr| {
        vec![
            company_info(addr),
            invalid("the record is invalid", PRIVATE_KEY),
            invalid("the record is invalid", &format!("req-{PUBLIC_KEY}")),
            invalid("the record is invalid", "req-7d1e"),
        ]
    })
    .await;
    let client = Client::connect(settings(&server)).await.unwrap();

    let echoed = client.system_info().await.unwrap_err();
    let embedded = client.system_info().await.unwrap_err();
    let ordinary = client.system_info().await.unwrap_err();

    for error in [&echoed, &embedded] {
        assert!(matches!(error, Error::Validation { .. }), "{error}");
        assert_eq!(error.request_id(), None, "{error:?}");
        assert_no_secret_forms(&format!("{error} {error:?}"));
    }
    assert_eq!(ordinary.request_id(), Some("req-7d1e"));
    let logs = captured.text();
    assert!(logs.contains(r#"cw.request_id="req-7d1e""#), "{logs}");
    assert_no_secret_forms(&logs);
}

#[tokio::test]
async fn encoded_and_case_changed_keys_in_server_text_are_scrubbed() {
    let credential = base64::engine::general_purpose::STANDARD
        .encode(format!("{COMPANY_ID}+{PUBLIC_KEY}:{PRIVATE_KEY}"));
    let percent: String = PRIVATE_KEY
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let client_id = CLIENT_ID.replace('-', "%2d");
    let message = format!(
        "keys {} and {} / {percent} / {client_id} / basic {credential}",
        PRIVATE_KEY.to_lowercase(),
        PUBLIC_KEY.to_uppercase(),
    );
    let body = json!({
                    "code": "InvalidObject",
                    "message": message,
        "errors": [{"field": "name", "message": message}]
    })
    .to_string();
    let server = MockServer::start(move |addr| {
        vec![
            company_info(addr),
            Reply::Http {
                status: 400,
                headers: Vec::new(),
                body,
            },
        ]
    })
    .await;
    let client = Client::connect(settings(&server)).await.unwrap();

    let error = client.system_info().await.unwrap_err();

    let text = format!("{error} {error:?}");
    assert_no_secret_forms(&text);
    assert!(!text.contains(&credential), "{text}");
    for form in [percent, client_id] {
        assert!(
            !text.to_lowercase().contains(&form.to_lowercase()),
            "{text}"
        );
    }
    assert!(text.contains("keys [redacted] and [redacted]"), "{text}");
    assert!(text.contains("basic [redacted]"), "{text}");
}

#[tokio::test]
async fn a_one_letter_client_id_does_not_mangle_messages() {
    let server = MockServer::start(|_| {
        vec![Reply::Http {
            status: 500,
            headers: vec![("x-cw-request-id", "req-abc".to_owned())],
            body: r#"{"code":"Crash","message":"cache connection failed"}"#.to_owned(),
        }]
    })
    .await;
    let mut settings = settings(&server);
    settings.client_id = "c".to_owned();

    let error = Client::connect(settings).await.unwrap_err();

    let text = error.to_string();
    assert!(matches!(error, Error::Discovery { .. }), "{text}");
    assert!(text.contains("cache connection failed"), "{text}");
    assert!(
        text.contains("check that the site address points at ConnectWise Manage"),
        "{text}"
    );
    assert!(!text.contains("redacted"), "{text}");
    assert_eq!(error.request_id(), Some("req-abc"));
    assert_eq!(text.matches("req-abc").count(), 1, "{text}");
}

#[tokio::test]
async fn a_short_client_id_leaves_validation_messages_whole() {
    let server = MockServer::start(|addr| {
        vec![
            company_info(addr),
            invalid("contact is required; check the record", "req-c"),
        ]
    })
    .await;
    let mut settings = settings(&server);
    settings.client_id = "c".to_owned();
    let client = Client::connect(settings).await.unwrap();

    let error = client.system_info().await.unwrap_err();

    let text = error.to_string();
    assert!(
        text.contains("contact is required; check the record"),
        "{text}"
    );
    assert!(text.contains("[request id req-c]"), "{text}");
    assert!(!text.contains("redacted"), "{text}");
}
