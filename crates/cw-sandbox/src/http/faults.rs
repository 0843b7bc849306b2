//! Fault injection: latency, rate limiting, server errors and commit-then-drop.
//!
//! Faults come in two flavours. Shares (`rate_limit_share`, ...) are random and model a flaky
//! production server for demos and benchmarks. Rules are deterministic one-shot entries for
//! tests ("the next 2 POSTs to additions: commit-then-drop"), consumed in order.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::routes::{self, same_template};

/// The HTTP methods the sandbox serves on some route.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The status codes a random server error is drawn from when none are configured.
pub const DEFAULT_SERVER_ERROR_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// The faults the sandbox injects. The default injects none.
///
/// Serialised as camelCase JSON; every field may be omitted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    /// A fixed delay before every API request is answered, in milliseconds.
    pub latency_ms: u64,
    /// A random extra delay of up to this many milliseconds.
    pub jitter_ms: u64,
    /// The share (0..1) of API requests answered `429 Too Many Requests`.
    pub rate_limit_share: f64,
    /// The `Retry-After` seconds of a random 429; 0 means 1.
    pub retry_after_secs: u64,
    /// The share (0..1) of those 429s whose body is an HTML page, as a CDN would send.
    pub html_share: f64,
    /// The share (0..1) of API requests answered with a server error.
    pub server_error_share: f64,
    /// The statuses a random server error is drawn from; empty means 500, 502, 503 and 504.
    pub server_error_statuses: Vec<u16>,
    /// The share (0..1) of POST and PATCH requests whose write is committed and whose
    /// connection is then closed before any response byte is sent.
    pub drop_share: f64,
    /// Deterministic one-shot rules, consumed in order before any random fault is drawn.
    pub rules: Vec<FaultRule>,
}

impl FaultConfig {
    /// Reads a fault configuration from JSON text (a `--faults` file or the body of
    /// `PUT /_sandbox/faults`) and checks it as [`Faults::new`] does.
    ///
    /// The text must hold a JSON object: serde would otherwise also fill the struct from an
    /// array by position, so `[5, 0, 0.5]` would silently set the first three fields.
    pub fn from_json(text: &[u8]) -> Result<FaultConfig, String> {
        let config: FaultConfig = from_json_object(text)?;
        validate(&config)?;
        Ok(config)
    }
}

/// Deserialises `text`, which must hold a JSON object with named fields.
pub(crate) fn from_json_object<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, String> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|error| format!("not valid JSON: {error}"))?;
    if !value.is_object() {
        let found = match value {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::Object(_) => "an object",
        };
        return Err(format!(
            "expected a JSON object with named fields (see docs/cw-sandbox.md), found {found}"
        ));
    }
    serde_json::from_value(value).map_err(|error| error.to_string())
}

/// What a fault does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `429` with `Retry-After`, a ConnectWise JSON body or (with `html`) a CDN page.
    RateLimit,
    /// A 5xx status; a 500 says "timeout" in its message, as the transient ones do.
    ServerError,
    /// The write is committed, then the connection is closed without a response.
    CommitThenDrop,
}

/// A deterministic fault for the next `count` requests that match `method` and
/// `path_template` (either may be omitted to match any).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// The HTTP method to match, case-insensitively; `None` matches every method.
    #[serde(default)]
    pub method: Option<String>,
    /// The route template to match, e.g. `/finance/agreements/{id}/additions`; placeholder
    /// names do not matter. `None` matches every route.
    #[serde(default)]
    pub path_template: Option<String>,
    /// What happens to a matching request.
    pub kind: FaultKind,
    /// How many matching requests the rule applies to; at least one.
    #[serde(default = "one")]
    pub count: u32,
    /// For `server_error`: the status (default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// For `rate_limit`: the `Retry-After` seconds (default 1).
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// For `rate_limit`: answer with an HTML page instead of a JSON body.
    #[serde(default)]
    pub html: bool,
}

fn one() -> u32 {
    1
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer 429 with `Retry-After: retry_after_secs`.
    RateLimit {
        /// The `Retry-After` seconds.
        retry_after_secs: u64,
        /// Answer with a CDN's HTML page instead of a ConnectWise JSON body.
        html: bool,
    },
    /// Answer with this 5xx status.
    ServerError {
        /// The status, 500 to 599.
        status: u16,
    },
    /// Run the request, then close the connection without answering.
    CommitThenDrop,
}

/// The run-time fault state: the configuration plus what is left of its rules.
#[derive(Debug, Default)]
pub struct Faults {
    config: FaultConfig,
}

impl Faults {
    /// Starts from `config`, checking its shares and statuses.
    pub fn new(config: FaultConfig) -> Result<Self, String> {
        validate(&config)?;
        Ok(Self { config })
    }

    /// The current configuration, including the rules not yet consumed.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Replaces the whole configuration.
    pub fn replace(&mut self, config: FaultConfig) -> Result<(), String> {
        validate(&config)?;
        self.config = config;
        Ok(())
    }

    /// Appends a one-shot rule behind the existing ones.
    pub fn push_rule(&mut self, rule: FaultRule) -> Result<(), String> {
        validate_rule(&rule)?;
        self.config.rules.push(rule);
        Ok(())
    }

    /// The delay to apply before answering: the fixed latency plus a random jitter.
    pub fn delay(&self) -> Duration {
        let jitter = if self.config.jitter_ms > 0 {
            rand::random_range(0..=self.config.jitter_ms)
        } else {
            0
        };
        Duration::from_millis(self.config.latency_ms.saturating_add(jitter))
    }

    /// Picks the fault for a request to `template` with `method`, consuming a matching rule
    /// first; `None` means the request is served normally.
    pub fn choose(&mut self, method: &str, template: &str) -> Option<Fault> {
        if let Some(fault) = self.consume_rule(method, template) {
            return Some(fault);
        }

        let config = &self.config;
        if draw(config.rate_limit_share) {
            return Some(Fault::RateLimit {
                retry_after_secs: config.retry_after_secs.max(1),
                html: draw(config.html_share),
            });
        }
        if draw(config.server_error_share) {
            let statuses: &[u16] = if config.server_error_statuses.is_empty() {
                &DEFAULT_SERVER_ERROR_STATUSES
            } else {
                &config.server_error_statuses
            };
            let status = statuses[rand::random_range(0..statuses.len())];
            return Some(Fault::ServerError { status });
        }
        let is_write = method.eq_ignore_ascii_case("POST") || method.eq_ignore_ascii_case("PATCH");
        if is_write && draw(config.drop_share) {
            return Some(Fault::CommitThenDrop);
        }

        None
    }

    fn consume_rule(&mut self, method: &str, template: &str) -> Option<Fault> {
        let position = self.config.rules.iter().position(|rule| {
            let method_matches = rule
                .method
                .as_deref()
                .is_none_or(|wanted| wanted.eq_ignore_ascii_case(method));
            let template_matches = rule
                .path_template
                .as_deref()
                .is_none_or(|wanted| same_template(wanted, template));
            method_matches && template_matches
        })?;

        // A rule is used up once it has applied to `count` requests; it then leaves the queue
        // so that `GET /_sandbox/faults` shows only what is still pending.
        let rule = &mut self.config.rules[position];
        let fault = match rule.kind {
            FaultKind::RateLimit => Fault::RateLimit {
                retry_after_secs: rule.retry_after_secs.unwrap_or(1),
                html: rule.html,
            },
            FaultKind::ServerError => Fault::ServerError {
                status: rule.status.unwrap_or(503),
            },
            FaultKind::CommitThenDrop => Fault::CommitThenDrop,
        };
        rule.count = rule.count.saturating_sub(1);
        if rule.count == 0 {
            self.config.rules.remove(position);
        }

        Some(fault)
    }
}

fn draw(share: f64) -> bool {
    share > 0.0 && rand::random::<f64>() < share
}

fn validate(config: &FaultConfig) -> Result<(), String> {
    let shares = [
        ("rateLimitShare", config.rate_limit_share),
        ("htmlShare", config.html_share),
        ("serverErrorShare", config.server_error_share),
        ("dropShare", config.drop_share),
    ];
    for (name, share) in shares {
        if !(0.0..=1.0).contains(&share) {
            return Err(format!("{name} must be between 0 and 1, got {share}"));
        }
    }

    for status in &config.server_error_statuses {
        validate_server_status(*status)?;
    }

    config.rules.iter().try_for_each(validate_rule)
}

fn validate_rule(rule: &FaultRule) -> Result<(), String> {
    if rule.count == 0 {
        return Err("a fault rule's count must be at least 1".to_owned());
    }
    if let Some(status) = rule.status {
        validate_server_status(status)?;
    }

    // A rule that names a method or route the sandbox never serves would sit in the queue
    // forever, so it is refused as `--deny` refuses such denials.
    let method = rule.method.as_deref().map(str::trim);
    if let Some(method) = method
        && !METHODS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(method))
    {
        return Err(format!(
            "fault rule method {method:?} is not an HTTP verb the sandbox serves; use GET, POST, \
             PUT, PATCH or DELETE, or leave method out to match every verb"
        ));
    }
    let Some(template) = rule.path_template.as_deref() else {
        return Ok(());
    };
    let Some(allowed) = routes::methods_of_template(template) else {
        return Err(format!(
            "fault rule pathTemplate {template:?} is not a route the sandbox serves; use one of \
             {} (placeholder names do not matter; see docs/cw-sandbox.md)",
            routes::templates().join(", ")
        ));
    };
    if let Some(method) = method
        && !allowed
            .iter()
            .any(|known| known.as_str().eq_ignore_ascii_case(method))
    {
        let allowed: Vec<&str> = allowed.iter().map(|known| known.as_str()).collect();
        return Err(format!(
            "fault rule {method} {template} can never fire: that route answers only {}",
            allowed.join(", ")
        ));
    }
    Ok(())
}

fn validate_server_status(status: u16) -> Result<(), String> {
    if (500..=599).contains(&status) {
        Ok(())
    } else {
        Err(format!("server error status {status} is not a 5xx status"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        method: Option<&str>,
        template: Option<&str>,
        kind: FaultKind,
        count: u32,
    ) -> FaultRule {
        FaultRule {
            method: method.map(str::to_owned),
            path_template: template.map(str::to_owned),
            kind,
            count,
            status: None,
            retry_after_secs: None,
            html: false,
        }
    }

    #[test]
    fn no_faults_are_injected_by_default() {
        let mut faults = Faults::default();

        let chosen: Vec<_> = (0..100)
            .filter_map(|_| faults.choose("POST", "/finance/agreements"))
            .collect();

        assert!(chosen.is_empty());
        assert_eq!(faults.delay(), Duration::ZERO);
    }

    #[test]
    fn a_rule_applies_count_times_to_matching_requests_only() {
        let mut faults = Faults::default();
        faults
            .push_rule(rule(
                Some("post"),
                Some("/finance/agreements/{agreementId}/additions"),
                FaultKind::CommitThenDrop,
                2,
            ))
            .unwrap();

        let get = faults.choose("GET", "/finance/agreements/{id}/additions");
        let first = faults.choose("POST", "/finance/agreements/{id}/additions");
        let second = faults.choose("POST", "/finance/agreements/{id}/additions");
        let third = faults.choose("POST", "/finance/agreements/{id}/additions");

        assert_eq!(get, None);
        assert_eq!(first, Some(Fault::CommitThenDrop));
        assert_eq!(second, Some(Fault::CommitThenDrop));
        assert_eq!(third, None);
        assert!(faults.config().rules.is_empty());
    }

    #[test]
    fn rules_are_consumed_in_order() {
        let mut faults = Faults::default();
        let mut server_error = rule(None, None, FaultKind::ServerError, 1);
        server_error.status = Some(502);
        faults.push_rule(server_error).unwrap();
        faults
            .push_rule(rule(None, None, FaultKind::RateLimit, 1))
            .unwrap();

        let first = faults.choose("GET", "/system/info");
        let second = faults.choose("GET", "/system/info");

        assert_eq!(first, Some(Fault::ServerError { status: 502 }));
        assert_eq!(
            second,
            Some(Fault::RateLimit {
                retry_after_secs: 1,
                html: false
            })
        );
    }

    #[test]
    fn a_share_of_one_always_faults_and_only_writes_are_dropped() {
        let mut faults = Faults::new(FaultConfig {
            drop_share: 1.0,
            ..FaultConfig::default()
        })
        .unwrap();

        assert_eq!(faults.choose("GET", "/system/info"), None);
        assert_eq!(
            faults.choose("PATCH", "/finance/agreements/{id}"),
            Some(Fault::CommitThenDrop)
        );
    }

    #[test]
    fn a_rate_limit_share_of_one_uses_the_configured_wait_and_html_share() {
        let mut faults = Faults::new(FaultConfig {
            rate_limit_share: 1.0,
            html_share: 1.0,
            retry_after_secs: 4,
            ..FaultConfig::default()
        })
        .unwrap();

        let fault = faults.choose("GET", "/system/info");

        assert_eq!(
            fault,
            Some(Fault::RateLimit {
                retry_after_secs: 4,
                html: true
            })
        );
    }

    #[test]
    fn the_delay_stays_between_latency_and_latency_plus_jitter() {
        let faults = Faults::new(FaultConfig {
            latency_ms: 10,
            jitter_ms: 5,
            ..FaultConfig::default()
        })
        .unwrap();

        let delays: Vec<Duration> = (0..200).map(|_| faults.delay()).collect();

        assert!(delays.iter().all(|delay| {
            (Duration::from_millis(10)..=Duration::from_millis(15)).contains(delay)
        }));
        assert!(
            delays
                .iter()
                .any(|delay| *delay > Duration::from_millis(10))
        );
    }

    #[test]
    fn a_share_outside_zero_to_one_is_rejected() {
        let result = Faults::new(FaultConfig {
            rate_limit_share: 1.5,
            ..FaultConfig::default()
        });

        assert!(result.unwrap_err().contains("rateLimitShare"));
    }

    #[test]
    fn a_rule_with_an_unknown_verb_is_rejected() {
        let mut faults = Faults::default();

        let error = faults
            .push_rule(rule(Some("FETCH"), None, FaultKind::ServerError, 1))
            .unwrap_err();

        assert!(error.contains("FETCH"), "{error}");
        assert!(faults.config().rules.is_empty());
    }

    #[test]
    fn a_rule_for_a_route_the_sandbox_does_not_serve_is_rejected_with_the_routes_listed() {
        let mut faults = Faults::default();

        let error = faults
            .push_rule(rule(
                None,
                Some("/no/such/route"),
                FaultKind::ServerError,
                1,
            ))
            .unwrap_err();

        assert!(error.contains("/no/such/route"), "{error}");
        assert!(
            error.contains("/finance/agreements/{id}/additions"),
            "{error}"
        );
    }

    #[test]
    fn a_rule_for_a_verb_its_route_never_answers_is_rejected() {
        let mut faults = Faults::default();

        let refused = faults.push_rule(rule(
            Some("POST"),
            Some("/system/info"),
            FaultKind::ServerError,
            1,
        ));
        let lookup = faults.push_rule(rule(
            Some("get"),
            Some("/login/companyinfo/{id}"),
            FaultKind::ServerError,
            1,
        ));

        assert!(refused.unwrap_err().contains("never fire"));
        assert_eq!(lookup, Ok(()));
    }

    #[test]
    fn a_fault_file_with_an_unknown_route_is_rejected_as_a_whole() {
        let config = FaultConfig {
            rules: vec![rule(
                Some("GET"),
                Some("/service/tickets"),
                FaultKind::RateLimit,
                1,
            )],
            ..FaultConfig::default()
        };

        assert!(Faults::new(config).is_err());
    }

    #[test]
    fn a_fault_configuration_given_as_an_array_is_refused() {
        let positional = FaultConfig::from_json(b"[5, 0, 0.5]");
        let named = FaultConfig::from_json(br#"{"latencyMs": 5, "rateLimitShare": 0.5}"#);

        assert!(positional.unwrap_err().contains("JSON object"));
        assert_eq!(named.unwrap().rate_limit_share, 0.5);
    }

    #[test]
    fn a_non_5xx_server_error_status_is_rejected() {
        let result = Faults::new(FaultConfig {
            server_error_statuses: vec![404],
            ..FaultConfig::default()
        });

        assert!(result.is_err());
    }

    #[test]
    fn the_config_round_trips_through_camel_case_json() {
        let json = serde_json::json!({
            "latencyMs": 5,
            "rateLimitShare": 0.25,
            "rules": [{"method": "POST", "kind": "commit_then_drop", "count": 2}]
        });

        let config: FaultConfig = serde_json::from_value(json).unwrap();

        assert_eq!(config.latency_ms, 5);
        assert_eq!(config.rate_limit_share, 0.25);
        assert_eq!(config.rules[0].kind, FaultKind::CommitThenDrop);
        assert_eq!(config.rules[0].count, 2);
    }
}
