//! `hyalto audit`: the append-only log of every ConnectWise write hyalto made.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hyalto_domain::CustomerId;
use hyalto_store::{AuditFilter, AuditOperation, Store};
use serde::Serialize;

use super::context::Context;
use super::output::{Table, print_json};

/// Show the log of ConnectWise writes, newest first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only writes for this customer.
    #[arg(long)]
    customer: Option<String>,

    /// Only this operation: create_child_agreement, create_addition, update_addition,
    /// cancel_addition, end_child_agreement, create_master_agreement, create_catalog_item,
    /// adopt_record.
    #[arg(long)]
    operation: Option<String>,

    /// Only writes of this sync run (see `hyalto sync history`).
    #[arg(long)]
    run: Option<i64>,

    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    limit: u32,

    /// Print JSON instead of a table, with the records before and after each write.
    #[arg(long)]
    json: bool,
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
    let customer = args
        .customer
        .as_deref()
        .map(|text| {
            CustomerId::new(text)
                .map_err(|error| anyhow::anyhow!("--customer {text:?} is not an id: {error}"))
        })
        .transpose()?;
    let filter = AuditFilter {
        customer,
        operation: args.operation.as_deref().map(AuditOperation::from_name),
        run: args.run.map(hyalto_store::RunId),
        limit: args.limit,
    };

    let store = context.store().await?;
    let entries = store
        .audit_entries(&filter)
        .await
        .context("could not read the audit log")?;
    let views: Vec<EntryView> = entries
        .into_iter()
        .map(|entry| {
            let id = entry.id.0;
            let entry = entry.entry;
            EntryView {
                id,
                at: entry.at,
                run: entry.run.map(|run| run.0),
                customer: entry.customer.map(|customer| customer.to_string()),
                operation: entry.operation.to_string(),
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
    let mut table = Table::new([
        "ID",
        "AT",
        "RUN",
        "CUSTOMER",
        "OPERATION",
        "TARGET",
        "STATUS",
        "REASON",
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
        if let Some(request) = &view.request_id {
            status = format!("{status} [request id {request}]");
        }
        table.row([
            view.id.to_string(),
            view.at.format("%Y-%m-%d %H:%M:%S").to_string(),
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
