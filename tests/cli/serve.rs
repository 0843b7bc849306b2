//! `hyalto user …` and `hyalto serve`: adding users and tokens, then serving with them until
//! SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::helpers::TestSite;

/// The variable the tests put a user's password in.
const PASSWORD_VAR: &str = "HYALTO_TEST_PASSWORD";

fn with_password(site: &mut TestSite, password: &str) {
    site.env
        .push((PASSWORD_VAR.to_owned(), password.to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_added_listed_and_refused_twice() {
    let mut site = TestSite::start().await;
    with_password(&mut site, "correct horse battery staple");

    let added = site
        .hyalto(&[
            "user",
            "add",
            "alice",
            "--admin",
            "--password-env",
            PASSWORD_VAR,
        ])
        .await
        .ok();
    let again = site
        .hyalto(&["user", "add", "ALICE", "--password-env", PASSWORD_VAR])
        .await
        .failure();
    let listed = site.hyalto(&["user", "list"]).await.ok();

    assert!(
        added.stdout.contains("Added admin alice."),
        "{}",
        added.stdout
    );
    assert!(again.contains("exists already"), "{again}");
    let row = listed
        .stdout
        .lines()
        .find(|line| line.starts_with("alice"))
        .unwrap();
    assert!(row.contains("admin"), "{row}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_password_is_refused_with_the_rule() {
    let mut site = TestSite::start().await;
    with_password(&mut site, "short");

    let error = site
        .hyalto(&["user", "add", "bob", "--password-env", PASSWORD_VAR])
        .await
        .failure();

    assert!(error.contains("at least 12"), "{error}");
    let listed = site.hyalto(&["user", "list"]).await.ok();
    assert!(listed.stdout.contains("No user yet"), "{}", listed.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_is_needed_when_there_is_no_terminal() {
    let site = TestSite::start().await;

    let mut command = site.command(&["user", "add", "carol"]);
    command.stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();

    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("--password-env VAR or --password-file PATH"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_an_unknown_user_is_refused() {
    let site = TestSite::start().await;

    let error = site
        .hyalto(&["user", "token", "create", "nobody", "--name", "ci"])
        .await
        .failure();

    assert!(error.contains("no user is named \"nobody\""), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_with_a_created_token_and_stops_on_sigterm() {
    let mut site = TestSite::start().await;
    with_password(&mut site, "correct horse battery staple");
    site.hyalto(&[
        "user",
        "add",
        "alice",
        "--admin",
        "--password-env",
        PASSWORD_VAR,
    ])
    .await
    .ok();
    let created = site
        .hyalto(&["user", "token", "create", "alice", "--name", "monitoring"])
        .await
        .ok();
    let token = created.stdout.trim().to_owned();

    // Serve on a free port and read the address from the first line.
    let mut command = site.command(&["serve", "--listen", "127.0.0.1:0"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("hyalto serve starts");
    let stdout = child.stdout.take().unwrap();
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = first_line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first_line:?}"))
        .to_owned();

    let http = reqwest::Client::new();
    let anonymous = http
        .get(format!("{url}/api/v1/customers"))
        .send()
        .await
        .unwrap();
    let with_token = http
        .get(format!("{url}/api/v1/customers"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let listed = site.hyalto(&["user", "list"]).await.ok();

    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("hyalto serve stops within 20 s of SIGTERM")
    .unwrap()
    .unwrap();

    assert_eq!(token.len(), 64, "{}", created.stdout);
    assert!(created.stderr.contains("shown once"), "{}", created.stderr);
    assert_eq!(anonymous.status(), 401);
    assert_eq!(with_token.status(), 200);
    assert!(listed.stdout.contains("monitoring"), "{}", listed.stdout);
    assert!(
        !listed.stdout.contains(&token),
        "the token is never shown again"
    );
    assert!(killed.success());
    assert!(output.status.success(), "{:?}", output.status);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("hyalto stopped."),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_warns_when_nobody_can_log_in() {
    let site = TestSite::start().await;

    let mut command = site.command(&["serve", "--listen", "127.0.0.1:0"]);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("hyalto serve starts");
    let stderr = child.stderr.take().unwrap();
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stderr).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(
        first_line.contains("hyalto user add USERNAME --admin"),
        "{first_line}"
    );
}
