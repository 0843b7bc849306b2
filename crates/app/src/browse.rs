//! The cached ConnectWise companies and agreements, for choosing what to map a customer to.

use hyalto_connectwise::models::{Agreement, Company};
use hyalto_store::{CompanyMapping, CwRecordKind, Store, StoreError};
use serde::Serialize;

/// A cached company, with the customers mapped to it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyRow {
    /// ConnectWise's id.
    pub id: i64,
    /// The short identifier, such as `ACME`.
    pub identifier: String,
    /// The name.
    pub name: String,
    /// The hyalto customers billed under this company.
    pub mapped_customers: Vec<String>,
}

/// Whether an agreement can be a master agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    /// Open, and not a child: it can be a master agreement.
    Active,
    /// A child of another agreement (ConnectWise allows one level of children).
    Child,
    /// Cancelled: it bills nothing.
    Cancelled,
}

impl AgreementStatus {
    /// The status of `agreement`.
    pub fn of(agreement: &Agreement) -> AgreementStatus {
        if agreement.cancelled_flag == Some(true) {
            AgreementStatus::Cancelled
        } else if agreement
            .parent_agreement
            .as_ref()
            .and_then(|parent| parent.id)
            .is_some()
        {
            AgreementStatus::Child
        } else {
            AgreementStatus::Active
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementStatus::Active => "active",
            AgreementStatus::Child => "child",
            AgreementStatus::Cancelled => "cancelled",
        }
    }
}

/// A cached agreement of one company, with the customers mapped to it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgreementRow {
    /// ConnectWise's id.
    pub id: i64,
    /// The name.
    pub name: String,
    /// The agreement type's id.
    pub type_id: Option<i64>,
    /// The agreement type's name.
    pub type_name: String,
    /// The master agreement, for a child.
    pub parent_agreement_id: Option<i64>,
    /// Whether it can be a master agreement.
    pub status: AgreementStatus,
    /// The billing cycle's name.
    pub billing_cycle: String,
    /// The first day, `YYYY-MM-DD`.
    pub start_date: Option<String>,
    /// The hyalto customers billed under this agreement.
    pub mapped_customers: Vec<String>,
}

/// Every cached record of `kind`, decoded; records that do not decode are skipped.
pub async fn cached<T: serde::de::DeserializeOwned>(
    store: &impl Store,
    kind: CwRecordKind,
) -> Result<Vec<T>, StoreError> {
    let records = store.list_cw_records(kind).await?;
    Ok(records
        .into_iter()
        .filter_map(|record| serde_json::from_value(record.body).ok())
        .collect())
}

/// The cached companies whose name or identifier contains `search` (any case), or whose id
/// it is; every company without a search. By name.
pub async fn companies(
    store: &impl Store,
    search: Option<&str>,
) -> Result<Vec<CompanyRow>, StoreError> {
    let companies: Vec<Company> = cached(store, CwRecordKind::Company).await?;
    let mappings = store.list_company_mappings().await?;

    let needle = search
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_lowercase);
    let contains =
        |text: Option<&str>, needle: &str| text.unwrap_or_default().to_lowercase().contains(needle);
    let mut rows: Vec<CompanyRow> = companies
        .into_iter()
        .filter(|company| match &needle {
            None => true,
            Some(needle) => {
                company.id.to_string() == *needle
                    || contains(company.name.as_deref(), needle)
                    || contains(company.identifier.as_deref(), needle)
            }
        })
        .map(|company| CompanyRow {
            id: company.id,
            mapped_customers: customers_of(&mappings, |m| m.company_id == company.id),
            identifier: company.identifier.unwrap_or_default(),
            name: company.name.unwrap_or_default(),
        })
        .collect();
    rows.sort_by_key(|row| row.name.to_lowercase());
    Ok(rows)
}

/// The cached agreements of company `company_id`, by name; `None` when the company is not in
/// the cache.
pub async fn agreements_of(
    store: &impl Store,
    company_id: i64,
) -> Result<Option<Vec<AgreementRow>>, StoreError> {
    if store
        .get_cw_record(CwRecordKind::Company, company_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let mappings = store.list_company_mappings().await?;
    let agreements: Vec<Agreement> = cached(store, CwRecordKind::Agreement).await?;

    let mut rows: Vec<AgreementRow> = agreements
        .into_iter()
        .filter(|agreement| {
            agreement.company.as_ref().and_then(|company| company.id) == Some(company_id)
        })
        .map(|agreement| AgreementRow {
            id: agreement.id,
            status: AgreementStatus::of(&agreement),
            name: agreement.name.clone().unwrap_or_default(),
            type_id: agreement.agreement_type.as_ref().and_then(|kind| kind.id),
            type_name: agreement
                .agreement_type
                .as_ref()
                .and_then(|kind| kind.name.clone())
                .unwrap_or_default(),
            parent_agreement_id: agreement.parent_agreement.as_ref().and_then(|p| p.id),
            billing_cycle: agreement
                .billing_cycle
                .as_ref()
                .and_then(|cycle| cycle.name.clone().or(cycle.id.map(|id| id.to_string())))
                .unwrap_or_default(),
            start_date: agreement.start_date.map(|date| date.date().to_string()),
            mapped_customers: customers_of(&mappings, |m| m.agreement_id == agreement.id),
        })
        .collect();
    rows.sort_by_key(|row| row.name.to_lowercase());
    Ok(Some(rows))
}

/// The `name` (or `identifier`) of a cached record, or an empty string.
pub async fn cached_name(store: &impl Store, kind: CwRecordKind, id: i64) -> String {
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
