//! `hyalto connectwise map`, `unmap` and `mappings`: which ConnectWise company and master
//! agreement each customer is billed under.

use anyhow::{Context as _, bail};
use chrono::Utc;
use hyalto_app::browse::cached_name;
use hyalto_app::mapping::{MapError, MapRequest, map_customer};
use hyalto_app::permissions::describe;
use hyalto_connectwise::models::{
    Agreement, AgreementTypeReference, CompanyReference, ContactReference, CwDate, NewAgreement,
};
use hyalto_connectwise::{Client, Error, Field, ListQuery};
use hyalto_domain::CustomerId;
use hyalto_store::{
    AuditOperation, AuditStatus, CwRecordKind, DriftPolicy, MappingOptions, NewAuditEntry,
    QuantityChangeMode, SqliteStore, Store,
};
use serde::Serialize;

use super::browse::agreement_types_of;
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

    // The customer must be known from an import; the known ones help a mistyped id.
    let customer = CustomerId::new(args.customer.clone())
        .map_err(|error| anyhow::anyhow!("--customer {:?} is not an id: {error}", args.customer))?;
    if store.get_customer(&customer).await?.is_none() {
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
    }
    // Agreement types are checked against the cache before anything is written, so a wrong
    // id is named with the ones that exist rather than refused by ConnectWise midway.
    if let Some(id) = args
        .agreement_type
        .filter(|_| args.create_agreement.is_some())
    {
        check_agreement_type(store, id, "--type").await?;
    }
    if let Some(id) = args.child_type {
        check_agreement_type(store, id, "--child-type").await?;
    }
    let existing = store
        .get_company_mapping(&customer)
        .await
        .context("could not read the current mapping")?;
    let options = args.options(existing.as_ref().map(|mapping| &mapping.options));
    let client = context.client().await?;

    // An existing master agreement is checked live by the shared use case; a new one is
    // created here first, then mapped the same way.
    let agreement_id = match (args.agreement, &args.create_agreement) {
        (Some(id), _) => id,
        (None, Some(name)) => {
            let type_id = args
                .agreement_type
                .context("--create-agreement needs --type ID, the agreement type to create")?;
            let company = match client.company(args.company).await {
                Ok(company) => company,
                Err(Error::NotFound { .. }) => {
                    return Err(explain_map_error(
                        MapError::UnknownCompany(args.company),
                        &args,
                    ));
                }
                Err(error) => bail!(
                    "could not read company {}: {}",
                    args.company,
                    describe(&error)
                ),
            };
            let contact = company.default_contact.as_ref().and_then(|c| c.id);
            create_master(context, store, &client, &args, name, type_id, contact)
                .await?
                .id
        }
        (None, None) => bail!("give --agreement ID or --create-agreement NAME --type ID"),
    };
    let request = MapRequest {
        customer: customer.clone(),
        company_id: args.company,
        agreement_id,
        options: Some(options),
    };
    let mapped = map_customer(store, &client, &request)
        .await
        .map_err(|error| explain_map_error(error, &args))?;

    println!(
        "Mapped customer {} ({}) to company {} ({}), master agreement {} ({}).",
        customer,
        mapped.customer.customer.name,
        args.company,
        mapped.company_name,
        mapped.agreement.id,
        mapped.agreement.name.as_deref().unwrap_or_default()
    );
    let options = &mapped.mapping.options;
    println!(
        "{}: quantity changes {}, drift {}, recreate deleted {}{}.",
        if mapped.replaced {
            "Effective options"
        } else {
            "Options"
        },
        options.quantity_change,
        options.drift,
        if options.recreate_deleted {
            "yes"
        } else {
            "no"
        },
        match options.child_agreement_type_id {
            Some(id) => format!(", child agreement type {id}"),
            None => ", child agreements take the master's type".to_owned(),
        }
    );
    Ok(())
}

/// Refuses an agreement type id the cache does not hold, listing the ids it does.
async fn check_agreement_type(store: &SqliteStore, id: i64, flag: &str) -> anyhow::Result<()> {
    let types = agreement_types_of(store).await?;
    if types.iter().any(|kind| kind.id == id) {
        return Ok(());
    }
    if types.is_empty() {
        bail!(
            "{flag} {id}: no agreement types are cached to check it against; run `hyalto \
             connectwise refresh`, then `hyalto connectwise agreement-types` to see their ids"
        );
    }
    let known: Vec<String> = types
        .iter()
        .map(|kind| {
            let inactive = if kind.inactive { ", inactive" } else { "" };
            format!("{} ({}{inactive})", kind.id, kind.name)
        })
        .collect();
    bail!(
        "{flag} {id} is not an agreement type of this ConnectWise site; the types are {} \
         (`hyalto connectwise agreement-types` lists them; run `hyalto connectwise refresh` \
         first if the type is new)",
        known.join(", ")
    )
}

/// A refused mapping with the command that shows what to choose instead.
fn explain_map_error(error: MapError, args: &MapArgs) -> anyhow::Error {
    let company = args.company;
    let hint = match &error {
        MapError::UnknownCompany(_) => " (find the id with `hyalto connectwise companies \
                                        --search TEXT`; run `hyalto connectwise refresh` first \
                                        if it is new)"
            .to_owned(),
        MapError::UnknownAgreement { .. }
        | MapError::OtherCompany { .. }
        | MapError::Cancelled(_)
        | MapError::Child { .. } => format!(
            " (`hyalto connectwise agreements --company {company}` lists them; or create one \
             with --create-agreement NAME --type ID)"
        ),
        _ => String::new(),
    };
    anyhow::anyhow!("{error}{hint}")
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
