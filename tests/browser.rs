//! The web UI in headless Chromium: the real `hyalto serve` on a random port against the
//! sandbox, driven by playwright-core (tests/node/browser.mjs) through the whole path from login
//! to the additions on the Customers page. Screenshots of every page land in
//! `target/screenshots/`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use hyalto_cw_sandbox::{SandboxConfig, start};

const CHROMIUM: &str = "/usr/bin/chromium";

const INVENTORY: &str = r#"{
  "format": "hyalto.inventory/v1",
  "source": "browser-vcloud",
  "takenAt": "2026-11-30T23:30:00Z",
  "complete": true,
  "customers": [ { "id": "acme", "name": "Acme" } ],
  "services": [
    {
      "id": "vm-acme-1", "customer": "acme", "kind": "virtual_machine", "name": "acme-web",
      "powerState": "on",
      "resources": [
        { "kind": "cpu", "quantity": 4, "unit": "count" },
        { "kind": "ram", "quantity": 8, "unit": "GiB" }
      ]
    }
  ]
}"#;

/// Stops a hyalto process when the test ends, whatever happens: Ctrl-C first, so it cleans up
/// (the demo removes its temporary data dir), then a kill if it has not stopped in 10 s.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_configures_maps_syncs_and_sees_the_additions_in_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium` \
         (.ci/run does it)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node_dir = root.join("tests/node");
    assert!(
        node_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/node` (scripts/test does it)"
    );
    let shots = root.join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let sandbox = start(SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let data = tempfile::tempdir().unwrap();
    let inventory = data.path().join("inventory.json");
    std::fs::write(&inventory, INVENTORY).unwrap();
    let password = "a browser test passphrase";

    // The first admin, as the README says.
    let added = Command::new(env!("CARGO_BIN_EXE_hyalto"))
        .args(["--data-dir"])
        .arg(data.path())
        .args([
            "user",
            "add",
            "alice",
            "--admin",
            "--password-env",
            "ALICE_PASSWORD",
        ])
        .env("ALICE_PASSWORD", password)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // The real server on a free port; its first line says where.
    let mut server = Child(
        Command::new(env!("CARGO_BIN_EXE_hyalto"))
            .arg("--data-dir")
            .arg(data.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();

    let config = sandbox.config().clone();
    let output = tokio::task::spawn_blocking({
        let site = sandbox.site_url();
        move || {
            Command::new("node")
                .arg("browser.mjs")
                .current_dir(&node_dir)
                .env("HYALTO_URL", url)
                .env("HYALTO_USER", "alice")
                .env("HYALTO_PASSWORD", password)
                .env("CW_URL", site)
                .env("CW_COMPANY_ID", &config.company_id)
                .env("CW_PUBLIC_KEY", &config.public_key)
                .env("CW_PRIVATE_KEY", &config.private_key)
                .env("CHROMIUM", CHROMIUM)
                .env("SCREENSHOTS", shots)
                .env("INVENTORY_FILE", inventory)
                .env("CUSTOMER", "acme")
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
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(seen["pushStatus"], 201, "{seen}");
    assert_eq!(seen["outcome"], "succeeded", "{seen}");
    assert_eq!(seen["additions"], 2, "{seen}");
    assert!(seen["auditRows"].as_u64().unwrap() >= 3, "{seen}");
    assert!(seen["charts"].as_u64().unwrap() >= 2, "{seen}");
    drop(server);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_keeps_running_with_the_web_ui_and_a_login_that_works() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut demo = Child(
        Command::new(env!("CARGO_BIN_EXE_hyalto"))
            .args(["demo", "--keep-running"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Read the demo's output until it prints the web UI and the login.
    let mut reader = BufReader::new(demo.0.stdout.take().unwrap());
    let (mut url, mut password) = (String::new(), String::new());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim().strip_prefix("Web UI:") {
            url = rest.trim().to_owned();
        }
        if let Some(rest) = line.trim().strip_prefix("Log in as:") {
            password = rest.trim().strip_prefix("demo / ").unwrap().to_owned();
            break;
        }
        line.clear();
    }
    assert!(url.starts_with("http://127.0.0.1:"), "no web UI address");

    // Log in as a browser would: the login form's token, then the form.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http.get(format!("{url}/login")).send().await.unwrap();
    let login_cookie = cookie(&form, "hyalto_login_csrf");
    let html = form.text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf = html[start..].split('"').next().unwrap().to_owned();
    let logged_in = http
        .post(format!("{url}/login"))
        .header("cookie", format!("hyalto_login_csrf={login_cookie}"))
        .form(&[
            ("username", "demo"),
            ("password", password.as_str()),
            ("csrf_token", csrf.as_str()),
            ("next", "/billing/customers"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status(), reqwest::StatusCode::SEE_OTHER);
    let session = cookie(&logged_in, "hyalto_session");
    let customers = http
        .get(format!("{url}/billing/customers"))
        .header("cookie", format!("hyalto_session={session}"))
        .send()
        .await
        .unwrap();

    assert_eq!(customers.status(), reqwest::StatusCode::OK);
    let page = customers.text().await.unwrap();
    assert!(
        page.contains("addition #"),
        "the demo's additions are not shown:\n{page}"
    );
    drop(demo);
}

/// The value a response sets for cookie `name`.
fn cookie(response: &reqwest::Response, name: &str) -> String {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix(&prefix))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}
