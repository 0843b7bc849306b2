//! Pacing shared by every client of one ConnectWise site in the process.
//!
//! ConnectWise throttles per site, so two clients of the same site (the sync engine and the
//! web UI, say) must share one budget: a registry keyed by the site's origin hands out the
//! same limiter to both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::settings::Limits;

/// A concurrency cap plus a request-rate cap for one site.
pub(crate) struct SiteLimiter {
    in_flight: Arc<Semaphore>,
    rate: DefaultDirectRateLimiter,
}

impl SiteLimiter {
    fn new(limits: &Limits) -> SiteLimiter {
        let quota = Quota::per_second(limits.requests_per_second).allow_burst(limits.burst);
        SiteLimiter {
            in_flight: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            rate: RateLimiter::direct(quota),
        }
    }

    /// Waits for a free slot and for the rate to allow one more request. The slot is held
    /// until the returned permit is dropped.
    pub(crate) async fn acquire(&self) -> OwnedSemaphorePermit {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("the site semaphore is never closed");
        self.rate.until_ready().await;
        permit
    }
}

/// Returns the process-wide limiter of `site_key`, creating it with `limits` on first use.
pub(crate) fn for_site(site_key: &str, limits: &Limits) -> Arc<SiteLimiter> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<SiteLimiter>>>> = OnceLock::new();

    let registry = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
    let mut sites = registry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(
        sites
            .entry(site_key.to_owned())
            .or_insert_with(|| Arc::new(SiteLimiter::new(limits))),
    )
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn clients_of_one_site_share_a_limiter_and_other_sites_do_not() {
        let limits = Limits::default();

        let first = for_site("https://shared.example.com", &limits);
        let second = for_site("https://shared.example.com", &limits);
        let other = for_site("https://other.example.com", &limits);

        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &other));
    }

    #[tokio::test]
    async fn the_concurrency_cap_holds_back_a_second_request() {
        let limits = Limits {
            max_concurrent: 1,
            requests_per_second: NonZeroU32::new(1000).unwrap(),
            burst: NonZeroU32::new(1000).unwrap(),
        };
        let limiter = for_site("https://one-at-a-time.example.com", &limits);

        let held = limiter.acquire().await;
        let second = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        drop(held);
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;

        assert!(
            second.is_err(),
            "a second slot was granted while the first was held"
        );
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn the_rate_cap_spaces_requests_after_the_burst() {
        let limits = Limits {
            max_concurrent: 10,
            requests_per_second: NonZeroU32::new(20).unwrap(),
            burst: NonZeroU32::new(1).unwrap(),
        };
        let limiter = for_site("https://paced.example.com", &limits);

        let started = Instant::now();
        for _ in 0..4 {
            drop(limiter.acquire().await);
        }

        // One request is free (the burst); three more wait 50 ms each.
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "{:?}",
            started.elapsed()
        );
    }
}
