//! Mapping a customer to a ConnectWise company and an existing master agreement.

use chrono::Utc;
use hyalto_connectwise::models::Agreement;
use hyalto_connectwise::{Client, Error};
use hyalto_domain::CustomerId;
use hyalto_store::{
    CachedRecord, CompanyMapping, CustomerSummary, CwRecordKind, MappingOptions, Store, StoreError,
};
use serde::Serialize;

use crate::permissions::describe;

/// The part of a mapping request at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MapField {
    /// The hyalto customer.
    Customer,
    /// The ConnectWise company.
    CompanyId,
    /// The master agreement.
    AgreementId,
}

impl MapField {
    /// The camelCase name used in forms and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MapField::Customer => "customer",
            MapField::CompanyId => "companyId",
            MapField::AgreementId => "agreementId",
        }
    }
}

/// Why a mapping was refused. The messages say what to choose instead, without naming a front
/// end's controls; [`MapError::field`] says which part of the request is at fault.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The customer is not known from an import.
    #[error("no customer \"{0}\" is known: import an inventory that lists it first")]
    UnknownCustomer(CustomerId),

    /// ConnectWise has no such company.
    #[error(
        "ConnectWise has no company {0}: choose one of the available companies (refresh the \
         records if it is new)"
    )]
    UnknownCompany(i64),

    /// ConnectWise has no such agreement.
    #[error(
        "ConnectWise has no agreement {agreement}: choose one of company {company}'s active \
         agreements"
    )]
    UnknownAgreement {
        /// The agreement asked for.
        agreement: i64,
        /// The company asked for.
        company: i64,
    },

    /// The agreement belongs to another company (or to none).
    #[error(
        "agreement {agreement} belongs to company {}, not to company {company}: choose one of \
         the company's own agreements",
        owner.map_or_else(|| "(none)".to_owned(), |id| id.to_string())
    )]
    OtherCompany {
        /// The agreement asked for.
        agreement: i64,
        /// Its company.
        owner: Option<i64>,
        /// The company asked for.
        company: i64,
    },

    /// The agreement is cancelled.
    #[error("agreement {0} is cancelled, so it cannot bill anything: choose an active agreement")]
    Cancelled(i64),

    /// The agreement is a child, and ConnectWise allows one level of children only.
    #[error(
        "agreement {agreement} is itself a child of agreement {parent}, and ConnectWise allows \
         one level of children only: choose agreement {parent} or another master agreement"
    )]
    Child {
        /// The agreement asked for.
        agreement: i64,
        /// Its master.
        parent: i64,
    },

    /// ConnectWise could not be asked (it failed or refused a read).
    #[error("could not check the mapping with ConnectWise: {}", describe(.0))]
    ConnectWise(#[source] Error),

    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MapError {
    /// The part of the request at fault, when the request itself is wrong.
    pub fn field(&self) -> Option<MapField> {
        match self {
            MapError::UnknownCustomer(_) => Some(MapField::Customer),
            MapError::UnknownCompany(_) => Some(MapField::CompanyId),
            MapError::UnknownAgreement { .. }
            | MapError::OtherCompany { .. }
            | MapError::Cancelled(_)
            | MapError::Child { .. } => Some(MapField::AgreementId),
            MapError::ConnectWise(_) | MapError::Store(_) => None,
        }
    }
}

/// A mapping to make: a known customer, a company and one of its active master agreements.
#[derive(Clone, Debug)]
pub struct MapRequest {
    /// The hyalto customer.
    pub customer: CustomerId,
    /// The ConnectWise company.
    pub company_id: i64,
    /// The company's master agreement.
    pub agreement_id: i64,
    /// The policies to keep; `None` keeps those of an existing mapping (or the defaults).
    pub options: Option<MappingOptions>,
}

/// A mapping as made.
#[derive(Clone, Debug)]
pub struct Mapped {
    /// The mapping stored.
    pub mapping: CompanyMapping,
    /// The customer as the inventory knows it.
    pub customer: CustomerSummary,
    /// The company's name, as ConnectWise has it now.
    pub company_name: String,
    /// The master agreement, as ConnectWise has it now.
    pub agreement: Agreement,
    /// Whether the customer was mapped before (and is now re-mapped).
    pub replaced: bool,
}

/// Maps a customer to a company and master agreement. The company and the agreement are read
/// live, so a mapping never rests on a stale cache; the agreement must belong to the company,
/// be active, and not be a child. The fresh agreement is put in the cache.
pub async fn map_customer(
    store: &impl Store,
    client: &Client,
    request: &MapRequest,
) -> Result<Mapped, MapError> {
    // The customer must be known from an import.
    let Some(customer) = store.get_customer(&request.customer).await? else {
        return Err(MapError::UnknownCustomer(request.customer.clone()));
    };

    // The company and the agreement, read live.
    let company = match client.company(request.company_id).await {
        Ok(company) => company,
        Err(Error::NotFound { .. }) => return Err(MapError::UnknownCompany(request.company_id)),
        Err(error) => return Err(MapError::ConnectWise(error)),
    };
    let company_name = company.name.clone().unwrap_or_default();
    let agreement = check_master(client, request.agreement_id, request.company_id).await?;
    cache_agreement(store, &agreement).await?;

    // Record the mapping, keeping the policies of an existing one unless new ones are given.
    let existing = store.get_company_mapping(&request.customer).await?;
    let options = match (&request.options, &existing) {
        (Some(options), _) => options.clone(),
        (None, Some(existing)) => existing.options.clone(),
        (None, None) => MappingOptions::default(),
    };
    let mapping = CompanyMapping {
        customer: request.customer.clone(),
        company_id: request.company_id,
        agreement_id: agreement.id,
        options,
    };
    store.set_company_mapping(&mapping).await?;
    tracing::info!(
        customer.id = %request.customer,
        cw.company_id = request.company_id,
        cw.agreement_id = agreement.id,
        "mapped a customer"
    );

    Ok(Mapped {
        mapping,
        customer,
        company_name,
        agreement,
        replaced: existing.is_some(),
    })
}

/// Reads an agreement and checks that it can be a master agreement of the company.
pub async fn check_master(
    client: &Client,
    id: i64,
    company_id: i64,
) -> Result<Agreement, MapError> {
    let agreement = match client.agreement(id).await {
        Ok(agreement) => agreement,
        Err(Error::NotFound { .. }) => {
            return Err(MapError::UnknownAgreement {
                agreement: id,
                company: company_id,
            });
        }
        Err(error) => return Err(MapError::ConnectWise(error)),
    };

    let owner = agreement.company.as_ref().and_then(|company| company.id);
    if owner != Some(company_id) {
        return Err(MapError::OtherCompany {
            agreement: id,
            owner,
            company: company_id,
        });
    }
    if agreement.cancelled_flag == Some(true) {
        return Err(MapError::Cancelled(id));
    }
    if let Some(parent) = agreement.parent_agreement.as_ref().and_then(|p| p.id) {
        return Err(MapError::Child {
            agreement: id,
            parent,
        });
    }
    Ok(agreement)
}

/// Puts a freshly read agreement in the cache.
pub async fn cache_agreement(store: &impl Store, agreement: &Agreement) -> Result<(), StoreError> {
    let body = serde_json::to_value(agreement).map_err(|error| StoreError::InvalidInput {
        what: "agreement",
        reason: error.to_string(),
    })?;
    store
        .put_cw_record(&CachedRecord {
            kind: CwRecordKind::Agreement,
            id: agreement.id,
            body,
            fetched_at: Utc::now(),
        })
        .await
}
