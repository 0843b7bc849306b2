//! The middleware every request passes: [`observe`] counts and logs it; [`authenticate`] lets
//! it in with a session cookie or an API token, and checks the CSRF token of a session's
//! writes.

use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use hyalto_store::Store;

use crate::Shared;
use crate::auth::{AuthMethod, Principal, same_token, token_hash};
use crate::error::ApiError;
use crate::metrics::HttpLabels;

/// The cookie holding the session token.
pub const SESSION_COOKIE: &str = "hyalto_session";

/// The form field holding a session's CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// The header holding a session's CSRF token on API writes made from the pages' script.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The largest form body read for its CSRF token; hyalto's forms are far smaller.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The content security policy of every HTML page. The pages load their stylesheet and script
/// from `/static/…` and have no inline script or style, so `'self'` is enough; no other site may
/// frame them, which stops clickjacking.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Adds the headers that keep HTML pages out of other sites' frames (`X-Frame-Options` for
/// browsers without `frame-ancestors`) and limit what they may load.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;

    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if is_html {
        let headers = response.headers_mut();
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

/// Counts every request by method, route template and status, and logs it at debug.
pub async fn observe(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    // The template, not the path, so ids never become label values.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());

    let response = next.run(request).await;

    let elapsed = started.elapsed();
    let labels = HttpLabels {
        method: method.clone(),
        route: route.clone(),
        status: response.status().as_u16(),
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state
        .metrics
        .http_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    tracing::debug!(
        http.method = %method,
        http.route = %route,
        http.status = response.status().as_u16(),
        duration_ms = elapsed.as_millis() as u64,
        "served a request"
    );
    response
}

/// Lets a request in when it carries a valid API token or session cookie; otherwise pages
/// redirect to the login page and the API answers 401. A session's writes must carry its CSRF
/// token (a form field, or the `X-CSRF-Token` header for the API).
pub async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let is_api = is_api_path(request.uri().path());

    let principal = match principal(&state, request.headers()).await {
        Ok(Some(principal)) => principal,
        Ok(None) if is_api => return ApiError::unauthenticated().into_response(),
        Ok(None) => return Redirect::to(&login_redirect(&request)).into_response(),
        Err(error) => return error.into_response(),
    };

    let request = match (&principal.via, is_write(request.method())) {
        (AuthMethod::Session { csrf_token }, true) => {
            match check_csrf(request, csrf_token, is_api).await {
                Ok(request) => request,
                Err(response) => return response,
            }
        }
        _ => request,
    };

    let mut request = request;
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// Whether a path belongs to the API (and `/metrics`), which answers in JSON or text, never
/// with a redirect.
fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The user behind the request's API token or session cookie. A bearer token that is not
/// valid is refused outright rather than falling back to the cookie, so a client learns its
/// token is wrong.
async fn principal(state: &Shared, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // The scheme's name is case-insensitive (RFC 9110); the token is not.
        let token = value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or_default();
        let user = if token.is_empty() {
            None
        } else {
            state
                .store
                .user_by_api_token(&token_hash(token), Utc::now())
                .await?
        };
        return Ok(user.map(|user| Principal {
            user,
            via: AuthMethod::ApiToken,
        }));
    }

    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = state.store.session(&token_hash(&token), Utc::now()).await?;
    Ok(session.map(|session| Principal {
        user: session.user,
        via: AuthMethod::Session {
            csrf_token: session.csrf_token,
        },
    }))
}

/// The value of cookie `name`, if the request sent it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Checks the CSRF token of a session's write. The body of a form is read to find the field
/// and put back for the handler.
async fn check_csrf(request: Request, expected: &str, is_api: bool) -> Result<Request, Response> {
    if is_api {
        let sent = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if same_token(sent, expected) {
            return Ok(request);
        }
        return Err(ApiError::forbidden(
            "A write made with a session cookie needs the session's CSRF token in the \
             X-CSRF-Token header; scripts and tools should use an API token instead.",
        )
        .into_response());
    }

    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response())?;
    let sent = form_field(&bytes, CSRF_FIELD).unwrap_or_default();
    if !same_token(&sent, expected) {
        tracing::warn!(http.path = %parts.uri.path(), "refused a form without a valid CSRF token");
        return Err(csrf_page());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The value of `name` in a URL-encoded form body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    // The decoder axum's `Form` uses, so the field is read exactly as the handler reads it.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    pairs
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn csrf_page() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Form \
             expired · hyalto</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
             <body><main class=\"narrow\"><h1>This form has expired</h1><p>The page was opened \
             in another session, or the session ended. Go back, reload the page and send the \
             form again.</p><p><a href=\"/\">Back to hyalto</a></p></main></body></html>",
        ),
    )
        .into_response()
}

/// `/login?next=PATH`, so the user lands where they were going.
fn login_redirect(request: &Request) -> String {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let mut target = String::from("/login");
    if path != "/" && request.method() == Method::GET {
        target.push_str("?next=");
        target.push_str(&encode_component(path));
    }
    target
}

/// Percent-encodes everything but unreserved characters.
pub fn encode_component(text: &str) -> String {
    use std::fmt::Write as _;
    text.bytes().fold(String::new(), |mut out, byte| {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
        out
    })
}
