//! `hyalto config show` and the data dir choice.

use crate::helpers::TestSite;

#[tokio::test(flavor = "multi_thread")]
async fn config_show_marks_what_the_file_changed_and_keeps_the_other_defaults() {
    let site = TestSite::start().await;
    site.write_file(
        "config.toml",
        "[sync]\nbilling_timezone = \"Pacific/Pago_Pago\"\n",
    );

    let shown = site.hyalto(&["config", "show"]).await.ok();

    let zone = shown
        .stdout
        .lines()
        .find(|line| line.starts_with("billing_timezone"))
        .unwrap();
    assert!(zone.contains("\"Pacific/Pago_Pago\""), "{zone}");
    assert!(zone.ends_with("# from config.toml"), "{zone}");
    assert!(
        shown.stdout.contains("memory_unit = \"GiB\""),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("# default"), "{}", shown.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_config_file_is_named_with_what_to_do() {
    let site = TestSite::start().await;
    site.write_file("config.toml", "[metering]\nrounding = \"down\"\n");

    let error = site.hyalto(&["config", "show"]).await.failure();

    assert!(
        error.contains("config.toml is not a valid hyalto configuration"),
        "{error}"
    );
    assert!(error.contains("\"nearest\""), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_dir_flag_wins_over_the_environment() {
    let site = TestSite::start().await;
    let other = tempfile::tempdir().unwrap();

    let shown = site
        .hyalto(&[
            "--data-dir",
            other.path().to_str().unwrap(),
            "config",
            "show",
        ])
        .await
        .ok();

    assert!(
        shown
            .stdout
            .contains(&format!("# data dir: {}", other.path().display())),
        "{}",
        shown.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_written_twice_is_named_with_the_file_the_line_and_toml_s_reason() {
    let site = TestSite::start().await;
    let path = site.write_file(
        "config.toml",
        "[sync]\nconcurrency = 2\n[sync]\nconcurrency = 3\n",
    );

    let error = site.hyalto(&["config", "show"]).await.failure();

    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains("line 3"), "{error}");
    assert!(error.contains("duplicate key"), "{error}");
    assert!(error.contains("[sync] appears twice"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_others_can_read_is_reported_with_its_mode_and_the_chmod_that_fixes_it() {
    use std::os::unix::fs::PermissionsExt as _;

    let site = TestSite::start().await;
    site.configure().await;
    let key_file = site.data_dir().join("secret.key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let error = site.hyalto(&["connectwise", "mappings"]).await.failure();

    assert!(error.contains("mode 644"), "{error}");
    assert!(
        error.contains(&format!("chmod 600 {}", key_file.display())),
        "{error}"
    );
    assert!(!error.contains("folder can be written"), "{error}");
}
