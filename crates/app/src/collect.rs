//! Collecting saved inventory sources (vCenter): read, check as an import is checked, record,
//! and note the attempt in the saved source. The command line (`hyalto inventory collect`,
//! `hyalto sync --collect`) and the server's scheduler both collect through here.
//!
//! A collected snapshot is checked and recorded exactly as an imported one is, except that an
//! incomplete snapshot is always recorded: what it lists is kept, nothing is retired from it,
//! and the sync skips the source's customers until a complete collection arrives. A collection
//! that fails before anything is read marks a source that has inventory already as incomplete
//! in the same way, so a sync never bills from a vCenter it could not read.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use hyalto_domain::{
    Completeness, ServiceId, Snapshot, SourceId, check_taken_at, parse_snapshot, write_snapshot,
};
use hyalto_store::{CollectionAttempt, SavedSource, SnapshotReport, SourceKind, Store, StoreError};
use hyalto_vsphere::{Collection, OwnershipRules, TlsOptions, VsphereSource, collect};
use serde::Serialize;

/// Why a collection could not be recorded. A vCenter that cannot be read is not an error: its
/// [`Summary`] carries the reason.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The store failed; `context` says at which step.
    #[error("{context}")]
    Store {
        /// The step, such as "could not read the saved sources".
        context: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },

    /// What was collected or asked for cannot be recorded; the message says what to do.
    #[error("{0}")]
    Refused(String),
}

/// Adds the step to a store error.
fn at_step<T>(
    result: Result<T, StoreError>,
    context: impl FnOnce() -> String,
) -> Result<T, CollectError> {
    result.map_err(|source| CollectError::Store {
        context: context(),
        source,
    })
}

/// What one collection read and what recording it changed; printed, or as JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The inventory source id.
    pub source: String,
    /// The vCenter's address.
    pub url: String,
    /// Whether the collection read anything; `false` with `error` set when it did not.
    pub collected: bool,
    /// Why nothing could be read.
    pub error: Option<String>,
    /// When the vCenter was read.
    pub taken_at: Option<DateTime<Utc>>,
    /// Whether the snapshot lists everything.
    pub complete: bool,
    /// Why it does not.
    pub incomplete_reasons: Vec<String>,
    /// VMs read, templates included.
    pub vms_listed: usize,
    /// VMs billed to a customer.
    pub vms_assigned: usize,
    /// Billed VMs by customer id.
    pub per_customer: BTreeMap<String, usize>,
    /// VMs no rule gave a customer, and why.
    pub unassigned: Vec<UnassignedView>,
    /// Templates read and not billed, by name.
    pub templates_skipped: Vec<String>,
    /// What could not be read.
    pub failures: Vec<String>,
    /// Pages read.
    pub pages: u32,
    /// Whether the snapshot was recorded in the store.
    pub recorded: bool,
    /// What recording changed, when it was recorded.
    pub changes: Option<ChangesView>,
}

/// A VM billed to nobody.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnassignedView {
    /// The VM's name.
    pub name: String,
    /// Its managed object id.
    pub moref: String,
    /// Why no rule gave it a customer.
    pub reason: String,
}

/// What recording a snapshot changed in the store.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesView {
    /// Services seen for the first time.
    pub new: Vec<String>,
    /// Services whose customer, name, power state or resources changed.
    pub changed: Vec<String>,
    /// Services no longer listed (a complete snapshot only).
    pub gone: Vec<String>,
    /// Services that were gone and are back.
    pub back: Vec<String>,
    /// Services reported as before.
    pub unchanged: usize,
}

/// Builds the collector's settings of a saved source, with its password opened.
pub async fn vsphere_source<S: Store>(
    store: &S,
    saved: &SavedSource,
) -> Result<VsphereSource, CollectError> {
    let password = at_step(store.saved_source_password(&saved.name).await, || {
        format!(
            "could not open the stored password of source {}",
            saved.name
        )
    })?
    .ok_or_else(|| CollectError::Refused(format!("source {} was removed meanwhile", saved.name)))?;
    let mut source = VsphereSource::new(
        saved.name.clone(),
        saved.url.clone(),
        saved.username.clone(),
        password,
    );
    source.tls = TlsOptions {
        ca_file: saved.ca_file.clone(),
        insecure: saved.insecure,
    };
    source.rules = OwnershipRules::from_toml(&saved.rules, &format!("source {}", saved.name))
        .map_err(|error| CollectError::Refused(error.to_string()))?;
    Ok(source)
}

/// Collects saved sources one after the other; a source that cannot be collected gets a
/// summary with its error (and, unless `dry_run`, its customers are skipped by the sync), and
/// the others are still collected. Fails only for a name that is not saved or a store error.
pub async fn collect_saved<S: Store>(
    store: &S,
    names: &[SourceId],
    dry_run: bool,
) -> Result<Vec<Summary>, CollectError> {
    let mut summaries = Vec::new();

    for name in names {
        let saved = at_step(store.saved_source(name).await, || {
            "could not read the saved sources".to_owned()
        })?
        .ok_or_else(|| {
            CollectError::Refused(format!(
                "no source named {name} is saved; `hyalto inventory sources list` shows the \
                 saved ones"
            ))
        })?;
        let summary = match saved.kind {
            SourceKind::Vsphere => {
                let source = vsphere_source(store, &saved).await?;
                collect_and_record(Some(store), &source, dry_run).await?
            }
        };

        if !dry_run {
            let attempt = CollectionAttempt {
                at: Utc::now(),
                error: summary.error.clone(),
            };
            at_step(store.record_source_attempt(name, &attempt).await, || {
                "could not record the collection in the saved source".to_owned()
            })?;
        }
        summaries.push(summary);
    }

    Ok(summaries)
}

/// Collects one vCenter and, unless `dry_run`, records the snapshot as an import would.
/// `store` may be `None` only for a dry run.
///
/// A collection that reads nothing is not an `Err`: its summary carries the error, and a source
/// with inventory already is marked incomplete so the sync skips its customers. Errors are
/// the store's and an invalid snapshot.
pub async fn collect_and_record<S: Store>(
    store: Option<&S>,
    source: &VsphereSource,
    dry_run: bool,
) -> Result<Summary, CollectError> {
    let label = format!("vCenter {}", source.url);

    // Reading the vCenter.
    let collection = match collect(source).await {
        Ok(collection) => collection,
        Err(error) => {
            let message = error.to_string();
            if let Some(store) = store.filter(|_| !dry_run) {
                mark_incomplete(store, &source.source, &message).await?;
            }
            return Ok(failed_summary(source, message));
        }
    };

    // The same checks as an import: written in the import format and read back, and not dated
    // in the future of this machine's clock. The VMs as read are only needed for the summary,
    // so they are let go before the snapshot's copies are made.
    let mut summary = summary_of(source, &collection);
    let Collection {
        snapshot,
        vms,
        report,
    } = collection;
    drop((vms, report));
    let snapshot = validate(snapshot, Path::new(&label))?;
    let Some(store) = store.filter(|_| !dry_run) else {
        return Ok(summary);
    };

    let report = record(store, &snapshot, &label).await?;
    let gone = gone_names(store, &report).await;
    let name_of = |id: &ServiceId| {
        let name = snapshot
            .services
            .iter()
            .find(|service| &service.id == id)
            .map(|service| service.name.clone())
            .or_else(|| {
                gone.iter()
                    .find(|(gone, _)| gone == id)
                    .map(|(_, name)| name.clone())
            });
        match name {
            Some(name) => format!("{id} ({name})"),
            None => id.to_string(),
        }
    };
    summary.recorded = true;
    summary.changes = Some(ChangesView {
        new: report.added.iter().map(name_of).collect(),
        changed: report.changed.iter().map(name_of).collect(),
        gone: report.gone.iter().map(name_of).collect(),
        back: report.revived.iter().map(name_of).collect(),
        unchanged: report.unchanged,
    });
    tracing::info!(
        source.name = %source.source,
        vsphere.url = %source.url,
        vms = summary.vms_listed,
        complete = summary.complete,
        "recorded a vCenter collection"
    );
    Ok(summary)
}

/// Services written out and read back at a time when a collected snapshot is checked.
const CHECK_BATCH: usize = 500;

/// Checks a collected snapshot the way `inventory import` checks a file: written in the import
/// format and read back, and not dated in the future of this machine's clock.
///
/// The services are checked a batch at a time, each batch with every customer, so that a
/// vCenter of tens of thousands of VMs never has its whole snapshot held as a JSON document in
/// memory. Each service read back replaces the one written, in place, so that the snapshot is
/// never held twice either. What one document would also catch across batches, a service
/// listed twice, is checked on its own.
fn validate(snapshot: Snapshot, label: &Path) -> Result<Snapshot, CollectError> {
    let invalid = |error: hyalto_domain::ImportError| {
        CollectError::Refused(format!(
            "{error}\nThe collected inventory is not valid, so nothing was recorded; check the \
             ownership rules' customer ids and names"
        ))
    };
    let Snapshot {
        source,
        taken_at,
        completeness,
        customers,
        mut services,
    } = snapshot;
    let part = |services: Vec<hyalto_domain::Service>| Snapshot {
        source: source.clone(),
        taken_at,
        completeness: completeness.clone(),
        customers: customers.clone(),
        services,
    };

    // The customers are read back from a batch without services, so a snapshot without VMs
    // is checked too.
    let head = parse_snapshot(&write_snapshot(&part(Vec::new())), label).map_err(invalid)?;
    for batch in services.chunks_mut(CHECK_BATCH) {
        let read =
            parse_snapshot(&write_snapshot(&part(batch.to_vec())), label).map_err(invalid)?;
        if read.services.len() != batch.len() {
            return Err(CollectError::Refused(format!(
                "{}: {} services were written out and {} read back, so nothing was recorded; \
                 collect again, and report it if it happens again",
                label.display(),
                batch.len(),
                read.services.len()
            )));
        }
        for (slot, service) in batch.iter_mut().zip(read.services) {
            *slot = service;
        }
    }

    // Sorting references to the ids finds a service listed twice without copying any id.
    let mut ids: Vec<&ServiceId> = services.iter().map(|service| &service.id).collect();
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(CollectError::Refused(format!(
            "{}: the service {} is listed twice, so nothing was recorded; collect again",
            label.display(),
            pair[0]
        )));
    }
    drop(ids);

    let checked = Snapshot { services, ..head };
    check_taken_at(&checked, Utc::now(), label)
        .map_err(|error| CollectError::Refused(format!("{error}\nNothing was recorded.")))?;
    Ok(checked)
}

/// Marks a source that has inventory already as incomplete after a failed collection, with
/// an empty incomplete snapshot: it changes no service and retires nothing, and the sync skips
/// the source's customers until a complete collection arrives. A source never recorded is left
/// alone: it has no customers to protect.
async fn mark_incomplete<S: Store>(
    store: &S,
    source: &SourceId,
    reason: &str,
) -> Result<(), CollectError> {
    let states = at_step(store.list_sources().await, || {
        "could not read the inventory sources".to_owned()
    })?;
    let Some(state) = states.iter().find(|state| &state.source == source) else {
        return Ok(());
    };

    // The store refuses a snapshot older than the source's newest; a clock that went back
    // keeps the newest one's time, which still marks the source incomplete.
    let taken_at = Utc::now().max(state.last_taken_at);
    let snapshot = Snapshot {
        source: source.clone(),
        taken_at,
        completeness: Completeness::Incomplete {
            reasons: vec![format!("the last collection failed: {reason}")],
        },
        customers: Vec::new(),
        services: Vec::new(),
    };
    at_step(store.apply_snapshot(&snapshot).await, || {
        format!("could not mark source {source} incomplete after its collection failed")
    })?;
    tracing::warn!(source.name = %source, "collection failed; the source is marked incomplete");
    Ok(())
}

fn failed_summary(source: &VsphereSource, error: String) -> Summary {
    Summary {
        source: source.source.to_string(),
        url: source.url.clone(),
        collected: false,
        error: Some(error),
        taken_at: None,
        complete: false,
        incomplete_reasons: Vec::new(),
        vms_listed: 0,
        vms_assigned: 0,
        per_customer: BTreeMap::new(),
        unassigned: Vec::new(),
        templates_skipped: Vec::new(),
        failures: Vec::new(),
        pages: 0,
        recorded: false,
        changes: None,
    }
}

fn summary_of(source: &VsphereSource, collection: &Collection) -> Summary {
    let report = &collection.report;
    let mut per_customer = BTreeMap::new();
    for vm in collection.vms.iter().filter(|vm| !vm.template) {
        if let Some(customer) = &vm.customer {
            *per_customer.entry(customer.to_string()).or_insert(0) += 1;
        }
    }
    let incomplete_reasons = match &collection.snapshot.completeness {
        Completeness::Complete => Vec::new(),
        Completeness::Incomplete { reasons } => reasons.clone(),
    };

    Summary {
        source: source.source.to_string(),
        url: source.url.clone(),
        collected: true,
        error: None,
        taken_at: Some(collection.snapshot.taken_at),
        complete: incomplete_reasons.is_empty(),
        incomplete_reasons,
        vms_listed: report.vms_listed,
        vms_assigned: report.vms_assigned,
        per_customer,
        unassigned: report
            .unassigned
            .iter()
            .map(|unassigned| UnassignedView {
                name: unassigned.vm.name.clone(),
                moref: unassigned.vm.moref.clone(),
                reason: unassigned.reason.clone(),
            })
            .collect(),
        templates_skipped: report
            .templates_skipped
            .iter()
            .map(|vm| vm.name.clone())
            .collect(),
        failures: report.failures.clone(),
        pages: report.pages,
        recorded: false,
        changes: None,
    }
}

/// Records a checked snapshot, with the store's refusals explained as an import explains them.
async fn record<S: Store>(
    store: &S,
    snapshot: &Snapshot,
    label: &str,
) -> Result<SnapshotReport, CollectError> {
    let now = Utc::now();
    store
        .apply_snapshot(snapshot)
        .await
        .map_err(|error| match error {
            StoreError::StaleSnapshot { last_taken_at, .. } if last_taken_at > now => {
                CollectError::Refused(format!(
                    "{label}: $.takenAt: {error}. That last snapshot is dated in the future of \
                     this machine's clock, so its collector's clock was probably wrong: check \
                     the clocks, then replace it with `hyalto inventory import \
                     --replace-future-snapshot`"
                ))
            }
            StoreError::StaleSnapshot { .. } => CollectError::Refused(format!(
                "{label}: $.takenAt: {error}; export a fresh snapshot of the source"
            )),
            StoreError::InvalidSnapshot { reason, .. } => {
                CollectError::Refused(format!("{label}: {reason}; nothing was imported"))
            }
            other => CollectError::Store {
                context: format!("could not import {label}; nothing was changed"),
                source: other,
            },
        })
}

/// The names of the services a snapshot retired, read before they are shown.
async fn gone_names<S: Store>(store: &S, report: &SnapshotReport) -> Vec<(ServiceId, String)> {
    let mut names = Vec::new();
    for id in &report.gone {
        if let Ok(Some(record)) = store.get_service(id).await {
            names.push((id.clone(), record.service.name));
        }
    }
    names
}

/// The saved sources whose interval says they are due at `now`: never tried, or last tried at
/// least their interval before.
pub async fn due_sources<S: Store>(
    store: &S,
    now: DateTime<Utc>,
) -> Result<Vec<SourceId>, CollectError> {
    let saved = at_step(store.saved_sources().await, || {
        "could not read the saved sources".to_owned()
    })?;
    Ok(saved
        .into_iter()
        .filter(|source| match &source.last_attempt {
            None => true,
            Some(attempt) => {
                let interval =
                    chrono::Duration::from_std(source.interval).unwrap_or(chrono::Duration::zero());
                attempt.at + interval <= now
            }
        })
        .map(|source| source.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use hyalto_domain::{Customer, CustomerId};

    use super::*;

    /// A snapshot of customer `acme` with one two-vCPU VM per id, made by reading the import
    /// format, as an import would.
    fn snapshot(ids: &[String]) -> Snapshot {
        let head = Snapshot {
            source: SourceId::new("vc").unwrap(),
            taken_at: Utc::now() - chrono::Duration::minutes(1),
            completeness: Completeness::Complete,
            customers: vec![Customer {
                id: CustomerId::new("acme").unwrap(),
                name: "Acme".to_owned(),
            }],
            services: Vec::new(),
        };
        let mut document: serde_json::Value = serde_json::from_str(&write_snapshot(&head)).unwrap();
        document["services"] = ids
            .iter()
            .map(|id| {
                serde_json::json!({
                    "id": id,
                    "customer": "acme",
                    "kind": "virtual_machine",
                    "name": format!("vm {id}"),
                    "resources": [
                        {"kind": "cpu", "quantity": 2, "unit": "count"},
                        {"kind": "ram", "quantity": 4096, "unit": "MiB"}
                    ]
                })
            })
            .collect();
        parse_snapshot(&document.to_string(), Path::new("test")).unwrap()
    }

    #[test]
    fn a_snapshot_of_several_batches_is_checked_with_every_service_kept_in_order() {
        let ids: Vec<String> = (0..CHECK_BATCH * 2 + 7).map(|n| format!("u-{n}")).collect();
        let original = snapshot(&ids);

        let checked = validate(original.clone(), Path::new("vCenter vc")).unwrap();

        assert_eq!(checked.services, original.services);
        assert_eq!(checked.customers, original.customers);
    }

    #[test]
    fn a_service_listed_twice_in_different_batches_is_refused() {
        let ids: Vec<String> = (0..CHECK_BATCH + 3).map(|n| format!("u-{n}")).collect();
        let mut twice = snapshot(&ids);
        let copy = twice.services[1].clone();
        twice.services.push(copy);

        let error = validate(twice, Path::new("vCenter vc")).unwrap_err();

        assert!(
            error
                .to_string()
                .contains("the service u-1 is listed twice"),
            "{error}"
        );
    }
}
