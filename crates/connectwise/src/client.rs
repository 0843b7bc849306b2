//! The HTTP client: discovery, authentication, retries, pacing, paging and logging.
//!
//! How a call behaves:
//!
//! - Every API call carries Basic `companyId+publicKey:privateKey`, the `clientId` header and
//!   the pinned `Accept` version. Discovery (`/login/companyinfo`) carries no credentials.
//! - Each attempt waits for the site's shared limiter (concurrency and rate).
//! - 429 is retried for every verb after `Retry-After` (or a backoff when absent). 502, 503,
//!   504, 500s that mention a timeout and lost connections are retried only for GET, PUT,
//!   PATCH and DELETE. A POST that may have reached the server is never sent again: a lost
//!   response, or an answer of 500, 502 or 504, becomes [`Error::OutcomeUnknown`].
//! - A certificate that is not trusted, or an `https://` site whose server answers in plain
//!   HTTP, fails at once with advice: waiting will not change either.
//! - A 404 makes the client ask `companyinfo` for the codebase once; if it changed, the call
//!   is repeated under the new base.
//! - Redirects are not followed; they are reported with the address to use instead.
//! - Each attempt is logged at debug with method, path template, status, `duration_ms` and
//!   request id (dropped when it carries a credential); each retry once at warn with its
//!   reason.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{Stream, TryStreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::conditions::Conditions;
use crate::error::{Error, Failure, Secrets, parse_retry_after};
use crate::limiter::{self, SiteLimiter};
use crate::models::{CompanyInfo, Count, PatchOperation};
use crate::query::{ListQuery, encode_query_value, next_link, query_string};
use crate::retry::backoff;
use crate::settings::{ConnectionSettings, RetryPolicy};
use crate::site::SiteUrl;

/// The response header that carries ConnectWise's id for a request.
const REQUEST_ID_HEADER: &str = "x-cw-request-id";

/// A connected ConnectWise client. Cheap to clone; clones share one connection pool, one
/// codebase and the site's limiter.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    observer: Option<Arc<dyn CallObserver>>,
}

/// Told about every request a [`Client`] sends, for metrics; see [`Client::observed`].
pub trait CallObserver: Send + Sync {
    /// One attempt ended: `status` is the HTTP status ConnectWise answered with, or `None`
    /// when the request failed in transport. Retries are separate attempts.
    fn attempt_finished(&self, method: &Method, status: Option<StatusCode>);
}

struct Inner {
    http: reqwest::Client,
    site: SiteUrl,
    company_id: String,
    accept: HeaderValue,
    authorization: HeaderValue,
    client_id: HeaderValue,
    retry: RetryPolicy,
    limiter: Arc<SiteLimiter>,
    secrets: Secrets,
    /// `{scheme}://{SiteUrl}/{Codebase}apis/3.0`, without a trailing slash. It changes when
    /// ConnectWise moves the site to a new codebase.
    base: RwLock<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("site", &self.inner.site.to_string())
            .field("company_id", &self.inner.company_id)
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

/// One page of a list, as yielded by [`Client::pages`].
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// 1 for the first page read.
    pub number: u32,
    /// The records of this page not seen on an earlier page.
    pub items: Vec<T>,
    /// Records the server sent on this page, duplicates included.
    pub received: usize,
    /// Whether the server announced another page.
    pub has_more: bool,
}

/// Where a request goes.
#[derive(Clone, Debug)]
enum Target {
    /// A path and query under the API base, such as `/company/companies?pageSize=3`.
    Relative(String),
    /// A full URL on the API's origin that is not under the current base.
    Absolute(Url),
}

/// A response with a success status.
struct Success {
    headers: HeaderMap,
    body: Vec<u8>,
    url: Url,
    request_id: Option<String>,
}

/// What one attempt of a request led to.
enum Attempt {
    Answered {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    /// The request failed in transport. `sent` is false only when the connection could not
    /// be established, so the server cannot have seen the request.
    Lost {
        sent: bool,
        tls: Option<TlsFailure>,
        reason: String,
    },
}

/// A failed TLS handshake that waiting will not fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TlsFailure {
    /// The server's certificate is not trusted.
    Certificate,
    /// The server answered the TLS hello in plain HTTP.
    PlainHttp,
}

impl Client {
    /// Connects to a site: validates the settings, discovers the API address with
    /// `GET /login/companyinfo/{companyId}` (no credentials are sent there) and prepares the
    /// authentication headers.
    ///
    /// Connecting does not test the keys; call [`Client::system_info`] for that.
    pub async fn connect(settings: ConnectionSettings) -> Result<Client, Error> {
        let headers = AuthHeaders::build(&settings)?;
        let http = build_http_client(&settings).await?;
        if settings.insecure {
            tracing::warn!(
                site = %settings.site,
                "TLS certificate verification is switched off for this ConnectWise site"
            );
        }

        let limiter = limiter::for_site(&settings.site.to_string(), &settings.limits);
        // The Basic credential is also listed without its padding, which a server that echoes
        // it may drop.
        let secrets = Secrets::new([
            settings.public_key.clone(),
            settings.private_key.expose_secret().to_owned(),
            settings.client_id.clone(),
            headers.encoded_credentials.clone(),
            headers.encoded_credentials.trim_end_matches('=').to_owned(),
        ]);
        let client = Client {
            observer: None,
            inner: Arc::new(Inner {
                http,
                site: settings.site.clone(),
                company_id: settings.company_id.clone(),
                accept: headers.accept,
                authorization: headers.authorization,
                client_id: headers.client_id,
                retry: settings.retry.clone(),
                limiter,
                secrets,
                base: RwLock::new(String::new()),
            }),
        };

        let base = client.discover().await?;
        tracing::info!(
            site = %client.inner.site,
            api.base = %base,
            "connected to ConnectWise"
        );
        *client.inner.base.write().unwrap_or_else(|p| p.into_inner()) = base;
        Ok(client)
    }

    /// This client with `observer` told about every request attempt; clones share it.
    pub fn observed(mut self, observer: Arc<dyn CallObserver>) -> Client {
        self.observer = Some(observer);
        self
    }

    /// The API base URL in use, `{scheme}://{SiteUrl}/{Codebase}apis/3.0`.
    pub fn base_url(&self) -> String {
        self.inner
            .base
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The site as configured.
    pub fn site(&self) -> &SiteUrl {
        &self.inner.site
    }

    /// `GET {path}` and decode one record, such as `get::<Agreement>("/finance/agreements/5")`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let target = Target::Relative(checked_path(path)?.to_owned());
        let success = self.execute(Method::GET, target, None, false).await?;
        self.decode(&Method::GET, path, &success)
    }

    /// Every record of a collection matching `query`, reading all pages.
    ///
    /// Pages are followed through the `Link` header's `rel="next"` exactly as given and
    /// records are de-duplicated by `id`; a short page alone never ends the read.
    pub async fn list<T>(&self, path: &str, query: &ListQuery) -> Result<Vec<T>, Error>
    where
        T: DeserializeOwned + Send + 'static,
    {
        collect(self.pages(path, query)).await
    }

    /// Like [`Client::list`], in forward-only mode (`pagination-type: forward-only`): the
    /// robust choice for full scans, because rows cannot shift between pages. `orderBy` is not
    /// allowed in this mode.
    pub async fn list_forward_only<T>(&self, path: &str, query: &ListQuery) -> Result<Vec<T>, Error>
    where
        T: DeserializeOwned + Send + 'static,
    {
        collect(self.pages_forward_only(path, query)).await
    }

    /// The pages of a list as a stream, so a caller can show progress or stop early.
    pub fn pages<T>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<Page<T>, Error>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.page_stream(path, query, false)
    }

    /// The pages of a forward-only list as a stream (see [`Client::list_forward_only`]).
    pub fn pages_forward_only<T>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<Page<T>, Error>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.page_stream(path, query, true)
    }

    /// How many records of a collection match `conditions` (`GET {path}/count`).
    pub async fn count(&self, path: &str, conditions: Option<&Conditions>) -> Result<u64, Error> {
        let path = format!("{}/count", checked_path(path)?);
        let mut target = path.clone();
        if let Some(conditions) = conditions {
            target.push_str("?conditions=");
            target.push_str(&encode_query_value(&conditions.to_string()));
        }

        let success = self
            .execute(Method::GET, Target::Relative(target), None, false)
            .await?;
        let count: Count = self.decode(&Method::GET, &path, &success)?;
        Ok(count.count)
    }

    /// `POST {path}` with a JSON body; returns the created record.
    ///
    /// A POST is never repeated after it may have reached the server: if the response is lost,
    /// or the server answers 500, 502 or 504, the result is [`Error::OutcomeUnknown`] and the
    /// caller must look the record up. It is repeated only after a 429 or a failed connection,
    /// when the server cannot have acted.
    pub async fn post<B, T>(&self, path: &str, body: &B) -> Result<T, Error>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.write(Method::POST, path, body).await
    }

    /// `PUT {path}`: replaces the whole record. Fields not sent are cleared.
    pub async fn put<B, T>(&self, path: &str, body: &B) -> Result<T, Error>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.write(Method::PUT, path, body).await
    }

    /// `PATCH {path}` with several operations applied together; returns the updated record.
    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        operations: &[PatchOperation],
    ) -> Result<T, Error> {
        self.write(Method::PATCH, path, operations).await
    }

    /// `DELETE {path}`.
    pub async fn delete(&self, path: &str) -> Result<(), Error> {
        let target = Target::Relative(checked_path(path)?.to_owned());
        self.execute(Method::DELETE, target, None, false).await?;
        Ok(())
    }

    async fn write<B, T>(&self, method: Method, path: &str, body: &B) -> Result<T, Error>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let target = Target::Relative(checked_path(path)?.to_owned());
        let body = serde_json::to_vec(body).map_err(|error| Error::InvalidRequest {
            message: format!("the body for {method} {path} cannot be serialised: {error}"),
        })?;

        let success = self
            .execute(method.clone(), target, Some(body), false)
            .await?;
        self.decode(&method, path, &success)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: &Method,
        path: &str,
        success: &Success,
    ) -> Result<T, Error> {
        serde_json::from_slice(&success.body).map_err(|error| Error::Decode {
            method: method.clone(),
            path: strip_query(path).to_owned(),
            reason: self.inner.secrets.scrub(&error.to_string()),
            request_id: success.request_id.clone(),
        })
    }

    fn page_stream<T>(
        &self,
        path: &str,
        query: &ListQuery,
        forward_only: bool,
    ) -> impl Stream<Item = Result<Page<T>, Error>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let first = first_page_target(path, query, forward_only);
        let state = PagingState {
            client: self.clone(),
            path: strip_query(path).to_owned(),
            next: None,
            first: Some(first),
            forward_only,
            seen_ids: HashSet::new(),
            visited: HashSet::new(),
            number: 0,
        };
        futures::stream::try_unfold(state, |mut state| async move {
            let target = match (state.first.take(), state.next.take()) {
                (Some(first), _) => first?,
                (None, Some(next)) => next,
                (None, None) => return Ok(None),
            };
            let page = state.read_page::<T>(target).await?;
            Ok(Some((page, state)))
        })
    }

    /// Sends a request under the current base, refreshing the codebase once if the server
    /// answers 404 (ConnectWise moves hosted sites to a new codebase at upgrades).
    async fn execute(
        &self,
        method: Method,
        target: Target,
        body: Option<Vec<u8>>,
        forward_only: bool,
    ) -> Result<Success, Error> {
        let mut refreshed = false;
        loop {
            let base = self.base_url();
            let (url, path) = resolve(&base, &target)?;

            // A next-page link comes from the server, so its path is scrubbed before it can
            // reach a log or an error.
            let path = self.inner.secrets.scrub(&path);

            let result = self
                .send(&method, &url, &path, body.as_deref(), forward_only, true)
                .await;
            match result {
                Err(error @ Error::NotFound { .. }) if !refreshed => {
                    refreshed = true;
                    match self.refresh_codebase().await {
                        Ok(true) => continue,
                        Ok(false) => return Err(error),
                        Err(refresh_error) => {
                            tracing::warn!(
                                error = %refresh_error,
                                "could not refresh the ConnectWise codebase after a 404"
                            );
                            return Err(error);
                        }
                    }
                }
                other => return other,
            }
        }
    }

    /// Asks `companyinfo` for the current codebase; returns whether the base URL changed.
    async fn refresh_codebase(&self) -> Result<bool, Error> {
        let fresh = self.discover().await?;

        let mut base = self
            .inner
            .base
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *base == fresh {
            return Ok(false);
        }
        tracing::info!(
            api.old_base = %*base,
            api.base = %fresh,
            "the ConnectWise codebase changed; using the new one"
        );
        *base = fresh;
        Ok(true)
    }

    /// Reads `/login/companyinfo/{companyId}` and builds the API base URL from it.
    async fn discover(&self) -> Result<String, Error> {
        let site = &self.inner.site;
        let company_id = &self.inner.company_id;
        let url = Url::parse(&format!(
            "{site}/login/companyinfo/{}",
            encode_query_value(company_id)
        ))
        .map_err(|error| self.discovery_error(format!("bad discovery URL: {error}"), None))?;

        let success = match self
            .send(
                &Method::GET,
                &url,
                "/login/companyinfo/{id}",
                None,
                false,
                false,
            )
            .await
        {
            Ok(success) => success,
            Err(error @ (Error::Certificate { .. } | Error::PlainHttp { .. })) => {
                return Err(error);
            }
            Err(Error::NotFound { request_id, .. }) => {
                return Err(self.discovery_error(
                    "the site does not know this company id (404); check the company id, which \
                     is what users type into \"Company\" on the ConnectWise login screen"
                        .to_owned(),
                    request_id,
                ));
            }
            Err(error) => {
                let request_id = error.request_id().map(str::to_owned);
                return Err(self.discovery_error(error.discovery_reason(), request_id));
            }
        };
        let info: CompanyInfo = serde_json::from_slice(&success.body).map_err(|error| {
            self.discovery_error(
                format!(
                    "the answer is not a ConnectWise companyinfo body ({error}); check that the \
                     site address points at ConnectWise Manage"
                ),
                success.request_id.clone(),
            )
        })?;

        let codebase = normalise_codebase(info.codebase.as_deref()).ok_or_else(|| {
            self.discovery_error(
                "the site answered without a usable Codebase; check the company id".to_owned(),
                success.request_id.clone(),
            )
        })?;
        let api_site = match info.site_url.as_deref().map(str::trim) {
            Some(reported) if !reported.is_empty() => {
                site.with_reported_site(reported).map_err(|error| {
                    self.discovery_error(
                        format!("the site reported an unusable SiteUrl `{reported}`: {error}"),
                        success.request_id.clone(),
                    )
                })?
            }
            _ => site.api_site(),
        };
        Ok(format!("{api_site}/{codebase}apis/3.0"))
    }

    fn discovery_error(&self, reason: String, request_id: Option<String>) -> Error {
        Error::Discovery {
            site: self.inner.site.to_string(),
            company_id: self.inner.company_id.clone(),
            reason: self.inner.secrets.scrub(&reason),
            request_id,
        }
    }

    /// Sends one request with pacing and retries, and sorts failures into [`Error`].
    async fn send(
        &self,
        method: &Method,
        url: &Url,
        path: &str,
        body: Option<&[u8]>,
        forward_only: bool,
        authenticated: bool,
    ) -> Result<Success, Error> {
        let template = path_template(path);
        let mut attempt: u32 = 0;
        let mut an_earlier_response_was_lost = false;

        loop {
            attempt += 1;

            let permit = self.inner.limiter.acquire().await;
            let started = Instant::now();
            let outcome = self
                .attempt(method, url, body, forward_only, authenticated)
                .await;
            drop(permit);
            let duration_ms = started.elapsed().as_millis() as u64;
            if let Some(observer) = &self.observer {
                let status = match &outcome {
                    Attempt::Answered { status, .. } => Some(*status),
                    Attempt::Lost { .. } => None,
                };
                observer.attempt_finished(method, status);
            }

            let next = match outcome {
                Attempt::Answered {
                    status,
                    headers,
                    body,
                } => {
                    // A server could echo a key in the request id, so it is checked before it
                    // is logged or stored anywhere.
                    let request_id = headers
                        .get(REQUEST_ID_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| self.inner.secrets.request_id(value));
                    tracing::debug!(
                        http.method = %method,
                        http.path = %template,
                        http.status = status.as_u16(),
                        duration_ms,
                        attempt,
                        cw.request_id = request_id.as_deref().unwrap_or(""),
                        "ConnectWise request finished"
                    );

                    // A DELETE whose earlier response was lost and that now finds nothing was
                    // applied by that earlier attempt.
                    let already_deleted = *method == Method::DELETE
                        && status == StatusCode::NOT_FOUND
                        && an_earlier_response_was_lost;
                    if status.is_success() || already_deleted {
                        if already_deleted {
                            tracing::info!(
                                http.path = %template,
                                "a retried DELETE found the record already gone; treating it \
                                 as deleted"
                            );
                        }
                        return Ok(Success {
                            headers,
                            body,
                            url: url.clone(),
                            request_id,
                        });
                    }
                    self.after_failure(method, path, attempt, status, &headers, &body, request_id)
                }
                Attempt::Lost { sent, tls, reason } => {
                    let reason = self.inner.secrets.scrub(&reason);
                    tracing::debug!(
                        http.method = %method,
                        http.path = %template,
                        duration_ms,
                        attempt,
                        error = %reason,
                        "ConnectWise request failed in transport"
                    );
                    an_earlier_response_was_lost |= sent;
                    self.after_loss(method, url, path, attempt, sent, tls, reason)
                }
            };

            match next {
                Next::Retry { reason, delay } => {
                    log_retry(method, &template, attempt, &reason, delay);
                    tokio::time::sleep(delay).await;
                }
                Next::Fail(error) => return Err(error),
            }
        }
    }

    /// Decides what follows an error status: a retry, or the error for the caller.
    #[expect(clippy::too_many_arguments, reason = "a private step of `send`")]
    fn after_failure(
        &self,
        method: &Method,
        path: &str,
        attempt: u32,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        request_id: Option<String>,
    ) -> Next {
        let policy = &self.inner.retry;
        let secrets = &self.inner.secrets;
        let header_text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header_text(header::RETRY_AFTER)
            .and_then(|value| parse_retry_after(&value, chrono::Utc::now()));
        let mut failure = Failure::read(status.as_u16(), body, request_id, retry_after);
        failure.location = header_text(header::LOCATION);

        let retry = if status == StatusCode::TOO_MANY_REQUESTS {
            // The server refused the request, so even a POST is safe to send again.
            match failure.retry_after {
                Some(wait) if wait > policy.max_retry_after => None,
                Some(wait) => Some(("rate limited (429) with Retry-After".to_owned(), wait)),
                None => Some((
                    "rate limited (429) without Retry-After".to_owned(),
                    backoff(policy, attempt),
                )),
            }
        } else if *method == Method::POST && (failure.is_transient() || failure.status == 500) {
            return Next::Fail(self.post_failure(method, path, failure, attempt));
        } else if failure.is_transient() {
            Some((failure.reason(secrets), backoff(policy, attempt)))
        } else {
            None
        };

        match retry {
            Some((reason, delay)) if attempt <= policy.max_retries => Next::Retry { reason, delay },
            _ => Next::Fail(failure.into_error(method, path, attempt, secrets)),
        }
    }

    /// Decides what follows a request lost in transport: a retry, or the error for the caller.
    #[expect(clippy::too_many_arguments, reason = "a private step of `send`")]
    fn after_loss(
        &self,
        method: &Method,
        url: &Url,
        path: &str,
        attempt: u32,
        sent: bool,
        tls: Option<TlsFailure>,
        reason: String,
    ) -> Next {
        // An untrusted certificate will not become trusted, nor a plain HTTP server start
        // speaking TLS, by waiting.
        match tls {
            Some(TlsFailure::Certificate) => {
                return Next::Fail(Error::Certificate {
                    site: url.origin().ascii_serialization(),
                    reason,
                });
            }
            Some(TlsFailure::PlainHttp) => {
                let mut plain = url.clone();
                let port = plain.port_or_known_default();
                if plain.set_scheme("http").is_ok() && plain.set_port(port).is_ok() {
                    return Next::Fail(Error::PlainHttp {
                        site: url.origin().ascii_serialization(),
                        plain_site: plain.origin().ascii_serialization(),
                    });
                }
            }
            None => {}
        }

        // A POST that may have reached the server must not be sent twice.
        if sent && *method == Method::POST {
            return Next::Fail(Error::OutcomeUnknown {
                method: method.clone(),
                path: path.to_owned(),
                status: None,
                reason,
                request_id: None,
            });
        }
        let policy = &self.inner.retry;
        if attempt <= policy.max_retries {
            return Next::Retry {
                reason,
                delay: backoff(policy, attempt),
            };
        }

        // Out of retries: a write that may have been applied has an unknown outcome, anything
        // else is a transient failure the caller may try again later.
        if sent && *method != Method::GET {
            return Next::Fail(Error::OutcomeUnknown {
                method: method.clone(),
                path: path.to_owned(),
                status: None,
                reason: format!("{reason}, after {attempt} attempt(s)"),
                request_id: None,
            });
        }
        Next::Fail(Error::Transient {
            method: method.clone(),
            path: path.to_owned(),
            status: None,
            reason,
            attempts: attempt,
            request_id: None,
        })
    }

    /// A POST answered with a server error is not repeated. A 503 means the server did not
    /// take the request; after a 500, a gateway error or a timeout the record may have been
    /// saved, so the outcome is unknown and the caller must look it up.
    fn post_failure(&self, method: &Method, path: &str, failure: Failure, attempt: u32) -> Error {
        if failure.status == 503 {
            return failure.into_error(method, path, attempt, &self.inner.secrets);
        }
        let message = failure
            .body
            .as_ref()
            .and_then(|body| body.message.as_deref())
            .map(|message| self.inner.secrets.scrub(message))
            .unwrap_or_default();
        Error::OutcomeUnknown {
            method: method.clone(),
            path: path.to_owned(),
            status: Some(failure.status),
            reason: message,
            request_id: failure.request_id,
        }
    }

    /// One HTTP exchange, reading the whole body.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        forward_only: bool,
        authenticated: bool,
    ) -> Attempt {
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(header::CACHE_CONTROL, "no-cache");
        if authenticated {
            request = request
                .header(header::ACCEPT, self.inner.accept.clone())
                .header(header::AUTHORIZATION, self.inner.authorization.clone())
                .header("clientId", self.inner.client_id.clone());
        } else {
            request = request.header(header::ACCEPT, "application/json");
        }
        if forward_only {
            request = request.header("pagination-type", "forward-only");
        }
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }

        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let sent = !error.is_connect();
                let reason = describe_transport_error(error);
                let tls = if sent {
                    None
                } else if is_certificate_problem(&reason) {
                    Some(TlsFailure::Certificate)
                } else if url.scheme() == "https" && is_plain_http_answer(&reason) {
                    Some(TlsFailure::PlainHttp)
                } else {
                    None
                };
                return Attempt::Lost { sent, tls, reason };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        match response.bytes().await {
            Ok(bytes) => Attempt::Answered {
                status,
                headers,
                body: bytes.to_vec(),
            },
            Err(error) => Attempt::Lost {
                sent: true,
                tls: None,
                reason: format!(
                    "the response body was cut off: {}",
                    describe_transport_error(error)
                ),
            },
        }
    }
}

/// What `send` does after an attempt that did not succeed.
enum Next {
    /// Wait `delay`, then try again; `reason` is logged.
    Retry { reason: String, delay: Duration },
    /// Give up with this error.
    Fail(Error),
}

/// State carried between pages of a list.
struct PagingState {
    client: Client,
    path: String,
    first: Option<Result<Target, Error>>,
    next: Option<Target>,
    forward_only: bool,
    seen_ids: HashSet<i64>,
    visited: HashSet<String>,
    number: u32,
}

impl PagingState {
    async fn read_page<T: DeserializeOwned>(&mut self, target: Target) -> Result<Page<T>, Error> {
        let client = self.client.clone();
        let success = client
            .execute(Method::GET, target, None, self.forward_only)
            .await?;
        let records: Vec<serde_json::Value> = client.decode(&Method::GET, &self.path, &success)?;

        // Only `rel="next"` decides whether there is more: a short page may be followed by
        // more rows, and a full page may be the last.
        let next = success
            .headers
            .get_all(header::LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|value| next_link(value, &success.url));
        let next = match next {
            Some(url) => {
                if !self.visited.insert(url.to_string()) {
                    return Err(Error::Decode {
                        method: Method::GET,
                        path: self.path.clone(),
                        reason: "the server's next-page link points at a page already read"
                            .to_owned(),
                        request_id: success.request_id.clone(),
                    });
                }
                Some(link_target(&client.base_url(), url))
            }
            None => None,
        };

        let received = records.len();
        let mut items = Vec::with_capacity(received);
        for record in records {
            let id = record.get("id").and_then(serde_json::Value::as_i64);
            if let Some(id) = id
                && !self.seen_ids.insert(id)
            {
                continue;
            }
            let item = serde_json::from_value(record).map_err(|error| Error::Decode {
                method: Method::GET,
                path: self.path.clone(),
                reason: client.inner.secrets.scrub(&error.to_string()),
                request_id: success.request_id.clone(),
            })?;
            items.push(item);
        }

        self.number += 1;
        self.next = next;
        Ok(Page {
            number: self.number,
            items,
            received,
            has_more: self.next.is_some(),
        })
    }
}

async fn collect<T>(
    pages: impl Stream<Item = Result<Page<T>, Error>> + Send + 'static,
) -> Result<Vec<T>, Error> {
    let mut pages = std::pin::pin!(pages);
    let mut all = Vec::new();
    while let Some(page) = pages.try_next().await? {
        all.extend(page.items);
    }
    Ok(all)
}

fn first_page_target(path: &str, query: &ListQuery, forward_only: bool) -> Result<Target, Error> {
    let path = checked_path(path)?;
    if forward_only && query.order_by.is_some() {
        return Err(Error::InvalidRequest {
            message: "orderBy cannot be combined with forward-only paging; forward-only pages \
                      are always in id order"
                .to_owned(),
        });
    }

    let mut parameters = query.parameters(!forward_only);
    if !forward_only {
        parameters.push(("page", "1".to_owned()));
    }
    Ok(Target::Relative(format!(
        "{path}?{}",
        query_string(&parameters)
    )))
}

/// Turns a next-page URL into a target. A URL under the current base becomes relative, so a
/// codebase refresh applies to it; a URL on another origin is moved onto the base's origin so
/// the credentials are never sent to a host the user did not configure.
fn link_target(base: &str, url: Url) -> Target {
    let Ok(base_url) = Url::parse(base) else {
        return Target::Absolute(url);
    };
    let mut relative = url.path().to_owned();
    if let Some(query) = url.query() {
        relative.push('?');
        relative.push_str(query);
    }

    if url.origin() != base_url.origin() {
        tracing::debug!(
            link.origin = %url.origin().ascii_serialization(),
            "a next-page link names another origin; following its path on the API origin"
        );
        let mut moved = base_url.clone();
        moved.set_path(url.path());
        moved.set_query(url.query());
        return Target::Absolute(moved);
    }
    match relative.strip_prefix(base_url.path()) {
        Some(rest) if rest.starts_with('/') => Target::Relative(rest.to_owned()),
        _ => Target::Absolute(url),
    }
}

/// Builds the URL of a target and the path used in logs and errors.
fn resolve(base: &str, target: &Target) -> Result<(Url, String), Error> {
    match target {
        Target::Relative(relative) => {
            let url = Url::parse(&format!("{base}{relative}")).map_err(|error| {
                Error::InvalidRequest {
                    message: format!("`{relative}` does not form a valid URL: {error}"),
                }
            })?;
            Ok((url, strip_query(relative).to_owned()))
        }
        Target::Absolute(url) => Ok((url.clone(), url.path().to_owned())),
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Checks that an API path is a plain absolute path such as `/finance/agreements/5`.
fn checked_path(path: &str) -> Result<&str, Error> {
    let valid = path.starts_with('/')
        && path.len() > 1
        && !path.contains("..")
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.'));
    if valid {
        Ok(path)
    } else {
        Err(Error::InvalidRequest {
            message: format!(
                "`{path}` is not an API path: use the form /finance/agreements/5 and pass \
                 filters through ListQuery"
            ),
        })
    }
}

/// The path with numeric segments replaced by `{id}`, for logs with few distinct values.
pub(crate) fn path_template(path: &str) -> String {
    strip_query(path)
        .split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Ensures a codebase looks like `v2025_1/`: no leading slash, one trailing slash, and only
/// characters that cannot change the URL's structure.
fn normalise_codebase(codebase: Option<&str>) -> Option<String> {
    let trimmed = codebase?.trim().trim_matches('/');
    let valid = !trimmed.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    valid.then(|| format!("{trimmed}/"))
}

fn log_retry(method: &Method, template: &str, attempt: u32, reason: &str, delay: Duration) {
    tracing::warn!(
        http.method = %method,
        http.path = %template,
        attempt,
        retry.delay_ms = delay.as_millis() as u64,
        retry.reason = %reason,
        "retrying ConnectWise request {method} {template} after {reason}"
    );
}

/// A transport error as a short sentence, without the URL.
fn describe_transport_error(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read"
    } else {
        "the connection failed"
    };
    let error = error.without_url();
    let mut details = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&error);
    while let Some(cause) = source {
        details.push(cause.to_string());
        source = cause.source();
    }
    if details.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", details.join(": "))
    }
}

/// Whether a connection failure is about the server's certificate rather than the network.
fn is_certificate_problem(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("certificate") || reason.contains("unknownissuer")
}

/// Whether a failed TLS handshake looks like a plain HTTP server answering it: rustls reads
/// the `HTTP/1.1 …` status line as a record of an invalid content type.
fn is_plain_http_answer(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("invalidcontenttype") || reason.contains("corrupt message")
}

/// The headers sent on every API call, built once from the settings.
struct AuthHeaders {
    accept: HeaderValue,
    authorization: HeaderValue,
    client_id: HeaderValue,
    encoded_credentials: String,
}

impl AuthHeaders {
    fn build(settings: &ConnectionSettings) -> Result<AuthHeaders, Error> {
        let config = |message: &str| Error::Config {
            message: message.to_owned(),
        };
        if settings.company_id.trim().is_empty() {
            return Err(config(
                "the company id is empty: enter the ConnectWise login company",
            ));
        }
        if settings.public_key.trim().is_empty() || settings.private_key.expose_secret().is_empty()
        {
            return Err(config(
                "the public or private key is empty: create an API key for the API member in \
                 ConnectWise (System > Members > API Members) and enter both halves",
            ));
        }
        if settings.client_id.trim().is_empty() {
            return Err(config(
                "the client id is empty: register the integration at developer.connectwise.com \
                 and enter its client id",
            ));
        }
        let version = &settings.api_version;
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(Error::Config {
                message: format!(
                    "the API version `{version}` is not of the form 2025.1: enter a ConnectWise \
                     release number"
                ),
            });
        }

        let encoded_credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}+{}:{}",
            settings.company_id.trim(),
            settings.public_key.trim(),
            settings.private_key.expose_secret()
        ));
        let mut authorization = HeaderValue::from_str(&format!("Basic {encoded_credentials}"))
            .map_err(|_| config("the keys contain characters that cannot be sent"))?;
        authorization.set_sensitive(true);
        let mut client_id = HeaderValue::from_str(settings.client_id.trim())
            .map_err(|_| config("the client id contains characters that cannot be sent"))?;
        client_id.set_sensitive(true);
        let accept = HeaderValue::from_str(&format!(
            "application/vnd.connectwise.com+json; version={version}"
        ))
        .map_err(|_| config("the API version cannot be sent"))?;

        Ok(AuthHeaders {
            accept,
            authorization,
            client_id,
            encoded_credentials,
        })
    }
}

async fn build_http_client(settings: &ConnectionSettings) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(settings.request_timeout)
        .connect_timeout(settings.connect_timeout)
        .user_agent(concat!("hyalto-connectwise/", env!("CARGO_PKG_VERSION")))
        // A redirected POST would silently become a GET, and a redirect to another host
        // would drop the credentials; a redirect is reported so the user fixes the address.
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(settings.insecure);

    if let Some(path) = &settings.ca_file {
        let pem = tokio::fs::read(path).await.map_err(|error| Error::Config {
            message: format!(
                "the CA file {} cannot be read ({error}): check the path and permissions",
                path.display()
            ),
        })?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| Error::Config {
                message: format!(
                    "the CA file {} is not PEM ({error}): export the CA certificate in PEM form",
                    path.display()
                ),
            })?;
        if certificates.is_empty() {
            return Err(Error::Config {
                message: format!(
                    "the CA file {} holds no certificate: export the CA certificate in PEM form",
                    path.display()
                ),
            });
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }

    builder.build().map_err(|error| Error::Config {
        message: format!("the HTTP client cannot be built: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_segments_become_id_placeholders() {
        assert_eq!(
            path_template("/finance/agreements/42/additions/7?x=1"),
            "/finance/agreements/{id}/additions/{id}"
        );
        assert_eq!(
            path_template("/apis/3.0/system/info"),
            "/apis/3.0/system/info"
        );
    }

    #[test]
    fn certificate_failures_are_recognised() {
        assert!(is_certificate_problem(
            "could not connect: invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_certificate_problem(
            "could not connect: Connection refused (os error 111)"
        ));
    }

    #[test]
    fn a_plain_http_answer_to_a_tls_hello_is_recognised() {
        assert!(is_plain_http_answer(
            "could not connect: client error (Connect): received corrupt message of type \
             InvalidContentType"
        ));
        assert!(!is_plain_http_answer(
            "could not connect: Connection refused (os error 111)"
        ));
        assert!(!is_plain_http_answer(
            "could not connect: invalid peer certificate: UnknownIssuer"
        ));
    }

    #[test]
    fn api_paths_are_checked() {
        assert!(checked_path("/finance/agreements/5").is_ok());
        assert!(checked_path("/procurement/unitOfMeasures").is_ok());
        for bad in [
            "",
            "/",
            "finance",
            "/a?b=1",
            "/a/../b",
            "/a b",
            "//evil.example.com/x",
        ] {
            assert!(checked_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn codebases_are_normalised_and_validated() {
        assert_eq!(
            normalise_codebase(Some("v2025_1/")).as_deref(),
            Some("v2025_1/")
        );
        assert_eq!(
            normalise_codebase(Some("/v4_6_release")).as_deref(),
            Some("v4_6_release/")
        );
        assert_eq!(normalise_codebase(Some("")), None);
        assert_eq!(normalise_codebase(Some("a/../b/")), None);
        assert_eq!(normalise_codebase(None), None);
    }

    #[test]
    fn next_links_under_the_base_become_relative() {
        let base = "http://127.0.0.1:8088/v2025_1/apis/3.0";
        let link = Url::parse(
            "http://127.0.0.1:8088/v2025_1/apis/3.0/company/companies?pageSize=3&page=2",
        )
        .unwrap();

        let Target::Relative(relative) = link_target(base, link) else {
            panic!("expected a relative target");
        };
        assert_eq!(relative, "/company/companies?pageSize=3&page=2");
    }

    #[test]
    fn next_links_to_another_host_stay_on_the_api_host() {
        let base = "https://api-na.myconnectwise.net/v2025_1/apis/3.0";
        let link = Url::parse("https://evil.example.com/v2025_1/apis/3.0/company/companies?page=2")
            .unwrap();

        let Target::Absolute(url) = link_target(base, link) else {
            panic!("expected an absolute target");
        };
        assert_eq!(
            url.as_str(),
            "https://api-na.myconnectwise.net/v2025_1/apis/3.0/company/companies?page=2"
        );
    }

    #[test]
    fn forward_only_paging_refuses_order_by_and_omits_page() {
        let query = ListQuery {
            order_by: Some("name".to_owned()),
            ..ListQuery::default()
        };
        assert!(matches!(
            first_page_target("/company/companies", &query, true),
            Err(Error::InvalidRequest { .. })
        ));

        let Ok(Target::Relative(first)) =
            first_page_target("/company/companies", &ListQuery::default(), true)
        else {
            panic!("expected a relative target");
        };
        assert_eq!(first, "/company/companies?pageSize=1000");
    }

    #[test]
    fn the_authorization_header_is_basic_company_plus_public_colon_private() {
        let settings = ConnectionSettings::new(
            SiteUrl::parse("cw.example.com").unwrap(),
            "acme",
            "pub",
            "priv".to_owned().into(),
            "client",
        );

        let headers = AuthHeaders::build(&settings).unwrap();

        let expected = base64::engine::general_purpose::STANDARD.encode("acme+pub:priv");
        assert_eq!(
            headers.authorization.to_str().unwrap(),
            format!("Basic {expected}")
        );
        assert!(headers.authorization.is_sensitive());
        assert_eq!(
            headers.accept.to_str().unwrap(),
            "application/vnd.connectwise.com+json; version=2025.1"
        );
    }

    #[test]
    fn empty_credentials_and_odd_versions_are_configuration_errors() {
        let mut settings = ConnectionSettings::new(
            SiteUrl::parse("cw.example.com").unwrap(),
            "acme",
            "pub",
            "priv".to_owned().into(),
            "",
        );
        assert!(matches!(
            AuthHeaders::build(&settings),
            Err(Error::Config { .. })
        ));

        settings.client_id = "client".to_owned();
        settings.api_version = "2025.1\r\nX-Evil: 1".to_owned();
        assert!(matches!(
            AuthHeaders::build(&settings),
            Err(Error::Config { .. })
        ));
    }
}
