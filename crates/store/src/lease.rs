//! The sync lease: at most one sync runs against the connection at a time, across processes.
//!
//! A holder takes the lease for a while (its time to live) and renews it as it works. A lease
//! past its expiry may be taken over by anyone, so a crashed sync blocks others only until its
//! lease runs out. The caller passes the current time to every lease call, which keeps the
//! rules testable without sleeping.

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chrono::{DateTime, Utc};

/// The sync lease as held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncLease {
    /// The holder's id.
    pub holder: String,
    /// When the holder took it (kept across renewals).
    pub acquired_at: DateTime<Utc>,
    /// When it runs out unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// A holder id unique to this process and call: the process id and 64 random bits.
pub fn new_holder_id() -> String {
    format!("pid{}-{:016x}", std::process::id(), OsRng.next_u64())
}
