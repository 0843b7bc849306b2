//! `hyalto bench` runs a small benchmark end to end and meets its targets.

use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn a_small_benchmark_reports_three_phases_and_meets_the_write_targets() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hyalto"));
    command
        .args([
            "--data-dir",
            data_dir.path().to_str().unwrap(),
            "bench",
            "--customers",
            "3",
            "--services",
            "4",
        ])
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
        stdout.contains("3 customers × 4 services = 12 services, 36 additions"),
        "{stdout}"
    );
    for phase in [
        "(a) first sync",
        "(b) sync, nothing changed",
        "(c) sync, 1% changed (1 quantities)",
    ] {
        assert!(
            stdout.contains(phase),
            "phase {phase:?} is missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("PASS  (b) zero writes: 0 ConnectWise write(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "PASS  (c) exactly the changed additions written: 1 quantities changed, 1 PATCH"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}
