//! Error classification against the sandbox: validation, credentials, permissions, discovery.

use hyalto_connectwise::models::{CompanyReference, NewAgreement, Reference};
use hyalto_connectwise::{Client, Error};

use crate::helpers::{assert_no_secrets, sandbox_config, settings_for, spawn, spawn_denying};

#[tokio::test]
async fn a_validation_error_surfaces_every_failing_field() {
    let site = spawn().await;
    let mut body = NewAgreement::new(
        "x".repeat(101),
        Reference::by_id(999),
        CompanyReference::by_id(999),
    );
    body.customer_po = Some("P".repeat(51));

    let error = site.client.create_agreement(&body).await.unwrap_err();

    let text = error.to_string();
    let Error::Validation { errors, .. } = &error else {
        panic!("expected a validation error, got {error}");
    };
    let fields: Vec<&str> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
    for field in ["name", "type", "company", "customerPO"] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
        assert!(text.contains(field), "{field} missing from {text}");
    }
    assert!(
        errors
            .iter()
            .all(|e| e.code.is_some() && e.message.is_some())
    );
    assert!(
        error.request_id().is_some(),
        "the sandbox sends x-cw-request-id"
    );
    assert!(text.contains("request id"), "{text}");
    assert_no_secrets(&text);
    assert_no_secrets(&format!("{error:?}"));
}

#[tokio::test]
async fn wrong_keys_are_reported_as_bad_credentials_without_the_keys() {
    let site = spawn().await;
    let mut settings = settings_for(&site.sandbox);
    settings.private_key = "WRONGprivate-d00d".to_owned().into();
    let client = Client::connect(settings).await.unwrap();

    let error = client.system_info().await.unwrap_err();

    assert!(matches!(error, Error::BadCredentials { .. }), "{error}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("WRONGprivate-d00d"), "{text}");
    assert_no_secrets(&text);
}

#[tokio::test]
async fn a_denied_verb_names_the_endpoint_and_the_security_roles_screen() {
    let site = spawn_denying("POST", "/finance/agreements").await;
    let mut body = NewAgreement::new("Denied", Reference::by_id(1), CompanyReference::by_id(1));
    body.contact = Some(Reference::by_id(1));

    let error = site.client.create_agreement(&body).await.unwrap_err();

    let Error::PermissionDenied { method, path, .. } = &error else {
        panic!("expected a permission error, got {error}");
    };
    assert_eq!(method.as_str(), "POST");
    assert_eq!(path, "/finance/agreements");
    let text = error.to_string();
    assert!(text.contains("System > Security Roles"), "{text}");
    assert_no_secrets(&text);
    assert!(
        site.client.system_info().await.is_ok(),
        "reads stay allowed"
    );
}

#[tokio::test]
async fn an_unknown_company_id_fails_discovery_with_advice() {
    let sandbox = hyalto_cw_sandbox::start(sandbox_config()).await.unwrap();
    let mut settings = settings_for(&sandbox);
    settings.company_id = "nosuchcompany".to_owned();

    let error = Client::connect(settings).await.unwrap_err();

    assert!(matches!(error, Error::Discovery { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("company id"), "{text}");
    assert_no_secrets(&text);
}

#[tokio::test]
async fn settings_and_clients_never_show_keys_in_debug_output() {
    let site = spawn().await;
    let settings = settings_for(&site.sandbox);

    assert_no_secrets(&format!("{settings:?}"));
    assert_no_secrets(&format!("{:?}", site.client));
    assert!(format!("{settings:?}").contains("[redacted]"));
}

#[tokio::test]
async fn a_missing_record_is_not_found() {
    let site = spawn().await;

    let error = site.client.agreement(987_654).await.unwrap_err();

    assert!(matches!(error, Error::NotFound { .. }), "{error}");
    assert!(!error.is_retryable());
}
