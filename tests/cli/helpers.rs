//! The test harness: a sandbox, a data dir and a way to run the real binary against them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hyalto_connectwise::{Client, ConnectionSettings, SiteUrl};
use hyalto_cw_sandbox::{RunningSandbox, SandboxConfig};
use tempfile::TempDir;

/// The environment variable the tests put the sandbox's private key in.
pub const KEY_VAR: &str = "HYALTO_TEST_PRIVATE_KEY";

/// A small, valid inventory: two customers, one of them unmapped, and an unassigned VM.
pub const SMALL_INVENTORY: &str = r#"{
  "format": "hyalto.inventory/v1",
  "source": "test-vcloud",
  "takenAt": "2026-11-30T23:30:00Z",
  "complete": true,
  "customers": [
    { "id": "acme", "name": "Acme & Söhne" },
    { "id": "initech", "name": "Initech" }
  ],
  "services": [
    {
      "id": "vm-acme-1", "customer": "acme", "kind": "virtual_machine", "name": "acme-web",
      "powerState": "on",
      "resources": [
        { "kind": "cpu", "quantity": 4, "unit": "count" },
        { "kind": "ram", "quantity": 6144, "unit": "MiB" },
        { "kind": "storage", "tier": "performance", "quantity": 100.5, "unit": "GiB" }
      ]
    },
    {
      "id": "edge-acme", "customer": "acme", "kind": "edge_gateway", "name": "acme-edge",
      "resources": [ { "kind": "public_ip", "quantity": 2, "unit": "count" } ]
    },
    {
      "id": "vm-initech-1", "customer": "initech", "kind": "virtual_machine", "name": "tps",
      "resources": [
        { "kind": "cpu", "quantity": 2, "unit": "count" },
        { "kind": "ram", "quantity": 4, "unit": "GiB" }
      ]
    },
    {
      "id": "vm-spare", "kind": "virtual_machine", "name": "spare",
      "resources": [
        { "kind": "cpu", "quantity": 1, "unit": "count" },
        { "kind": "ram", "quantity": 1, "unit": "GiB" }
      ]
    }
  ]
}"#;

/// A sandbox with the demo records and an empty data dir.
pub struct TestSite {
    pub sandbox: RunningSandbox,
    pub data_dir: TempDir,
    /// Extra environment for every run of the binary.
    pub env: Vec<(String, String)>,
}

/// What one run of the binary gave.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the run succeeded.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(
            self.success,
            "hyalto failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run failed, and returns its standard error.
    #[track_caller]
    pub fn failure(self) -> String {
        assert!(
            !self.success,
            "hyalto succeeded unexpectedly\nstdout:\n{}",
            self.stdout
        );
        self.stderr
    }
}

impl TestSite {
    /// A sandbox with the demo seed on a free port.
    pub async fn start() -> TestSite {
        TestSite::start_with(SandboxConfig::default()).await
    }

    /// A sandbox with `config` (its address is replaced by a free local port).
    pub async fn start_with(config: SandboxConfig) -> TestSite {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sandbox = hyalto_cw_sandbox::start(SandboxConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        })
        .await
        .expect("the sandbox starts");
        TestSite {
            sandbox,
            data_dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Runs `hyalto ARGS` with this site's data dir and the private key in [`KEY_VAR`].
    pub async fn hyalto(&self, args: &[&str]) -> Run {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("the hyalto binary runs");
        Run::from(output)
    }

    /// The command `hyalto ARGS` with this site's environment, for tests that run it their way.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hyalto"));
        command
            .args(args)
            .env("HYALTO_DATA_DIR", self.data_dir())
            .env(KEY_VAR, &self.sandbox.config().private_key)
            .env("RUST_LOG", "error")
            .env_remove("HYALTO_CW_CLIENT_ID")
            .env_remove("HYALTO_SECRET_KEY");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// The arguments of a `connectwise configure` that succeeds.
    pub fn configure_args(&self) -> Vec<String> {
        let config = self.sandbox.config();
        [
            "connectwise",
            "configure",
            "--url",
            &self.sandbox.site_url(),
            "--company-id",
            &config.company_id,
            "--public-key",
            &config.public_key,
            "--private-key-env",
            KEY_VAR,
            "--client-id",
            "test-client",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect()
    }

    /// Configures the connection, failing the test if that fails.
    pub async fn configure(&self) {
        let args = self.configure_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.hyalto(&args).await.ok();
    }

    /// Writes `text` to a file in a fresh folder and returns its path.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.data_dir().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Configures, imports [`SMALL_INVENTORY`], maps the default products and maps `acme` to
    /// O'Brien & Sons' master agreement.
    pub async fn set_up_acme(&self) {
        self.configure().await;
        let file = self.write_file("inventory.json", SMALL_INVENTORY);
        self.hyalto(&["inventory", "import", file.to_str().unwrap()])
            .await
            .ok();
        self.hyalto(&["connectwise", "products", "defaults"])
            .await
            .ok();
        self.hyalto(&[
            "connectwise",
            "map",
            "--customer",
            "acme",
            "--company",
            "1",
            "--agreement",
            "1",
        ])
        .await
        .ok();
    }

    /// The sandbox's request counts by verb, resetting them.
    pub async fn take_calls_by_verb(&self) -> serde_json::Value {
        let url = format!("{}/_sandbox/stats?reset=true", self.sandbox.site_url());
        let stats: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        stats["byMethod"].clone()
    }

    /// A ConnectWise client for arranging records the way a person would by hand.
    pub async fn client(&self) -> Client {
        let config = self.sandbox.config();
        let settings = ConnectionSettings::new(
            SiteUrl::parse(&self.sandbox.site_url()).unwrap(),
            config.company_id.clone(),
            config.public_key.clone(),
            config.private_key.clone().into(),
            "test-arrange",
        );
        Client::connect(settings).await.unwrap()
    }
}

/// How many writes (POST, PATCH, PUT, DELETE) a `byMethod` count holds.
pub fn writes(by_method: &serde_json::Value) -> u64 {
    ["POST", "PATCH", "PUT", "DELETE"]
        .iter()
        .filter_map(|verb| by_method.get(*verb).and_then(serde_json::Value::as_u64))
        .sum()
}
