//! `hyalto connectwise companies` and `agreements`: the cached records, for choosing what to
//! map a customer to.

use anyhow::{Context as _, bail};
use hyalto_connectwise::models::{Agreement, Company};
use hyalto_store::{CompanyMapping, CwRecordKind, SqliteStore, Store};
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::output::{Table, print_json};

/// List cached companies.
#[derive(Debug, clap::Args)]
pub struct CompaniesArgs {
    /// Only companies whose name or identifier contains this text (any case), or whose id it is.
    #[arg(long)]
    search: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// List the cached agreements of one company.
#[derive(Debug, clap::Args)]
pub struct AgreementsArgs {
    /// The ConnectWise company id (see `hyalto connectwise companies`).
    #[arg(long)]
    company: i64,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompanyRow {
    id: i64,
    identifier: String,
    name: String,
    mapped_customers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgreementRow {
    id: i64,
    name: String,
    type_name: String,
    parent_agreement_id: Option<i64>,
    status: &'static str,
    billing_cycle: String,
    start_date: Option<String>,
    mapped_customers: Vec<String>,
}

/// Every cached record of `kind`, decoded; records that do not decode are skipped.
pub async fn cached<T: serde::de::DeserializeOwned>(
    store: &SqliteStore,
    kind: CwRecordKind,
) -> anyhow::Result<Vec<T>> {
    let records = store
        .list_cw_records(kind)
        .await
        .with_context(|| format!("could not read the cached {kind} records"))?;
    Ok(records
        .into_iter()
        .filter_map(|record| serde_json::from_value(record.body).ok())
        .collect())
}

/// A readable status: cancelled, a child, or active.
pub fn agreement_status(agreement: &Agreement) -> &'static str {
    if agreement.cancelled_flag == Some(true) {
        "cancelled"
    } else if agreement
        .parent_agreement
        .as_ref()
        .and_then(|p| p.id)
        .is_some()
    {
        "child"
    } else {
        "active"
    }
}

pub async fn companies(context: &Context, args: CompaniesArgs) -> anyhow::Result<()> {
    let store = context.store().await?;
    let companies: Vec<Company> = cached(store, CwRecordKind::Company).await?;
    if companies.is_empty() {
        bail!(
            "no companies are cached: run `hyalto connectwise configure …` (or `hyalto \
             connectwise refresh` if the connection is set up)"
        );
    }
    let mappings = store
        .list_company_mappings()
        .await
        .context("could not read the customer mappings")?;

    let needle = args.search.as_deref().map(str::to_lowercase);
    let rows: Vec<CompanyRow> = companies
        .into_iter()
        .filter(|company| match &needle {
            None => true,
            Some(needle) => {
                company.id.to_string() == *needle
                    || company
                        .name
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(needle)
                    || company
                        .identifier
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(needle)
            }
        })
        .map(|company| CompanyRow {
            id: company.id,
            identifier: company.identifier.unwrap_or_default(),
            name: company.name.unwrap_or_default(),
            mapped_customers: customers_of(&mappings, |m| m.company_id == company.id),
        })
        .collect();

    if args.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!(
            "No cached company matches {:?}.",
            args.search.unwrap_or_default()
        );
        return Ok(());
    }
    let mut table = Table::new(["ID", "IDENTIFIER", "NAME", "MAPPED CUSTOMERS"]);
    for row in &rows {
        table.row([
            row.id.to_string(),
            row.identifier.clone(),
            row.name.clone(),
            row.mapped_customers.join(", "),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub async fn agreements(context: &Context, args: AgreementsArgs) -> anyhow::Result<()> {
    let store = context.store().await?;
    if store
        .get_cw_record(CwRecordKind::Company, args.company)
        .await?
        .is_none()
    {
        bail!(
            "company {} is not in the cache: find its id with `hyalto connectwise companies \
             --search TEXT`, or run `hyalto connectwise refresh` if it is new",
            args.company
        );
    }
    let mappings = store.list_company_mappings().await?;
    let agreements: Vec<Agreement> = cached(store, CwRecordKind::Agreement).await?;

    let rows: Vec<AgreementRow> = agreements
        .into_iter()
        .filter(|agreement| {
            agreement.company.as_ref().and_then(|company| company.id) == Some(args.company)
        })
        .map(|agreement| AgreementRow {
            id: agreement.id,
            status: agreement_status(&agreement),
            name: agreement.name.clone().unwrap_or_default(),
            type_name: agreement
                .agreement_type
                .as_ref()
                .and_then(|t| t.name.clone())
                .unwrap_or_default(),
            parent_agreement_id: agreement.parent_agreement.as_ref().and_then(|p| p.id),
            billing_cycle: agreement
                .billing_cycle
                .as_ref()
                .and_then(|c| c.name.clone().or(c.id.map(|id| id.to_string())))
                .unwrap_or_default(),
            start_date: agreement.start_date.map(|date| date.date().to_string()),
            mapped_customers: customers_of(&mappings, |m| m.agreement_id == agreement.id),
        })
        .collect();

    if args.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!(
            "Company {} has no agreements in the cache; create a master agreement with `hyalto \
             connectwise map --create-agreement NAME --type ID`.",
            args.company
        );
        return Ok(());
    }
    let mut table = Table::new([
        "ID", "NAME", "TYPE", "STATUS", "PARENT", "CYCLE", "START", "MAPPED",
    ]);
    for row in &rows {
        table.row([
            row.id.to_string(),
            row.name.clone(),
            row.type_name.clone(),
            row.status.to_owned(),
            row.parent_agreement_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            row.billing_cycle.clone(),
            row.start_date.clone().unwrap_or_default(),
            row.mapped_customers.join(", "),
        ]);
    }
    print!("{}", table.render());
    println!("Map a customer to an active agreement that is not a child.");
    Ok(())
}

fn customers_of(
    mappings: &[CompanyMapping],
    matches: impl Fn(&CompanyMapping) -> bool,
) -> Vec<String> {
    mappings
        .iter()
        .filter(|mapping| matches(mapping))
        .map(|mapping| mapping.customer.to_string())
        .collect()
}
