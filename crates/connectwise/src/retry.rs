//! Backoff delays between retries.

use std::time::Duration;

use rand::Rng;

use crate::settings::RetryPolicy;

/// The delay before retry number `retry` (1 for the first retry): exponential from
/// `base_delay`, capped at `max_delay`, with "equal jitter" (a random point in the upper half)
/// so that clients that failed together do not retry together.
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let exponent = retry.saturating_sub(1).min(31);
    let ceiling = policy
        .base_delay
        .saturating_mul(1u32 << exponent)
        .min(policy.max_delay);
    let half = ceiling / 2;
    let jitter_range = ceiling.saturating_sub(half).as_nanos() as u64;
    let jitter = if jitter_range == 0 {
        0
    } else {
        rand::rng().random_range(0..=jitter_range)
    };
    half + Duration::from_nanos(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_the_cap_and_jitter() {
        let policy = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            max_retry_after: Duration::from_secs(1),
        };

        for _ in 0..50 {
            let first = backoff(&policy, 1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = backoff(&policy, 3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let capped = backoff(&policy, 30);
            assert!((Duration::from_millis(350)..=Duration::from_millis(700)).contains(&capped));
        }
    }

    #[test]
    fn jitter_varies_the_delay() {
        let policy = RetryPolicy::default();

        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff(&policy, 2)).collect();

        assert!(delays.len() > 1);
    }
}
