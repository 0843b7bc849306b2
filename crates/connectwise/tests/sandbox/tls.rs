//! HTTPS against the sandbox's self-signed certificate: refused by default, accepted with the
//! certificate as a custom CA, or with verification explicitly switched off.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyalto_connectwise::{Client, Error, SiteUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{sandbox_config, settings_for, settings_for_site};

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

#[tokio::test]
async fn an_https_site_served_in_plain_http_fails_at_once_with_the_http_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        // Like any plain HTTP server, answer a TLS hello with a 400.
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut hello = [0u8; 512];
            let _ = stream.read(&mut hello).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            let _ = stream.shutdown().await;
        }
    });
    let site = SiteUrl::parse(&format!("https://{addr}")).unwrap();

    let error = Client::connect(settings_for_site(site)).await.unwrap_err();

    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "the server at https://{addr} answered in plain HTTP"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("use http://{addr}")), "{text}");
    assert!(!text.contains("try again later"), "{text}");
    assert!(!error.is_retryable());
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}
