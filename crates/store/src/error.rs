//! The one error type of the storage interface, shared by every backend.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::secret::SecretError;

/// Everything a store operation can fail with.
///
/// The variants sort failures by what the caller can do about them: a held lease means "try
/// later", a stale snapshot means "the file is old", a missing customer means "import first",
/// and `Database` means something went wrong underneath.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data dir or the database file could not be created or opened.
    #[error("cannot open the store in {}: {source}", path.display())]
    Open {
        /// The data dir.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Bringing the schema up to date failed.
    #[error("cannot update the database schema: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),

    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// The key-encryption key could not be loaded, or a secret could not be decrypted.
    #[error(transparent)]
    Secret(#[from] SecretError),

    /// A value read from the database does not decode; the database was changed by hand or by a
    /// newer hyalto.
    #[error("the stored {what} {value:?} is not valid: {reason}")]
    Corrupt {
        /// What the value is, such as "service kind".
        what: &'static str,
        /// The stored text (never a secret).
        value: String,
        /// Why it does not decode.
        reason: String,
    },

    /// A value given to the store cannot be stored.
    #[error("cannot store {what}: {reason}")]
    InvalidInput {
        /// What the value is.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A record the operation needs does not exist.
    #[error("no {what} {id:?} is known")]
    NotFound {
        /// The kind of record, such as "customer".
        what: &'static str,
        /// Its id.
        id: String,
    },

    /// A snapshot older than one already applied from the same source was refused.
    #[error(
        "the snapshot of source {source_id:?} taken at {taken_at} is older than the one already \
         applied (taken at {last_taken_at}); nothing was changed"
    )]
    StaleSnapshot {
        /// The source.
        source_id: String,
        /// When the refused snapshot was taken.
        taken_at: DateTime<Utc>,
        /// When the newest applied snapshot was taken.
        last_taken_at: DateTime<Utc>,
    },

    /// A snapshot breaks a rule the store relies on; nothing was changed.
    #[error("the snapshot of source {source_id:?} cannot be applied: {reason}")]
    InvalidSnapshot {
        /// The source.
        source_id: String,
        /// What is wrong.
        reason: String,
    },

    /// Another holder has the sync lease and it has not expired.
    #[error("another sync ({holder}) holds the sync lease until {expires_at}; try again later")]
    LeaseHeld {
        /// The current holder.
        holder: String,
        /// When its lease expires unless renewed.
        expires_at: DateTime<Utc>,
    },

    /// The caller no longer holds the sync lease (it expired and was taken over, or was never
    /// taken).
    #[error("the sync lease is no longer held by {holder}; stop writing and start again")]
    LeaseLost {
        /// The caller's holder id.
        holder: String,
    },
}
