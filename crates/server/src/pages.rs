//! The server-rendered pages: login, Billing › Integrations and Billing › Map Company.
//!
//! Every form posts back to the server and is answered with a redirect (after a success) or
//! the page again with a message next to each field at fault (after a failure), so the pages
//! work without the script; `static/app.js` only adds live progress and the agreement list.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{Duration, Utc};
use hyalto_app::browse::{AgreementStatus, agreements_of, companies};
use hyalto_store::{NewSession, Store};
use minijinja::{Environment, Value, context};
use serde::Deserialize;

use crate::Shared;
use crate::actions::{self, ConfigureBody, MapBody};
use crate::auth::{
    Principal, new_token, same_token, token_hash, verify_against_nothing, verify_password,
};
use crate::error::ApiError;
use crate::guard::{SESSION_COOKIE, cookie, encode_component};

/// How long a browser session lasts.
pub const SESSION_HOURS: i64 = 12;

/// The cookie that carries the login form's CSRF token (there is no session yet).
const LOGIN_CSRF_COOKIE: &str = "hyalto_login_csrf";

/// The most companies listed at once; a search narrows them down.
const MAX_COMPANIES: usize = 200;

/// The page templates, compiled into the binary. HTML autoescaping is on for every template
/// (their names end in `.html`).
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("macros.html", include_str!("../templates/macros.html")),
        ("login.html", include_str!("../templates/login.html")),
        (
            "integrations.html",
            include_str!("../templates/integrations.html"),
        ),
        (
            "map_company.html",
            include_str!("../templates/map_company.html"),
        ),
        (
            "not_found.html",
            include_str!("../templates/not_found.html"),
        ),
        ("products.html", include_str!("../templates/products.html")),
        (
            "customers.html",
            include_str!("../templates/customers.html"),
        ),
        ("preview.html", include_str!("../templates/preview.html")),
        ("history.html", include_str!("../templates/history.html")),
    ] {
        // The templates are part of the binary; one that does not parse is a bug that the
        // tests catch on their first page.
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(template = name, %error, "a page template does not parse");
        }
    }
    env.add_filter("when", when);
    env
}

/// An instant as `2026-12-03 16:05 UTC`, for people; anything else as it is.
fn when(value: String) -> String {
    chrono::DateTime::parse_from_rfc3339(&value).map_or(value, |at| {
        at.with_timezone(&Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string()
    })
}

/// An interval in words: `hour`, `2 hours`, `15 minutes`.
fn every(minutes: u64) -> String {
    match (minutes % 60, minutes / 60) {
        (0, 1) => "hour".to_owned(),
        (0, hours) => format!("{hours} hours"),
        _ if minutes == 1 => "minute".to_owned(),
        _ => format!("{minutes} minutes"),
    }
}

/// Renders a template with `status`.
pub(crate) fn render(state: &Shared, name: &str, status: StatusCode, ctx: Value) -> Response {
    let rendered = state
        .templates
        .get_template(name)
        .and_then(|template| template.render(ctx));
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(template = name, error = %error, "could not render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "hyalto could not render this page; see the server log.",
            )
                .into_response()
        }
    }
}

/// What every logged-in page needs: the user and the session's CSRF token.
pub(crate) fn page_context(principal: &Principal, active: &str) -> Value {
    context! {
        user => context! {
            username => principal.user.username.clone(),
            isAdmin => principal.user.is_admin,
        },
        csrf_token => principal.csrf_token(),
        active => active,
    }
}

/// Per-field messages as a map for the templates.
pub(crate) fn field_errors(error: &ApiError) -> HashMap<String, String> {
    error.fields.iter().cloned().collect()
}

/// The message shown above a form: the fields speak for themselves when there are any.
pub(crate) fn form_message(error: &ApiError) -> Option<String> {
    error
        .fields
        .is_empty()
        .then(|| error.message.clone())
        .or_else(|| Some("Some fields need attention; see the messages next to them.".to_owned()))
}

pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

pub async fn home() -> Response {
    see_other("/billing/integrations")
}

pub async fn not_found(State(state): State<Shared>) -> Response {
    render(&state, "not_found.html", StatusCode::NOT_FOUND, context! {})
}

pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("../static/app.css"))
}

pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../static/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

// Logging in and out.

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    next: String,
}

pub async fn login_page(State(state): State<Shared>, Query(query): Query<LoginQuery>) -> Response {
    login_form(&state, StatusCode::OK, &query.next, "", None)
}

/// The login form with a fresh CSRF token in a cookie and in the form.
fn login_form(
    state: &Shared,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let token = new_token();
    let ctx = context! {
        csrf_token => token.clone(),
        next => safe_next(next),
        username => username,
        error => error,
        narrow => true,
    };
    let mut response = render(state, "login.html", status, ctx);
    set_cookie(
        &mut response,
        state,
        LOGIN_CSRF_COOKIE,
        &token,
        Some(60 * 60),
    );
    response
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf_token: String,
    next: String,
}

pub async fn login(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // The form must come from hyalto's own login page: its token matches the cookie set there.
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(&form.csrf_token, &expected) {
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            &form.next,
            &form.username,
            Some("The login form expired. Enter your username and password again.".to_owned()),
        );
    }

    let username = form.username.trim().to_owned();
    if let Some(wait) = state.limiter.locked_for(&username, Instant::now()) {
        state.metrics.login("rate_limited");
        tracing::warn!(user.name = %username, "refused a login: too many failures");
        let minutes = wait.as_secs().div_ceil(60);
        return login_form(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &form.next,
            &username,
            Some(format!(
                "Too many failed logins for this username. Wait {minutes} minute{} and try again, \
                 or ask an administrator.",
                if minutes == 1 { "" } else { "s" }
            )),
        );
    }

    let user = match check_credentials(&state, &username, form.password).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let Some(user) = user else {
        state.limiter.record_failure(&username, Instant::now());
        state.metrics.login("failed");
        tracing::info!(user.name = %username, "a login failed");
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.next,
            &username,
            Some("The username or password is wrong.".to_owned()),
        );
    };
    state.limiter.record_success(&username);

    // A new session: only its hash is stored.
    let token = new_token();
    let now = Utc::now();
    let session = NewSession {
        token_hash: token_hash(&token),
        user: user.id,
        csrf_token: new_token(),
        created_at: now,
        expires_at: now + Duration::hours(SESSION_HOURS),
    };
    if let Err(error) = state.store.create_session(&session).await {
        return ApiError::from(error).into_response();
    }
    // Expired sessions are swept at each login, which is often enough to keep the table small.
    if let Err(error) = state.store.delete_expired_sessions(now).await {
        tracing::warn!(%error, "could not remove expired sessions");
    }
    state.metrics.login("succeeded");
    tracing::info!(user.name = %user.username, "logged in");

    let mut response = see_other(&safe_next(&form.next));
    set_cookie(
        &mut response,
        &state,
        SESSION_COOKIE,
        &token,
        Some(SESSION_HOURS * 3600),
    );
    set_cookie(&mut response, &state, LOGIN_CSRF_COOKIE, "", Some(0));
    response
}

/// The user when `password` is theirs. The hash is checked off the async threads, and an
/// unknown username costs as much time as a known one.
async fn check_credentials(
    state: &Shared,
    username: &str,
    password: String,
) -> Result<Option<hyalto_store::User>, Response> {
    let credentials = state
        .store
        .user_credentials(username)
        .await
        .map_err(|error| ApiError::from(error).into_response())?;

    let verified = tokio::task::spawn_blocking(move || match credentials {
        Some(credentials) => {
            verify_password(&password, &credentials.password_hash).then_some(credentials.user)
        }
        None => {
            verify_against_nothing(&password);
            None
        }
    })
    .await;
    verified.map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The password check failed; see the server log.",
        )
            .into_response()
    })
}

/// Where to go after logging in: a path on this server, never another site.
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/billing/integrations".to_owned()
    }
}

/// Adds a cookie that scripts cannot read, sent on same-site navigation only, and over HTTPS
/// only when hyalto is served over HTTPS.
fn set_cookie(
    response: &mut Response,
    state: &Shared,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if state.secure_cookies {
        cookie.push_str("; Secure");
    }
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub async fn logout(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Err(error) = state.store.delete_session(&token_hash(&token)).await
    {
        return ApiError::from(error).into_response();
    }
    let mut response = see_other("/login");
    set_cookie(&mut response, &state, SESSION_COOKIE, "", Some(0));
    response
}

// Billing › Integrations.

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DoneQuery {
    done: String,
    customer: String,
}

pub async fn integrations(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let notice = match query.done.as_str() {
        "configured" => Some(
            "Connected to ConnectWise. hyalto is now reading its records (companies, \
             agreements, catalog items, …); the progress shows below.",
        ),
        "refreshing" => Some("Refreshing the records from ConnectWise; the progress shows below."),
        "disconnected" => Some(
            "Disconnected from ConnectWise. The mappings and history stay; configure the \
             connection again to resume.",
        ),
        "syncing" => Some(
            "The sync started; its progress shows under Sync. The written records show on the \
             Customers page when it has finished.",
        ),
        _ => None,
    };
    integrations_page(
        &state,
        &principal,
        StatusCode::OK,
        notice,
        None,
        &ConfigureBody::default(),
    )
    .await
}

pub(crate) async fn integrations_page(
    state: &Shared,
    principal: &Principal,
    code: StatusCode,
    notice: Option<&str>,
    error: Option<&ApiError>,
    form: &ConfigureBody,
) -> Response {
    let status = match actions::status(state).await {
        Ok(status) => status,
        Err(error) => return error.into_response(),
    };

    // The form shows what was entered, or else the stored settings; never a private key.
    let form = if form.url.is_empty() && status.configured {
        context! {
            url => status.site_url.clone(),
            companyId => status.company_id.clone(),
            publicKey => status.public_key.clone(),
            clientId => status.client_id.clone(),
            caFile => status.ca_file.clone().unwrap_or_default(),
            insecure => status.insecure,
        }
    } else {
        context! {
            url => form.url.clone(),
            companyId => form.company_id.clone(),
            publicKey => form.public_key.clone(),
            clientId => form.client_id.clone(),
            caFile => form.ca_file.clone(),
            insecure => form.insecure,
            skipWriteCheck => form.skip_write_check,
        }
    };
    let ctx = context! {
        ..page_context(principal, "integrations"),
        ..context! {
            status => Value::from_serialize(&status),
            job => Value::from_serialize(state.scheduler.latest()),
            interval => state.sync_interval.map(|interval| every(interval.as_secs() / 60)),
            notice => notice,
            error => error.and_then(form_message),
            errors => error.map(field_errors).unwrap_or_default(),
            form => form,
        }
    };
    render(state, "integrations.html", code, ctx)
}

pub async fn configure(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<ConfigureBody>,
) -> Response {
    match actions::configure(&state, &principal, &form).await {
        Ok(_) => see_other("/billing/integrations?done=configured"),
        Err(error) => {
            integrations_page(&state, &principal, error.status, None, Some(&error), &form).await
        }
    }
}

pub async fn refresh(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    match actions::refresh(&state, &principal).await {
        Ok(_) => see_other("/billing/integrations?done=refreshing"),
        Err(error) => {
            let form = ConfigureBody::default();
            integrations_page(&state, &principal, error.status, None, Some(&error), &form).await
        }
    }
}

pub async fn disconnect(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    match actions::disconnect(&state, &principal).await {
        Ok(()) => see_other("/billing/integrations?done=disconnected"),
        Err(error) => {
            let form = ConfigureBody::default();
            integrations_page(&state, &principal, error.status, None, Some(&error), &form).await
        }
    }
}

// Billing › Map Company.

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MapQuery {
    search: String,
    company: String,
    customer: String,
    done: String,
}

pub async fn map_company(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<MapQuery>,
) -> Response {
    let notice = match query.done.as_str() {
        "mapped" => Some(format!(
            "Mapped {}. The next sync bills its services under the chosen master agreement.",
            query.customer
        )),
        "unmapped" => Some(format!(
            "hyalto no longer manages {}. What it wrote stays active in ConnectWise and keeps \
             billing: end it there if billing should stop.",
            query.customer
        )),
        _ => None,
    };
    let chosen = MapSelection {
        search: query.search,
        company: query.company.trim().parse().ok(),
        customer: query.customer,
        agreement: None,
    };
    map_page(&state, &principal, StatusCode::OK, notice, None, &chosen).await
}

/// What the Map Company page shows as chosen.
struct MapSelection {
    search: String,
    company: Option<i64>,
    customer: String,
    agreement: Option<i64>,
}

async fn map_page(
    state: &Shared,
    principal: &Principal,
    code: StatusCode,
    notice: Option<String>,
    error: Option<&ApiError>,
    chosen: &MapSelection,
) -> Response {
    let gathered = async {
        let configured = state.store.load_connection().await?.is_some();
        let mut found = companies(&state.store, Some(&chosen.search)).await?;
        let more = found.len() > MAX_COMPANIES;
        found.truncate(MAX_COMPANIES);

        // The chosen company stays in the list even when the search no longer finds it.
        if let Some(id) = chosen.company
            && !found.iter().any(|company| company.id == id)
        {
            let every = companies(&state.store, Some(&id.to_string())).await?;
            found.extend(every.into_iter().filter(|company| company.id == id));
        }
        let agreements = match chosen.company {
            Some(id) => agreements_of(&state.store, id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .filter(|row| row.status == AgreementStatus::Active)
                .collect(),
            None => Vec::new(),
        };
        let customers = actions::customers(state).await?;
        let mappings = actions::mappings(state).await?;
        let suggestions = crate::views::suggestions(state).await?;
        Ok::<_, ApiError>((
            configured,
            found,
            more,
            agreements,
            customers,
            mappings,
            suggestions,
        ))
    };
    let (configured, found, more, agreements, customers, mappings, suggestions) =
        match gathered.await {
            Ok(gathered) => gathered,
            Err(error) => return error.into_response(),
        };

    let ctx = context! {
        ..page_context(principal, "map"),
        ..context! {
            configured => configured,
            notice => notice,
            error => error.and_then(form_message),
            errors => error.map(field_errors).unwrap_or_default(),
            search => chosen.search.clone(),
            companies => Value::from_serialize(&found),
            more_companies => more,
            chosen_company => chosen.company,
            chosen_customer => chosen.customer.clone(),
            chosen_agreement => chosen.agreement,
            agreements => Value::from_serialize(&agreements),
            customers => Value::from_serialize(&customers),
            mappings => Value::from_serialize(&mappings),
            suggestions => Value::from_serialize(&suggestions),
        }
    };
    render(state, "map_company.html", code, ctx)
}

/// The Map form: ids arrive as text, and an empty choice is a missing field, not a bad number.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct MapForm {
    customer: String,
    company_id: String,
    agreement_id: String,
    search: String,
}

pub async fn map(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<MapForm>,
) -> Response {
    let body = MapBody {
        customer: form.customer.clone(),
        company_id: form.company_id.trim().parse().ok(),
        agreement_id: form.agreement_id.trim().parse().ok(),
    };
    match actions::map(&state, &body).await {
        Ok(view) => see_other(&format!(
            "/billing/map-company?done=mapped&customer={}",
            encode_component(&view.customer)
        )),
        Err(error) => {
            let chosen = MapSelection {
                search: form.search,
                company: body.company_id,
                customer: form.customer,
                agreement: body.agreement_id,
            };
            map_page(
                &state,
                &principal,
                error.status,
                None,
                Some(&error),
                &chosen,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UnmapForm {
    customer: String,
}

pub async fn unmap(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<UnmapForm>,
) -> Response {
    match actions::unmap(&state, &form.customer).await {
        Ok(()) => see_other(&format!(
            "/billing/map-company?done=unmapped&customer={}",
            encode_component(form.customer.trim())
        )),
        Err(error) => {
            let chosen = MapSelection {
                search: String::new(),
                company: None,
                customer: String::new(),
                agreement: None,
            };
            map_page(
                &state,
                &principal,
                error.status,
                None,
                Some(&error),
                &chosen,
            )
            .await
        }
    }
}
