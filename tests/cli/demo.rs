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

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_refuses_a_data_dir_that_already_holds_a_store_and_leaves_it_untouched() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path().to_str().unwrap().to_owned();
    let hyalto = |args: Vec<String>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hyalto"));
        command
            .args(args)
            .env("RUST_LOG", "error")
            .env_remove("HYALTO_SECRET_KEY");
        tokio::task::spawn_blocking(move || command.output())
    };
    let day1 = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/day1.json");
    let args = |rest: &[&str]| {
        let mut all = vec!["--data-dir".to_owned(), dir.clone()];
        all.extend(rest.iter().map(|arg| (*arg).to_owned()));
        all
    };
    let imported = hyalto(args(&["inventory", "import", day1]))
        .await
        .unwrap()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    let before = hyalto(args(&["inventory", "show", "--json"]))
        .await
        .unwrap()
        .unwrap();

    let demo = hyalto(args(&["demo"])).await.unwrap().unwrap();
    let after = hyalto(args(&["inventory", "show", "--json"]))
        .await
        .unwrap()
        .unwrap();

    let stderr = String::from_utf8_lossy(&demo.stderr);
    assert!(
        !demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stdout)
    );
    assert!(stderr.contains("already holds hyalto's store"), "{stderr}");
    assert!(
        stderr.contains("Run the demo without --data-dir"),
        "{stderr}"
    );
    assert_eq!(before.stdout, after.stdout, "the store is untouched");
}
