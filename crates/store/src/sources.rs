//! Saved inventory sources: the systems hyalto collects inventory from itself (vCenters
//! today), with their credentials sealed at rest.
//!
//! A saved source's name is also the inventory source id its snapshots are recorded under, so
//! `hyalto inventory show` and the sync see a collected source like an imported one. The
//! password is sealed with the key-encryption key (see [`crate::secret`]) and only opened by
//! [`Store::saved_source_password`](crate::Store::saved_source_password); listing sources never
//! opens it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyalto_domain::SourceId;
use serde::Serialize;

/// What kind of system a saved source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A VMware vCenter, read through the vSphere SOAP API.
    Vsphere,
}

impl SourceKind {
    /// The kind as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Vsphere => "vsphere",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = String;

    fn from_str(text: &str) -> Result<SourceKind, String> {
        match text {
            "vsphere" => Ok(SourceKind::Vsphere),
            other => Err(format!(
                "{other:?} is not a kind of source hyalto collects from"
            )),
        }
    }
}

/// A saved source as kept, without its password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedSource {
    /// The source's name, which is also the inventory source id of its snapshots.
    pub name: SourceId,
    /// What kind of system it is.
    pub kind: SourceKind,
    /// The address as given, such as `https://vc.example.com/sdk`.
    pub url: String,
    /// The user hyalto logs in as.
    pub username: String,
    /// A PEM file of extra trusted certificate authorities.
    pub ca_file: Option<PathBuf>,
    /// Whether certificate checks are off.
    pub insecure: bool,
    /// The ownership rules, as TOML text.
    pub rules: String,
    /// How often the server collects it.
    #[serde(rename = "intervalSecs", serialize_with = "as_secs")]
    pub interval: Duration,
    /// When it was first saved.
    pub created_at: DateTime<Utc>,
    /// When it was last saved.
    pub updated_at: DateTime<Utc>,
    /// The last collection attempt, if any.
    pub last_attempt: Option<CollectionAttempt>,
}

/// How one collection of a saved source ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectionAttempt {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Why nothing could be collected, or `None` when a snapshot was recorded (complete or
    /// not; the inventory source's own state says which).
    pub error: Option<String>,
}

fn as_secs<S: serde::Serializer>(interval: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(interval.as_secs())
}
