//! Connection settings: where the site is, which keys to use, and how hard to push it.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::site::SiteUrl;

/// The API model version pinned in the `Accept` header unless the caller chooses another.
pub const DEFAULT_API_VERSION: &str = "2025.1";

/// Everything needed to talk to one ConnectWise Manage site.
///
/// Build it with [`ConnectionSettings::new`] and adjust the public fields. `Debug` never prints
/// the public key, the private key or the client id.
#[derive(Clone)]
pub struct ConnectionSettings {
    /// The site as the user typed it (see [`SiteUrl::parse`]).
    pub site: SiteUrl,
    /// The login company id (what users type into "Company" on the ConnectWise login screen).
    pub company_id: String,
    /// The public half of the API member's key.
    pub public_key: String,
    /// The private half of the API member's key.
    pub private_key: SecretString,
    /// The integration's client id from developer.connectwise.com, sent as the `clientId` header.
    pub client_id: String,
    /// The API model version pinned in the `Accept` header, such as `2025.1`.
    pub api_version: String,
    /// A PEM file with extra trusted certificate authorities, for on-premise servers whose
    /// certificate comes from a private CA.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only for lab servers: it removes all protection against
    /// an impostor reading the keys.
    pub insecure: bool,
    /// How many requests may run at once and how many may start per second.
    pub limits: Limits,
    /// When and how failed requests are retried.
    pub retry: RetryPolicy,
    /// How long one HTTP attempt may take, from connecting to the last byte of the response.
    pub request_timeout: Duration,
    /// How long establishing a TCP/TLS connection may take.
    pub connect_timeout: Duration,
}

impl ConnectionSettings {
    /// Settings with the given site and credentials and defaults for everything else.
    pub fn new(
        site: SiteUrl,
        company_id: impl Into<String>,
        public_key: impl Into<String>,
        private_key: SecretString,
        client_id: impl Into<String>,
    ) -> ConnectionSettings {
        ConnectionSettings {
            site,
            company_id: company_id.into(),
            public_key: public_key.into(),
            private_key,
            client_id: client_id.into(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            ca_file: None,
            insecure: false,
            limits: Limits::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys and the client id are credentials; only their presence is shown.
        f.debug_struct("ConnectionSettings")
            .field("site", &self.site.to_string())
            .field("company_id", &self.company_id)
            .field("public_key", &Redacted(&self.public_key))
            .field("private_key", &"[redacted]")
            .field("client_id", &Redacted(&self.client_id))
            .field("api_version", &self.api_version)
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.insecure)
            .field("limits", &self.limits)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Shows whether a credential is set without showing it.
struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("[redacted]")
        }
    }
}

/// Pacing applied to every request to one site, shared by all clients of that site in the
/// process.
///
/// The first client that connects to a site fixes the limits for that site; later clients of
/// the same site share them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests in flight at once (ConnectWise advises a handful at most).
    pub max_concurrent: usize,
    /// Requests started per second on average.
    pub requests_per_second: NonZeroU32,
    /// Requests that may start back to back before the rate applies.
    pub burst: NonZeroU32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_concurrent: 4,
            requests_per_second: NonZeroU32::new(10).expect("ten is not zero"),
            burst: NonZeroU32::new(10).expect("ten is not zero"),
        }
    }
}

/// How failed requests are retried.
///
/// Only failures that are safe to repeat are retried: 429 for every verb, and 502/503/504,
/// 500 "timeout" answers and lost connections only for GET, PUT, PATCH and DELETE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts in all).
    pub max_retries: u32,
    /// The first backoff delay; each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// The longest backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits for; a longer one is returned to the caller as
    /// [`crate::Error::RateLimited`] instead of blocking the call.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(120),
        }
    }
}
