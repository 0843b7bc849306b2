//! The client's error type, and how HTTP statuses and bodies are sorted into it.
//!
//! Every message says what happened and what to do next, carries the `x-cw-request-id` when the
//! server sent one, and never contains a key.
//!
//! How keys are kept out (the redaction rule):
//!
//! - The client never writes a credential into a message of its own.
//! - Text that comes from the server (messages, field problems, a redirect's `Location`, a
//!   next-page path, transport errors) is scrubbed before it is stored in an error or logged.
//!   Scrubbing finds each credential of at least 8 bytes (`MIN_SCRUBBED_LEN`) in any letter
//!   case, with any of its bytes percent-encoded (once or twice) and with `+` for a space, and
//!   also the base64 Basic credential. All credentials are replaced in one left-to-right pass,
//!   longest first, and the marker `[redacted]` is never scanned again, so it cannot be mangled.
//! - Shorter credentials (a client id such as `c`) are not searched for in free text: replacing
//!   every `c` would wreck ordinary words while protecting nothing. For them the first rule is
//!   the protection.
//! - A request id is an opaque token, not free text: one that equals any credential or contains
//!   one in a form above is dropped rather than stored or logged.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;

use crate::models::ErrorResponse;

/// One failing field of a validation error (an `errors[]` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, such as `startDate`.
    pub field: Option<String>,
    /// ConnectWise's code, such as `MissingRequiredField`.
    pub code: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// The kind of record, such as `agreement`.
    pub resource: Option<String>,
    /// Extra detail, when sent.
    pub details: Option<String>,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field.as_deref().unwrap_or("(no field)"))?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        if let Some(details) = &self.details {
            write!(f, " ({details})")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to ConnectWise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: the keys, company id or client id were refused.
    #[error(
        "ConnectWise refused the credentials (401){}{}: check the company id, public key, \
         private key and client id in the connection settings, and that the API member is active",
        detail(message),
        request(request_id)
    )]
    BadCredentials {
        /// The server's message.
        message: Option<String>,
        /// The `x-cw-request-id` of the failed call.
        request_id: Option<String>,
    },

    /// 403: the API member's security role lacks a permission.
    #[error(
        "the API member's security role does not allow {method} {path} (403){}{}: grant that \
         access to the role in ConnectWise under System > Security Roles",
        detail(message),
        request(request_id)
    )]
    PermissionDenied {
        /// The verb refused.
        method: Method,
        /// The endpoint refused, without its query.
        path: String,
        /// The server's message.
        message: Option<String>,
        /// The `x-cw-request-id` of the failed call.
        request_id: Option<String>,
    },

    /// 404: the record or endpoint does not exist (after one codebase refresh).
    #[error(
        "{method} {path} was not found (404){}{}: the record may have been deleted; if every \
         call fails this way, check the site address",
        detail(message),
        request(request_id)
    )]
    NotFound {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// The server's message.
        message: Option<String>,
        /// The `x-cw-request-id` of the failed call.
        request_id: Option<String>,
    },

    /// 400: the request was refused as invalid; `errors` lists every failing field.
    #[error(
        "ConnectWise refused {method} {path} as invalid (400){}{}{}: correct the request and \
         send it again",
        detail(message),
        problems(errors),
        request(request_id)
    )]
    Validation {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// The server's overall message.
        message: Option<String>,
        /// Every failing field.
        errors: Vec<FieldProblem>,
        /// The `x-cw-request-id` of the failed call.
        request_id: Option<String>,
    },

    /// 409: the record is in use or otherwise conflicts.
    #[error(
        "{method} {path} conflicts with the record's current state (409){}{}: reload the \
         record and decide again",
        detail(message),
        request(request_id)
    )]
    Conflict {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// The server's message.
        message: Option<String>,
        /// The `x-cw-request-id` of the failed call.
        request_id: Option<String>,
    },

    /// 429 that outlasted the retries, or asked for a longer wait than the policy allows.
    #[error(
        "ConnectWise is rate limiting {method} {path} (429){}{}: try again later, or lower the \
         request rate in the connection settings",
        wait(retry_after),
        request(request_id)
    )]
    RateLimited {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// How long the server asked to wait, when it said.
        retry_after: Option<Duration>,
        /// Attempts made.
        attempts: u32,
        /// The `x-cw-request-id` of the last attempt.
        request_id: Option<String>,
    },

    /// 502/503/504, a 500 timeout or a network failure, still failing after the retries.
    #[error(
        "{method} {path} failed after {attempts} attempt(s) ({reason}){}: ConnectWise or the \
         network is having trouble; try again later",
        request(request_id)
    )]
    Transient {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// The status, when the server answered.
        status: Option<u16>,
        /// What went wrong on the last attempt.
        reason: String,
        /// Attempts made.
        attempts: u32,
        /// The `x-cw-request-id` of the last attempt.
        request_id: Option<String>,
    },

    /// A write that may or may not have been applied: its response never arrived, or a POST
    /// was answered with a server error (500, 502, 504) that does not say whether the record
    /// was saved.
    #[error("{}", unknown_outcome(method, path, *status, reason, request_id))]
    OutcomeUnknown {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// The status of the answer, when the server answered; `None` when no answer arrived.
        status: Option<u16>,
        /// What happened to the response, or the server's message when it answered (possibly
        /// empty).
        reason: String,
        /// The `x-cw-request-id` of the answer, when one arrived.
        request_id: Option<String>,
    },

    /// Any other status (a redirect, 405, 415, a 500 without "timeout", …).
    #[error(
        "ConnectWise answered {method} {path} with status {status}{}{}: {}",
        detail(message),
        request(request_id),
        unexpected_advice(*status, request_id)
    )]
    Unexpected {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: Option<String>,
        /// The `x-cw-request-id` of the failed call.
        request_id: Option<String>,
    },

    /// The server's TLS certificate is not trusted.
    #[error(
        "the TLS certificate of {site} is not trusted ({reason}): if the server uses a private \
         certificate authority, set its CA file in the connection settings; switch certificate \
         checks off only for a lab server"
    )]
    Certificate {
        /// The origin whose certificate was refused.
        site: String,
        /// What the TLS library objected to.
        reason: String,
    },

    /// The site is set to `https://`, but the server answered the TLS handshake in plain HTTP.
    #[error(
        "the server at {site} answered in plain HTTP, not HTTPS: use {plain_site} as the site \
         address if that is intended (the keys then cross the network unencrypted), or give the \
         port where the server speaks HTTPS"
    )]
    PlainHttp {
        /// The origin as configured, such as `https://127.0.0.1:8094`.
        site: String,
        /// The same origin over plain HTTP, such as `http://127.0.0.1:8094`.
        plain_site: String,
    },

    /// The connection settings cannot work (empty keys, unreadable CA file, …).
    #[error("the ConnectWise connection settings are invalid: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// `/login/companyinfo` did not lead to a usable API address.
    #[error(
        "could not find the ConnectWise API of company `{company_id}` at {site}: {reason}{}",
        request(request_id)
    )]
    Discovery {
        /// The site as configured.
        site: String,
        /// The company id asked for.
        company_id: String,
        /// What went wrong and what to check.
        reason: String,
        /// The `x-cw-request-id`, when sent.
        request_id: Option<String>,
    },

    /// A successful response whose body did not have the expected shape.
    #[error(
        "the answer to {method} {path} could not be read ({reason}){}: check that the API version \
         pinned in the connection settings suits this server; if it does, report this to the \
         hyalto developers",
        request(request_id)
    )]
    Decode {
        /// The verb.
        method: Method,
        /// The path, without its query.
        path: String,
        /// What did not match.
        reason: String,
        /// The `x-cw-request-id` of the call.
        request_id: Option<String>,
    },

    /// The caller asked for something the client cannot send (a malformed path, `orderBy` with
    /// forward-only paging).
    #[error("invalid ConnectWise request: {message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
    },
}

fn detail(message: &Option<String>) -> String {
    match message {
        Some(message) if !message.trim().is_empty() => format!(": {}", message.trim()),
        _ => String::new(),
    }
}

fn request(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(" [request id {id}]"),
        None => String::new(),
    }
}

/// What to do about a status the client has no better variant for.
fn unexpected_advice(status: u16, request_id: &Option<String>) -> String {
    let report = match request_id {
        Some(_) => "report it to ConnectWise support with the request id",
        None => "report it to ConnectWise support with the time of the call",
    };
    match status {
        300..=399 => "enter the address it redirects to as the site in the connection settings \
                      (scheme, host and port only)"
            .to_owned(),
        500..=599 => format!("ConnectWise failed on this request; if it keeps failing, {report}"),
        _ => format!(
            "ConnectWise does not accept this request as sent; check that the API version pinned \
             in the connection settings suits this server, or {report}"
        ),
    }
}

/// The text of [`Error::OutcomeUnknown`], which depends on whether the server answered.
fn unknown_outcome(
    method: &Method,
    path: &str,
    status: Option<u16>,
    reason: &str,
    request_id: &Option<String>,
) -> String {
    match status {
        Some(status) => format!(
            "ConnectWise answered {status} to {method} {path}{}{}: it may or may not have saved \
             the record; look it up before trying again",
            detail(&Some(reason.to_owned())),
            request(request_id)
        ),
        None => format!(
            "the response to {method} {path} never arrived ({reason}), so it is unknown whether \
             ConnectWise applied it{}: look the record up before sending the change again",
            request(request_id)
        ),
    }
}

fn wait(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(delay) => format!(", asked to wait {} s", delay.as_secs()),
        None => String::new(),
    }
}

fn problems(errors: &[FieldProblem]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("; {}", listed.join("; "))
}

impl Error {
    /// Whether trying the same call again later may succeed (rate limiting and transient
    /// failures). [`Error::OutcomeUnknown`] is not retryable: look the record up first.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::RateLimited { .. } | Error::Transient { .. })
    }

    /// The `x-cw-request-id` of the call, to quote to ConnectWise support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::BadCredentials { request_id, .. }
            | Error::PermissionDenied { request_id, .. }
            | Error::NotFound { request_id, .. }
            | Error::Validation { request_id, .. }
            | Error::Conflict { request_id, .. }
            | Error::RateLimited { request_id, .. }
            | Error::Transient { request_id, .. }
            | Error::OutcomeUnknown { request_id, .. }
            | Error::Unexpected { request_id, .. }
            | Error::Discovery { request_id, .. }
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            Error::Certificate { .. }
            | Error::PlainHttp { .. }
            | Error::Config { .. }
            | Error::InvalidRequest { .. } => None,
        }
    }

    /// Why discovery failed, for [`Error::Discovery`]: the facts of this error without its
    /// request id (the discovery error carries it) and with advice that fits discovery.
    pub(crate) fn discovery_reason(&self) -> String {
        let check = "check the site address and that the server is reachable";
        match self {
            Error::Transient {
                reason, attempts, ..
            } => format!("{reason}, after {attempts} attempt(s); {check}, then try again later"),
            Error::OutcomeUnknown { reason, .. } => format!("{reason}; {check}"),
            Error::RateLimited { .. } => {
                "the site is rate limiting requests (429); try again in a few minutes".to_owned()
            }
            Error::Unexpected {
                status: 300..=399,
                message: Some(message),
                ..
            } => format!("{message}; enter that address (scheme, host and port) as the site"),
            Error::Unexpected {
                status, message, ..
            } => format!(
                "the site answered status {status}{}; check that the site address points at \
                 ConnectWise Manage",
                detail(message)
            ),
            Error::BadCredentials { message, .. } => format!(
                "the site asked for credentials (401){} where ConnectWise needs none; check that \
                 the site address points at ConnectWise Manage and not at a proxy",
                detail(message)
            ),
            Error::PermissionDenied { message, .. }
            | Error::NotFound { message, .. }
            | Error::Conflict { message, .. }
            | Error::Validation { message, .. } => format!(
                "the site refused the lookup{}; check the site address and the company id",
                detail(message)
            ),
            other => format!("{other}; {check}"),
        }
    }
}

/// Credentials shorter than this are not searched for in free text (see the module docs):
/// replacing them would mangle ordinary words.
pub(crate) const MIN_SCRUBBED_LEN: usize = 8;

/// What a credential is replaced with.
const REDACTED: &str = "[redacted]";

/// A request id longer than this is not an id ConnectWise would send, and is dropped.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The credentials of one connection, kept so that server text can be scrubbed of them.
#[derive(Clone, Default)]
pub(crate) struct Secrets {
    /// Every credential of at least [`MIN_SCRUBBED_LEN`] bytes, lower-cased, longest first.
    scrubbed: Vec<Vec<u8>>,
    /// Every credential, whatever its length, for whole-value comparisons.
    all: Vec<String>,
}

impl Secrets {
    pub(crate) fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut all: Vec<String> = Vec::new();
        for value in values {
            for form in [value.trim(), value.as_str()] {
                if !form.is_empty() && !all.iter().any(|known| known == form) {
                    all.push(form.to_owned());
                }
            }
        }

        // Longest first, so that a key containing another key is replaced whole.
        let mut scrubbed: Vec<Vec<u8>> = all
            .iter()
            .filter(|value| value.len() >= MIN_SCRUBBED_LEN)
            .map(|value| value.to_ascii_lowercase().into_bytes())
            .collect();
        scrubbed.sort_by_key(|value| std::cmp::Reverse(value.len()));
        scrubbed.dedup();
        Secrets { scrubbed, all }
    }

    /// Replaces every credential in `text` with `[redacted]`, in any letter case and with any
    /// bytes percent-encoded, in one pass that never looks inside a marker again.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut scrubbed = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            let found = self
                .scrubbed
                .iter()
                .find_map(|secret| match_secret(bytes, at, secret));
            if let Some(end) = found {
                scrubbed.extend_from_slice(REDACTED.as_bytes());
                at = end;
            } else if bytes[at..].starts_with(REDACTED.as_bytes()) {
                // A marker already in the text (scrubbed text scrubbed again) stays whole.
                scrubbed.extend_from_slice(REDACTED.as_bytes());
                at += REDACTED.len();
            } else {
                scrubbed.push(bytes[at]);
                at += 1;
            }
        }

        // Matches start and end on character boundaries, so this cannot fail; the lossy
        // fallback only keeps a bug from becoming a panic.
        String::from_utf8(scrubbed)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }

    /// The request id as it may be stored and logged: `None` when it is empty, implausibly
    /// long, equal to a credential, or contains one.
    pub(crate) fn request_id(&self, raw: &str) -> Option<String> {
        let id = raw.trim();
        let carries_secret = self
            .all
            .iter()
            .any(|secret| secret.eq_ignore_ascii_case(id))
            || self.scrub(id) != id;
        if id.is_empty() || id.len() > MAX_REQUEST_ID_LEN || carries_secret {
            if !id.is_empty() {
                tracing::debug!(
                    "dropped a ConnectWise request id that is too long or contains a credential"
                );
            }
            return None;
        }
        Some(id.to_owned())
    }
}

/// Where `secret` (lower-cased bytes) ends if it occurs in `text` at `start`, each byte written
/// plainly in any case, as `%XX` or `%25XX`, or (a space) as `+`.
fn match_secret(text: &[u8], start: usize, secret: &[u8]) -> Option<usize> {
    let mut at = start;
    for &wanted in secret {
        at = match_byte(text, at, wanted)?;
    }
    Some(at)
}

fn match_byte(text: &[u8], at: usize, wanted: u8) -> Option<usize> {
    let &here = text.get(at)?;
    if here.eq_ignore_ascii_case(&wanted) || (wanted == b' ' && here == b'+') {
        return Some(at + 1);
    }
    if here != b'%' {
        return None;
    }
    match percent_decoded(text, at + 1)? {
        decoded if decoded.eq_ignore_ascii_case(&wanted) => Some(at + 3),
        b'%' => {
            let decoded = percent_decoded(text, at + 3)?;
            decoded.eq_ignore_ascii_case(&wanted).then_some(at + 5)
        }
        _ => None,
    }
}

/// The byte written by the two hex digits at `at`, if they are hex digits.
fn percent_decoded(text: &[u8], at: usize) -> Option<u8> {
    let digits = text.get(at..at + 2)?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.all.len())
    }
}

/// What the client learned from one HTTP response with a non-success status.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) body: Option<ErrorResponse>,
    /// The body's text when it was not a ConnectWise error body (an HTML page from a CDN);
    /// only used to look for "timeout", never put into an error.
    pub(crate) raw_text: String,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    /// The `Location` of a redirect.
    pub(crate) location: Option<String>,
}

impl Failure {
    /// Reads an error response. Bodies that are not JSON are tolerated.
    pub(crate) fn read(
        status: u16,
        body: &[u8],
        request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Failure {
        let parsed = serde_json::from_slice::<ErrorResponse>(body).ok();
        Failure {
            status,
            body: parsed,
            raw_text: String::from_utf8_lossy(body).into_owned(),
            request_id,
            retry_after,
            location: None,
        }
    }

    /// Whether the failure is a transient server problem worth retrying for idempotent verbs:
    /// 502, 503, 504, or a 500 whose message mentions a timeout.
    pub(crate) fn is_transient(&self) -> bool {
        match self.status {
            502..=504 => true,
            500 => {
                let text = match &self.body {
                    Some(body) => format!(
                        "{} {}",
                        body.code.as_deref().unwrap_or(""),
                        body.message.as_deref().unwrap_or("")
                    ),
                    None => self.raw_text.clone(),
                }
                .to_ascii_lowercase();
                text.contains("timeout") || text.contains("timed out")
            }
            _ => false,
        }
    }

    /// A short, secret-free description for logs and `Transient` errors.
    pub(crate) fn reason(&self, secrets: &Secrets) -> String {
        let message = self
            .body
            .as_ref()
            .and_then(|body| body.message.as_deref())
            .map(|message| format!(": {}", secrets.scrub(message)))
            .unwrap_or_default();
        format!("status {}{message}", self.status)
    }

    /// Sorts the failure into an [`Error`] variant.
    pub(crate) fn into_error(
        self,
        method: &Method,
        path: &str,
        attempts: u32,
        secrets: &Secrets,
    ) -> Error {
        let reason = self.reason(secrets);
        let transient = self.is_transient();
        let message = match (&self.location, self.status) {
            (Some(location), 300..=399) => Some(format!(
                "the server redirects to {}",
                secrets.scrub(location)
            )),
            _ => self
                .body
                .as_ref()
                .and_then(|body| body.message.as_deref())
                .map(|message| secrets.scrub(message)),
        };
        let method = method.clone();
        let path = path.to_owned();
        let request_id = self.request_id;

        match self.status {
            400 => {
                let errors = self
                    .body
                    .and_then(|body| body.errors)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|problem| FieldProblem {
                        field: problem.field.map(|v| secrets.scrub(&v)),
                        code: problem.code.map(|v| secrets.scrub(&v)),
                        message: problem.message.map(|v| secrets.scrub(&v)),
                        resource: problem.resource.map(|v| secrets.scrub(&v)),
                        details: problem.details.map(|v| secrets.scrub(&v)),
                    })
                    .collect();
                Error::Validation {
                    method,
                    path,
                    message,
                    errors,
                    request_id,
                }
            }
            401 => Error::BadCredentials {
                message,
                request_id,
            },
            403 => Error::PermissionDenied {
                method,
                path,
                message,
                request_id,
            },
            404 => Error::NotFound {
                method,
                path,
                message,
                request_id,
            },
            409 => Error::Conflict {
                method,
                path,
                message,
                request_id,
            },
            429 => Error::RateLimited {
                method,
                path,
                retry_after: self.retry_after,
                attempts,
                request_id,
            },
            status if transient => Error::Transient {
                method,
                path,
                status: Some(status),
                reason,
                attempts,
                request_id,
            },
            status => Error::Unexpected {
                method,
                path,
                status,
                message,
                request_id,
            },
        }
    }
}

/// Reads a `Retry-After` header: a number of seconds, or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            return Some(Duration::from_secs_f64(seconds));
        }
        return None;
    }

    // An HTTP date; a date in the past means "now".
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::new([
            "pubKEY123".to_owned(),
            "privSECRET456".to_owned(),
            String::new(),
        ])
    }

    fn classify(status: u16, body: &str) -> Error {
        Failure::read(status, body.as_bytes(), Some("req-1".to_owned()), None).into_error(
            &Method::PATCH,
            "/finance/agreements/5",
            1,
            &secrets(),
        )
    }

    #[test]
    fn statuses_map_to_their_variants() {
        assert!(matches!(classify(401, "{}"), Error::BadCredentials { .. }));
        assert!(matches!(
            classify(403, "{}"),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(classify(404, ""), Error::NotFound { .. }));
        assert!(matches!(classify(409, "{}"), Error::Conflict { .. }));
        assert!(matches!(classify(429, "<html>"), Error::RateLimited { .. }));
        assert!(matches!(classify(503, "<html>"), Error::Transient { .. }));
        assert!(matches!(
            classify(405, "{}"),
            Error::Unexpected { status: 405, .. }
        ));
        assert!(matches!(
            classify(500, r#"{"code":"x","message":"boom"}"#),
            Error::Unexpected { status: 500, .. }
        ));
        assert!(matches!(
            classify(500, r#"{"code":"x","message":"Database Timeout expired"}"#),
            Error::Transient {
                status: Some(500),
                ..
            }
        ));
    }

    #[test]
    fn a_validation_error_lists_every_field_code_and_message() {
        let error = classify(
            400,
            r#"{"code":"InvalidObject","message":"agreement object is invalid","errors":[
                {"code":"MissingRequiredField","message":"name is required.",
                 "resource":"agreement","field":"name"},
                {"code":"UnsupportedFormat","message":"Unsupported format applied to startDate",
                 "resource":"agreement","field":"startDate"}
            ]}"#,
        );

        let text = error.to_string();
        for expected in [
            "agreement object is invalid",
            "name: name is required. [MissingRequiredField]",
            "startDate: Unsupported format applied to startDate [UnsupportedFormat]",
            "request id req-1",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from {text}");
        }
        let Error::Validation { errors, .. } = error else {
            panic!("not a validation error");
        };
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_permission_error_names_the_verb_the_endpoint_and_where_to_fix_it() {
        let text = classify(403, r#"{"code":"Forbidden","message":"no"}"#).to_string();

        assert!(text.contains("PATCH /finance/agreements/5"), "{text}");
        assert!(text.contains("System > Security Roles"), "{text}");
    }

    #[test]
    fn a_500_is_transient_only_when_it_mentions_a_timeout() {
        let timeout = Failure::read(500, b"<html>Gateway timeout</html>", None, None);
        let plain = Failure::read(500, br#"{"message":"NullReference"}"#, None, None);
        let bad_gateway = Failure::read(502, b"", None, None);

        assert!(timeout.is_transient());
        assert!(!plain.is_transient());
        assert!(bad_gateway.is_transient());
        assert!(!Failure::read(429, b"", None, None).is_transient());
    }

    #[test]
    fn an_html_body_never_reaches_the_error_text() {
        let text = classify(429, "<html><body>Cloudflare says slow down</body></html>").to_string();

        assert!(!text.contains("Cloudflare"), "{text}");
        assert!(text.contains("429"), "{text}");
    }

    #[test]
    fn server_text_is_scrubbed_of_keys() {
        let error = classify(
            400,
            r#"{"message":"bad key pubKEY123 / privSECRET456",
                "errors":[{"field":"x","message":"privSECRET456"}]}"#,
        );

        let text = error.to_string();
        assert!(!text.contains("pubKEY123"), "{text}");
        assert!(!text.contains("privSECRET456"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn no_variant_ever_shows_a_key_in_display_or_debug() {
        let leaky = r#"{"code":"pubKEY123","message":"privSECRET456 pubKEY123",
            "errors":[{"field":"privSECRET456","code":"pubKEY123","message":"privSECRET456",
                       "resource":"pubKEY123","details":"privSECRET456"}]}"#;
        let mut errors: Vec<Error> = [300, 400, 401, 403, 404, 405, 409, 429, 500, 502, 503]
            .into_iter()
            .map(|status| {
                let mut failure = Failure::read(status, leaky.as_bytes(), None, None);
                failure.location = Some("https://x.example.com/?k=privSECRET456".to_owned());
                failure.into_error(&Method::POST, "/finance/agreements", 2, &secrets())
            })
            .collect();
        let failure = Failure::read(504, leaky.as_bytes(), Some("r".to_owned()), None);
        errors.push(Error::OutcomeUnknown {
            method: Method::POST,
            path: "/finance/agreements".to_owned(),
            status: None,
            reason: failure.reason(&secrets()),
            request_id: None,
        });

        for error in &errors {
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains("pubKEY123"), "{text}");
                assert!(!text.contains("privSECRET456"), "{text}");
            }
        }
    }

    #[test]
    fn keys_are_scrubbed_in_any_case_and_percent_encoded() {
        let secrets = Secrets::new(["Priv+Key/2024 x".to_owned()]);

        for leaked in [
            "priv+key/2024 x",
            "PRIV+KEY/2024 X",
            "Priv%2BKey%2F2024%20x",
            "priv%2bkey%2f2024+x",
            "Priv%252BKey%252F2024%2520x",
            "%50%72%69%76%2B%4B%65%79%2F%32%30%32%34%20%78",
        ] {
            let text = secrets.scrub(&format!("key <{leaked}> refused"));
            assert_eq!(text, "key <[redacted]> refused", "{leaked}");
        }
    }

    #[test]
    fn short_values_are_never_scrubbed_from_free_text() {
        let secrets = Secrets::new([
            "c".to_owned(),
            "pub1234".to_owned(),
            "longprivatekey".to_owned(),
        ]);
        let text = "GET /login/companyinfo/{id}: connection failed, pub1234";

        assert_eq!(secrets.scrub(text), text);
        assert_eq!(secrets.scrub("c longprivatekey c"), "c [redacted] c");
    }

    #[test]
    fn the_redaction_marker_is_never_scrubbed_itself() {
        let secrets = Secrets::new(["redacted".to_owned(), "acte".repeat(3)]);

        let once = secrets.scrub("a redacted key");
        let twice = secrets.scrub(&once);

        assert_eq!(once, "a [redacted] key");
        assert_eq!(twice, once);
        assert_eq!(secrets.scrub("[redacted]"), "[redacted]");
    }

    #[test]
    fn every_secret_is_replaced_in_one_pass_longest_first() {
        let secrets = Secrets::new(["abcdefgh".to_owned(), "abcdefgh-ijklmnop".to_owned()]);

        assert_eq!(
            secrets.scrub("x abcdefgh-ijklmnop abcdefgh y"),
            "x [redacted] [redacted] y"
        );
        assert_eq!(secrets.scrub("héllo abcdefgh ü"), "héllo [redacted] ü");
    }

    #[test]
    fn a_request_id_carrying_a_secret_is_dropped() {
        let secrets = Secrets::new(["c".to_owned(), "privSECRET456".to_owned()]);

        assert_eq!(secrets.request_id(" req-abc "), Some("req-abc".to_owned()));
        assert_eq!(secrets.request_id("C"), None);
        assert_eq!(secrets.request_id("privsecret456"), None);
        assert_eq!(secrets.request_id("req-privSECRET456-1"), None);
        assert_eq!(secrets.request_id(""), None);
        assert_eq!(secrets.request_id(&"a".repeat(200)), None);
    }

    #[test]
    fn an_answered_post_never_claims_its_response_was_lost() {
        let answered = Error::OutcomeUnknown {
            method: Method::POST,
            path: "/finance/agreements".to_owned(),
            status: Some(500),
            reason: "Object reference not set".to_owned(),
            request_id: Some("r-1".to_owned()),
        };
        let lost = Error::OutcomeUnknown {
            method: Method::POST,
            path: "/finance/agreements".to_owned(),
            status: None,
            reason: "connection closed".to_owned(),
            request_id: None,
        };

        assert_eq!(
            answered.to_string(),
            "ConnectWise answered 500 to POST /finance/agreements: Object reference not set \
             [request id r-1]: it may or may not have saved the record; look it up before trying \
             again"
        );
        assert!(lost.to_string().contains("never arrived"), "{lost}");
    }

    #[test]
    fn advice_mentions_a_request_id_only_when_there_is_one() {
        let without = Failure::read(405, b"{}", None, None).into_error(
            &Method::GET,
            "/system/info",
            1,
            &secrets(),
        );

        let text = without.to_string();
        assert!(!text.contains("request id"), "{text}");
        assert!(text.contains("time of the call"), "{text}");
        assert!(
            classify(405, "{}")
                .to_string()
                .contains("with the request id")
        );
    }

    #[test]
    fn a_redirect_says_which_address_to_use() {
        let mut failure = Failure::read(301, b"", None, None);
        failure.location = Some("https://cw.example.com/".to_owned());

        let text = failure
            .into_error(&Method::GET, "/system/info", 1, &secrets())
            .to_string();

        assert!(
            text.contains("redirects to https://cw.example.com/"),
            "{text}"
        );
        assert!(
            text.contains("as the site in the connection settings"),
            "{text}"
        );
        assert!(!text.contains("report it"), "{text}");
    }

    #[test]
    fn retryable_errors_are_rate_limits_and_transient_failures() {
        assert!(classify(429, "").is_retryable());
        assert!(classify(504, "").is_retryable());
        assert!(!classify(400, "").is_retryable());
        assert!(!classify(401, "").is_retryable());
        let unknown = Error::OutcomeUnknown {
            method: Method::POST,
            path: "/x".to_owned(),
            status: None,
            reason: "connection closed".to_owned(),
            request_id: None,
        };
        assert!(!unknown.is_retryable());
        assert_eq!(classify(404, "").request_id(), Some("req-1"));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
            .unwrap()
            .with_timezone(&Utc);

        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-4", now), None);
    }
}
