//! Sync runs: one record per `hyalto sync`, dry or not.

use std::fmt;

use chrono::{DateTime, Utc};
use hyalto_domain::CustomerId;
use serde::{Deserialize, Serialize};

/// The id of a sync run; ids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a finished run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every customer synced.
    Succeeded,
    /// Some customers failed or were skipped; the others synced.
    PartiallyFailed,
    /// The run as a whole failed.
    Failed,
}

impl RunOutcome {
    /// The snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::PartiallyFailed => "partially_failed",
            RunOutcome::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<RunOutcome> {
        [
            RunOutcome::Succeeded,
            RunOutcome::PartiallyFailed,
            RunOutcome::Failed,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == text)
    }
}

/// Counters of what a run did (or, for a dry run, would have done).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounts {
    /// Customers the run looked at.
    pub customers: u64,
    /// Customers skipped (incomplete inventory, held removals, ...).
    pub customers_skipped: u64,
    /// Customers whose sync failed.
    pub customers_failed: u64,
    /// Child agreements created.
    pub agreements_created: u64,
    /// Child agreements ended.
    pub agreements_ended: u64,
    /// Child agreements renamed after their service's name changed.
    pub agreements_renamed: u64,
    /// Additions created.
    pub additions_created: u64,
    /// Additions whose quantity was updated.
    pub additions_updated: u64,
    /// Additions cancelled.
    pub additions_cancelled: u64,
    /// Records found in ConnectWise by ownership key and adopted.
    pub records_adopted: u64,
    /// Differences reported and left alone (drift under the report policy, foreign additions).
    pub reported: u64,
    /// ConnectWise writes that failed.
    pub writes_failed: u64,
}

/// What is known when a run starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Whether it is a dry run (writes nothing to ConnectWise).
    pub dry_run: bool,
    /// The customer it is limited to, if any.
    pub customer_filter: Option<CustomerId>,
}

/// What is known when a run finishes.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFinish {
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// What it did.
    pub counts: RunCounts,
    /// Per-customer results, in whatever JSON shape the sync engine reports them.
    pub results: serde_json::Value,
}

/// A recorded run.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncRun {
    /// Its id.
    pub id: RunId,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The customer it was limited to, if any.
    pub customer_filter: Option<CustomerId>,
    /// When it finished; `None` while running, or when the process died mid-run.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended; `None` exactly when `finished_at` is `None`.
    pub outcome: Option<RunOutcome>,
    /// What it did (all zero until it finishes).
    pub counts: RunCounts,
    /// Per-customer results, once finished.
    pub results: Option<serde_json::Value>,
}
