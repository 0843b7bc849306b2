//! `hyalto audit`: the append-only log of every ConnectWise write hyalto made.
//!
//! The log speaks the plan's vocabulary: an entry shows the name of the operation a sync plan
//! printed for it (`update_quantity`, `adopt_addition` …), and `--operation` takes those names.
//! The store keeps its own older names (`update_addition`, one `adopt_record` for both kinds of
//! adoption); [`operation_name`] and [`OperationFilter`] translate between the two.

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use hyalto_domain::CustomerId;
use hyalto_store::{AuditEntry, AuditFilter, AuditOperation, AuditStatus, RunCounts, Store};
use serde::Serialize;

use super::context::Context;
use super::output::{Table, print_json};

/// The operations the audit log records, by the names `hyalto sync --dry-run` prints, then
/// the two writes only `hyalto connectwise` makes.
pub const OPERATIONS: [&str; 11] = [
    "create_child_agreement",
    "create_addition",
    "update_quantity",
    "cancel_addition",
    "rename_child_agreement",
    "take_over_child_agreement",
    "end_child_agreement",
    "adopt_child_agreement",
    "adopt_addition",
    "create_master_agreement",
    "create_catalog_item",
];

/// Show the log of ConnectWise writes, newest first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only writes for this customer.
    #[arg(long)]
    customer: Option<String>,

    /// Only this operation, named as the sync plan names it: create_child_agreement,
    /// create_addition, update_quantity, cancel_addition, rename_child_agreement,
    /// take_over_child_agreement, end_child_agreement, adopt_child_agreement, adopt_addition,
    /// create_master_agreement or create_catalog_item.
    #[arg(long, value_name = "OP")]
    operation: Option<String>,

    /// Only writes of this sync run (see `hyalto sync history`).
    #[arg(long)]
    run: Option<i64>,

    /// At most this many entries (1 or more).
    #[arg(long, default_value_t = 100)]
    limit: u32,

    /// Print JSON instead of a table, with the records before and after each write.
    #[arg(long)]
    json: bool,
}

/// Which stored entries an `--operation` name selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationFilter {
    /// The operation as the store records it.
    pub stored: AuditOperation,
    /// For an adoption, the kind of record adopted (`agreement` or `addition`).
    pub target_kind: Option<&'static str>,
}

impl OperationFilter {
    /// The filter for `name`, one of [`OPERATIONS`]; the store's older names `update_addition`
    /// and `adopt_record` are taken too, so scripts written against them keep working.
    pub fn parse(name: &str) -> anyhow::Result<OperationFilter> {
        let (stored, target_kind) = match name.trim() {
            "update_quantity" | "update_addition" => (AuditOperation::UpdateAddition, None),
            "adopt_child_agreement" => (AuditOperation::AdoptRecord, Some("agreement")),
            "adopt_addition" => (AuditOperation::AdoptRecord, Some("addition")),
            "adopt_record" => (AuditOperation::AdoptRecord, None),
            other if OPERATIONS.contains(&other) => (AuditOperation::from_name(other), None),
            other => bail!(
                "--operation {other:?} is not an operation hyalto writes; use one of {}",
                OPERATIONS.join(", ")
            ),
        };
        Ok(OperationFilter {
            stored,
            target_kind,
        })
    }

    fn matches(&self, entry: &AuditEntry) -> bool {
        self.target_kind
            .is_none_or(|kind| entry.entry.target_kind == kind)
    }
}

/// The name an entry is shown under: the plan's name for the same write.
pub fn operation_name(operation: &AuditOperation, target_kind: &str) -> String {
    match operation {
        AuditOperation::UpdateAddition => "update_quantity".to_owned(),
        AuditOperation::AdoptRecord if target_kind == "agreement" => {
            "adopt_child_agreement".to_owned()
        }
        AuditOperation::AdoptRecord if target_kind == "addition" => "adopt_addition".to_owned(),
        other => other.to_string(),
    }
}

/// What a run did according to its audit entries, for a run that never recorded its own
/// counts (it was killed, or is still running). Adoptions count whatever their outcome, as
/// they only record a link; a write counts once ConnectWise confirmed it.
pub fn counts_from_entries(entries: &[AuditEntry]) -> RunCounts {
    let mut counts = RunCounts::default();
    for entry in entries {
        let entry = &entry.entry;
        if entry.status == AuditStatus::Failed {
            counts.writes_failed += 1;
            continue;
        }
        if entry.status != AuditStatus::Succeeded {
            continue;
        }
        let counter = match entry.operation {
            AuditOperation::CreateChildAgreement => &mut counts.agreements_created,
            AuditOperation::EndChildAgreement => &mut counts.agreements_ended,
            AuditOperation::RenameChildAgreement => &mut counts.agreements_renamed,
            AuditOperation::CreateAddition => &mut counts.additions_created,
            AuditOperation::UpdateAddition => &mut counts.additions_updated,
            AuditOperation::CancelAddition => &mut counts.additions_cancelled,
            AuditOperation::AdoptRecord | AuditOperation::TakeOverChildAgreement => {
                &mut counts.records_adopted
            }
            _ => continue,
        };
        *counter += 1;
    }
    counts
}

/// The column title of a time shown in `zone`, such as `AT (Europe/Amsterdam)`.
pub fn time_title(title: &str, zone: Tz) -> String {
    format!("{title} ({})", zone.name())
}

/// An instant as a wall-clock time in `zone` (the column title names the zone).
pub fn wall_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Refuses a `--limit` of 0, which would show nothing and look like an empty log.
pub fn check_limit(limit: u32, what: &str) -> anyhow::Result<()> {
    if limit == 0 {
        bail!("--limit 0 would show no {what}; give 1 or more (the default shows the latest)");
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryView {
    id: i64,
    at: DateTime<Utc>,
    run: Option<i64>,
    customer: Option<String>,
    operation: String,
    target_kind: String,
    target_id: Option<i64>,
    reason: String,
    status: String,
    request_id: Option<String>,
    error: Option<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

pub async fn run(context: &Context, args: Args) -> anyhow::Result<()> {
    check_limit(args.limit, "entries")?;
    let customer = args
        .customer
        .as_deref()
        .map(|text| {
            CustomerId::new(text)
                .map_err(|error| anyhow::anyhow!("--customer {text:?} is not an id: {error}"))
        })
        .transpose()?;
    let operation = args
        .operation
        .as_deref()
        .map(OperationFilter::parse)
        .transpose()?;

    // An adoption's kind is not a column the store filters on, so such a filter reads every
    // adoption and keeps the kind asked for before the limit is applied.
    let narrowed = operation
        .as_ref()
        .is_some_and(|filter| filter.target_kind.is_some());
    let filter = AuditFilter {
        customer,
        operation: operation.as_ref().map(|filter| filter.stored.clone()),
        run: args.run.map(hyalto_store::RunId),
        limit: if narrowed { u32::MAX } else { args.limit },
    };
    let store = context.store().await?;
    let entries = store
        .audit_entries(&filter)
        .await
        .context("could not read the audit log")?;

    let views: Vec<EntryView> = entries
        .into_iter()
        .filter(|entry| {
            operation
                .as_ref()
                .is_none_or(|filter| filter.matches(entry))
        })
        .take(args.limit as usize)
        .map(|entry| {
            let id = entry.id.0;
            let entry = entry.entry;
            EntryView {
                id,
                at: entry.at,
                run: entry.run.map(|run| run.0),
                customer: entry.customer.map(|customer| customer.to_string()),
                operation: operation_name(&entry.operation, &entry.target_kind),
                target_kind: entry.target_kind,
                target_id: entry.target_id,
                reason: entry.reason,
                status: entry.status.as_str().to_owned(),
                request_id: entry.request_id,
                error: entry.error_message,
                before: entry.before,
                after: entry.after,
            }
        })
        .collect();

    if args.json {
        return print_json(&views);
    }
    if views.is_empty() {
        println!("No ConnectWise writes match.");
        return Ok(());
    }
    let zone = context.config.billing_tz;
    let mut table = Table::new([
        "ID".to_owned(),
        time_title("AT", zone),
        "RUN".to_owned(),
        "CUSTOMER".to_owned(),
        "OPERATION".to_owned(),
        "TARGET".to_owned(),
        "STATUS".to_owned(),
        "REASON".to_owned(),
    ]);
    for view in &views {
        let target = match view.target_id {
            Some(id) => format!("{} {id}", view.target_kind),
            None => view.target_kind.clone(),
        };
        let mut status = view.status.clone();
        if let Some(error) = &view.error {
            status = format!("{status}: {error}");
        }
        // ConnectWise's message usually names the request id already; say it once.
        if let Some(request) = view.request_id.as_ref().filter(|id| !status.contains(*id)) {
            status = format!("{status} [request id {request}]");
        }
        table.row([
            view.id.to_string(),
            wall_time(view.at, zone),
            view.run.map(|run| run.to_string()).unwrap_or_default(),
            view.customer.clone().unwrap_or_default(),
            view.operation.clone(),
            target,
            status,
            view.reason.clone(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
