//! Starting a sandbox, connecting a client to it, and driving its control endpoints.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use hyalto_connectwise::{Client, ConnectionSettings, Limits, RetryPolicy, SiteUrl};
use hyalto_cw_sandbox::store::Denial;
use hyalto_cw_sandbox::{RunningSandbox, SandboxConfig};
use serde_json::Value;

/// Credentials distinctive enough that finding them in any text is a real leak.
pub const COMPANY_ID: &str = "hyaltotest";
pub const PUBLIC_KEY: &str = "PUBLICkey-7f3a9c";
pub const PRIVATE_KEY: &str = "PRIVATEkey-e81d42-secret";
pub const CLIENT_ID: &str = "CLIENTid-5b6c1e";

/// A running sandbox and a client connected to it.
pub struct TestSite {
    pub sandbox: RunningSandbox,
    pub client: Client,
    control: reqwest::Client,
}

/// The sandbox configuration the tests start from: demo seed, a free port, our credentials.
pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        company_id: COMPANY_ID.to_owned(),
        public_key: PUBLIC_KEY.to_owned(),
        private_key: PRIVATE_KEY.to_owned(),
        client_id: Some(CLIENT_ID.to_owned()),
        ..SandboxConfig::default()
    }
}

/// Client settings for a sandbox, with short retry delays so tests stay fast.
pub fn settings_for(sandbox: &RunningSandbox) -> ConnectionSettings {
    settings_for_site(SiteUrl::parse(&sandbox.site_url()).expect("the sandbox URL parses"))
}

/// Client settings for any site, with short retry delays so tests stay fast.
pub fn settings_for_site(site: SiteUrl) -> ConnectionSettings {
    let mut settings = ConnectionSettings::new(
        site,
        COMPANY_ID,
        PUBLIC_KEY,
        PRIVATE_KEY.to_owned().into(),
        CLIENT_ID,
    );
    settings.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    };
    settings.limits = Limits {
        max_concurrent: 4,
        requests_per_second: NonZeroU32::new(1000).unwrap(),
        burst: NonZeroU32::new(1000).unwrap(),
    };
    settings.request_timeout = Duration::from_secs(10);
    settings
}

/// Starts a demo sandbox and connects to it.
pub async fn spawn() -> TestSite {
    spawn_with(sandbox_config()).await
}

/// Starts a demo sandbox whose API member may not use `method` on `path`.
pub async fn spawn_denying(method: &str, path: &str) -> TestSite {
    let mut config = sandbox_config();
    config.deny = vec![Denial {
        method: method.to_owned(),
        path: path.to_owned(),
    }];
    spawn_with(config).await
}

/// Starts a sandbox with `config` and connects to it.
pub async fn spawn_with(config: SandboxConfig) -> TestSite {
    let sandbox = hyalto_cw_sandbox::start(config)
        .await
        .expect("the sandbox starts");
    let client = Client::connect(settings_for(&sandbox))
        .await
        .expect("the client connects to the sandbox");
    TestSite {
        sandbox,
        client,
        control: reqwest::Client::new(),
    }
}

impl TestSite {
    fn control_url(&self, path: &str) -> String {
        format!("{}/_sandbox{path}", self.sandbox.site_url())
    }

    /// Appends a one-shot fault rule (see the sandbox's `FaultRule`).
    pub async fn add_fault(&self, rule: Value) {
        let response = self
            .control
            .post(self.control_url("/faults/rules"))
            .json(&rule)
            .send()
            .await
            .expect("the control endpoint answers");
        assert!(
            response.status().is_success(),
            "fault rule refused: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Request counts since the last reset, then resets them.
    pub async fn take_stats(&self) -> Value {
        self.control
            .get(self.control_url("/stats?reset=true"))
            .send()
            .await
            .expect("the control endpoint answers")
            .json()
            .await
            .expect("stats are JSON")
    }

    /// Switches the sandbox to a new codebase; the old path starts answering 404.
    pub async fn change_codebase(&self, codebase: &str) {
        let response = self
            .control
            .post(self.control_url("/codebase"))
            .json(&serde_json::json!({ "codebase": codebase }))
            .send()
            .await
            .expect("the control endpoint answers");
        assert!(response.status().is_success());
    }
}

/// How many requests of `route` (`"GET /system/info"`) the stats snapshot counted.
pub fn route_count(stats: &Value, route: &str) -> u64 {
    stats["byRoute"][route].as_u64().unwrap_or(0)
}

/// Asserts that none of the credentials appears in `text`.
pub fn assert_no_secrets(text: &str) {
    for secret in [PUBLIC_KEY, PRIVATE_KEY, CLIENT_ID] {
        assert!(!text.contains(secret), "{secret} leaked into: {text}");
    }
}
