//! The ConnectWise surface: `/login/companyinfo/{companyId}` and everything under
//! `/{codebase}apis/3.0`.
//!
//! Each request goes through the same steps, in the order a real server's layers would apply
//! them: codebase prefix, latency, authentication, route, security role, injected faults, and
//! finally the handler. Every answer carries `x-cw-request-id`, `api-current-version` and
//! `Cache-Control: no-cache`, and is counted in the statistics.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, LINK, PRAGMA, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error_body::ErrorBody;
use crate::query::{Conditions, FieldSelection, OrderBy};
use crate::store::{Collection, PatchOperation};

use super::AppState;
use super::config::{LEGACY_CODEBASE, api_version};
use super::errors::ApiError;
use super::faults::Fault;
use super::paging::{self, ListParams};
use super::routes::{self, COMPANY_INFO_TEMPLATE, Endpoint, Matched, UNMATCHED_TEMPLATE};
use super::server::DropConnection;
use super::stats::{DROPPED, InFlight};

/// The largest request body the sandbox reads.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The page a CDN in front of ConnectWise sends with a 429 instead of a JSON body.
const CDN_RATE_LIMIT_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>429 Too Many Requests\
</title></head><body><h1>Too Many Requests</h1><p>You are being rate limited. Please retry \
after the time given in the Retry-After header.</p><hr><p>cw-sandbox edge</p></body></html>\n";

/// Serves one API request and records it in the statistics and the debug log.
pub async fn handle(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::enter(&app.in_flight);
    let request_id = new_request_id();
    let method = request.method().clone();

    let (template, mut response) = route(&app, request).await;

    let version = api_version(&app.codebase());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-cw-request-id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&version) {
        headers.insert("api-current-version", value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));

    let dropped = response.extensions().get::<DropConnection>().is_some();
    let outcome = if dropped {
        DROPPED.to_owned()
    } else {
        response.status().as_u16().to_string()
    };
    app.stats().record(method.as_str(), template, &outcome);
    tracing::debug!(
        method = %method,
        route = template,
        status = %outcome,
        duration_ms = started.elapsed().as_millis() as u64,
        request_id = %request_id,
        "ConnectWise API request"
    );

    response
}

/// A request id in the 8-4-4-4-12 hexadecimal form.
fn new_request_id() -> String {
    let hex = format!("{:032x}", rand::random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Routes a request and runs it; returns the route template for statistics and the answer.
async fn route(app: &AppState, request: Request) -> (&'static str, Response) {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();

    // The Host header is echoed into `SiteUrl` and `Link` URLs, so anything that is not a host
    // could forge links or break clients that follow them; it is refused before anything else.
    if let Err(error) = check_host(request.headers()) {
        return (UNMATCHED_TEMPLATE, error.into_response());
    }

    if let Some(company_id) = company_info_id(&path) {
        let template = COMPANY_INFO_TEMPLATE;
        let delay = app.faults().delay();
        tokio::time::sleep(delay).await;
        if method != Method::GET {
            let error = ApiError::method_not_allowed(&method, template, &[Method::GET]);
            return (template, error.into_response());
        }
        let headers = request.headers();
        let response = with_faults(app, &method, template, async {
            company_info(app, headers, &company_id)
        })
        .await;
        return (template, response);
    }

    let Some(rest) = api_path(&path, &app.codebase()) else {
        let error = ApiError::not_found(format!(
            "No ConnectWise resource lives at {path}; API paths start with /{}apis/3.0",
            app.codebase()
        ));
        return (UNMATCHED_TEMPLATE, error.into_response());
    };

    // Latency comes first, like a slow network, and authentication before routing, so that an
    // unauthenticated caller learns nothing about which paths exist.
    let delay = app.faults().delay();
    tokio::time::sleep(delay).await;
    let matched = routes::match_path(&rest);
    let template = matched.as_ref().map_or(UNMATCHED_TEMPLATE, |m| m.template);
    if let Err(error) = app.credentials.check(request.headers()) {
        return (
            template,
            ApiError::unauthorized(error.to_string()).into_response(),
        );
    }

    let Some(matched) = matched else {
        let error = ApiError::not_found(format!("No ConnectWise resource lives at {path}"));
        return (template, error.into_response());
    };
    if !matched.allows(&method) {
        let allowed = routes::allowed_methods(matched.endpoint);
        let error = ApiError::method_not_allowed(&method, template, &allowed);
        return (template, error.into_response());
    }
    if app.is_denied(&method, template) {
        return (
            template,
            ApiError::forbidden(&method, template).into_response(),
        );
    }

    let response = with_faults(app, &method, template, serve(app, request, &matched)).await;
    (template, response)
}

/// Applies the injected fault chosen for this request, if any, around `serve`.
async fn with_faults<F>(app: &AppState, method: &Method, template: &str, serve: F) -> Response
where
    F: Future<Output = Result<Response, ApiError>>,
{
    let fault = app.faults().choose(method.as_str(), template);
    if let Some(response) = fault.and_then(fault_response) {
        return response;
    }

    let mut response = serve.await.unwrap_or_else(IntoResponse::into_response);

    // The handler has already committed its write; marking the response makes the connection
    // close before the client hears about it, which is what a lost response looks like.
    if fault == Some(Fault::CommitThenDrop) {
        response.extensions_mut().insert(DropConnection);
    }
    response
}

/// The answer of a fault that replaces the handler; `None` for commit-then-drop, which runs it.
fn fault_response(fault: Fault) -> Option<Response> {
    match fault {
        Fault::RateLimit {
            retry_after_secs,
            html,
        } => {
            let mut response = if html {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(CONTENT_TYPE, "text/html; charset=utf-8")],
                    CDN_RATE_LIMIT_PAGE,
                )
                    .into_response()
            } else {
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorBody::new(
                        "TooManyRequests",
                        "Request volume is over capacity; retry after the Retry-After seconds",
                    ),
                )
                .into_response()
            };
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Some(response)
        }
        Fault::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let message = match status {
                StatusCode::INTERNAL_SERVER_ERROR => {
                    "An error occurred: the database operation timeout expired (Execution \
                     Timeout Expired)"
                }
                StatusCode::BAD_GATEWAY => "Bad gateway: the upstream server did not answer",
                StatusCode::GATEWAY_TIMEOUT => "Gateway timeout: the upstream server timed out",
                _ => "The service is temporarily unavailable",
            };
            let body = ErrorBody::new("ServerError", message);
            Some(ApiError::new(status, body).into_response())
        }
        Fault::CommitThenDrop => None,
    }
}

/// The company id of a `/login/companyinfo/{companyId}` path.
fn company_info_id(path: &str) -> Option<String> {
    let rest = strip_prefix_ignore_case(path, "/login/companyinfo/")?;
    let id = rest.trim_end_matches('/');
    if id.is_empty() || id.contains('/') {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(id)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The part of `path` below `/{codebase}apis/3.0`, when the codebase is the current one or
/// `v4_6_release/` (which on-premise servers and many clients use).
fn api_path(path: &str, codebase: &str) -> Option<String> {
    let path = path.strip_prefix('/')?;
    let (segment, rest) = path.split_once('/')?;

    let current = codebase.trim_end_matches('/');
    let legacy = LEGACY_CODEBASE.trim_end_matches('/');
    if !(segment.eq_ignore_ascii_case(current) || segment.eq_ignore_ascii_case(legacy)) {
        return None;
    }

    let below = strip_prefix_ignore_case(rest, "apis/3.0")?;
    (below.is_empty() || below.starts_with('/')).then(|| below.to_owned())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `GET /login/companyinfo/{companyId}`: the PascalCase discovery body.
fn company_info(
    app: &AppState,
    headers: &HeaderMap,
    company_id: &str,
) -> Result<Response, ApiError> {
    if !company_id.eq_ignore_ascii_case(&app.credentials.company_id) {
        // What real ConnectWise answers for an unknown company is not known; a 404 with an
        // error body is the sandbox's documented choice.
        return Err(ApiError::not_found(format!(
            "No company with the login company id {company_id:?} is hosted on this server"
        )));
    }

    let codebase = app.codebase();
    let version = api_version(&codebase);
    let body = json!({
        "CompanyName": "ConnectWise Sandbox",
        "Codebase": codebase,
        "VersionCode": format!("v{version}"),
        "VersionNumber": "v4.6.0",
        "CompanyID": app.credentials.company_id,
        "IsCloud": false,
        "SiteUrl": app.host(headers),
        "AllowedOrigins": "*",
    });
    Ok(Json(body).into_response())
}

/// Runs the handler of a routed, authorised request.
async fn serve(app: &AppState, request: Request, matched: &Matched) -> Result<Response, ApiError> {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers = request.headers().clone();

    match (matched.endpoint, method) {
        (Endpoint::SystemInfo, _) => Ok(Json(system_info(app)).into_response()),
        (Endpoint::Count(collection), _) => {
            let params = paging::parse_params(uri.query()).map_err(ApiError::bad_request)?;
            let conditions = parse_conditions(collection, &params)?;
            let count = app
                .store
                .list_matching(collection, matched.parent, conditions.as_ref())
                .await?
                .len();
            Ok(Json(json!({ "count": count })).into_response())
        }
        (Endpoint::List(collection), Method::POST) => {
            let body = read_json(request).await?;
            let created = app.store.create(collection, matched.parent, body).await?;
            Ok((StatusCode::CREATED, Json(created)).into_response())
        }
        (Endpoint::List(collection), _) => {
            list(app, collection, matched.parent, &uri, &headers).await
        }
        (Endpoint::Item(collection), Method::PATCH) => {
            let id = item_id(matched)?;
            let body = read_json(request).await?;
            let operations: Vec<PatchOperation> = serde_json::from_value(body).map_err(|error| {
                ApiError::bad_request(format!(
                    "A PATCH body must be a JSON array of {{op, path, value}} operations: {error}"
                ))
            })?;
            let updated = app
                .store
                .patch(collection, matched.parent, id, operations)
                .await?;
            Ok(Json(updated).into_response())
        }
        (Endpoint::Item(collection), Method::PUT) => {
            let id = item_id(matched)?;
            let body = read_json(request).await?;
            let replaced = app
                .store
                .replace(collection, matched.parent, id, body)
                .await?;
            Ok(Json(replaced).into_response())
        }
        (Endpoint::Item(collection), Method::DELETE) => {
            let id = item_id(matched)?;
            app.store.delete(collection, matched.parent, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Endpoint::Item(collection), _) => {
            let id = item_id(matched)?;
            let params = paging::parse_params(uri.query()).map_err(ApiError::bad_request)?;
            let record = app.store.get(collection, matched.parent, id).await?;
            let record = match &params.fields {
                Some(fields) => FieldSelection::parse(fields)?.project(&record),
                None => record,
            };
            Ok(Json(record).into_response())
        }
    }
}

fn item_id(matched: &Matched) -> Result<i64, ApiError> {
    matched
        .id
        .ok_or_else(|| ApiError::not_found("The route has no record id"))
}

/// `GET /system/info`.
fn system_info(app: &AppState) -> Value {
    json!({
        "version": format!("v{}.0", api_version(&app.codebase())),
        "isCloud": false,
        "serverTimeZone": "Coordinated Universal Time",
        "licenseBits": [],
        "cloudRegion": "",
        "maxWorkFlowRecordsAllowed": 1000,
    })
}

/// Reads a request body as JSON, answering 400 with a ConnectWise body when it is not.
async fn read_json(request: Request) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            ApiError::bad_request(format!("The request body could not be read: {error}"))
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; JSON was expected",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!("The request body is not valid JSON: {error}"))
    })
}

/// Parses `conditions` and checks that every field it names exists on the collection.
fn parse_conditions(
    collection: Collection,
    params: &ListParams,
) -> Result<Option<Conditions>, ApiError> {
    if params.child_conditions.is_some() || params.custom_field_conditions.is_some() {
        return Err(ApiError::bad_request(
            "childConditions and customFieldConditions are not supported by the sandbox",
        ));
    }

    let Some(text) = &params.conditions else {
        return Ok(None);
    };
    let conditions = Conditions::parse(text)?;
    check_paths(collection, "conditions", &conditions.paths())?;
    conditions.check_types(|segments| collection.path_type(segments))?;
    Ok(Some(conditions))
}

fn check_paths(collection: Collection, parameter: &str, paths: &[String]) -> Result<(), ApiError> {
    match paths.iter().find(|path| !collection.knows_path(path)) {
        Some(unknown) => Err(ApiError::bad_request(format!(
            "Invalid {parameter}: {unknown:?} is not a field of {}",
            collection.resource_name()
        ))),
        None => Ok(()),
    }
}

/// A list: filter, sort, page (navigable or forward-only), project.
async fn list(
    app: &AppState,
    collection: Collection,
    parent: Option<i64>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let params = paging::parse_params(uri.query()).map_err(ApiError::bad_request)?;
    let conditions = parse_conditions(collection, &params)?;
    let order_by = match &params.order_by {
        Some(text) => {
            let order_by = OrderBy::parse(text)?;
            check_paths(collection, "orderBy", &order_by.paths())?;
            Some(order_by)
        }
        None => None,
    };
    let fields = params
        .fields
        .as_deref()
        .map(FieldSelection::parse)
        .transpose()?;
    let forward_only = headers
        .get("pagination-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("forward-only"));
    if forward_only && order_by.is_some() {
        return Err(ApiError::bad_request(
            "orderBy cannot be used with forward-only pagination, which always orders by id",
        ));
    }

    let mut rows = app
        .store
        .list_matching(collection, parent, conditions.as_ref())
        .await?;
    if let Some(order_by) = &order_by {
        // The store lists by id and the sort is stable, so id breaks ties, as on a real server.
        rows.sort_by(|a, b| order_by.compare(a, b));
    }

    let base = format!("{}://{}{}", app.scheme, app.host(headers), uri.path());
    let page = if forward_only {
        paging::forward_only_page(rows, params.page_id, params.page_size, &base, uri.query())
    } else {
        paging::navigable_page(rows, params.page, params.page_size, &base, uri.query())
    };

    let rows: Vec<Value> = match &fields {
        Some(fields) => page.rows.iter().map(|row| fields.project(row)).collect(),
        None => page.rows,
    };
    let mut response = Json(rows).into_response();
    if let Some(link) = page.link.and_then(|link| HeaderValue::from_str(&link).ok()) {
        response.headers_mut().insert(LINK, link);
    }
    Ok(response)
}

/// Refuses a `Host` header that is not a host name or IP literal with an optional port.
fn check_host(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(HOST) else {
        return Ok(());
    };

    match value.to_str() {
        Ok(host) if is_valid_host(host) => Ok(()),
        _ => Err(ApiError::bad_request(format!(
            "The Host header {:?} is not a host name or IP address with an optional port \
             (like cw.example.com, 127.0.0.1:8088 or [::1]:8088)",
            String::from_utf8_lossy(value.as_bytes())
        ))),
    }
}

/// Whether `text` is `host[:port]`: a DNS name (letters, digits, `-` and `_` between dots), an
/// IPv4 address, or an IPv6 address in square brackets; the port is 1 to 65535.
fn is_valid_host(text: &str) -> bool {
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let Some((address, after)) = rest.split_once(']') else {
                return false;
            };
            if address.parse::<std::net::Ipv6Addr>().is_err() {
                return false;
            }
            match after {
                "" => return true,
                _ => match after.strip_prefix(':') {
                    Some(port) => (None, Some(port)),
                    None => return false,
                },
            }
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(text), None),
        },
    };

    let port_ok = port.is_none_or(|port| {
        !port.is_empty()
            && port.len() <= 5
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|port| port > 0)
    });
    let host_ok = host.is_none_or(|host| {
        let name = host.strip_suffix('.').unwrap_or(host);
        !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
    });
    port_ok && host_ok
}

impl AppState {
    /// The host a request came in on, for `SiteUrl` and `Link` URLs.
    fn host(&self, headers: &HeaderMap) -> String {
        headers
            .get(HOST)
            .and_then(|value| value.to_str().ok())
            .map_or_else(|| self.local_addr.to_string(), str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_and_the_legacy_codebase_both_reach_the_api() {
        assert_eq!(
            api_path("/v2025_1/apis/3.0/system/info", "v2025_1/").as_deref(),
            Some("/system/info")
        );
        assert_eq!(
            api_path("/v4_6_release/APIS/3.0/company/companies", "v2025_1/").as_deref(),
            Some("/company/companies")
        );
    }

    #[test]
    fn an_old_codebase_or_another_prefix_does_not_reach_the_api() {
        assert_eq!(api_path("/v2024_1/apis/3.0/system/info", "v2025_1/"), None);
        assert_eq!(api_path("/v2025_1/apis/3.01/system/info", "v2025_1/"), None);
        assert_eq!(api_path("/system/info", "v2025_1/"), None);
    }

    #[test]
    fn the_company_id_is_read_from_the_companyinfo_path() {
        assert_eq!(
            company_info_id("/login/companyinfo/Acme%20Co").as_deref(),
            Some("Acme Co")
        );
        assert_eq!(
            company_info_id("/login/CompanyInfo/acme/").as_deref(),
            Some("acme")
        );
        assert_eq!(company_info_id("/login/companyinfo/"), None);
    }

    #[test]
    fn host_names_ip_literals_and_ports_are_valid_hosts() {
        for host in [
            "cw.example.com",
            "localhost:8088",
            "127.0.0.1:8088",
            "[::1]:8088",
            "[::1]",
            "my_box.lan.",
        ] {
            assert!(is_valid_host(host), "{host} should be valid");
        }
    }

    #[test]
    fn hosts_with_spaces_brackets_quotes_or_bad_ports_are_refused() {
        for host in [
            "evil.example>; rel=\"last\", <http://x",
            "a b",
            "",
            "host:",
            "host:0",
            "host:65536",
            "host:80:80",
            "[::1",
            "[nonsense]:80",
            "-lead.example",
            "a..b",
            "user@host",
        ] {
            assert!(!is_valid_host(host), "{host} should be refused");
        }
    }

    #[test]
    fn request_ids_are_unique_and_uuid_shaped() {
        let first = new_request_id();
        let second = new_request_id();

        assert_ne!(first, second);
        assert_eq!(first.len(), 36);
        assert_eq!(first.matches('-').count(), 4);
    }
}
