//! The published Node.js client `connectwise-rest` works against the sandbox unmodified.
//!
//! The client only speaks HTTPS, so the sandbox runs with its self-signed certificate, which
//! Node is told to trust through `NODE_EXTRA_CA_CERTS`. The npm package is installed by the
//! README's test command (`scripts/test`), which runs `npm ci` in `tests/node`.

use std::path::Path;
use std::process::Command;

use hyalto_cw_sandbox::{SandboxConfig, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_connectwise_rest_node_client_pages_creates_and_patches_against_the_sandbox() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        node_dir.join("node_modules/connectwise-rest").is_dir(),
        "connectwise-rest is not installed: run `npm ci --prefix tests/node` \
         (scripts/test does it for you)"
    );
    let sandbox = start(SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: true,
        client_id: Some("node-check-client".to_owned()),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let config = sandbox.config().clone();

    let output = tokio::task::spawn_blocking({
        let site = format!("127.0.0.1:{}", sandbox.local_addr().port());
        let cert = sandbox
            .cert_path()
            .expect("TLS mode writes a certificate")
            .to_owned();
        move || {
            Command::new("node")
                .arg("check.mjs")
                .current_dir(&node_dir)
                .env("CW_SITE", site)
                .env("CW_COMPANY_ID", &config.company_id)
                .env("CW_PUBLIC_KEY", &config.public_key)
                .env("CW_PRIVATE_KEY", &config.private_key)
                .env("CW_CLIENT_ID", "node-check-client")
                .env("NODE_EXTRA_CA_CERTS", cert)
                .output()
                .expect("node runs (install Node.js 18 or later)")
        }
    })
    .await
    .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Node check failed:\n{stdout}\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(summary["quantity"], 12);

    // The sandbox, not just the client, must have seen the writes.
    let stats: serde_json::Value = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(sandbox.cert_path().unwrap()).unwrap())
                .unwrap(),
        )
        .build()
        .unwrap()
        .get(format!("{}/_sandbox/stats", sandbox.site_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = stats.to_string();
    assert!(text.contains("POST /finance/agreements"), "stats: {text}");
    assert!(
        text.contains("PATCH /finance/agreements/{"),
        "stats: {text}"
    );
    sandbox.shutdown().await;
}
