//! Recording an inventory snapshot sent as text (the documented import format), with the same
//! checks and messages as `hyalto inventory import`.

use std::path::Path;

use chrono::{DateTime, Utc};
use hyalto_domain::{Completeness, Snapshot, check_taken_at, parse_snapshot};
use hyalto_store::{SnapshotReport, Store, StoreError};

/// Why a snapshot was not recorded. Every message says what to change; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The text is not a valid snapshot, or is dated in the future; the message lists every
    /// problem with its JSON path.
    #[error("{0}\nNothing was imported.")]
    Invalid(String),

    /// The snapshot is marked incomplete and that was not accepted.
    #[error(
        "{origin}: $.complete: the snapshot is marked incomplete ({reasons}), so services \
         missing from it cannot be told apart from services that were not read. Nothing was \
         imported. Send a complete snapshot, or accept an incomplete one to record what it \
         lists without retiring anything (the sync then skips this source's customers)"
    )]
    Incomplete {
        /// Where the text came from.
        origin: String,
        /// The snapshot's reasons, joined.
        reasons: String,
    },

    /// The store refused it: older than the source's newest, or inconsistent.
    #[error("{0}")]
    Refused(String),

    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Parses and checks `text` as the import format, naming `origin` in messages (a file name,
/// or `request body`).
pub fn parse(
    text: &str,
    origin: &str,
    now: DateTime<Utc>,
    accept_incomplete: bool,
) -> Result<Snapshot, ImportError> {
    let path = Path::new(origin);
    let snapshot =
        parse_snapshot(text, path).map_err(|error| ImportError::Invalid(error.to_string()))?;
    check_taken_at(&snapshot, now, path)
        .map_err(|error| ImportError::Invalid(error.to_string()))?;

    if let Completeness::Incomplete { reasons } = &snapshot.completeness
        && !accept_incomplete
    {
        return Err(ImportError::Incomplete {
            origin: origin.to_owned(),
            reasons: reasons.join("; "),
        });
    }
    Ok(snapshot)
}

/// Records a checked snapshot.
pub async fn record<S: Store>(
    store: &S,
    snapshot: &Snapshot,
    origin: &str,
) -> Result<SnapshotReport, ImportError> {
    store
        .apply_snapshot(snapshot)
        .await
        .map_err(|error| match error {
            StoreError::StaleSnapshot { .. } => ImportError::Refused(format!(
                "{origin}: $.takenAt: {error}; send a fresh snapshot of the source"
            )),
            StoreError::InvalidSnapshot { reason, .. } => {
                ImportError::Refused(format!("{origin}: {reason}; nothing was imported"))
            }
            other => ImportError::Store(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_json_is_refused_with_its_position() {
        let error = parse("{", "request body", Utc::now(), false).unwrap_err();

        let message = error.to_string();
        assert!(message.starts_with("request body:1:"), "{message}");
        assert!(message.ends_with("Nothing was imported."), "{message}");
    }
}
