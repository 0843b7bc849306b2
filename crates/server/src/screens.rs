//! The pages of the billing cycle: Products, Customers and services, Preview (with Apply),
//! History, and the Sync now button. Each reads the same view as its API operation
//! ([`crate::views`]) and renders it; forms answer with a redirect after a success and with
//! the page and its message after a failure.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use hyalto_domain::ServiceId;
use minijinja::{Value, context};
use serde::Deserialize;

use crate::Shared;
use crate::actions::{self, SyncBody};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::pages::{form_message, page_context, render, see_other};
use crate::views::{self, HistoryQuery, OPERATIONS, ProductBody};

/// The notice a page shows after a form's redirect.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Notice {
    done: String,
}

pub async fn products(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<Notice>,
) -> Response {
    let notice = (query.done == "saved").then_some("Saved. The next sync bills the meter to it.");
    products_page(&state, &principal, StatusCode::OK, notice, None).await
}

async fn products_page(
    state: &Shared,
    principal: &Principal,
    code: StatusCode,
    notice: Option<&str>,
    error: Option<&ApiError>,
) -> Response {
    let gathered = async {
        let rows = views::products(state).await?;
        let items = if principal.user.is_admin {
            views::catalog_items(state).await?
        } else {
            Vec::new()
        };
        Ok::<_, ApiError>((rows, items))
    };
    let (rows, items) = match gathered.await {
        Ok(gathered) => gathered,
        Err(error) => return error.into_response(),
    };
    let ctx = context! {
        ..page_context(principal, "products"),
        ..context! {
            products => Value::from_serialize(&rows),
            items => Value::from_serialize(&items),
            notice => notice,
            error => error.and_then(form_message),
        }
    };
    render(state, "products.html", code, ctx)
}

pub async fn set_product(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<ProductBody>,
) -> Response {
    match views::set_product(&state, &principal, &form).await {
        Ok(_) => see_other("/billing/products?done=saved"),
        Err(error) => products_page(&state, &principal, error.status, None, Some(&error)).await,
    }
}

pub async fn customers(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let view = match views::inventory(&state).await {
        Ok(view) => view,
        Err(error) => return error.into_response(),
    };
    let ctx = context! {
        ..page_context(&principal, "customers"),
        ..context! { view => Value::from_serialize(&view) }
    };
    render(&state, "customers.html", StatusCode::OK, ctx)
}

pub async fn preview(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    preview_page(&state, &principal, StatusCode::OK, None).await
}

async fn preview_page(
    state: &Shared,
    principal: &Principal,
    code: StatusCode,
    error: Option<&ApiError>,
) -> Response {
    let (preview, failure) = match views::preview(state, None).await {
        Ok(preview) => (Some(preview), None),
        Err(failure) => (None, Some(failure)),
    };
    let message = error
        .or(failure.as_ref())
        .map(|error| error.message.clone());
    let code = match (&failure, error) {
        (_, Some(_)) => code,
        (Some(failure), None) => failure.status,
        (None, None) => code,
    };
    let ctx = context! {
        ..page_context(principal, "preview"),
        ..context! {
            preview => Value::from_serialize(&preview),
            error => message,
        }
    };
    render(state, "preview.html", code, ctx)
}

/// The Apply form: the fingerprint of the plan the user saw.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ApplyForm {
    fingerprint: String,
}

pub async fn apply(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<ApplyForm>,
) -> Response {
    let body = SyncBody {
        customer: None,
        fingerprint: Some(form.fingerprint),
    };
    match actions::start_sync(&state, &principal, &body).await {
        Ok(_) => see_other("/billing/integrations?done=syncing"),
        Err(error) => preview_page(&state, &principal, error.status, Some(&error)).await,
    }
}

pub async fn sync_now(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    match actions::start_sync(&state, &principal, &SyncBody::default()).await {
        Ok(_) => see_other("/billing/integrations?done=syncing"),
        // A form answers with its page and a readable message, never with the API's JSON.
        Err(error) => {
            let form = actions::ConfigureBody::default();
            crate::pages::integrations_page(
                &state,
                &principal,
                error.status,
                None,
                Some(&error),
                &form,
            )
            .await
        }
    }
}

/// The History page's filters, and the service whose usage is charted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct HistoryPageQuery {
    customer: String,
    operation: String,
    service: String,
}

pub async fn history(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<HistoryPageQuery>,
) -> Response {
    let filter_query = HistoryQuery {
        customer: Some(query.customer.clone()),
        operation: Some(query.operation.clone()),
        run: None,
        limit: Some(200),
    };
    let (filter, error) = match views::audit_filter(&filter_query) {
        Ok(filter) => (Some(filter), None),
        Err(error) => (None, Some(error)),
    };

    let gathered = async {
        let runs = views::runs(&state, 20).await?;
        let entries = match &filter {
            Some(filter) => views::audit(&state, filter).await?,
            None => Vec::new(),
        };
        let customers = actions::customers(&state).await?;
        let (usage, service_name) = match ServiceId::new(query.service.trim().to_owned()) {
            Ok(service) => match state.store_service_name(&service).await? {
                Some(name) => (views::usage(&state, &service).await?, name),
                None => (Vec::new(), String::new()),
            },
            Err(_) => (Vec::new(), String::new()),
        };
        Ok::<_, ApiError>((runs, entries, customers, usage, service_name))
    };
    let (runs, entries, customers, usage, service_name) = match gathered.await {
        Ok(gathered) => gathered,
        Err(error) => return error.into_response(),
    };

    let ctx = context! {
        ..page_context(&principal, "history"),
        ..context! {
            runs => Value::from_serialize(&runs),
            entries => Value::from_serialize(&entries),
            customers => Value::from_serialize(&customers),
            operations => OPERATIONS,
            usage => Value::from_serialize(&usage),
            service_name => service_name,
            query => context! { customer => query.customer, operation => query.operation },
            error => error.as_ref().map(|error| {
                error.fields.iter().map(|(_, message)| message.clone()).collect::<Vec<_>>().join(" ")
            }),
        }
    };
    let code = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(&state, "history.html", code, ctx)
}
