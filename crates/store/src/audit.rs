//! The append-only audit log of ConnectWise writes.
//!
//! Entries can be appended and read, never changed or removed: the storage interface has no
//! method for it and the SQLite schema aborts any `UPDATE` or `DELETE` on the table. A write
//! is logged once, after its outcome is known (including "unknown" when the connection dropped
//! before ConnectWise answered).

use std::fmt;

use chrono::{DateTime, Utc};
use hyalto_domain::CustomerId;
use serde::{Deserialize, Serialize};

use crate::runs::RunId;

/// What kind of write an entry records.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum AuditOperation {
    /// A child agreement was created under a master agreement.
    CreateChildAgreement,
    /// A child agreement was ended.
    EndChildAgreement,
    /// A child agreement was renamed (its service's name changed).
    RenameChildAgreement,
    /// A child agreement written by another hyalto installation was taken over (its notes
    /// now name this installation).
    TakeOverChildAgreement,
    /// A master agreement was created (the optional `map --create-agreement` convenience).
    CreateMasterAgreement,
    /// An addition was created.
    CreateAddition,
    /// An addition's quantity (or price) was updated in place.
    UpdateAddition,
    /// An addition was cancelled.
    CancelAddition,
    /// A catalog item was created (`products --create-missing`).
    CreateCatalogItem,
    /// A record found by its ownership key was adopted (hyalto's own record, written in a run
    /// that died before recording it).
    AdoptRecord,
    /// Any other write, by its snake_case name.
    Other(String),
}

impl AuditOperation {
    const NAMED: [(AuditOperation, &'static str); 10] = [
        (
            AuditOperation::CreateChildAgreement,
            "create_child_agreement",
        ),
        (AuditOperation::EndChildAgreement, "end_child_agreement"),
        (
            AuditOperation::RenameChildAgreement,
            "rename_child_agreement",
        ),
        (
            AuditOperation::TakeOverChildAgreement,
            "take_over_child_agreement",
        ),
        (
            AuditOperation::CreateMasterAgreement,
            "create_master_agreement",
        ),
        (AuditOperation::CreateAddition, "create_addition"),
        (AuditOperation::UpdateAddition, "update_addition"),
        (AuditOperation::CancelAddition, "cancel_addition"),
        (AuditOperation::CreateCatalogItem, "create_catalog_item"),
        (AuditOperation::AdoptRecord, "adopt_record"),
    ];

    /// The snake_case name stored in the database.
    pub fn as_str(&self) -> &str {
        match self {
            AuditOperation::Other(name) => name,
            named => {
                let (_, name) = AuditOperation::NAMED
                    .iter()
                    .find(|(operation, _)| operation == named)
                    .expect("every named operation is in NAMED");
                name
            }
        }
    }

    /// The operation with this name; unknown names become [`AuditOperation::Other`].
    pub fn from_name(name: &str) -> AuditOperation {
        AuditOperation::NAMED
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(operation, _)| operation.clone())
            .unwrap_or_else(|| AuditOperation::Other(name.to_owned()))
    }
}

impl fmt::Display for AuditOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<AuditOperation> for String {
    fn from(operation: AuditOperation) -> String {
        operation.as_str().to_owned()
    }
}

impl From<String> for AuditOperation {
    fn from(name: String) -> AuditOperation {
        AuditOperation::from_name(&name)
    }
}

/// How a logged write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    /// ConnectWise confirmed the write.
    Succeeded,
    /// ConnectWise refused the write, or it could not be sent.
    Failed,
    /// The request was sent but no answer arrived; the next sync finds out by ownership key.
    Unknown,
}

impl AuditStatus {
    /// The snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Succeeded => "succeeded",
            AuditStatus::Failed => "failed",
            AuditStatus::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<AuditStatus> {
        [
            AuditStatus::Succeeded,
            AuditStatus::Failed,
            AuditStatus::Unknown,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// One ConnectWise write, as appended to the log.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEntry {
    /// When the write finished or failed.
    pub at: DateTime<Utc>,
    /// The sync run that made it, if any.
    pub run: Option<RunId>,
    /// The customer it was for, if any.
    pub customer: Option<CustomerId>,
    /// What was done.
    pub operation: AuditOperation,
    /// The kind of ConnectWise record written, such as `agreement` or `addition`.
    pub target_kind: String,
    /// ConnectWise id of the record, when known.
    pub target_id: Option<i64>,
    /// Why hyalto made the write.
    pub reason: String,
    /// The record before the write.
    pub before: Option<serde_json::Value>,
    /// The record after the write (or the body sent, when it failed).
    pub after: Option<serde_json::Value>,
    /// How it ended.
    pub status: AuditStatus,
    /// ConnectWise's request id, when it gave one.
    pub request_id: Option<String>,
    /// ConnectWise's message (or the transport error) when it failed.
    pub error_message: Option<String>,
}

/// The id of an audit entry; ids grow with time and are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditId(pub i64);

/// A logged write.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// Its id.
    pub id: AuditId,
    /// The entry as appended.
    pub entry: NewAuditEntry,
}

/// Which audit entries to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries for this customer.
    pub customer: Option<CustomerId>,
    /// Only entries of this operation.
    pub operation: Option<AuditOperation>,
    /// Only entries of this run.
    pub run: Option<RunId>,
    /// At most this many entries, newest first.
    pub limit: u32,
}

impl Default for AuditFilter {
    fn default() -> AuditFilter {
        AuditFilter {
            customer: None,
            operation: None,
            run: None,
            limit: 100,
        }
    }
}

/// A cancellation or end hyalto is about to send, recorded before it is sent.
///
/// The audit entry of a write is appended once its outcome is known; a process that stops in
/// between leaves none. The intent, written first, still says which date hyalto chose for the
/// record, so the next sync can tell its own unfinished write from a hand edit.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteIntent {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// The sync run about to send it.
    pub run: Option<RunId>,
    /// The customer it is for.
    pub customer: Option<CustomerId>,
    /// What is about to be sent.
    pub operation: AuditOperation,
    /// The kind of ConnectWise record, such as `agreement` or `addition`.
    pub target_kind: String,
    /// ConnectWise id of the record.
    pub target_id: i64,
    /// The fields about to be sent, under their ConnectWise names.
    pub sent: serde_json::Value,
}

/// What hyalto sent, or was about to send, to one record: from an audit entry of the write
/// (whatever its outcome) or from a [`WriteIntent`].
#[derive(Clone, Debug, PartialEq)]
pub struct OwnWrite {
    /// ConnectWise id of the record.
    pub target_id: i64,
    /// The record ConnectWise returned, or the fields sent, under their ConnectWise names.
    pub sent: serde_json::Value,
}
