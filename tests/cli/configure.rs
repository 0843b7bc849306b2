//! `hyalto connectwise configure`: success, and each failure saying what to fix.

use hyalto_cw_sandbox::SandboxConfig;
use hyalto_cw_sandbox::store::Denial;

use crate::helpers::{KEY_VAR, Run, TestSite};

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

    assert!(error.contains("GET /procurement/catalog"), "{error}");
    assert!(error.contains("Procurement module"), "{error}");
    assert!(error.contains("Inquire level"), "{error}");
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

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_write_is_found_at_configure_with_its_module_and_nothing_is_stored() {
    let site = TestSite::start_with(SandboxConfig {
        deny: vec![
            Denial {
                method: "POST".to_owned(),
                path: "/finance/agreements/{id}/additions".to_owned(),
            },
            Denial {
                method: "PATCH".to_owned(),
                path: "/finance/agreements/{id}".to_owned(),
            },
        ],
        ..SandboxConfig::default()
    })
    .await;
    let agreements_before = site.client().await.agreement_count(None).await.unwrap();
    site.take_calls_by_verb().await;

    let error = run(&site, &site.configure_args()).await.failure();
    let calls = site.take_calls_by_verb().await;
    let after = site.hyalto(&["connectwise", "refresh"]).await.failure();
    let agreements_after = site.client().await.agreement_count(None).await.unwrap();

    assert!(
        error.contains("POST /finance/agreements/{id}/additions"),
        "{error}"
    );
    assert!(error.contains("PATCH /finance/agreements/{id}"), "{error}");
    assert!(!error.contains("POST /finance/agreements (to"), "{error}");
    assert!(error.contains("Finance module"), "{error}");
    assert!(error.contains("Add level"), "{error}");
    assert!(error.contains("Edit level"), "{error}");
    assert_eq!(calls["POST"], 2, "{calls}");
    assert_eq!(calls["PATCH"], 2, "{calls}");
    assert_eq!(agreements_after, agreements_before);
    assert!(
        after.contains("no ConnectWise connection is configured"),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_write_check_can_be_skipped_for_a_member_that_only_previews() {
    let site = TestSite::start_with(SandboxConfig {
        deny: vec![Denial {
            method: "POST".to_owned(),
            path: "/finance/agreements".to_owned(),
        }],
        ..SandboxConfig::default()
    })
    .await;
    let mut args = site.configure_args();
    args.push("--skip-write-check".to_owned());

    let configured = run(&site, &args).await.ok();
    let calls = site.take_calls_by_verb().await;

    assert!(
        configured.stderr.contains("--skip-write-check"),
        "{}",
        configured.stderr
    );
    assert_eq!(calls.get("POST"), None, "{calls}");
}

/// Runs `hyalto ARGS` with extra environment variables.
async fn run_with_env(site: &TestSite, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = site.command(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_key_file_keeps_the_connection_readable_and_never_prints_a_key() {
    let site = TestSite::start().await;
    site.configure().await;
    let key_file = site.data_dir().join("secret.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let rotated = site.hyalto(&["secret", "rotate"]).await.ok();
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    let status = site.hyalto(&["secret", "status"]).await.ok();
    site.hyalto(&["connectwise", "refresh"]).await.ok();

    assert_ne!(old_key, new_key);
    assert!(!site.data_dir().join("secret.key.old").exists());
    assert!(
        rotated
            .stdout
            .contains("1 record (ConnectWise private key)"),
        "{}",
        rotated.stdout
    );
    assert!(
        status
            .stdout
            .contains("ConnectWise private key opens with the key in use"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains(&key_file.display().to_string()));
    for output in [
        &rotated.stdout,
        &rotated.stderr,
        &status.stdout,
        &status.stderr,
    ] {
        assert!(!output.contains(old_key.trim()), "{output}");
        assert!(!output.contains(new_key.trim()), "{output}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_to_a_key_in_the_environment_needs_that_key_afterwards() {
    let site = TestSite::start().await;
    site.configure().await;
    let new_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    let rotated = run_with_env(
        &site,
        &["secret", "rotate", "--new-key-env", "HYALTO_TEST_NEW_KEY"],
        &[("HYALTO_TEST_NEW_KEY", new_key)],
    )
    .await
    .ok();
    let with_old_key = site.hyalto(&["connectwise", "refresh"]).await.failure();
    let with_new_key = run_with_env(
        &site,
        &["connectwise", "refresh"],
        &[("HYALTO_SECRET_KEY", new_key)],
    )
    .await;

    assert!(
        rotated.stdout.contains("set HYALTO_SECRET_KEY"),
        "{}",
        rotated.stdout
    );
    assert!(!rotated.stdout.contains(new_key), "{}", rotated.stdout);
    assert!(
        with_old_key.contains("cannot be decrypted"),
        "{with_old_key}"
    );
    assert!(with_new_key.success, "{}", with_new_key.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_cut_short_stays_readable_and_the_next_rotate_finishes_it() {
    let site = TestSite::start().await;
    site.configure().await;
    // The state a crash right after the new key file was put in place leaves.
    hyalto_store::secret::rotate_key_file(site.data_dir()).unwrap();

    let readable = site.hyalto(&["connectwise", "refresh"]).await;
    let status = site.hyalto(&["secret", "status"]).await.ok();
    let rotated = site.hyalto(&["secret", "rotate"]).await.ok();
    let after = site.hyalto(&["secret", "status"]).await.ok();

    assert!(readable.success, "{}", readable.stderr);
    assert!(status.stdout.contains("cut short"), "{}", status.stdout);
    assert!(
        rotated
            .stdout
            .contains("Finished a key rotation that was cut short"),
        "{}",
        rotated.stdout
    );
    assert!(!site.data_dir().join("secret.key.old").exists());
    assert!(
        after.stdout.contains("opens with the key in use"),
        "{}",
        after.stdout
    );
}
