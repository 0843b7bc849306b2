//! Sync links in SQLite.

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chrono::Utc;
use hyalto_domain::{CustomerId, ServiceId};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::codec::{
    date, get_date, get_decimal, get_i64, get_instant, get_opt_date, get_opt_decimal, get_parsed,
    get_text, instant, text,
};
use super::mapping::meter_key_from_row;
use crate::StoreResult;
use crate::error::StoreError;
use crate::links::{AdditionLink, AdditionState, AgreementLink, Links, Recorded};

/// Whose links a read returns.
pub(super) enum LinkSelection<'a> {
    /// Agreements written for a customer, and their additions.
    Customer(&'a CustomerId),
    /// Agreements and additions of one service.
    Service(&'a ServiceId),
}

pub(super) async fn record_agreement_link(
    store: &SqliteStore,
    link: &AgreementLink,
) -> StoreResult<()> {
    let now = instant(Utc::now());

    let result = sqlx::query(
        "INSERT INTO agreement_links (agreement_id, service_id, customer_id, \
                                      parent_agreement_id, ownership_key, ended_on, \
                                      created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
         ON CONFLICT (agreement_id) DO UPDATE SET \
             service_id = excluded.service_id, customer_id = excluded.customer_id, \
             parent_agreement_id = excluded.parent_agreement_id, \
             ownership_key = excluded.ownership_key, ended_on = excluded.ended_on, \
             updated_at = excluded.updated_at",
    )
    .bind(link.agreement_id)
    .bind(link.service.as_str())
    .bind(link.customer.as_str())
    .bind(link.parent_agreement_id)
    .bind(&link.ownership_key)
    .bind(link.ended_on.map(date))
    .bind(now)
    .execute(&store.pool)
    .await;

    result.map_err(|error| {
        explain_constraint(
            error,
            "agreement link",
            format!(
                "service {} already has an active child agreement",
                link.service
            ),
            format!(
                "service {} or customer {} is not known",
                link.service, link.customer
            ),
        )
    })?;
    Ok(())
}

pub(super) async fn record_addition_link(
    store: &SqliteStore,
    link: &AdditionLink,
) -> StoreResult<()> {
    let now = instant(Utc::now());
    let (state, cancelled_date) = match link.state {
        AdditionState::Active => ("active", None),
        AdditionState::Cancelled { on } => ("cancelled", Some(date(on))),
    };

    let result = sqlx::query(
        "INSERT INTO addition_links (addition_id, agreement_id, service_id, service_kind, \
                                     resource_kind, tier, catalog_item_id, ownership_key, \
                                     quantity, unit_price, effective_date, state, \
                                     cancelled_date, created_at, updated_at, unit_cost) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15) \
         ON CONFLICT (addition_id) DO UPDATE SET \
             agreement_id = excluded.agreement_id, service_id = excluded.service_id, \
             service_kind = excluded.service_kind, resource_kind = excluded.resource_kind, \
             tier = excluded.tier, catalog_item_id = excluded.catalog_item_id, \
             ownership_key = excluded.ownership_key, quantity = excluded.quantity, \
             unit_price = excluded.unit_price, effective_date = excluded.effective_date, \
             state = excluded.state, cancelled_date = excluded.cancelled_date, \
             updated_at = excluded.updated_at, unit_cost = excluded.unit_cost",
    )
    .bind(link.addition_id)
    .bind(link.agreement_id)
    .bind(link.service.as_str())
    .bind(link.meter.service_kind.as_str())
    .bind(link.meter.resource.as_str())
    .bind(&link.meter.tier)
    .bind(link.catalog_item_id)
    .bind(&link.ownership_key)
    .bind(text(&link.quantity))
    .bind(link.unit_price.as_ref().map(text))
    .bind(date(link.effective_date))
    .bind(state)
    .bind(cancelled_date)
    .bind(now)
    .bind(link.unit_cost.as_ref().map(text))
    .execute(&store.pool)
    .await;

    result.map_err(|error| {
        explain_constraint(
            error,
            "addition link",
            format!(
                "service {} already has an active addition for meter {}",
                link.service, link.meter
            ),
            format!(
                "child agreement {} or service {} has no link or record",
                link.agreement_id, link.service
            ),
        )
    })?;
    Ok(())
}

/// Turns a unique or foreign-key violation into an [`StoreError::InvalidInput`] that says
/// which rule was broken; any other error passes through.
fn explain_constraint(
    error: sqlx::Error,
    what: &'static str,
    when_not_unique: String,
    when_missing_reference: String,
) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::InvalidInput {
                what,
                reason: when_not_unique,
            }
        }
        sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
            StoreError::InvalidInput {
                what,
                reason: when_missing_reference,
            }
        }
        _ => StoreError::Database(error),
    }
}

pub(super) async fn links_where(
    store: &SqliteStore,
    selection: LinkSelection<'_>,
) -> StoreResult<Links> {
    let (agreement_filter, argument) = match selection {
        LinkSelection::Customer(customer) => ("customer_id = ?1", customer.as_str()),
        LinkSelection::Service(service) => ("service_id = ?1", service.as_str()),
    };

    let agreement_rows = sqlx::query(&format!(
        "SELECT * FROM agreement_links WHERE {agreement_filter} \
         ORDER BY service_id, agreement_id"
    ))
    .bind(argument)
    .fetch_all(&store.pool)
    .await?;
    let addition_rows = sqlx::query(&format!(
        "SELECT * FROM addition_links WHERE agreement_id IN \
             (SELECT agreement_id FROM agreement_links WHERE {agreement_filter}) \
         ORDER BY agreement_id, addition_id"
    ))
    .bind(argument)
    .fetch_all(&store.pool)
    .await?;

    Ok(Links {
        agreements: agreement_rows
            .iter()
            .map(agreement_link)
            .collect::<StoreResult<_>>()?,
        additions: addition_rows
            .iter()
            .map(addition_link)
            .collect::<StoreResult<_>>()?,
    })
}

fn agreement_link(row: &SqliteRow) -> StoreResult<Recorded<AgreementLink>> {
    let link = AgreementLink {
        agreement_id: get_i64(row, "agreement_id")?,
        service: get_parsed(row, "service_id", "service id")?,
        customer: get_parsed(row, "customer_id", "customer id")?,
        parent_agreement_id: get_i64(row, "parent_agreement_id")?,
        ownership_key: get_text(row, "ownership_key")?,
        ended_on: get_opt_date(row, "ended_on")?,
    };

    recorded(row, link)
}

fn addition_link(row: &SqliteRow) -> StoreResult<Recorded<AdditionLink>> {
    let state = match get_text(row, "state")?.as_str() {
        "active" => AdditionState::Active,
        "cancelled" => AdditionState::Cancelled {
            on: get_date(row, "cancelled_date")?,
        },
        other => {
            return Err(StoreError::Corrupt {
                what: "addition state",
                value: other.to_owned(),
                reason: "expected active or cancelled".to_owned(),
            });
        }
    };
    let link = AdditionLink {
        addition_id: get_i64(row, "addition_id")?,
        agreement_id: get_i64(row, "agreement_id")?,
        service: get_parsed(row, "service_id", "service id")?,
        meter: meter_key_from_row(row)?,
        catalog_item_id: get_i64(row, "catalog_item_id")?,
        ownership_key: get_text(row, "ownership_key")?,
        quantity: get_decimal(row, "quantity")?,
        unit_price: get_opt_decimal(row, "unit_price")?,
        unit_cost: get_opt_decimal(row, "unit_cost")?,
        effective_date: get_date(row, "effective_date")?,
        state,
    };

    recorded(row, link)
}

/// The data dir's installation id, created on first use. Two processes creating it at once
/// both insert-or-ignore and read back the one row that won.
pub(super) async fn installation_id(store: &SqliteStore) -> StoreResult<String> {
    let candidate = format!("hyi-{:016x}", OsRng.next_u64());
    sqlx::query(
        "INSERT INTO installation (id, installation_id, created_at) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&candidate)
    .bind(instant(Utc::now()))
    .execute(&store.pool)
    .await?;

    let id: String = sqlx::query_scalar("SELECT installation_id FROM installation WHERE id = 1")
        .fetch_one(&store.pool)
        .await?;
    Ok(id)
}

fn recorded<T>(row: &SqliteRow, link: T) -> StoreResult<Recorded<T>> {
    Ok(Recorded {
        link,
        created_at: get_instant(row, "created_at")?,
        updated_at: get_instant(row, "updated_at")?,
    })
}
