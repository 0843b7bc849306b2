//! `hyalto connectwise configure`: success, and each failure saying what to fix.

use hyalto_cw_sandbox::SandboxConfig;
use hyalto_cw_sandbox::store::Denial;

use crate::helpers::{KEY_VAR, TestSite};

/// The configure arguments with one flag's value replaced.
fn with(site: &TestSite, flag: &str, value: &str) -> Vec<String> {
    let mut args = site.configure_args();
    let index = args.iter().position(|arg| arg == flag).unwrap();
    args[index + 1] = value.to_owned();
    args
}

async fn run(site: &TestSite, args: &[String]) -> crate::helpers::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    site.hyalto(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_connection_is_stored_and_the_records_are_cached() {
    let site = TestSite::start().await;

    let configured = run(&site, &site.configure_args()).await.ok();
    let companies = site
        .hyalto(&["connectwise", "companies", "--search", "brien", "--json"])
        .await
        .ok();

    assert!(configured.stdout.contains("Connected to ConnectWise"));
    assert!(
        configured.stderr.contains("companies"),
        "progress shows counts per kind"
    );
    let companies: serde_json::Value = serde_json::from_str(&companies.stdout).unwrap();
    assert_eq!(companies[0]["name"], "O'Brien & Sons");
    assert_eq!(companies.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_private_key_is_not_stored_in_clear_text() {
    let site = TestSite::start().await;

    site.configure().await;

    let database = std::fs::read(site.data_dir().join("hyalto.db")).unwrap();
    let key = site.sandbox.config().private_key.as_bytes();
    assert!(!database.windows(key.len()).any(|window| window == key));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_url_says_to_check_the_url() {
    let site = TestSite::start().await;
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", unused.local_addr().unwrap());
    drop(unused);

    let error = run(&site, &with(&site, "--url", &address)).await.failure();

    assert!(error.contains("Check --url"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_against_a_plain_http_server_suggests_the_http_url() {
    let site = TestSite::start().await;
    let address = format!("https://{}", site.sandbox.local_addr());

    let error = run(&site, &with(&site, "--url", &address)).await.failure();

    let plain = format!("--url http://{}", site.sandbox.local_addr());
    assert!(error.contains(&plain), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_company_says_to_check_the_company_id() {
    let site = TestSite::start().await;

    let error = run(&site, &with(&site, "--company-id", "nosuchco"))
        .await
        .failure();

    assert!(
        error.contains("does not know the company id \"nosuchco\""),
        "{error}"
    );
    assert!(error.contains("--company-id"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_keys_say_which_flags_to_check_and_store_nothing() {
    let site = TestSite::start().await;

    let error = run(&site, &with(&site, "--public-key", "guessed"))
        .await
        .failure();
    let after = site.hyalto(&["connectwise", "companies"]).await.failure();

    assert!(error.contains("refused the API keys"), "{error}");
    assert!(error.contains("--public-key"), "{error}");
    assert!(
        !error.contains(&site.sandbox.config().private_key),
        "{error}"
    );
    assert!(after.contains("no companies are cached"), "{after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_client_id_says_where_to_get_one() {
    let site = TestSite::start().await;
    let mut args = site.configure_args();
    let index = args.iter().position(|arg| arg == "--client-id").unwrap();
    args.drain(index..index + 2);

    let error = run(&site, &args).await.failure();

    assert!(error.contains("no client id given"), "{error}");
    assert!(error.contains("developer.connectwise.com"), "{error}");
    assert!(error.contains("--client-id"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_id_the_site_refuses_says_to_fix_the_client_id() {
    let site = TestSite::start_with(SandboxConfig {
        client_id: Some("registered-client".to_owned()),
        ..SandboxConfig::default()
    })
    .await;

    let error = run(&site, &site.configure_args()).await.failure();

    assert!(error.contains("refused the client id"), "{error}");
    assert!(error.contains("--client-id"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_permission_names_the_right_to_grant_and_stores_nothing() {
    let site = TestSite::start_with(SandboxConfig {
        deny: vec![Denial {
            method: "GET".to_owned(),
            path: "/procurement/catalog".to_owned(),
        }],
        ..SandboxConfig::default()
    })
    .await;

    let error = run(&site, &site.configure_args()).await.failure();
    let after = site.hyalto(&["connectwise", "refresh"]).await.failure();

    assert!(error.contains("Product Catalog"), "{error}");
    assert!(error.contains("Security Roles"), "{error}");
    assert!(
        after.contains("no ConnectWise connection is configured"),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unset_key_variable_is_named() {
    let site = TestSite::start().await;

    let error = run(
        &site,
        &with(&site, "--private-key-env", "HYALTO_TEST_UNSET_VARIABLE"),
    )
    .await
    .failure();

    assert!(error.contains("HYALTO_TEST_UNSET_VARIABLE"), "{error}");
    assert!(!error.contains(KEY_VAR), "{error}");
}
