//! What the client logs: one debug line per call with method, path template, status,
//! duration and request id; one warning per retry; never a credential.

use std::io::Write;
use std::sync::{Arc, Mutex};

use hyalto_connectwise::Client;
use serde_json::json;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::helpers::{assert_no_secrets, settings_for, spawn};
use crate::writes::new_agreement;

/// Collects formatted log lines in memory.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Starts collecting this crate's logs at debug level on the current thread, until the
    /// returned guard is dropped.
    pub fn start() -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(captured.clone()),
            )
            .with(Targets::new().with_target("hyalto_connectwise", tracing::Level::DEBUG));
        let guard = tracing::subscriber::set_default(subscriber);
        (captured, guard)
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn calls_and_retries_are_logged_without_credentials() {
    let (captured, _guard) = Captured::start();
    let site = spawn().await;
    site.add_fault(json!({
        "method": "GET", "pathTemplate": "/system/info", "kind": "server_error",
        "status": 503, "count": 2
    }))
    .await;
    site.add_fault(json!({
        "method": "POST", "pathTemplate": "/finance/agreements", "kind": "commit_then_drop"
    }))
    .await;

    site.client.system_info().await.unwrap();
    site.client.agreement(1).await.unwrap();
    let lost = site
        .client
        .create_agreement(&new_agreement("Logged", 1))
        .await;
    let mut wrong = settings_for(&site.sandbox);
    wrong.public_key = "WRONGpublic-abc".to_owned();
    let rejected = Client::connect(wrong).await.unwrap().system_info().await;

    let logs = captured.text();
    assert!(lost.is_err() && rejected.is_err());
    let retries: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("retrying"))
        .collect();
    assert_eq!(retries.len(), 2, "{logs}");
    assert!(retries[0].contains("503"), "{logs}");
    assert!(
        logs.contains("http.path=/finance/agreements/{id}"),
        "{logs}"
    );
    assert!(logs.contains("http.status=200"), "{logs}");
    assert!(logs.contains("duration_ms="), "{logs}");
    assert!(logs.contains("cw.request_id="), "{logs}");
    assert_no_secrets(&logs);
    assert!(!logs.contains("WRONGpublic-abc"), "{logs}");
}
