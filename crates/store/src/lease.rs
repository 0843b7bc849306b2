//! The sync lease: at most one sync runs against the connection at a time, across processes.
//!
//! A holder takes the lease for a while (its time to live) and renews it as it works. A lease
//! past its expiry may be taken over by anyone, so a crashed sync blocks others only until its
//! lease runs out. The caller passes the current time to every lease call, which keeps the
//! rules testable without sleeping.
//!
//! A holder id names the process and, when it can be read, the host: `pid4242-<random>@host`.
//! That lets a later sync on the same host see that the holder's process is gone (killed before
//! it could give the lease back) and free the lease at once instead of waiting for it to expire.

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

/// A holder id unique to this process and call: the process id, 64 random bits and, when it
/// can be read, this host's name.
pub fn new_holder_id() -> String {
    let base = format!("pid{}-{:016x}", std::process::id(), OsRng.next_u64());
    match this_host() {
        Some(host) => format!("{base}@{host}"),
        None => base,
    }
}

/// The process a holder id names, read back from [`new_holder_id`]'s format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderProcess {
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host, if the id names one.
    pub host: Option<String>,
}

impl HolderProcess {
    /// Reads a holder id; `None` when it is not in [`new_holder_id`]'s format.
    pub fn parse(holder: &str) -> Option<HolderProcess> {
        let rest = holder.strip_prefix("pid")?;
        let (pid, rest) = rest.split_once('-')?;
        if pid.is_empty() || !pid.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let pid = pid.parse().ok()?;
        let host = rest
            .split_once('@')
            .map(|(_, host)| host.to_owned())
            .filter(|host| !host.is_empty());
        Some(HolderProcess { pid, host })
    }

    /// Whether the id names this host, so that its process id means a process here.
    pub fn is_on_this_host(&self) -> bool {
        self.host.is_some() && self.host == this_host()
    }
}

/// This host's name, as the kernel reports it; `None` where it cannot be read without
/// platform calls (hyalto then never decides that a holder's process is gone).
pub fn this_host() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|host| !host.is_empty() && !host.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_holder_id_reads_back_as_this_process_on_this_host() {
        let holder = new_holder_id();

        let process = HolderProcess::parse(&holder).unwrap();

        assert_eq!(process.pid, std::process::id());
        assert_eq!(process.host, this_host());
    }

    #[test]
    fn a_holder_id_from_another_host_is_not_on_this_host() {
        let process = HolderProcess::parse("pid77-00000000000000ff@elsewhere.invalid").unwrap();

        assert_eq!(process.pid, 77);
        assert_eq!(process.host.as_deref(), Some("elsewhere.invalid"));
        assert!(!process.is_on_this_host());
    }

    #[test]
    fn an_old_holder_id_without_a_host_is_never_on_this_host() {
        let process = HolderProcess::parse("pid77-00000000000000ff").unwrap();

        assert_eq!(process.host, None);
        assert!(!process.is_on_this_host());
        assert_eq!(HolderProcess::parse("someone-else"), None);
        assert_eq!(HolderProcess::parse("pid-12"), None);
    }
}
