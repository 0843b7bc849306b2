//! `hyalto inventory import` and `inventory show`; `inventory collect` and `inventory sources`
//! are in `collect.rs` and `sources.rs`.
//!
//! An import is one source's snapshot in the format of docs/inventory-format.md. A file that
//! fails validation changes nothing and lists every problem (file, JSON path, reason). A
//! snapshot marked incomplete changes nothing either, unless `--accept-incomplete` asks to
//! record what it lists; it then retires nothing and the sync skips the source's customers.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use hyalto_domain::{Completeness, ServiceId, Snapshot, check_taken_at, meter, parse_snapshot};
use hyalto_store::{
    FutureSnapshotReplaced, Presence, ServiceRecord, SnapshotReport, SqliteStore, Store, StoreError,
};
use rust_decimal::Decimal;
use serde::Serialize;

use super::context::Context;
use super::output::{Table, print_json};
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Import one inventory snapshot (docs/inventory-format.md).
    Import(ImportArgs),

    /// Collect inventory from a vCenter, once or from saved sources (docs/vsphere.md).
    Collect(super::collect::Args),

    /// Save, list, test and remove the vCenters hyalto collects from.
    #[command(subcommand)]
    Sources(super::sources::Command),

    /// Show customers, services and their billed quantities.
    Show {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// Import one inventory snapshot.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The snapshot file (JSON, format hyalto.inventory/v1).
    pub file: PathBuf,

    /// Record an incomplete snapshot's services anyway. Nothing is retired from it, and the sync
    /// skips the customers of its source until a complete snapshot arrives.
    #[arg(long)]
    pub accept_incomplete: bool,

    /// Accept this snapshot although the source's last one is newer, because that last one is
    /// dated in the future of this machine's clock (its collector's clock ran ahead). What the
    /// future snapshot reported is kept but re-dated to this snapshot's time, and its gone
    /// services are present again until a complete snapshot says otherwise.
    #[arg(long)]
    pub replace_future_snapshot: bool,
}

pub async fn run(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Import(args) => {
            let snapshot = read_snapshot(&args.file, args.accept_incomplete)?;
            let store = context.store().await?;
            let report =
                apply_with(store, &snapshot, &args.file, args.replace_future_snapshot).await?;
            if let Some(replaced) = &report.replaced_future {
                print_replaced_future(&snapshot, replaced);
            }
            print_report(
                &args.file,
                &snapshot,
                &report,
                &gone_names(store, &report).await,
            );
            Ok(())
        }
        Command::Show { json } => show(context, json).await,
        Command::Collect(args) => super::collect::run(context, args).await,
        Command::Sources(command) => super::sources::run(context, command).await,
    }
}

/// Reads and validates a snapshot file; an invalid or (unless accepted) incomplete one is an
/// error that says what is wrong.
pub fn read_snapshot(file: &Path, accept_incomplete: bool) -> anyhow::Result<Snapshot> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "could not read {}; check the path and its permissions",
            file.display()
        )
    })?;
    let snapshot = parse_snapshot(&text, file)
        .map_err(|error| anyhow::anyhow!("{error}\nNothing was imported."))?;
    check_taken_at(&snapshot, Utc::now(), file)
        .map_err(|error| anyhow::anyhow!("{error}\nNothing was imported."))?;
    check_complete(&snapshot, file, accept_incomplete)?;
    Ok(snapshot)
}

/// Refuses an incomplete snapshot unless the user accepted it.
pub fn check_complete(
    snapshot: &Snapshot,
    file: &Path,
    accept_incomplete: bool,
) -> anyhow::Result<()> {
    if let Completeness::Incomplete { reasons } = &snapshot.completeness
        && !accept_incomplete
    {
        bail!(
            "{}: $.complete: the snapshot is marked incomplete ({}), so services missing from it \
             cannot be told apart from services that were not read. Nothing was imported. Import \
             a complete snapshot, or pass --accept-incomplete to record what it lists without \
             retiring anything (the sync then skips this source's customers)",
            file.display(),
            reasons.join("; ")
        );
    }
    Ok(())
}

/// Applies a snapshot to the store, with the store's refusals explained.
pub async fn apply(
    store: &SqliteStore,
    snapshot: &Snapshot,
    file: &Path,
) -> anyhow::Result<SnapshotReport> {
    apply_with(store, snapshot, file, false).await
}

/// Applies a snapshot to the store; with `replace_future`, a last snapshot of the source dated
/// after this machine's clock is replaced rather than refusing an older one.
pub async fn apply_with(
    store: &SqliteStore,
    snapshot: &Snapshot,
    file: &Path,
    replace_future: bool,
) -> anyhow::Result<SnapshotReport> {
    let now = Utc::now();
    let applied = if replace_future {
        store.apply_snapshot_replacing_future(snapshot, now).await
    } else {
        store.apply_snapshot(snapshot).await
    };

    applied.map_err(|error| match error {
        StoreError::StaleSnapshot { last_taken_at, .. } if last_taken_at > now => {
            anyhow::anyhow!(
                "{}: $.takenAt: {error}. That last snapshot is dated {} in the future of this \
                     machine's clock ({}), so its collector's clock was probably wrong: check \
                     this machine's clock, then import again with --replace-future-snapshot to \
                     replace it (what it reported is kept, re-dated to this snapshot's time)",
                file.display(),
                describe_ahead(last_taken_at - now),
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        }
        StoreError::StaleSnapshot { .. } => anyhow::anyhow!(
            "{}: $.takenAt: {error}; export a fresh snapshot of the source",
            file.display()
        ),
        StoreError::InvalidSnapshot { reason, .. } => {
            anyhow::anyhow!("{}: {reason}; nothing was imported", file.display())
        }
        other => anyhow::Error::new(other).context(format!(
            "could not import {}; nothing was changed",
            file.display()
        )),
    })
}

/// How far ahead an instant is, in the largest whole unit that reads naturally.
fn describe_ahead(span: chrono::TimeDelta) -> String {
    let plural = |count: i64, unit: &str| {
        if count == 1 {
            format!("1 {unit}")
        } else {
            format!("{count} {unit}s")
        }
    };

    if span.num_days() >= 1 {
        plural(span.num_days(), "day")
    } else if span.num_hours() >= 1 {
        plural(span.num_hours(), "hour")
    } else {
        plural(span.num_minutes().max(1), "minute")
    }
}

/// Says what replacing a future-dated snapshot changed, before the usual import report.
fn print_replaced_future(snapshot: &Snapshot, replaced: &FutureSnapshotReplaced) {
    let taken_at = snapshot
        .taken_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    println!(
        "Replaced the last snapshot of source {}, dated in the future ({}): {} services, {} \
         customers and {} usage history rows re-dated to {taken_at}; services it had marked \
         gone, present again unless this snapshot is complete and leaves them out: {}.",
        snapshot.source,
        replaced
            .future_taken_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        replaced.services_redated,
        replaced.customers_redated,
        replaced.history_redated,
        replaced.services_unburied.len()
    );
    for id in &replaced.services_unburied {
        println!("  unburied {id}");
    }
}

/// The names of the services an import found gone, which the snapshot no longer lists.
pub async fn gone_names(store: &SqliteStore, report: &SnapshotReport) -> Vec<(ServiceId, String)> {
    let mut names = Vec::new();
    for id in &report.gone {
        if let Ok(Some(record)) = store.get_service(id).await {
            names.push((id.clone(), record.service.name));
        }
    }
    names
}

/// Prints what an import changed.
pub fn print_report(
    file: &Path,
    snapshot: &Snapshot,
    report: &SnapshotReport,
    gone_names: &[(ServiceId, String)],
) {
    println!(
        "Imported {} (source {}, taken at {}{}): {} customers; services: {} new, {} changed, {} \
         gone, {} back, {} unchanged.",
        file.display(),
        snapshot.source,
        snapshot.taken_at.to_rfc3339(),
        if snapshot.completeness.is_complete() {
            ""
        } else {
            ", INCOMPLETE: nothing retired"
        },
        report.customers_seen,
        report.added.len(),
        report.changed.len(),
        report.gone.len(),
        report.revived.len(),
        report.unchanged
    );
    let name_of = |id: &ServiceId| {
        let name = snapshot
            .services
            .iter()
            .find(|service| &service.id == id)
            .map(|service| service.name.as_str())
            .or_else(|| {
                gone_names
                    .iter()
                    .find(|(gone, _)| gone == id)
                    .map(|(_, name)| name.as_str())
            });
        match name {
            Some(name) => format!("{id} ({name})"),
            None => id.to_string(),
        }
    };
    for (label, ids) in [
        ("new", &report.added),
        ("changed", &report.changed),
        ("back", &report.revived),
        ("gone", &report.gone),
    ] {
        for id in ids {
            println!("  {label:<8} {}", name_of(id));
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InventoryView {
    sources: Vec<SourceView>,
    customers: Vec<CustomerView>,
    unassigned_services: Vec<ServiceView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceView {
    source: String,
    last_taken_at: DateTime<Utc>,
    complete: bool,
    incomplete_reasons: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CustomerView {
    id: String,
    name: String,
    mapped: bool,
    company_id: Option<i64>,
    agreement_id: Option<i64>,
    services: Vec<ServiceView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceView {
    id: String,
    kind: String,
    name: String,
    power_state: Option<String>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    quantities: Vec<QuantityView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QuantityView {
    meter: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    quantity: Decimal,
    unit: String,
}

fn service_view(record: &ServiceRecord, config: &Config) -> ServiceView {
    let service = &record.service;
    ServiceView {
        id: service.id.to_string(),
        kind: service.kind.to_string(),
        name: service.name.clone(),
        power_state: service.power_state.map(|state| state.to_string()),
        first_seen: record.first_seen,
        last_seen: record.last_seen,
        quantities: meter(service, &config.rules)
            .into_iter()
            .map(|metered| QuantityView {
                meter: hyalto_domain::MeterKey::for_quantity(&service.kind, &metered).to_string(),
                quantity: metered.quantity,
                unit: metered.unit.to_string(),
            })
            .collect(),
    }
}

async fn build_view(store: &SqliteStore, config: &Config) -> anyhow::Result<InventoryView> {
    let sources = store
        .list_sources()
        .await
        .context("could not read the inventory sources")?
        .into_iter()
        .map(|state| SourceView {
            source: state.source.to_string(),
            last_taken_at: state.last_taken_at,
            complete: state.completeness.is_complete(),
            incomplete_reasons: match state.completeness {
                Completeness::Complete => Vec::new(),
                Completeness::Incomplete { reasons } => reasons,
            },
        })
        .collect();

    let mut customers = Vec::new();
    for summary in store.list_customers().await? {
        let services = store
            .services_of_customer(&summary.customer.id, Presence::PresentOnly)
            .await?;
        customers.push(CustomerView {
            id: summary.customer.id.to_string(),
            name: summary.customer.name.clone(),
            mapped: summary.is_mapped(),
            company_id: summary.mapping.as_ref().map(|m| m.company_id),
            agreement_id: summary.mapping.as_ref().map(|m| m.agreement_id),
            services: services.iter().map(|s| service_view(s, config)).collect(),
        });
    }
    let unassigned_services = store
        .unassigned_services(Presence::PresentOnly)
        .await?
        .iter()
        .map(|s| service_view(s, config))
        .collect();

    Ok(InventoryView {
        sources,
        customers,
        unassigned_services,
    })
}

async fn show(context: &Context, json: bool) -> anyhow::Result<()> {
    let view = build_view(context.store().await?, &context.config).await?;
    if json {
        return print_json(&view);
    }
    if view.sources.is_empty() {
        println!("No inventory yet: import a snapshot with `hyalto inventory import FILE`.");
        return Ok(());
    }

    for source in &view.sources {
        println!(
            "Source {}: last snapshot {}{}",
            source.source,
            source.last_taken_at.to_rfc3339(),
            if source.complete {
                String::new()
            } else {
                format!(
                    " INCOMPLETE ({}): its customers are skipped by the sync",
                    source.incomplete_reasons.join("; ")
                )
            }
        );
    }

    for customer in &view.customers {
        println!();
        let billing = match (customer.company_id, customer.agreement_id) {
            (Some(company), Some(agreement)) => {
                format!("billed to company {company}, master agreement {agreement}")
            }
            _ => "UNMAPPED: not billed (map it with `hyalto connectwise map`)".to_owned(),
        };
        println!("Customer {} ({}): {billing}", customer.id, customer.name);
        print_services(&customer.services);
    }
    if !view.unassigned_services.is_empty() {
        println!();
        println!("Unassigned services (no customer, billed to nobody):");
        print_services(&view.unassigned_services);
    }
    Ok(())
}

fn print_services(services: &[ServiceView]) {
    if services.is_empty() {
        println!("  (no services)");
        return;
    }
    let mut table = Table::new(["  SERVICE", "KIND", "NAME", "POWER", "SINCE", "BILLED"]);
    for service in services {
        let quantities: Vec<String> = service
            .quantities
            .iter()
            .map(|q| {
                let resource = q
                    .meter
                    .split_once('/')
                    .map(|(_, rest)| rest)
                    .unwrap_or(&q.meter);
                format!("{resource} {} {}", q.quantity, q.unit)
            })
            .collect();
        table.row([
            format!("  {}", service.id),
            service.kind.clone(),
            service.name.clone(),
            service.power_state.clone().unwrap_or_default(),
            service.first_seen.date_naive().to_string(),
            quantities.join(", "),
        ]);
    }
    print!("{}", table.render());
}
