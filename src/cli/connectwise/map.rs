//! `hyalto connectwise map`, `unmap` and `mappings`: which ConnectWise company and master
//! agreement each customer is billed under.

use anyhow::{Context as _, bail};
use chrono::Utc;
use hyalto_connectwise::models::{
    Agreement, AgreementTypeReference, CompanyReference, ContactReference, CwDate, NewAgreement,
};
use hyalto_connectwise::{Client, Error, Field, ListQuery};
use hyalto_domain::CustomerId;
use hyalto_store::{
    AuditOperation, AuditStatus, CachedRecord, CompanyMapping, CwRecordKind, DriftPolicy,
    MappingOptions, NewAuditEntry, QuantityChangeMode, SqliteStore, Store,
};
use serde::Serialize;

use super::permissions::describe;
use crate::cli::context::Context;
use crate::cli::output::{Table, print_json};

/// The longest agreement name ConnectWise accepts.
const MAX_AGREEMENT_NAME: usize = 100;

/// Bill a customer under a ConnectWise company and master agreement.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("master").required(true).args(["agreement", "create_agreement"])
))]
pub struct MapArgs {
    /// The inventory customer id (see `hyalto inventory show`).
    #[arg(long)]
    pub customer: String,

    /// The ConnectWise company id (see `hyalto connectwise companies`).
    #[arg(long)]
    pub company: i64,

    /// An existing master agreement of that company (see `hyalto connectwise agreements`).
    #[arg(long, value_name = "ID")]
    pub agreement: Option<i64>,

    /// Create a new master agreement with this name instead.
    #[arg(long, value_name = "NAME", requires = "agreement_type")]
    pub create_agreement: Option<String>,

    /// The agreement type of the new master agreement.
    #[arg(long = "type", value_name = "ID")]
    pub agreement_type: Option<i64>,

    /// How a changed quantity is written: in_place (PATCH the quantity) or cancel_and_replace
    /// (cancel the day before, add a new line from the change date). A new mapping defaults to
    /// in_place; re-mapping keeps the current setting unless this is given.
    #[arg(long, value_parser = parse_quantity_mode)]
    pub quantity_changes: Option<QuantityChangeMode>,

    /// What to do with a quantity someone changed in ConnectWise: overwrite or report. A new
    /// mapping defaults to overwrite; re-mapping keeps the current setting unless this is given.
    #[arg(long, value_parser = parse_drift)]
    pub drift: Option<DriftPolicy>,

    /// Write again records hyalto wrote that were deleted or cancelled by hand (otherwise they
    /// are only reported). Re-mapping keeps the current setting unless this or
    /// `--no-recreate-deleted` is given.
    #[arg(long, conflicts_with = "no_recreate_deleted")]
    pub recreate_deleted: bool,

    /// Only report records deleted or cancelled by hand; do not write them again.
    #[arg(long)]
    pub no_recreate_deleted: bool,

    /// Agreement type for child agreements; by default the master agreement's type. Re-mapping
    /// keeps the current setting unless this or `--no-child-type` is given.
    #[arg(long, value_name = "ID", conflicts_with = "no_child_type")]
    pub child_type: Option<i64>,

    /// Give child agreements the master agreement's type again.
    #[arg(long)]
    pub no_child_type: bool,
}

impl MapArgs {
    /// The options to store: each flag given wins, anything else stays as `current` has it
    /// (the defaults for a new mapping). Re-running `map` to move a customer to another
    /// agreement must not quietly reset the policies chosen earlier.
    fn options(&self, current: Option<&MappingOptions>) -> MappingOptions {
        let current = current.cloned().unwrap_or_default();
        let recreate_deleted = if self.recreate_deleted {
            true
        } else if self.no_recreate_deleted {
            false
        } else {
            current.recreate_deleted
        };
        let child_agreement_type_id = if self.no_child_type {
            None
        } else {
            self.child_type.or(current.child_agreement_type_id)
        };
        MappingOptions {
            quantity_change: self.quantity_changes.unwrap_or(current.quantity_change),
            drift: self.drift.unwrap_or(current.drift),
            recreate_deleted,
            child_agreement_type_id,
        }
    }
}

/// Stop managing a customer; what hyalto wrote stays active in ConnectWise.
#[derive(Debug, clap::Args)]
pub struct UnmapArgs {
    /// The inventory customer id.
    #[arg(long)]
    customer: String,
}

/// List the customer mappings.
#[derive(Debug, clap::Args)]
pub struct MappingsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_quantity_mode(text: &str) -> Result<QuantityChangeMode, String> {
    text.parse().map_err(|error| format!("{error}"))
}

fn parse_drift(text: &str) -> Result<DriftPolicy, String> {
    text.parse().map_err(|error| format!("{error}"))
}

pub async fn map(context: &Context, args: MapArgs) -> anyhow::Result<()> {
    let store = context.store().await?;

    // The customer must be known from an import.
    let customer = CustomerId::new(args.customer.clone())
        .map_err(|error| anyhow::anyhow!("--customer {:?} is not an id: {error}", args.customer))?;
    let Some(summary) = store.get_customer(&customer).await? else {
        let known: Vec<String> = store
            .list_customers()
            .await?
            .into_iter()
            .take(10)
            .map(|summary| summary.customer.id.to_string())
            .collect();
        bail!(
            "no customer \"{customer}\" is known: import an inventory that lists it with `hyalto \
             inventory import FILE`{}",
            if known.is_empty() {
                String::new()
            } else {
                format!(" (known customers: {})", known.join(", "))
            }
        );
    };

    // The company and the agreement are checked live, so a mapping never rests on a stale
    // cache.
    let client = context.client().await?;
    let company = match client.company(args.company).await {
        Ok(company) => company,
        Err(Error::NotFound { .. }) => bail!(
            "ConnectWise has no company {}: find the id with `hyalto connectwise companies \
             --search TEXT` (run `hyalto connectwise refresh` first if it is new)",
            args.company
        ),
        Err(error) => bail!(
            "could not read company {}: {}",
            args.company,
            describe(&error)
        ),
    };
    let company_name = company.name.clone().unwrap_or_default();

    let agreement = match (args.agreement, &args.create_agreement) {
        (Some(id), _) => check_master(&client, id, args.company, &company_name).await?,
        (None, Some(name)) => {
            let type_id = args
                .agreement_type
                .context("--create-agreement needs --type ID, the agreement type to create")?;
            let contact = company.default_contact.as_ref().and_then(|c| c.id);
            create_master(context, store, &client, &args, name, type_id, contact).await?
        }
        (None, None) => bail!("give --agreement ID or --create-agreement NAME --type ID"),
    };
    cache_agreement(store, &agreement).await?;

    // Record the mapping, keeping the policies of an existing one unless a flag changes them.
    let existing = store
        .get_company_mapping(&customer)
        .await
        .context("could not read the current mapping")?;
    let mapping = CompanyMapping {
        customer: customer.clone(),
        company_id: args.company,
        agreement_id: agreement.id,
        options: args.options(existing.as_ref().map(|mapping| &mapping.options)),
    };
    store
        .set_company_mapping(&mapping)
        .await
        .context("could not store the mapping")?;
    println!(
        "Mapped customer {} ({}) to company {} ({}), master agreement {} ({}).",
        customer,
        summary.customer.name,
        args.company,
        company_name,
        agreement.id,
        agreement.name.as_deref().unwrap_or_default()
    );
    println!(
        "{} options: quantity changes {}, drift {}, recreate deleted {}{}.",
        if existing.is_some() {
            "Effective"
        } else {
            "Options"
        },
        mapping.options.quantity_change,
        mapping.options.drift,
        if mapping.options.recreate_deleted {
            "yes"
        } else {
            "no"
        },
        match mapping.options.child_agreement_type_id {
            Some(id) => format!(", child agreement type {id}"),
            None => ", child agreements take the master's type".to_owned(),
        }
    );
    Ok(())
}

/// Reads an agreement and checks that it can be a master agreement of the company.
async fn check_master(
    client: &Client,
    id: i64,
    company_id: i64,
    company_name: &str,
) -> anyhow::Result<Agreement> {
    let agreement = match client.agreement(id).await {
        Ok(agreement) => agreement,
        Err(Error::NotFound { .. }) => bail!(
            "ConnectWise has no agreement {id}: list company {company_id}'s agreements with \
             `hyalto connectwise agreements --company {company_id}`"
        ),
        Err(error) => bail!("could not read agreement {id}: {}", describe(&error)),
    };

    let owner = agreement.company.as_ref().and_then(|company| company.id);
    if owner != Some(company_id) {
        let owner_name = agreement
            .company
            .as_ref()
            .and_then(|company| company.name.clone())
            .unwrap_or_default();
        bail!(
            "agreement {id} belongs to company {} ({owner_name}), not to company {company_id} \
             ({company_name}): pick one of its own agreements (`hyalto connectwise agreements \
             --company {company_id}`) or create one with --create-agreement NAME --type ID",
            owner
                .map(|id| id.to_string())
                .unwrap_or_else(|| "(none)".to_owned())
        );
    }
    if agreement.cancelled_flag == Some(true) {
        bail!(
            "agreement {id} is cancelled, so it cannot bill anything: pick an active agreement of \
             company {company_id} or create one with --create-agreement NAME --type ID"
        );
    }
    if let Some(parent) = agreement.parent_agreement.as_ref().and_then(|p| p.id) {
        bail!(
            "agreement {id} is itself a child of agreement {parent}, and ConnectWise allows one \
             level of children only: map the customer to agreement {parent} (or another master)"
        );
    }
    Ok(agreement)
}

/// Creates a master agreement for the company and logs the write in the audit log.
async fn create_master(
    context: &Context,
    store: &SqliteStore,
    client: &Client,
    args: &MapArgs,
    name: &str,
    type_id: i64,
    contact: Option<i64>,
) -> anyhow::Result<Agreement> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_AGREEMENT_NAME {
        bail!(
            "--create-agreement needs a name of 1 to {MAX_AGREEMENT_NAME} characters; {:?} has {}",
            name,
            name.chars().count()
        );
    }
    let today = Utc::now()
        .with_timezone(&context.config.billing_tz)
        .date_naive();

    let mut body = NewAgreement::new(
        name,
        AgreementTypeReference::by_id(type_id),
        CompanyReference::by_id(args.company),
    );
    body.contact = contact.map(ContactReference::by_id);
    body.start_date = Some(CwDate(today));
    body.no_ending_date_flag = Some(true);
    body.internal_notes = Some(format!(
        "Master agreement created by hyalto for customer {}.",
        args.customer
    ));

    let customer = CustomerId::new(args.customer.clone()).ok();
    let sent = serde_json::to_value(&body).ok();
    let result = client.create_agreement(&body).await;
    let (status, target_id, after, request_id, message) = match &result {
        Ok(agreement) => (
            AuditStatus::Succeeded,
            Some(agreement.id),
            serde_json::to_value(agreement).ok(),
            None,
            None,
        ),
        Err(error @ Error::OutcomeUnknown { .. }) => (
            AuditStatus::Unknown,
            None,
            sent.clone(),
            error.request_id().map(str::to_owned),
            Some(error.to_string()),
        ),
        Err(error) => (
            AuditStatus::Failed,
            None,
            sent.clone(),
            error.request_id().map(str::to_owned),
            Some(error.to_string()),
        ),
    };
    store
        .append_audit(&NewAuditEntry {
            at: Utc::now(),
            run: None,
            customer,
            operation: AuditOperation::CreateMasterAgreement,
            target_kind: "agreement".to_owned(),
            target_id,
            reason: format!(
                "`hyalto connectwise map --create-agreement` for {}",
                args.customer
            ),
            before: None,
            after,
            status,
            request_id,
            error_message: message,
        })
        .await
        .context("could not write the audit log entry for the new master agreement")?;

    match result {
        Ok(agreement) => {
            println!("Created master agreement {} ({name}).", agreement.id);
            Ok(agreement)
        }
        Err(Error::OutcomeUnknown { .. }) => {
            // The agreement may exist: look for it by company and name before telling the user
            // to try again, so a retry cannot create a second one.
            let query = ListQuery::filter(
                Field::new("company/id")
                    .eq(args.company)
                    .and(Field::new("name").eq(name)),
            );
            let found = client.agreements(&query).await.unwrap_or_default();
            match found.into_iter().next() {
                Some(agreement) => {
                    println!(
                        "The answer was lost, but ConnectWise has agreement {} ({name}); using it.",
                        agreement.id
                    );
                    Ok(agreement)
                }
                None => bail!(
                    "the connection dropped while creating agreement {name:?} and it is not in \
                     ConnectWise now: run the same command again"
                ),
            }
        }
        Err(error) => bail!(
            "ConnectWise did not create master agreement {name:?}: {}",
            describe(&error)
        ),
    }
}

async fn cache_agreement(store: &SqliteStore, agreement: &Agreement) -> anyhow::Result<()> {
    let record = CachedRecord {
        kind: CwRecordKind::Agreement,
        id: agreement.id,
        body: serde_json::to_value(agreement)?,
        fetched_at: Utc::now(),
    };
    store
        .put_cw_record(&record)
        .await
        .context("could not cache the agreement")
}

pub async fn unmap(context: &Context, args: UnmapArgs) -> anyhow::Result<()> {
    let customer = CustomerId::new(args.customer.clone())
        .map_err(|error| anyhow::anyhow!("--customer {:?} is not an id: {error}", args.customer))?;
    let store = context.store().await?;

    let removed = store
        .remove_company_mapping(&customer)
        .await
        .context("could not remove the mapping")?;
    if removed {
        println!(
            "hyalto no longer manages customer {customer}. Its child agreements and additions \
             stay active in ConnectWise and keep billing: end them there if billing should stop."
        );
    } else {
        println!("Customer {customer} was not mapped; nothing changed.");
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MappingRow {
    customer: String,
    customer_name: String,
    company_id: i64,
    company_name: String,
    agreement_id: i64,
    agreement_name: String,
    quantity_changes: QuantityChangeMode,
    drift: DriftPolicy,
    recreate_deleted: bool,
    child_agreement_type_id: Option<i64>,
}

pub async fn mappings(context: &Context, args: MappingsArgs) -> anyhow::Result<()> {
    let store = context.store().await?;
    let customers = store.list_customers().await?;

    let mut rows = Vec::new();
    for summary in &customers {
        let Some(mapping) = &summary.mapping else {
            continue;
        };
        rows.push(MappingRow {
            customer: mapping.customer.to_string(),
            customer_name: summary.customer.name.clone(),
            company_id: mapping.company_id,
            company_name: cached_name(store, CwRecordKind::Company, mapping.company_id).await,
            agreement_id: mapping.agreement_id,
            agreement_name: cached_name(store, CwRecordKind::Agreement, mapping.agreement_id).await,
            quantity_changes: mapping.options.quantity_change,
            drift: mapping.options.drift,
            recreate_deleted: mapping.options.recreate_deleted,
            child_agreement_type_id: mapping.options.child_agreement_type_id,
        });
    }

    if args.json {
        return print_json(&rows);
    }
    let mut table = Table::new([
        "CUSTOMER",
        "NAME",
        "COMPANY",
        "MASTER AGREEMENT",
        "CHANGES",
        "DRIFT",
        "RECREATE",
    ]);
    for row in &rows {
        table.row([
            row.customer.clone(),
            row.customer_name.clone(),
            format!("{} {}", row.company_id, row.company_name),
            format!("{} {}", row.agreement_id, row.agreement_name),
            row.quantity_changes.to_string(),
            row.drift.to_string(),
            if row.recreate_deleted { "yes" } else { "no" }.to_owned(),
        ]);
    }
    if table.is_empty() {
        println!("No customer is mapped yet; map one with `hyalto connectwise map`.");
    } else {
        print!("{}", table.render());
    }
    let unmapped: Vec<&str> = customers
        .iter()
        .filter(|summary| !summary.is_mapped())
        .map(|summary| summary.customer.id.as_str())
        .collect();
    if !unmapped.is_empty() {
        println!("Unmapped customers (not billed): {}", unmapped.join(", "));
    }
    Ok(())
}

/// The `name` of a cached record, or an empty string.
pub async fn cached_name(store: &SqliteStore, kind: CwRecordKind, id: i64) -> String {
    store
        .get_cw_record(kind, id)
        .await
        .ok()
        .flatten()
        .and_then(|record| {
            record
                .body
                .get("name")
                .or_else(|| record.body.get("identifier"))
                .and_then(|name| name.as_str().map(str::to_owned))
        })
        .unwrap_or_default()
}
