//! `hyalto demo` runs to completion on its own.

use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_to_completion_and_reports_what_it_did() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hyalto"));
    command
        .args(["--data-dir", data_dir.path().to_str().unwrap(), "demo"])
        .env("RUST_LOG", "error")
        .env_remove("HYALTO_SECRET_KEY");

    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("update_quantity"),
        "the resize is synced:\n{stdout}"
    );
    assert!(
        stdout.contains("end_child_agreement"),
        "the deletion is synced:\n{stdout}"
    );
    assert!(
        stdout.contains("Child agreements: 9 created, 1 ended."),
        "{stdout}"
    );
    assert!(
        stdout.contains("Additions: 26 created, 2 updated, 3 cancelled."),
        "{stdout}"
    );
    assert!(stdout.contains("ConnectWise calls:"), "{stdout}");
    assert!(!stdout.contains("DELETE"), "nothing is deleted:\n{stdout}");
}
