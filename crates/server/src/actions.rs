//! What the pages and the REST API both do, on top of the use cases in `hyalto-app`. Each
//! action checks who may run it and answers with an [`ApiError`] that says what to fix; the
//! pages turn that error into messages on the form.

use std::path::PathBuf;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hyalto_app::browse::cached_name;
use hyalto_app::connection::{ConnectionInput, check};
use hyalto_app::mapping::{MapError, MapRequest, map_customer};
use hyalto_app::write_check::{WriteRightsProblem, probe_write_rights, verdict};
use hyalto_domain::CustomerId;
use hyalto_store::{
    CwRecordKind, DriftPolicy, QuantityChangeMode, RecordRefresh, RunOutcome, Store,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::Shared;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::refresh::{Progress, connect};

/// Refuses users who are not admins: only admins change the ConnectWise connection.
pub fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.user.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Only an admin can change the ConnectWise connection, and {} is not one; ask an \
             admin, who can add admins with `hyalto user add USERNAME --admin`.",
            principal.user.username
        )))
    }
}

/// Refuses users who are not admins, saying what only an admin may `action`.
pub fn require_admin_to(principal: &Principal, action: &str) -> Result<(), ApiError> {
    if principal.user.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Only an admin can {action}, and {} is not one; ask an admin, who can add admins \
             with `hyalto user add USERNAME --admin`.",
            principal.user.username
        )))
    }
}

/// The connection settings as a form or a JSON body sends them. The private key is only ever
/// read from here, never written back.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigureBody {
    /// The site address.
    pub url: String,
    /// The login company id.
    pub company_id: String,
    /// The public half of the API key.
    pub public_key: String,
    /// The private half of the API key.
    pub private_key: String,
    /// The integration's client id.
    pub client_id: String,
    /// A PEM file on the server with the certificate authority; empty for none.
    pub ca_file: String,
    /// Accept any server certificate (lab servers only).
    pub insecure: bool,
    /// Do not check the rights to write agreements and additions, for an API member that only
    /// previews syncs.
    pub skip_write_check: bool,
}

impl std::fmt::Debug for ConfigureBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigureBody")
            .field("url", &self.url)
            .field("company_id", &self.company_id)
            .field("private_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl ConfigureBody {
    fn input(&self) -> ConnectionInput {
        let ca_file = self.ca_file.trim();
        ConnectionInput {
            url: self.url.clone(),
            company_id: self.company_id.clone(),
            public_key: self.public_key.clone(),
            private_key: SecretString::from(self.private_key.clone()),
            client_id: self.client_id.clone(),
            ca_file: (!ca_file.is_empty()).then(|| PathBuf::from(ca_file)),
            insecure: self.insecure,
            api_version: None,
        }
    }
}

/// The connection as the status view shows it: never the private key.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    /// Whether a connection is stored.
    pub configured: bool,
    /// The site address.
    pub site_url: Option<String>,
    /// The login company id.
    pub company_id: Option<String>,
    /// The public half of the API key (the API member hyalto connects as).
    pub public_key: Option<String>,
    /// The integration's client id.
    pub client_id: Option<String>,
    /// The pinned API version.
    pub api_version: Option<String>,
    /// The certificate authority file.
    pub ca_file: Option<String>,
    /// Whether any certificate is accepted.
    pub insecure: bool,
    /// The latest record refresh, running or ended.
    pub last_refresh: Option<RecordRefresh>,
    /// The latest record refresh that succeeded.
    pub last_successful_refresh: Option<RecordRefresh>,
    /// The progress of the refresh this process runs or ran last.
    pub refresh: Option<Progress>,
    /// The latest sync run.
    pub last_sync_run: Option<SyncRunStatus>,
}

/// The latest sync run, in short.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRunStatus {
    /// Its id.
    pub id: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished, if it did.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended: succeeded, partially_failed or failed.
    pub outcome: Option<RunOutcome>,
    /// Whether it only previewed.
    pub dry_run: bool,
}

/// The connection's status.
pub async fn status(state: &Shared) -> Result<ConnectionStatus, ApiError> {
    let connection = state.store.load_connection().await?;
    let refreshes = state.store.record_refreshes(20).await?;
    let last_run = state.store.list_runs(1).await?.into_iter().next();

    Ok(ConnectionStatus {
        configured: connection.is_some(),
        site_url: connection.as_ref().map(|c| c.site_url.clone()),
        company_id: connection.as_ref().map(|c| c.company_id.clone()),
        public_key: connection.as_ref().map(|c| c.public_key.clone()),
        client_id: connection.as_ref().map(|c| c.client_id.clone()),
        api_version: connection.as_ref().map(|c| c.api_version.clone()),
        ca_file: connection
            .as_ref()
            .and_then(|c| c.ca_file.as_ref().map(|path| path.display().to_string())),
        insecure: connection.as_ref().is_some_and(|c| c.insecure),
        last_successful_refresh: refreshes.iter().find(|r| r.records.is_some()).cloned(),
        last_refresh: refreshes.into_iter().next(),
        refresh: state.refresher.latest(),
        last_sync_run: last_run.map(|run| SyncRunStatus {
            id: run.id.0,
            started_at: run.started_at,
            finished_at: run.finished_at,
            outcome: run.outcome,
            dry_run: run.dry_run,
        }),
    })
}

/// Checks the settings against ConnectWise, stores them, and starts the first record refresh
/// in the background. Nothing is stored unless the site answered and accepted the keys.
pub async fn configure(
    state: &Shared,
    principal: &Principal,
    body: &ConfigureBody,
) -> Result<ConnectionStatus, ApiError> {
    require_admin(principal)?;
    refuse_while_refreshing(state)?;

    let valid = body.input().validate().map_err(|errors| {
        ApiError::invalid(
            errors
                .into_iter()
                .map(|error| (error.field.as_str().to_owned(), error.message))
                .collect(),
        )
    })?;
    let connected = check(&valid)
        .await
        .map_err(|rejected| match rejected.field {
            Some(field) => ApiError::invalid(vec![(field.as_str().to_owned(), rejected.message)]),
            None => ApiError::connectwise(rejected.message),
        })?;

    // The rights a sync writes with, checked with requests ConnectWise cannot save; a missing
    // one stops here with nothing stored.
    if !body.skip_write_check {
        let reports = probe_write_rights(&connected.client).await;
        match verdict(&reports) {
            Ok(warnings) => {
                for warning in warnings {
                    tracing::warn!(%warning, "a write right could not be checked");
                }
            }
            Err(problem) => {
                let hint = match problem {
                    WriteRightsProblem::Denied(_) => {
                        "\nGrant them and configure again, or skip the write check for an API \
                         member that only previews syncs."
                    }
                    WriteRightsProblem::Saved { .. } => "",
                };
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "missing_rights",
                    format!("{}{hint}", sentence(&problem.to_string())),
                ));
            }
        }
    }

    state.store.save_connection(valid.stored()).await?;
    tracing::info!(
        cw.site = %valid.stored().site_url,
        cw.version = connected.version.as_deref().unwrap_or("unknown"),
        user.name = %principal.user.username,
        "configured the ConnectWise connection"
    );
    start_refresh(state, valid.stored().clone()).await?;
    status(state).await
}

/// Starts a record refresh with the stored connection.
pub async fn refresh(state: &Shared, principal: &Principal) -> Result<Progress, ApiError> {
    require_admin(principal)?;
    let Some(connection) = state.store.load_connection().await? else {
        return Err(not_configured());
    };
    start_refresh(state, connection).await
}

async fn start_refresh(
    state: &Shared,
    connection: hyalto_store::StoredConnection,
) -> Result<Progress, ApiError> {
    let started = state
        .refresher
        .start(state.store.clone(), state.metrics.clone(), connection)
        .await?;
    started.ok_or_else(|| {
        ApiError::conflict("A record refresh is running already; wait for it to finish.")
    })
}

/// Forgets the stored connection. The cache, the mappings and the history stay.
pub async fn disconnect(state: &Shared, principal: &Principal) -> Result<(), ApiError> {
    require_admin(principal)?;
    refuse_while_refreshing(state)?;
    if !state.store.remove_connection().await? {
        return Err(ApiError::not_found(
            "No ConnectWise connection is configured, so there is nothing to disconnect.",
        ));
    }
    tracing::info!(user.name = %principal.user.username, "disconnected from ConnectWise");
    Ok(())
}

fn refuse_while_refreshing(state: &Shared) -> Result<(), ApiError> {
    if state.refresher.is_running() {
        return Err(ApiError::conflict(
            "A record refresh is running; wait for it to finish, then try again.",
        ));
    }
    Ok(())
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_configured",
        "No ConnectWise connection is configured: configure it under Billing › Integrations \
         (or PUT /api/v1/connection) first.",
    )
}

/// A hyalto customer (a client account) and where it is billed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    /// The inventory's id.
    pub id: String,
    /// The name.
    pub name: String,
    /// How many of its services are present.
    pub present_services: u64,
    /// The ConnectWise company it is billed under, when mapped.
    pub company_id: Option<i64>,
    /// The master agreement, when mapped.
    pub agreement_id: Option<i64>,
}

/// Every known customer, by id.
pub async fn customers(state: &Shared) -> Result<Vec<CustomerView>, ApiError> {
    let customers = state.store.list_customers().await?;
    Ok(customers
        .into_iter()
        .map(|summary| CustomerView {
            id: summary.customer.id.to_string(),
            name: summary.customer.name,
            present_services: summary.present_services,
            company_id: summary.mapping.as_ref().map(|m| m.company_id),
            agreement_id: summary.mapping.as_ref().map(|m| m.agreement_id),
        })
        .collect())
}

/// A mapping with the names of what it points at.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingView {
    /// The customer's id.
    pub customer: String,
    /// The customer's name.
    pub customer_name: String,
    /// The ConnectWise company.
    pub company_id: i64,
    /// Its cached name.
    pub company_name: String,
    /// The master agreement.
    pub agreement_id: i64,
    /// Its cached name.
    pub agreement_name: String,
    /// How quantity changes are written.
    pub quantity_changes: QuantityChangeMode,
    /// What to do with quantities changed in ConnectWise.
    pub drift: DriftPolicy,
    /// Whether records deleted by hand are written again.
    pub recreate_deleted: bool,
}

/// Every mapping, by customer id.
pub async fn mappings(state: &Shared) -> Result<Vec<MappingView>, ApiError> {
    let store = &state.store;
    let mut views = Vec::new();
    for summary in store.list_customers().await? {
        let Some(mapping) = summary.mapping else {
            continue;
        };
        views.push(MappingView {
            customer: mapping.customer.to_string(),
            customer_name: summary.customer.name,
            company_id: mapping.company_id,
            company_name: cached_name(store, CwRecordKind::Company, mapping.company_id).await,
            agreement_id: mapping.agreement_id,
            agreement_name: cached_name(store, CwRecordKind::Agreement, mapping.agreement_id).await,
            quantity_changes: mapping.options.quantity_change,
            drift: mapping.options.drift,
            recreate_deleted: mapping.options.recreate_deleted,
        });
    }
    Ok(views)
}

/// A mapping to make, as a form or a JSON body sends it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MapBody {
    /// The customer's id.
    pub customer: String,
    /// The ConnectWise company's id.
    pub company_id: Option<i64>,
    /// The master agreement's id.
    pub agreement_id: Option<i64>,
}

/// Maps a customer after checking the company and agreement live in ConnectWise.
pub async fn map(state: &Shared, body: &MapBody) -> Result<MappingView, ApiError> {
    let mut fields = Vec::new();
    let customer = match CustomerId::new(body.customer.trim().to_owned()) {
        Ok(customer) => Some(customer),
        Err(error) => {
            fields.push((
                "customer".to_owned(),
                format!("Choose a client account ({error})."),
            ));
            None
        }
    };
    if body.company_id.is_none() {
        fields.push((
            "companyId".to_owned(),
            "Choose one of the available companies.".to_owned(),
        ));
    }
    if body.agreement_id.is_none() {
        fields.push((
            "agreementId".to_owned(),
            "Choose the master agreement the customer's services will live under.".to_owned(),
        ));
    }
    let (Some(customer), Some(company_id), Some(agreement_id), true) = (
        customer,
        body.company_id,
        body.agreement_id,
        fields.is_empty(),
    ) else {
        return Err(ApiError::invalid(fields));
    };

    let Some(connection) = state.store.load_connection().await? else {
        return Err(not_configured());
    };
    let client = connect(&connection).await.map_err(ApiError::connectwise)?;
    let request = MapRequest {
        customer: customer.clone(),
        company_id,
        agreement_id,
        options: None,
    };
    match map_customer(&state.store, &client, &request).await {
        Ok(_) => {}
        Err(MapError::Store(error)) => return Err(error.into()),
        Err(error) => {
            let message = sentence(&error.to_string());
            return Err(match error.field() {
                Some(field) => ApiError::invalid(vec![(field.as_str().to_owned(), message)]),
                None => ApiError::connectwise(message),
            });
        }
    }

    mappings(state)
        .await?
        .into_iter()
        .find(|view| view.customer == customer.as_str())
        .ok_or_else(|| ApiError::not_found("The mapping was stored but cannot be read back."))
}

/// A library message (lowercase, no final stop) as a sentence for a page.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

/// Removes a customer's mapping. What hyalto wrote stays in ConnectWise and keeps billing.
pub async fn unmap(state: &Shared, customer: &str) -> Result<(), ApiError> {
    let customer = CustomerId::new(customer.trim().to_owned())
        .map_err(|error| ApiError::invalid(vec![("customer".to_owned(), error.to_string())]))?;
    if !state.store.remove_company_mapping(&customer).await? {
        return Err(ApiError::not_found(format!(
            "Customer {customer} is not mapped, so there is nothing to unmap."
        )));
    }
    tracing::info!(customer.id = %customer, "unmapped a customer");
    Ok(())
}

/// What starting a sync takes: optionally one customer, and the fingerprint of the preview it
/// applies.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncBody {
    /// Only this customer.
    pub customer: Option<String>,
    /// The preview's fingerprint; when given, the sync starts only if the plan made now is
    /// the same, so Apply never writes something the user did not see.
    pub fingerprint: Option<String>,
}

/// Reads the optional customer of a plan or a sync, and refuses one that is not a mapped
/// customer before anything is planned or run.
pub async fn mapped_customer(
    state: &Shared,
    text: Option<&str>,
) -> Result<Option<CustomerId>, ApiError> {
    let text = match text.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(text) => text,
    };
    let customer = CustomerId::new(text.to_owned()).map_err(|error| {
        ApiError::invalid(vec![(
            "customer".to_owned(),
            format!("{text:?} is not a customer id: {error}."),
        )])
    })?;
    if state.store.get_company_mapping(&customer).await?.is_none() {
        return Err(ApiError::invalid(vec![(
            "customer".to_owned(),
            format!(
                "Customer {customer} is unknown or not mapped to a ConnectWise company; map it \
                 under Billing › Map Company (GET /api/v1/customers lists the customers), or \
                 leave customer out to cover every mapped customer."
            ),
        )]));
    }
    Ok(Some(customer))
}

/// Starts a sync job in the background (Sync now, Apply, `POST /api/v1/sync`).
pub async fn start_sync(
    state: &Shared,
    principal: &Principal,
    body: &SyncBody,
) -> Result<crate::scheduler::SyncJob, ApiError> {
    let customer = mapped_customer(state, body.customer.as_deref()).await?;

    // Apply sends the fingerprint of the preview it shows; an empty one means the page had no
    // plan, and treating it as "no check" would write something nobody saw.
    if body
        .fingerprint
        .as_deref()
        .is_some_and(|f| f.trim().is_empty())
    {
        let message = "The fingerprint is empty, so there is no preview to apply: open the \
                       preview first (Billing › Preview, or GET /api/v1/plan) and apply it with \
                       its fingerprint, or leave fingerprint out to sync without a check.";
        return Err(ApiError {
            message: message.to_owned(),
            ..ApiError::invalid(vec![("fingerprint".to_owned(), message.to_owned())])
        });
    }
    if state.store.load_connection().await?.is_none() {
        return Err(not_configured());
    }
    if state.scheduler.is_running() {
        return Err(ApiError::conflict(
            "A sync is running already; wait for it to finish (its progress is under Billing › \
             Integrations).",
        ));
    }

    if let Some(expected) = body.fingerprint.as_deref() {
        let now = crate::views::preview(state, customer.clone()).await?;
        if now.fingerprint != expected {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "plan_changed",
                "What the sync would write changed since the preview (the inventory, a mapping \
                 or ConnectWise changed); nothing was written. Review the new preview and apply \
                 it.",
            ));
        }
    }

    // Sync now collects the due sources first, as the schedule does; Apply must write the
    // plan that was seen, so it does not.
    let collect = body.fingerprint.is_none();
    let job = state.scheduler.start(
        &state.job_context(),
        crate::scheduler::Trigger::Manual,
        Some(principal.user.username.clone()),
        customer,
        collect,
    );
    tracing::info!(user.name = %principal.user.username, "started a sync");
    job.ok_or_else(|| ApiError::conflict("A sync is running already; wait for it to finish."))
}
