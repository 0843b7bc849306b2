//! Ownership keys: how hyalto recognises the ConnectWise records it wrote.
//!
//! Every child agreement and addition hyalto creates carries a key derived from what the record
//! bills, so a record whose creation was never recorded (the process died, or the answer was
//! lost) is found again by the next sync and adopted instead of being created twice.
//!
//! - A child agreement carries a line `hyalto-key: hy1-<16 hex>` in `internalNotes`, which
//!   ConnectWise never prints on an invoice. Its key is a hash of the customer id, the service
//!   id and the agreement's start date. Next to it, a line `hyalto-installation: hyi-<16 hex>`
//!   names the hyalto installation (data dir) that wrote it, so that two installations syncing
//!   the same customers into one ConnectWise never adopt each other's records. The installation
//!   is not part of the key: after a lost data dir, a new installation finds its records by key
//!   and takes them over on request.
//! - An addition carries the key itself, `hy1-<16 hex>`, in `serialNumber` (at most 50
//!   characters). Its key is a hash of the service id, the meter key and the effective date.
//!   Invoice templates should not print serial numbers of agreement additions.
//!
//! The dates are part of the keys because a record is only ever the same record for one life
//! of a service (a service that comes back after being gone gets a new child agreement) and
//! for one effective date (cancel-and-replace writes a new addition per change). A record is
//! checked by recomputing the key from its own dates, so no lookup needs the date in advance.

use chrono::NaiveDate;
use hyalto_domain::{CustomerId, MeterKey, ServiceId};
use sha2::{Digest, Sha256};

/// The version prefix of every key; a new scheme would use `hy2-`.
pub const KEY_PREFIX: &str = "hy1-";

/// The label that starts the key line in a child agreement's `internalNotes`.
pub const NOTES_LABEL: &str = "hyalto-key:";

/// Hashes the parts with a separator that cannot occur in ids, and keeps 64 bits as hex.
fn digest(kind: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    for part in parts {
        // The unit separator keeps ("ab", "c") and ("a", "bc") apart.
        hasher.update([0x1f]);
        hasher.update(part.as_bytes());
    }
    let hash = hasher.finalize();

    let mut key = String::with_capacity(KEY_PREFIX.len() + 16);
    key.push_str(KEY_PREFIX);
    for byte in &hash[..8] {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// The ownership key of the child agreement billing `service` for `customer` from `start`.
pub fn child_key(customer: &CustomerId, service: &ServiceId, start: NaiveDate) -> String {
    digest(
        "child",
        &[
            customer.as_str(),
            service.as_str(),
            &start.format("%Y-%m-%d").to_string(),
        ],
    )
}

/// The ownership key of the addition billing `meter` of `service` from `effective`.
pub fn addition_key(service: &ServiceId, meter: &MeterKey, effective: NaiveDate) -> String {
    digest(
        "addition",
        &[
            service.as_str(),
            &meter.to_string(),
            &effective.format("%Y-%m-%d").to_string(),
        ],
    )
}

/// The label that starts the installation line in a child agreement's `internalNotes`.
pub const INSTALLATION_LABEL: &str = "hyalto-installation:";

/// The `internalNotes` text of a child agreement carrying `key`, written by `installation`.
pub fn child_notes(key: &str, installation: &str) -> String {
    format!(
        "{NOTES_LABEL} {key}\n{INSTALLATION_LABEL} {installation}\nWritten by hyalto; keep these \
         lines so hyalto recognises it."
    )
}

/// The installation named in a child agreement's `internalNotes`, if a line names one. Notes
/// written before installations were recorded have none.
pub fn installation_in_notes(notes: &str) -> Option<&str> {
    notes.lines().find_map(|line| {
        let id = line.trim().strip_prefix(INSTALLATION_LABEL)?.trim();
        (!id.is_empty()).then_some(id)
    })
}

/// `notes` with the installation line naming `installation`: an existing installation line is
/// replaced, else one is added right after the key line (or at the end). Other lines stay.
pub fn notes_for_installation(notes: &str, installation: &str) -> String {
    let line = format!("{INSTALLATION_LABEL} {installation}");
    let mut lines: Vec<String> = Vec::new();
    let mut placed = false;
    for existing in notes.lines() {
        if existing.trim().starts_with(INSTALLATION_LABEL) {
            if !placed {
                lines.push(line.clone());
                placed = true;
            }
            continue;
        }
        lines.push(existing.to_owned());
        if !placed && existing.trim().starts_with(NOTES_LABEL) {
            lines.push(line.clone());
            placed = true;
        }
    }
    if !placed {
        lines.push(line);
    }
    lines.join("\n")
}

/// The key in a child agreement's `internalNotes`, if a line carries one.
pub fn key_in_notes(notes: &str) -> Option<&str> {
    notes.lines().find_map(|line| {
        let key = line.trim().strip_prefix(NOTES_LABEL)?.trim();
        key.starts_with(KEY_PREFIX).then_some(key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn keys_are_stable_short_and_prefixed() {
        let service = ServiceId::new("vm-1").unwrap();
        let meter: MeterKey = "virtual_machine/cpu".parse().unwrap();

        let key = addition_key(&service, &meter, date("2026-12-01"));

        assert_eq!(key, addition_key(&service, &meter, date("2026-12-01")));
        assert!(key.starts_with(KEY_PREFIX));
        assert_eq!(key.len(), 20);
        assert!(key.len() <= 50, "fits serialNumber");
    }

    #[test]
    fn every_part_of_a_key_changes_it() {
        let customer = CustomerId::new("acme").unwrap();
        let service = ServiceId::new("vm-1").unwrap();
        let other = ServiceId::new("vm-2").unwrap();
        let cpu: MeterKey = "virtual_machine/cpu".parse().unwrap();
        let ram: MeterKey = "virtual_machine/ram".parse().unwrap();
        let day = date("2026-12-01");

        assert_ne!(
            child_key(&customer, &service, day),
            child_key(&customer, &other, day)
        );
        assert_ne!(
            child_key(&customer, &service, day),
            child_key(&customer, &service, date("2026-12-02"))
        );
        assert_ne!(
            addition_key(&service, &cpu, day),
            addition_key(&service, &ram, day)
        );
        assert_ne!(
            addition_key(&service, &cpu, day),
            child_key(&customer, &service, day)
        );
    }

    #[test]
    fn the_key_is_read_back_from_notes_among_other_lines() {
        let notes = format!(
            "Call Bob first.\n{}\n",
            child_notes("hy1-00112233aabbccdd", "hyi-0123456789abcdef")
        );

        assert_eq!(key_in_notes(&notes), Some("hy1-00112233aabbccdd"));
        assert_eq!(installation_in_notes(&notes), Some("hyi-0123456789abcdef"));
        assert_eq!(key_in_notes("hyalto-key: something else"), None);
        assert_eq!(key_in_notes(""), None);
        assert_eq!(
            installation_in_notes("hyalto-key: hy1-00112233aabbccdd"),
            None
        );
    }

    #[test]
    fn taking_over_rewrites_only_the_installation_line() {
        let old = format!(
            "Call Bob first.\n{}",
            child_notes("hy1-00112233aabbccdd", "hyi-a")
        );
        let legacy = "hyalto-key: hy1-00112233aabbccdd\nWritten by hyalto.";

        let taken = notes_for_installation(&old, "hyi-b");
        let upgraded = notes_for_installation(legacy, "hyi-b");

        assert_eq!(installation_in_notes(&taken), Some("hyi-b"));
        assert_eq!(key_in_notes(&taken), Some("hy1-00112233aabbccdd"));
        assert!(taken.starts_with("Call Bob first.\n"));
        assert!(!taken.contains("hyi-a"));
        assert_eq!(
            upgraded,
            "hyalto-key: hy1-00112233aabbccdd\nhyalto-installation: hyi-b\nWritten by hyalto."
        );
    }
}
