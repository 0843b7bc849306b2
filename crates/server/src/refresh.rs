//! The record refresh: pulling the ConnectWise record cache in the background, one at a time,
//! with progress that the pages poll.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use hyalto_app::records::{label, pull_records, store_records};
use hyalto_connectwise::{Client, SiteUrl};
use hyalto_store::{CwRecordKind, RefreshOutcome, SqliteStore, Store, StoredConnection};
use serde::Serialize;

use crate::metrics::Metrics;

/// The progress of one kind of record.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindProgress {
    /// What is read, such as `companies`.
    pub label: &'static str,
    /// How many were read so far.
    pub count: usize,
    /// Whether every page was read.
    pub done: bool,
}

/// The state of the latest refresh this process started.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The refresh's id in the store.
    pub id: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Whether it is still running.
    pub running: bool,
    /// One entry per kind, in reading order.
    pub kinds: Vec<KindProgress>,
    /// How many records were cached, once it succeeded.
    pub records: Option<u64>,
    /// What went wrong, when it failed.
    pub error_message: Option<String>,
}

/// Starts refreshes and keeps their progress. Clones share the state.
#[derive(Clone, Default)]
pub struct Refresher {
    latest: Arc<Mutex<Option<Progress>>>,
}

impl Refresher {
    /// The latest refresh of this process, running or ended.
    pub fn latest(&self) -> Option<Progress> {
        self.lock().clone()
    }

    /// Whether a refresh is running.
    pub fn is_running(&self) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|progress| progress.running)
    }

    /// Starts a refresh with `connection` in the background, unless one is running (then
    /// `None`). Returns its first progress.
    pub async fn start(
        &self,
        store: SqliteStore,
        metrics: Arc<Metrics>,
        connection: StoredConnection,
    ) -> Result<Option<Progress>, hyalto_store::StoreError> {
        let started_at = Utc::now();

        // Claim the slot before any await, so two requests cannot both start one.
        {
            let mut latest = self.lock();
            if latest.as_ref().is_some_and(|progress| progress.running) {
                return Ok(None);
            }
            *latest = Some(Progress {
                id: 0,
                started_at,
                running: true,
                kinds: CwRecordKind::ALL
                    .iter()
                    .map(|kind| KindProgress {
                        label: label(*kind),
                        count: 0,
                        done: false,
                    })
                    .collect(),
                records: None,
                error_message: None,
            });
        }

        let id = match store.start_record_refresh(started_at).await {
            Ok(id) => id,
            Err(error) => {
                *self.lock() = None;
                return Err(error);
            }
        };
        self.update(|progress| progress.id = id);

        let refresher = self.clone();
        tokio::spawn(async move {
            let outcome = refresher.run(&store, &connection).await;
            let metric = match &outcome {
                RefreshOutcome::Succeeded { records } => {
                    tracing::info!(records, "refreshed the ConnectWise record cache");
                    "succeeded"
                }
                RefreshOutcome::Failed { message } => {
                    tracing::warn!(error = %message, "the ConnectWise record refresh failed");
                    "failed"
                }
            };
            metrics.refresh_ended(metric);
            if let Err(error) = store.finish_record_refresh(id, Utc::now(), &outcome).await {
                tracing::error!(%error, "could not record the end of a record refresh");
            }
            refresher.update(|progress| {
                progress.running = false;
                match outcome {
                    RefreshOutcome::Succeeded { records } => progress.records = Some(records),
                    RefreshOutcome::Failed { message } => progress.error_message = Some(message),
                }
            });
        });

        Ok(self.latest())
    }

    async fn run(&self, store: &SqliteStore, connection: &StoredConnection) -> RefreshOutcome {
        let client = match connect(connection).await {
            Ok(client) => client,
            Err(message) => return RefreshOutcome::Failed { message },
        };

        let pulled = pull_records(&client, |kind, count, done| {
            self.update(|progress| {
                if let Some(entry) = progress
                    .kinds
                    .iter_mut()
                    .find(|entry| entry.label == label(kind))
                {
                    entry.count = count;
                    entry.done = done;
                }
            });
        })
        .await;
        let pulled = match pulled {
            Ok(pulled) => pulled,
            Err(error) => {
                return RefreshOutcome::Failed {
                    message: error.to_string(),
                };
            }
        };

        match store_records(store, &pulled).await {
            Ok(records) => RefreshOutcome::Succeeded { records },
            Err(error) => RefreshOutcome::Failed {
                message: format!("could not store the records: {error}"),
            },
        }
    }

    fn update(&self, change: impl FnOnce(&mut Progress)) {
        if let Some(progress) = self.lock().as_mut() {
            change(progress);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Progress>> {
        self.latest
            .lock()
            .unwrap_or_else(|error| error.into_inner())
    }
}

/// A client for the stored connection, or a message saying what to fix.
pub async fn connect(connection: &StoredConnection) -> Result<Client, String> {
    let site = SiteUrl::parse(&connection.site_url).map_err(|error| {
        format!(
            "the stored site address {:?} is not usable ({error}); configure the connection again",
            connection.site_url
        )
    })?;
    let settings = hyalto_app::connection::settings_for(site, connection);

    Client::connect(settings).await.map_err(|error| {
        format!(
            "could not reach ConnectWise at {}: {error}",
            connection.site_url
        )
    })
}
