//! HTTPS against the sandbox's self-signed certificate: refused by default, accepted with the
//! certificate as a custom CA, or with verification explicitly switched off.

use hyalto_connectwise::{Client, Error};

use crate::helpers::{sandbox_config, settings_for};

async fn tls_sandbox() -> hyalto_cw_sandbox::RunningSandbox {
    let mut config = sandbox_config();
    config.tls = true;
    hyalto_cw_sandbox::start(config).await.unwrap()
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_by_default() {
    let sandbox = tls_sandbox().await;

    let error = Client::connect(settings_for(&sandbox)).await.unwrap_err();

    assert!(matches!(error, Error::Certificate { .. }), "{error}");
    assert!(error.to_string().contains("CA file"), "{error}");
}

#[tokio::test]
async fn the_certificate_as_a_custom_ca_is_trusted() {
    let sandbox = tls_sandbox().await;
    let mut settings = settings_for(&sandbox);
    settings.ca_file = Some(sandbox.cert_path().unwrap().to_path_buf());

    let client = Client::connect(settings).await.unwrap();

    assert!(client.base_url().starts_with("https://"));
    assert!(client.system_info().await.is_ok());
}

#[tokio::test]
async fn the_insecure_switch_accepts_any_certificate() {
    let sandbox = tls_sandbox().await;
    let mut settings = settings_for(&sandbox);
    settings.insecure = true;

    let client = Client::connect(settings).await.unwrap();

    assert!(client.system_info().await.is_ok());
}

#[tokio::test]
async fn an_unreadable_ca_file_is_a_configuration_error() {
    let sandbox = tls_sandbox().await;
    let mut settings = settings_for(&sandbox);
    let empty = tempfile::NamedTempFile::new().unwrap();
    settings.ca_file = Some(empty.path().to_path_buf());
    let missing = {
        let mut settings = settings_for(&sandbox);
        settings.ca_file = Some("/nonexistent/ca.pem".into());
        settings
    };

    let empty_error = Client::connect(settings).await.unwrap_err();
    let missing_error = Client::connect(missing).await.unwrap_err();

    assert!(matches!(empty_error, Error::Config { .. }), "{empty_error}");
    assert!(
        matches!(missing_error, Error::Config { .. }),
        "{missing_error}"
    );
    assert!(missing_error.to_string().contains("/nonexistent/ca.pem"));
}
