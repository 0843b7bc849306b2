//! `hyalto connectwise products …`: which catalog item bills each meter.
//!
//! A meter is a service kind × resource kind × optional tier, written
//! `virtual_machine/cpu` or `virtual_data_center/storage/gold`. `defaults` maps meters to
//! catalog items by the documented identifiers in [`DEFAULT_PRODUCTS`] (and the rule in
//! [`default_identifier`] for meters the inventory has that the list does not name).

use std::collections::BTreeSet;

use anyhow::{Context as _, bail};
use chrono::Utc;
use hyalto_app::permissions::describe;
use hyalto_connectwise::models::{
    CatalogItem, NewCatalogItem, ProductClass, ProductType, Reference, Subcategory, UnitOfMeasure,
};
use hyalto_connectwise::{Client, ListQuery};
use hyalto_domain::{MeterKey, MeteringRules, ResourceKind, ServiceKind, meter};
use hyalto_store::{
    AuditOperation, AuditStatus, CachedRecord, CwRecordKind, NewAuditEntry, Presence,
    ProductMapping, SqliteStore, Store,
};
use rust_decimal::Decimal;
use serde::Serialize;

use super::browse::cached;
use crate::cli::context::Context;
use crate::cli::output::{Table, print_json};

/// The documented default catalog items: meter, catalog identifier, description used when
/// `--create-missing` creates the item. The sandbox's demo seed has every one of them.
pub const DEFAULT_PRODUCTS: [(&str, &str, &str); 12] = [
    (
        "virtual_machine/cpu",
        "VMW-VCPU",
        "Virtual CPU (vCPU) per month",
    ),
    (
        "virtual_machine/ram",
        "VMW-RAM-GB",
        "Memory (RAM) per GB per month",
    ),
    (
        "virtual_machine/storage",
        "VMW-STOR-STD-GB",
        "Storage, standard tier, per GB",
    ),
    (
        "virtual_machine/storage/standard",
        "VMW-STOR-STD-GB",
        "Storage, standard tier, per GB",
    ),
    (
        "virtual_machine/storage/performance",
        "VMW-STOR-PERF-GB",
        "Storage, performance tier, per GB",
    ),
    (
        "virtual_data_center/cpu",
        "VMW-VDC-CPU-GHZ",
        "Virtual data centre CPU allocation per GHz",
    ),
    (
        "virtual_data_center/ram",
        "VMW-RAM-GB",
        "Memory (RAM) per GB per month",
    ),
    (
        "virtual_data_center/storage",
        "VMW-STOR-STD-GB",
        "Storage, standard tier, per GB",
    ),
    (
        "virtual_data_center/storage/standard",
        "VMW-STOR-STD-GB",
        "Storage, standard tier, per GB",
    ),
    (
        "virtual_data_center/storage/performance",
        "VMW-STOR-PERF-GB",
        "Storage, performance tier, per GB",
    ),
    ("edge_gateway/instance", "VMW-EDGE-GW", "NSX edge gateway"),
    (
        "edge_gateway/public_ip",
        "VMW-PUBLIC-IP",
        "Public IPv4 address",
    ),
];

#[derive(Debug, clap::Subcommand)]
pub enum ProductsCommand {
    /// List the product mappings, and the inventory's meters that have none.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },

    /// Map a meter to a catalog item.
    Set {
        /// The meter: SERVICE_KIND/RESOURCE_KIND[/TIER], such as virtual_machine/cpu.
        meter: String,

        /// The catalog item, by id or identifier (such as VMW-VCPU).
        #[arg(long)]
        item: String,

        /// Unit price written on additions instead of the catalog item's price.
        #[arg(long)]
        unit_price: Option<Decimal>,

        /// Unit cost written on additions instead of the catalog item's cost.
        #[arg(long)]
        unit_cost: Option<Decimal>,
    },

    /// Remove the mapping of a meter.
    Unset {
        /// The meter, as in `set`.
        meter: String,
    },

    /// Map every default meter and every meter of the inventory to the documented default
    /// catalog items; meters already mapped are left alone.
    Defaults(DefaultsArgs),
}

/// Options of `products defaults`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DefaultsArgs {
    /// Create the default catalog items ConnectWise does not have yet.
    #[arg(long)]
    pub create_missing: bool,

    /// Product type of created items; by default one named like "service", else the first.
    #[arg(long, value_name = "ID", requires = "create_missing")]
    pub product_type: Option<i64>,

    /// Subcategory of created items; by default one named after the resource (Compute,
    /// Storage, Network), else the first.
    #[arg(long, value_name = "ID", requires = "create_missing")]
    pub subcategory: Option<i64>,
}

pub async fn run(context: &Context, command: ProductsCommand) -> anyhow::Result<()> {
    match command {
        ProductsCommand::List { json } => list(context, json).await,
        ProductsCommand::Set {
            meter,
            item,
            unit_price,
            unit_cost,
        } => set(context, &meter, &item, unit_price, unit_cost).await,
        ProductsCommand::Unset { meter } => unset(context, &meter).await,
        ProductsCommand::Defaults(args) => defaults(context, &args).await,
    }
}

fn parse_meter(text: &str) -> anyhow::Result<MeterKey> {
    text.parse::<MeterKey>()
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// The catalog identifier `defaults` uses for a meter: the documented list first, then a rule
/// by resource kind (CPU counts → `VMW-VCPU`, CPU of a virtual data centre → `VMW-VDC-CPU-GHZ`,
/// RAM → `VMW-RAM-GB`, storage of any other tier → `VMW-STOR-STD-GB`, public IPs →
/// `VMW-PUBLIC-IP`). Other resource kinds have no default.
pub fn default_identifier(key: &MeterKey) -> Option<(&'static str, &'static str)> {
    let text = key.to_string();
    if let Some((_, identifier, description)) =
        DEFAULT_PRODUCTS.iter().find(|(meter, _, _)| *meter == text)
    {
        return Some((identifier, description));
    }
    let by_meter = |meter: &str| {
        DEFAULT_PRODUCTS
            .iter()
            .find(|(known, _, _)| *known == meter)
            .map(|(_, identifier, description)| (*identifier, *description))
    };
    match (&key.service_kind, &key.resource) {
        (ServiceKind::VirtualDataCenter, ResourceKind::Cpu) => by_meter("virtual_data_center/cpu"),
        (_, ResourceKind::Cpu) => by_meter("virtual_machine/cpu"),
        (_, ResourceKind::Ram) => by_meter("virtual_machine/ram"),
        (_, ResourceKind::Storage) => by_meter("virtual_machine/storage"),
        (_, ResourceKind::PublicIp) => by_meter("edge_gateway/public_ip"),
        _ => None,
    }
}

/// Every meter the present inventory bills under `rules`.
pub async fn inventory_meters(
    store: &SqliteStore,
    rules: &MeteringRules,
) -> anyhow::Result<BTreeSet<MeterKey>> {
    let mut services = store.unassigned_services(Presence::PresentOnly).await?;
    for summary in store.list_customers().await? {
        services.extend(
            store
                .services_of_customer(&summary.customer.id, Presence::PresentOnly)
                .await?,
        );
    }
    Ok(services
        .iter()
        .flat_map(|record| {
            meter(&record.service, rules)
                .into_iter()
                .map(|metered| MeterKey::for_quantity(&record.service.kind, &metered))
        })
        .collect())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductRow {
    meter: String,
    catalog_item_id: Option<i64>,
    identifier: String,
    description: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
    unit_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
    unit_cost: Option<Decimal>,
}

async fn list(context: &Context, json: bool) -> anyhow::Result<()> {
    let store = context.store().await?;
    let mappings = store.list_product_mappings().await?;
    let items: Vec<CatalogItem> = cached(store, CwRecordKind::CatalogItem).await?;
    let in_use = inventory_meters(store, &context.config.rules).await?;

    let mut rows: Vec<ProductRow> = mappings
        .iter()
        .map(|mapping| {
            let item = items.iter().find(|item| item.id == mapping.catalog_item_id);
            ProductRow {
                meter: mapping.key.to_string(),
                catalog_item_id: Some(mapping.catalog_item_id),
                identifier: item.and_then(|i| i.identifier.clone()).unwrap_or_default(),
                description: item.and_then(|i| i.description.clone()).unwrap_or_default(),
                unit_price: mapping.unit_price,
                unit_cost: mapping.unit_cost,
            }
        })
        .collect();
    for key in &in_use {
        if !mappings.iter().any(|mapping| &mapping.key == key) {
            rows.push(ProductRow {
                meter: key.to_string(),
                catalog_item_id: None,
                identifier: String::new(),
                description: "(not mapped: the sync bills nothing for it)".to_owned(),
                unit_price: None,
                unit_cost: None,
            });
        }
    }

    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!(
            "No product mappings yet; run `hyalto connectwise products defaults` or `products set`."
        );
        return Ok(());
    }
    let mut table = Table::new([
        "METER",
        "ITEM",
        "IDENTIFIER",
        "DESCRIPTION",
        "PRICE",
        "COST",
    ]);
    for row in &rows {
        table.row([
            row.meter.clone(),
            row.catalog_item_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".to_owned()),
            row.identifier.clone(),
            row.description.clone(),
            row.unit_price.map(|p| p.to_string()).unwrap_or_default(),
            row.unit_cost.map(|c| c.to_string()).unwrap_or_default(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// Finds a catalog item by id or identifier, in the cache and then live.
async fn find_item(context: &Context, text: &str) -> anyhow::Result<CatalogItem> {
    let store = context.store().await?;
    let items: Vec<CatalogItem> = cached(store, CwRecordKind::CatalogItem).await?;
    let wanted = |item: &CatalogItem| match text.parse::<i64>() {
        Ok(id) => item.id == id,
        Err(_) => item
            .identifier
            .as_deref()
            .is_some_and(|identifier| identifier.eq_ignore_ascii_case(text)),
    };
    if let Some(item) = items.into_iter().find(wanted) {
        return Ok(item);
    }

    // The cache may predate the item; ask ConnectWise before giving up.
    let client = context.client().await?;
    let live = client
        .catalog_items(&ListQuery::default())
        .await
        .map_err(|error| anyhow::anyhow!("could not read the catalog: {}", describe(&error)))?;
    live.into_iter().find(wanted).with_context(|| {
        format!(
            "ConnectWise has no catalog item {text:?} (by id or identifier): check the identifier \
             in Procurement › Product Catalog, or create the default items with `hyalto \
             connectwise products defaults --create-missing`"
        )
    })
}

async fn set(
    context: &Context,
    meter_text: &str,
    item_text: &str,
    unit_price: Option<Decimal>,
    unit_cost: Option<Decimal>,
) -> anyhow::Result<()> {
    let key = parse_meter(meter_text)?;
    check_service_kind(context, &key).await?;
    for (flag, value) in [("--unit-price", unit_price), ("--unit-cost", unit_cost)] {
        if value.is_some_and(|value| value < Decimal::ZERO) {
            bail!("{flag} must not be negative");
        }
    }
    let item = find_item(context, item_text).await?;
    if let Some(reason) = unusable_reason(&item) {
        bail!(
            "catalog item {} ({}) {reason}; nothing was mapped",
            item.id,
            item.identifier.as_deref().unwrap_or_default()
        );
    }

    let store = context.store().await?;
    store
        .set_product_mapping(&ProductMapping {
            key: key.clone(),
            catalog_item_id: item.id,
            unit_price,
            unit_cost,
        })
        .await
        .context("could not store the product mapping")?;
    let mut overrides = Vec::new();
    if let Some(price) = unit_price {
        overrides.push(format!("unit price {}", price.normalize()));
    }
    if let Some(cost) = unit_cost {
        overrides.push(format!("unit cost {}", cost.normalize()));
    }
    println!(
        "{key} now bills as catalog item {} ({}){}.",
        item.id,
        item.identifier.as_deref().unwrap_or_default(),
        if overrides.is_empty() {
            ", at the item's own price and cost".to_owned()
        } else {
            format!(" at {}", overrides.join(" and "))
        }
    );
    Ok(())
}

/// Refuses a meter whose service kind is neither one hyalto knows nor one the inventory holds:
/// such a mapping would never bill anything, and is most likely a typo (`vm/ram`).
async fn check_service_kind(context: &Context, key: &MeterKey) -> anyhow::Result<()> {
    if !matches!(key.service_kind, ServiceKind::Other(_)) {
        return Ok(());
    }
    let store = context.store().await?;
    let mut known: BTreeSet<String> = [
        ServiceKind::VirtualMachine,
        ServiceKind::VirtualDataCenter,
        ServiceKind::EdgeGateway,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let mut services = store.unassigned_services(Presence::IncludingGone).await?;
    for summary in store.list_customers().await? {
        services.extend(
            store
                .services_of_customer(&summary.customer.id, Presence::IncludingGone)
                .await?,
        );
    }
    let in_inventory = services
        .iter()
        .any(|record| record.service.kind == key.service_kind);
    if in_inventory {
        return Ok(());
    }
    known.extend(
        services
            .iter()
            .map(|record| record.service.kind.to_string()),
    );
    bail!(
        "{key}: no service of kind {:?} is in the inventory, and hyalto knows no such kind; the \
         service kinds are {} (write the meter as SERVICE_KIND/RESOURCE_KIND, such as \
         virtual_machine/ram); nothing was mapped",
        key.service_kind.as_str(),
        known.into_iter().collect::<Vec<_>>().join(", ")
    )
}

/// Why ConnectWise would refuse `item` as an agreement addition, if it would.
///
/// Checking when the mapping is made matters because the refusal otherwise comes mid-sync: a
/// `cancel_and_replace` change cancels the old addition and then fails to post the new one,
/// leaving the meter unbilled.
fn unusable_reason(item: &CatalogItem) -> Option<String> {
    if item.inactive_flag == Some(true) {
        return Some(
            "is inactive, and ConnectWise refuses additions of inactive items: activate it in \
             Procurement › Product Catalog or pick another item"
                .to_owned(),
        );
    }
    if item.product_class == Some(ProductClass::Bundle) {
        return Some(
            "is a Bundle, and ConnectWise refuses bundles as agreement additions: pick a \
             Service, Agreement or Non-Inventory item"
                .to_owned(),
        );
    }
    None
}

async fn unset(context: &Context, meter_text: &str) -> anyhow::Result<()> {
    let key = parse_meter(meter_text)?;
    let store = context.store().await?;
    if store.remove_product_mapping(&key).await? {
        println!("{key} is no longer mapped; the sync bills nothing new for it.");
    } else {
        println!("{key} was not mapped; nothing changed.");
    }
    Ok(())
}

/// What `defaults` did.
#[derive(Debug, Default)]
pub struct DefaultsOutcome {
    /// Meters mapped now.
    pub mapped: Vec<(MeterKey, String)>,
    /// Catalog items created.
    pub created: Vec<String>,
}

pub async fn defaults(context: &Context, args: &DefaultsArgs) -> anyhow::Result<()> {
    let outcome = apply_defaults(context, args).await?;
    println!(
        "Mapped {} meter(s); created {} catalog item(s).",
        outcome.mapped.len(),
        outcome.created.len()
    );
    Ok(())
}

/// Maps the default meters and the inventory's meters to the default catalog items.
pub async fn apply_defaults(
    context: &Context,
    args: &DefaultsArgs,
) -> anyhow::Result<DefaultsOutcome> {
    let store = context.store().await?;
    let existing = store.list_product_mappings().await?;
    let mut items: Vec<CatalogItem> = cached(store, CwRecordKind::CatalogItem).await?;

    // The meters to map: the documented list and whatever the inventory bills.
    let mut meters: BTreeSet<MeterKey> = DEFAULT_PRODUCTS
        .iter()
        .filter_map(|(meter, _, _)| meter.parse().ok())
        .collect();
    meters.extend(inventory_meters(store, &context.config.rules).await?);

    let mut outcome = DefaultsOutcome::default();
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    let mut client: Option<Client> = None;
    for key in meters {
        let shown = key.to_string();
        if let Some(mapping) = existing.iter().find(|mapping| mapping.key == key) {
            println!(
                "  {shown:<44} already mapped to item {}",
                mapping.catalog_item_id
            );
            continue;
        }
        let Some((identifier, description)) = default_identifier(&key) else {
            println!("  {shown:<44} has no default item: map it with `products set`");
            continue;
        };

        let found = items.iter().find(|item| {
            item.identifier
                .as_deref()
                .is_some_and(|known| known.eq_ignore_ascii_case(identifier))
        });
        let item_id = match found {
            Some(item) => {
                if let Some(reason) = unusable_reason(item) {
                    println!(
                        "  {shown:<44} not mapped: catalog item {identifier} (item {}) {reason}",
                        item.id
                    );
                    continue;
                }
                item.id
            }
            None if args.create_missing => {
                if client.is_none() {
                    client = Some(context.client().await?);
                }
                let client = client.as_ref().expect("the client was just connected");
                let item = create_item(store, client, args, &key, identifier, description).await?;
                outcome.created.push(identifier.to_owned());
                let id = item.id;
                items.push(item);
                id
            }
            None => {
                missing.insert(identifier);
                println!("  {shown:<44} needs catalog item {identifier}, which ConnectWise lacks");
                continue;
            }
        };

        store
            .set_product_mapping(&ProductMapping {
                key: key.clone(),
                catalog_item_id: item_id,
                unit_price: None,
                unit_cost: None,
            })
            .await
            .context("could not store a product mapping")?;
        println!("  {shown:<44} → {identifier} (item {item_id})");
        outcome.mapped.push((key, identifier.to_owned()));
    }

    if !missing.is_empty() {
        println!(
            "Missing catalog items: {}. Create them in ConnectWise, or run `hyalto connectwise \
             products defaults --create-missing`.",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(outcome)
}

/// Creates one default catalog item, logs it and caches it.
async fn create_item(
    store: &SqliteStore,
    client: &Client,
    args: &DefaultsArgs,
    key: &MeterKey,
    identifier: &str,
    description: &str,
) -> anyhow::Result<CatalogItem> {
    let explain = |what: &str, error: hyalto_connectwise::Error| {
        anyhow::anyhow!("could not read the {what}: {}", describe(&error))
    };

    let product_type = match args.product_type {
        Some(id) => id,
        None => {
            let types: Vec<ProductType> = client
                .product_types(&ListQuery::default())
                .await
                .map_err(|error| explain("product types", error))?;
            pick(&types, |t| t.name.as_deref(), &["service"], |t| t.id)
                .context("ConnectWise has no product type; create one, or pass --product-type")?
        }
    };
    let subcategory = match args.subcategory {
        Some(id) => id,
        None => {
            let subcategories: Vec<Subcategory> = client
                .subcategories(&ListQuery::default())
                .await
                .map_err(|error| explain("product subcategories", error))?;
            let wanted: &[&str] = match key.resource {
                ResourceKind::Storage => &["storage"],
                ResourceKind::PublicIp => &["network"],
                _ if key.service_kind == ServiceKind::EdgeGateway => &["network"],
                _ => &["compute"],
            };
            pick(&subcategories, |s| s.name.as_deref(), wanted, |s| s.id).context(
                "ConnectWise has no product subcategory; create one, or pass --subcategory",
            )?
        }
    };
    let units: Vec<UnitOfMeasure> = client
        .units_of_measure(&ListQuery::default())
        .await
        .unwrap_or_default();
    let unit_name: &[&str] = match key.resource {
        ResourceKind::Cpu if key.service_kind == ServiceKind::VirtualDataCenter => &["ghz"],
        ResourceKind::Cpu => &["vcpu"],
        ResourceKind::Ram | ResourceKind::Storage => &["gb"],
        _ => &["each"],
    };
    let unit = units
        .iter()
        .find(|unit| {
            unit.name
                .as_deref()
                .is_some_and(|name| unit_name.contains(&name.to_lowercase().as_str()))
        })
        .map(|unit| unit.id);

    let body = NewCatalogItem {
        identifier: identifier.to_owned(),
        description: description.to_owned(),
        subcategory: Reference::by_id(subcategory),
        product_type: Reference::by_id(product_type),
        customer_description: description.to_owned(),
        product_class: Some(ProductClass::Service),
        unit_of_measure: unit.map(Reference::by_id),
        notes: Some(format!("Created by hyalto for the meter {key}.")),
        ..NewCatalogItem::default()
    };
    let result = client.create_catalog_item(&body).await;

    let (status, target_id, after, request_id, message) = match &result {
        Ok(item) => (
            AuditStatus::Succeeded,
            Some(item.id),
            serde_json::to_value(item).ok(),
            None,
            None,
        ),
        Err(error) => (
            if matches!(error, hyalto_connectwise::Error::OutcomeUnknown { .. }) {
                AuditStatus::Unknown
            } else {
                AuditStatus::Failed
            },
            None,
            serde_json::to_value(&body).ok(),
            error.request_id().map(str::to_owned),
            Some(error.to_string()),
        ),
    };
    store
        .append_audit(&NewAuditEntry {
            at: Utc::now(),
            run: None,
            customer: None,
            operation: AuditOperation::CreateCatalogItem,
            target_kind: "catalog_item".to_owned(),
            target_id,
            reason: format!(
                "default catalog item for {key} (`products defaults --create-missing`)"
            ),
            before: None,
            after,
            status,
            request_id,
            error_message: message,
        })
        .await
        .context("could not write the audit log entry for the new catalog item")?;

    let item = result.map_err(|error| {
        anyhow::anyhow!(
            "ConnectWise did not create catalog item {identifier}: {}; if the connection \
             dropped, run `hyalto connectwise refresh` and look for it before trying again",
            describe(&error)
        )
    })?;
    store
        .put_cw_record(&CachedRecord {
            kind: CwRecordKind::CatalogItem,
            id: item.id,
            body: serde_json::to_value(&item)?,
            fetched_at: Utc::now(),
        })
        .await
        .context("could not cache the new catalog item")?;
    println!("  created catalog item {identifier} (item {})", item.id);
    Ok(item)
}

/// The id of the first record whose name contains one of `wanted` (any case), else the first.
fn pick<T>(
    records: &[T],
    name: impl Fn(&T) -> Option<&str>,
    wanted: &[&str],
    id: impl Fn(&T) -> i64,
) -> Option<i64> {
    records
        .iter()
        .find(|record| {
            name(record).is_some_and(|name| {
                let name = name.to_lowercase();
                wanted.iter().any(|wanted| name.contains(wanted))
            })
        })
        .or_else(|| records.first())
        .map(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_default_is_a_valid_meter() {
        for (meter, identifier, _) in DEFAULT_PRODUCTS {
            let key: MeterKey = meter.parse().unwrap();
            assert_eq!(default_identifier(&key).unwrap().0, identifier);
        }
    }

    #[test]
    fn storage_of_an_unlisted_tier_defaults_to_the_standard_item() {
        let gold: MeterKey = "virtual_data_center/storage/gold".parse().unwrap();
        let custom: MeterKey = "virtual_machine/gpu".parse().unwrap();

        assert_eq!(default_identifier(&gold).unwrap().0, "VMW-STOR-STD-GB");
        assert_eq!(default_identifier(&custom), None);
    }
}
