//! Running a sync the way every front end does: under the sync lease, freeing a lease left
//! behind by a process of this host that no longer exists, once.

use std::path::Path;

use hyalto_store::{HolderProcess, Store, StoreError, SyncLease};
use hyalto_sync::{Progress, RunReport, SyncEngine, SyncError, SyncOptions};

/// Why a sync did not run to its report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Another sync holds the lease and is alive (or on another host).
    #[error("another sync ({holder}) holds the sync lease of this data dir")]
    Busy {
        /// The holder's id.
        holder: String,
        /// The lease as read after the refusal, when it is still that holder's.
        lease: Option<SyncLease>,
    },

    /// The engine failed before it could report.
    #[error(transparent)]
    Sync(#[from] SyncError),

    /// The lease could not be read or freed.
    #[error("could not read or free the sync lease: {0}")]
    Store(#[from] StoreError),
}

/// A finished sync, and the holder whose stale lease was taken over to run it, if one was.
#[derive(Debug)]
pub struct Ran {
    /// What the run did.
    pub report: RunReport,
    /// The holder of a lease left by a killed process of this host, freed before the run.
    pub freed_stale_lease: Option<String>,
}

/// Runs `engine` once with `options`.
///
/// A sync killed before it gave the lease back (SIGKILL, power loss) would block every sync
/// until its lease expires; when the holder was a process on this host that no longer exists,
/// its lease is freed and the run tried once more. A dry run takes no lease, so this only
/// concerns syncs that write.
pub async fn run<S: Store>(
    engine: &SyncEngine<S>,
    options: &SyncOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Ran, RunError> {
    let mut freed_stale_lease = None;
    loop {
        let holder = match engine.run(options, progress).await {
            Ok(report) => {
                return Ok(Ran {
                    report,
                    freed_stale_lease,
                });
            }
            Err(SyncError::Busy { holder }) => holder,
            Err(other) => return Err(other.into()),
        };

        let store = engine.store();
        let lease = store.current_sync_lease().await?;
        if freed_stale_lease.is_none() && holder_is_gone(&holder) {
            // Releasing by the dead holder's id is a compare-and-swap: if a live sync took the
            // lease meanwhile, this frees nothing and the retry reports that sync instead.
            let freed = store.release_sync_lease(&holder).await?;
            // Each front end tells of the takeover in its own way (a note on the command line,
            // a warning in the server's log), so this stays below their level.
            tracing::info!(
                lease.holder = %holder,
                freed,
                "the sync lease was held by a process of this host that no longer exists"
            );
            freed_stale_lease = Some(holder);
            continue;
        }

        let lease = lease.filter(|lease| lease.holder == holder);
        return Err(RunError::Busy { holder, lease });
    }
}

/// Whether `holder` names a process of this host that has ended.
///
/// Only Linux's `/proc` is consulted, so no platform call is needed; elsewhere, or for a holder
/// on another host sharing the data dir, the answer is no and the lease runs out by itself.
pub fn holder_is_gone(holder: &str) -> bool {
    let Some(process) = HolderProcess::parse(holder) else {
        return false;
    };
    if !process.is_on_this_host() || process.pid == std::process::id() {
        return false;
    }

    let proc = Path::new("/proc");
    proc.join("self").exists() && !proc.join(process.pid.to_string()).exists()
}

/// The planned operations by name (`create_addition` …), in first-seen order.
pub fn planned_operations(report: &RunReport) -> Vec<(&'static str, usize)> {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for operation in report.plan.customers.iter().flat_map(|c| &c.operations) {
        match counts
            .iter_mut()
            .find(|(name, _)| *name == operation.name())
        {
            Some((_, count)) => *count += 1,
            None => counts.push((operation.name(), 1)),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_in_another_format_is_never_taken_for_gone() {
        assert!(!holder_is_gone("someone else"));
    }

    #[test]
    fn this_process_is_never_taken_for_gone() {
        let holder = format!("pid{}-00@nowhere-else", std::process::id());

        assert!(!holder_is_gone(&holder));
    }
}
