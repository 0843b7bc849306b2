//! Company and product mappings in SQLite.

use chrono::Utc;
use hyalto_domain::{CustomerId, MeterKey};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{
    get_bool, get_i64, get_opt_decimal, get_opt_i64, get_opt_text, get_parsed, instant, text,
};
use crate::StoreResult;
use crate::error::StoreError;
use crate::mapping::{CompanyMapping, MappingOptions, ProductMapping};

pub(super) async fn set_company_mapping(
    store: &SqliteStore,
    mapping: &CompanyMapping,
) -> StoreResult<()> {
    let customer = mapping.customer.as_str();
    let mut transaction = store.begin_write().await?;

    // Checked here rather than left to the foreign key so the error names the customer.
    let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM customers WHERE id = ?")
        .bind(customer)
        .fetch_optional(&mut *transaction)
        .await?;
    if known.is_none() {
        return Err(StoreError::NotFound {
            what: "customer",
            id: customer.to_owned(),
        });
    }

    let options = &mapping.options;
    sqlx::query(
        "INSERT INTO company_mappings (customer_id, company_id, agreement_id, \
                                       quantity_change_mode, drift_policy, recreate_deleted, \
                                       child_agreement_type_id, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (customer_id) DO UPDATE SET \
             company_id = excluded.company_id, agreement_id = excluded.agreement_id, \
             quantity_change_mode = excluded.quantity_change_mode, \
             drift_policy = excluded.drift_policy, \
             recreate_deleted = excluded.recreate_deleted, \
             child_agreement_type_id = excluded.child_agreement_type_id, \
             updated_at = excluded.updated_at",
    )
    .bind(customer)
    .bind(mapping.company_id)
    .bind(mapping.agreement_id)
    .bind(options.quantity_change.as_str())
    .bind(options.drift.as_str())
    .bind(options.recreate_deleted)
    .bind(options.child_agreement_type_id)
    .bind(instant(Utc::now()))
    .execute(&mut *transaction)
    .await?;

    transaction.commit().await?;
    tracing::info!(
        customer.id = customer,
        cw.company_id = mapping.company_id,
        cw.agreement_id = mapping.agreement_id,
        "mapped customer {customer} to company {} under agreement {}",
        mapping.company_id,
        mapping.agreement_id
    );
    Ok(())
}

pub(super) async fn remove_company_mapping(
    store: &SqliteStore,
    customer: &CustomerId,
) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM company_mappings WHERE customer_id = ?")
        .bind(customer.as_str())
        .execute(&store.pool)
        .await?;

    Ok(result.rows_affected() > 0)
}

/// Every mapping, or only the one of `only`.
pub(super) async fn company_mappings(
    store: &SqliteStore,
    only: Option<&CustomerId>,
) -> StoreResult<Vec<CompanyMapping>> {
    let rows = sqlx::query(
        "SELECT * FROM company_mappings WHERE ?1 IS NULL OR customer_id = ?1 ORDER BY customer_id",
    )
    .bind(only.map(|customer| customer.as_str()))
    .fetch_all(&store.pool)
    .await?;

    let mut mappings = Vec::with_capacity(rows.len());
    for row in &rows {
        let customer: CustomerId = get_parsed(row, "customer_id", "customer id")?;
        if let Some(mapping) = company_mapping_from_row(row, &customer)? {
            mappings.push(mapping);
        }
    }
    Ok(mappings)
}

/// Reads a mapping from a row holding the `company_mappings` columns, possibly NULL from a
/// left join; `None` when the row has no mapping.
pub(super) fn company_mapping_from_row(
    row: &SqliteRow,
    customer: &CustomerId,
) -> StoreResult<Option<CompanyMapping>> {
    let Some(company_id) = get_opt_i64(row, "company_id")? else {
        return Ok(None);
    };

    Ok(Some(CompanyMapping {
        customer: customer.clone(),
        company_id,
        agreement_id: get_i64(row, "agreement_id")?,
        options: MappingOptions {
            quantity_change: get_parsed(row, "quantity_change_mode", "quantity change mode")?,
            drift: get_parsed(row, "drift_policy", "drift policy")?,
            recreate_deleted: get_bool(row, "recreate_deleted")?,
            child_agreement_type_id: get_opt_i64(row, "child_agreement_type_id")?,
        },
    }))
}

pub(super) async fn set_product_mapping(
    store: &SqliteStore,
    mapping: &ProductMapping,
) -> StoreResult<()> {
    let key = &mapping.key;
    let mut transaction = store.begin_write().await?;

    // Replacing is delete-then-insert because the key's uniqueness is an expression index
    // (the tier may be NULL), which a plain ON CONFLICT target cannot name.
    delete_product_mapping(&mut transaction, key).await?;
    sqlx::query(
        "INSERT INTO product_mappings (service_kind, resource_kind, tier, catalog_item_id, \
                                       unit_price, unit_cost, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.service_kind.as_str())
    .bind(key.resource.as_str())
    .bind(&key.tier)
    .bind(mapping.catalog_item_id)
    .bind(mapping.unit_price.as_ref().map(text))
    .bind(mapping.unit_cost.as_ref().map(text))
    .bind(instant(Utc::now()))
    .execute(&mut *transaction)
    .await?;

    transaction.commit().await?;
    Ok(())
}

pub(super) async fn remove_product_mapping(
    store: &SqliteStore,
    key: &MeterKey,
) -> StoreResult<bool> {
    let mut transaction = store.begin_write().await?;
    let removed = delete_product_mapping(&mut transaction, key).await?;
    transaction.commit().await?;

    Ok(removed)
}

async fn delete_product_mapping(
    transaction: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    key: &MeterKey,
) -> StoreResult<bool> {
    // `IS` compares NULL tiers as equal, which `=` would not.
    let result = sqlx::query(
        "DELETE FROM product_mappings \
         WHERE service_kind = ? AND resource_kind = ? AND tier IS ?",
    )
    .bind(key.service_kind.as_str())
    .bind(key.resource.as_str())
    .bind(&key.tier)
    .execute(&mut **transaction)
    .await?;

    Ok(result.rows_affected() > 0)
}

pub(super) async fn list_product_mappings(store: &SqliteStore) -> StoreResult<Vec<ProductMapping>> {
    let rows = sqlx::query(
        "SELECT * FROM product_mappings ORDER BY service_kind, resource_kind, ifnull(tier, '')",
    )
    .fetch_all(&store.pool)
    .await?;

    rows.iter()
        .map(|row| {
            Ok(ProductMapping {
                key: meter_key_from_row(row)?,
                catalog_item_id: get_i64(row, "catalog_item_id")?,
                unit_price: get_opt_decimal(row, "unit_price")?,
                unit_cost: get_opt_decimal(row, "unit_cost")?,
            })
        })
        .collect()
}

/// Reads a meter key from the `service_kind`, `resource_kind` and `tier` columns.
pub(super) fn meter_key_from_row(row: &SqliteRow) -> StoreResult<MeterKey> {
    Ok(MeterKey {
        service_kind: get_parsed(row, "service_kind", "service kind")?,
        resource: get_parsed(row, "resource_kind", "resource kind")?,
        tier: get_opt_text(row, "tier")?,
    })
}
