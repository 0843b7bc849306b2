//! Access to `hyalto serve`: local users, browser sessions, API tokens, and the record
//! refreshes the server runs in the background.
//!
//! The store never sees a password or a token: callers hash them first (passwords with argon2,
//! tokens with SHA-256) and the store keeps and compares the hashes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The id of a user; ids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A user of the web UI and the REST API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// What the user logs in with (unique whatever the case).
    pub username: String,
    /// Whether the user may change the ConnectWise connection.
    pub is_admin: bool,
    /// When the user was added.
    pub created_at: DateTime<Utc>,
}

/// A user to add.
#[derive(Clone)]
pub struct NewUser {
    /// What the user logs in with.
    pub username: String,
    /// The argon2 hash of the password, as a PHC string.
    pub password_hash: String,
    /// Whether the user may change the ConnectWise connection.
    pub is_admin: bool,
    /// When the user is added.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not the password, but it can still be attacked offline: keep it out of logs.
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("is_admin", &self.is_admin)
            .finish()
    }
}

/// A user with the password hash, for checking a login.
#[derive(Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// The argon2 hash of the password, as a PHC string.
    pub password_hash: String,
}

impl fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredentials")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// A browser session to record after a successful login.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The SHA-256 (lowercase hex) of the token in the session cookie.
    pub token_hash: String,
    /// Whose session it is.
    pub user: UserId,
    /// The token every form of the session must send back.
    pub csrf_token: String,
    /// When the session starts.
    pub created_at: DateTime<Utc>,
    /// When the session ends unless the user logs out before.
    pub expires_at: DateTime<Utc>,
}

/// A live browser session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Whose session it is.
    pub user: User,
    /// The token every form of the session must send back.
    pub csrf_token: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// An API token to record. The token itself is shown to its user once and never kept.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    /// Whose token it is.
    pub user: UserId,
    /// A name that tells the token apart from the user's others (unique per user).
    pub name: String,
    /// The SHA-256 (lowercase hex) of the token.
    pub token_hash: String,
    /// When the token was made.
    pub created_at: DateTime<Utc>,
}

/// An API token as listed: never the token or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenInfo {
    /// The token's id.
    pub id: i64,
    /// Whose token it is.
    pub user: UserId,
    /// The token's name.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One pull of the ConnectWise record cache run by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRefresh {
    /// The refresh's id.
    pub id: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while it runs, or if the process stopped before it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// How many records were cached, when it succeeded.
    pub records: Option<u64>,
    /// What went wrong, when it failed.
    pub error_message: Option<String>,
}

/// How a record refresh ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Every kind was read and cached; this many records in all.
    Succeeded {
        /// The number of records cached.
        records: u64,
    },
    /// It stopped; the message says why and what to do.
    Failed {
        /// The message shown to the user.
        message: String,
    },
}
