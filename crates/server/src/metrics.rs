//! Prometheus metrics, served as text at `/metrics`.
//!
//! - `hyalto_http_requests` (counter) and `hyalto_http_request_duration_seconds` (histogram)
//!   by method, route template and status.
//! - `hyalto_record_refreshes` (counter) by outcome: pulls of the ConnectWise record cache.
//! - `hyalto_logins` (counter) by outcome: succeeded, failed, rate_limited.
//! - `hyalto_sync_last_run_timestamp_seconds` and `hyalto_sync_last_run_succeeded` (gauges),
//!   read from the store at each scrape, so runs of `hyalto sync` in another process count.
//!
//! - `hyalto_sync_runs` (counter) by outcome, for the syncs this server runs (scheduled or
//!   started with Sync now); `hyalto_connectwise_calls` (counter) by method and status
//!   (`transport_error` when no answer came) and `hyalto_connectwise_writes` (counter) by
//!   operation, for the ConnectWise traffic of those syncs and previews.
//! - `hyalto_customer_last_successful_sync_timestamp_seconds` (gauge) by customer: when a sync
//!   of this server last finished a customer without failing or skipping it.
//! - `hyalto_collection_duration_seconds` (histogram) by source and outcome: the collections of
//!   saved inventory sources the server runs before its syncs.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The method, such as `GET`.
    pub method: String,
    /// The route template, such as `/api/v1/companies/{id}/agreements`, never a raw path.
    pub route: String,
    /// The status code.
    pub status: u16,
}

/// The label of an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The outcome, such as `succeeded`.
    pub outcome: &'static str,
}

/// The labels of a ConnectWise call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The method, such as `POST`.
    pub method: String,
    /// The status code, or `transport_error` when no answer came.
    pub status: String,
}

/// The label of a ConnectWise write.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// The write, such as `create_addition`.
    pub operation: &'static str,
}

/// The labels of a collection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectionLabels {
    /// The saved source's name.
    pub source: String,
    /// `collected` or `failed`.
    pub outcome: &'static str,
}

/// The label of a customer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CustomerLabels {
    /// The customer's id in the inventory.
    pub customer: String,
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    /// Requests served.
    pub http_requests: Family<HttpLabels, Counter>,
    /// How long requests took.
    pub http_duration: Family<HttpLabels, Histogram>,
    /// Record refreshes by outcome.
    pub record_refreshes: Family<OutcomeLabels, Counter>,
    /// Logins by outcome.
    pub logins: Family<OutcomeLabels, Counter>,
    /// When the last sync run finished, in Unix seconds (0 when none did).
    pub sync_last_run: Gauge<f64, AtomicU64>,
    /// 1 when the last finished sync run succeeded, 0 otherwise.
    pub sync_last_succeeded: Gauge,
    /// Sync runs of this server by outcome.
    pub sync_runs: Family<OutcomeLabels, Counter>,
    /// ConnectWise request attempts by method and status.
    pub connectwise_calls: Family<CallLabels, Counter>,
    /// ConnectWise writes by operation.
    pub connectwise_writes: Family<OperationLabels, Counter>,
    /// When each customer was last synced without a failure, in Unix seconds.
    pub customer_last_success: Family<CustomerLabels, Gauge<f64, AtomicU64>>,
    /// How long collections of saved sources took.
    pub collection_duration: Family<CollectionLabels, Histogram>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hyalto");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.5, 12))
        });
        let record_refreshes = Family::<OutcomeLabels, Counter>::default();
        let logins = Family::<OutcomeLabels, Counter>::default();
        let sync_last_run = Gauge::<f64, AtomicU64>::default();
        let sync_last_succeeded = Gauge::default();
        let sync_runs = Family::<OutcomeLabels, Counter>::default();
        let connectwise_calls = Family::<CallLabels, Counter>::default();
        let connectwise_writes = Family::<OperationLabels, Counter>::default();
        let customer_last_success = Family::<CustomerLabels, Gauge<f64, AtomicU64>>::default();
        let collection_duration =
            Family::<CollectionLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.1, 2.0, 12))
            });

        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "How long HTTP requests took",
            http_duration.clone(),
        );
        registry.register(
            "record_refreshes",
            "Pulls of the ConnectWise record cache, by outcome",
            record_refreshes.clone(),
        );
        registry.register("logins", "Login attempts, by outcome", logins.clone());
        registry.register(
            "sync_last_run_timestamp_seconds",
            "When the last sync run finished (Unix time; 0 when none has)",
            sync_last_run.clone(),
        );
        registry.register(
            "sync_last_run_succeeded",
            "1 when the last finished sync run succeeded, 0 otherwise",
            sync_last_succeeded.clone(),
        );
        registry.register(
            "sync_runs",
            "Sync runs of this server (scheduled or Sync now), by outcome",
            sync_runs.clone(),
        );
        registry.register(
            "connectwise_calls",
            "ConnectWise request attempts of this server's syncs and previews, by method and \
             status",
            connectwise_calls.clone(),
        );
        registry.register(
            "connectwise_writes",
            "ConnectWise writes of this server's syncs, by operation",
            connectwise_writes.clone(),
        );
        registry.register(
            "customer_last_successful_sync_timestamp_seconds",
            "When a sync of this server last finished the customer without failing or skipping \
             it (Unix time)",
            customer_last_success.clone(),
        );
        registry.register(
            "collection_duration_seconds",
            "How long collections of saved inventory sources took, by source and outcome",
            collection_duration.clone(),
        );

        Metrics {
            registry,
            http_requests,
            http_duration,
            record_refreshes,
            logins,
            sync_last_run,
            sync_last_succeeded,
            sync_runs,
            connectwise_calls,
            connectwise_writes,
            customer_last_success,
            collection_duration,
        }
    }

    /// Counts an outcome of a record refresh.
    pub fn refresh_ended(&self, outcome: &'static str) {
        self.record_refreshes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts an outcome of a login.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts writes of one operation.
    pub fn writes(&self, operation: &'static str, count: u64) {
        if count > 0 {
            self.connectwise_writes
                .get_or_create(&OperationLabels { operation })
                .inc_by(count);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl hyalto_connectwise::CallObserver for Metrics {
    fn attempt_finished(
        &self,
        method: &axum::http::Method,
        status: Option<axum::http::StatusCode>,
    ) {
        let status = status.map_or_else(
            || "transport_error".to_owned(),
            |status| status.as_u16().to_string(),
        );
        self.connectwise_calls
            .get_or_create(&CallLabels {
                method: method.as_str().to_owned(),
                status,
            })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
