//! Request counts by method and route template, for tests and benchmarks.
//!
//! Every API request is counted, faulted ones included; control endpoints under `/_sandbox/`
//! are not. Each count also records the outcome: the status sent, or `dropped` when the
//! connection was closed without a response.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use serde::Serialize;

/// The outcome recorded for a request whose connection was closed without a response.
pub const DROPPED: &str = "dropped";

/// Counts one request as in flight for as long as it lives.
///
/// The count drops when the guard is dropped, so a request whose handler is cancelled (the
/// client hung up, or commit-then-drop closed the connection) leaves the gauge as well.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    /// Adds one request to `gauge` until the returned guard is dropped.
    pub fn enter(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, AtomicOrdering::SeqCst);
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, AtomicOrdering::SeqCst);
    }
}

/// A snapshot of the counters, as `GET /_sandbox/stats` returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Every API request counted since the last reset.
    pub total: u64,
    /// Requests by method.
    pub by_method: BTreeMap<String, u64>,
    /// Requests by outcome: a status code such as `"201"`, or `"dropped"`.
    pub by_outcome: BTreeMap<String, u64>,
    /// Requests by `"METHOD /route/{template}"`.
    pub by_route: BTreeMap<String, u64>,
    /// Outcomes per `"METHOD /route/{template}"`.
    pub outcomes_by_route: BTreeMap<String, BTreeMap<String, u64>>,
    /// API requests received and not yet answered when the snapshot was taken. It is a gauge,
    /// not a counter: a reset leaves it alone, and it lets a test wait until a slow request has
    /// really reached the server instead of guessing with a sleep.
    pub in_flight: u64,
}

impl Stats {
    /// Counts one request.
    pub fn record(&mut self, method: &str, template: &str, outcome: &str) {
        let route = format!("{method} {template}");

        self.total += 1;
        *self.by_method.entry(method.to_owned()).or_default() += 1;
        *self.by_outcome.entry(outcome.to_owned()).or_default() += 1;
        *self.by_route.entry(route.clone()).or_default() += 1;
        *self
            .outcomes_by_route
            .entry(route)
            .or_default()
            .entry(outcome.to_owned())
            .or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_outcome() {
        let mut stats = Stats::default();

        stats.record("POST", "/finance/agreements/{id}/additions", "201");
        stats.record("POST", "/finance/agreements/{id}/additions", DROPPED);
        stats.record("GET", "/system/info", "200");

        assert_eq!(stats.total, 3);
        assert_eq!(stats.by_route["POST /finance/agreements/{id}/additions"], 2);
        assert_eq!(stats.by_method["GET"], 1);
        assert_eq!(stats.by_outcome[DROPPED], 1);
        assert_eq!(
            stats.outcomes_by_route["POST /finance/agreements/{id}/additions"]["201"],
            1
        );
    }

    #[test]
    fn the_in_flight_gauge_counts_live_guards_only() {
        let gauge = AtomicU64::new(0);

        let first = InFlight::enter(&gauge);
        let second = InFlight::enter(&gauge);
        let while_both = gauge.load(AtomicOrdering::SeqCst);
        drop(first);
        let after_one = gauge.load(AtomicOrdering::SeqCst);
        drop(second);

        assert_eq!(while_both, 2);
        assert_eq!(after_one, 1);
        assert_eq!(gauge.load(AtomicOrdering::SeqCst), 0);
    }
}
