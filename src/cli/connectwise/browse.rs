//! `hyalto connectwise companies`, `agreements` and `agreement-types`: the cached records, for
//! choosing what to map a customer to.

use anyhow::{Context as _, bail};
use hyalto_app::browse;
use hyalto_connectwise::models::AgreementType;
use hyalto_store::{CwRecordKind, SqliteStore, Store};
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

/// List the cached agreement types.
#[derive(Debug, clap::Args)]
pub struct AgreementTypesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A cached agreement type, as `agreement-types` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgreementTypeRow {
    /// ConnectWise's id, what `map --type` and `--child-type` take.
    pub id: i64,
    /// The name.
    pub name: String,
    /// Whether it is ConnectWise's default type.
    pub default: bool,
    /// Whether it is switched off in ConnectWise.
    pub inactive: bool,
}

/// The cached agreement types, by id.
pub async fn agreement_types_of(store: &SqliteStore) -> anyhow::Result<Vec<AgreementTypeRow>> {
    let types: Vec<AgreementType> = cached(store, CwRecordKind::AgreementType).await?;
    let mut rows: Vec<AgreementTypeRow> = types
        .into_iter()
        .map(|kind| AgreementTypeRow {
            id: kind.id,
            name: kind.name.unwrap_or_default(),
            default: kind.default_flag == Some(true),
            inactive: kind.inactive_flag == Some(true),
        })
        .collect();
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

/// Every cached record of `kind`, decoded; records that do not decode are skipped.
pub async fn cached<T: serde::de::DeserializeOwned>(
    store: &SqliteStore,
    kind: CwRecordKind,
) -> anyhow::Result<Vec<T>> {
    hyalto_app::browse::cached(store, kind)
        .await
        .with_context(|| format!("could not read the cached {kind} records"))
}

pub async fn companies(context: &Context, args: CompaniesArgs) -> anyhow::Result<()> {
    let store = context.store().await?;
    if store
        .list_cw_records(CwRecordKind::Company)
        .await
        .context("could not read the cached companies")?
        .is_empty()
    {
        bail!(
            "no companies are cached: run `hyalto connectwise configure …` (or `hyalto \
             connectwise refresh` if the connection is set up)"
        );
    }
    let rows = browse::companies(store, args.search.as_deref())
        .await
        .context("could not read the cached companies")?;

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
    let Some(rows) = browse::agreements_of(store, args.company)
        .await
        .context("could not read the cached agreements")?
    else {
        bail!(
            "company {} is not in the cache: find its id with `hyalto connectwise companies \
             --search TEXT`, or run `hyalto connectwise refresh` if it is new",
            args.company
        );
    };

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
            match row.type_id {
                Some(id) => format!("{id} {}", row.type_name),
                None => row.type_name.clone(),
            },
            row.status.as_str().to_owned(),
            row.parent_agreement_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            row.billing_cycle.clone(),
            row.start_date.clone().unwrap_or_default(),
            row.mapped_customers.join(", "),
        ]);
    }
    print!("{}", table.render());
    println!(
        "Map a customer to an active agreement that is not a child. TYPE is the agreement type's \
         id and name (`hyalto connectwise agreement-types` lists every type)."
    );
    Ok(())
}

pub async fn agreement_types(context: &Context, args: AgreementTypesArgs) -> anyhow::Result<()> {
    let store = context.store().await?;
    let rows = agreement_types_of(store).await?;

    if args.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        bail!(
            "no agreement types are cached: run `hyalto connectwise refresh` (or `hyalto \
             connectwise configure …` if no connection is set up)"
        );
    }
    let mut table = Table::new(["ID", "NAME", "DEFAULT", "INACTIVE"]);
    for row in &rows {
        table.row([
            row.id.to_string(),
            row.name.clone(),
            if row.default { "yes" } else { "" }.to_owned(),
            if row.inactive { "yes" } else { "" }.to_owned(),
        ]);
    }
    print!("{}", table.render());
    println!(
        "Give an id to `hyalto connectwise map --create-agreement NAME --type ID` or \
         `--child-type ID`."
    );
    Ok(())
}
