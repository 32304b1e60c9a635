//! When a failed Kubernetes call is tried again, and when it gives up.
//!
//! Exponential backoff with jitter, at most [`RetryPolicy::max_attempts`],
//! the server's `Retry-After` when it sends one, and always inside the
//! call's deadline: a retry whose wait would end too close to the deadline
//! for another attempt is not made ([`Next::DeadlineFirst`]), so no sleep
//! reaches past it. Which failures are retryable at all is the client's
//! business (`client.rs`); this file only decides when.

use std::time::Duration;

/// Shortest time worth starting an attempt with: less than this before the
/// deadline and the attempt would only time out (our choice; an API call
/// on a healthy cluster answers in a few ms).
pub(crate) const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(5);

/// How calls are retried. The defaults suit a real cluster; tests shorten
/// the delays.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, first included (default 4).
    pub max_attempts: u32,
    /// First backoff delay, doubled per attempt (default 200 ms).
    pub base_delay: Duration,
    /// Cap of one backoff delay (default 5 s).
    pub max_delay: Duration,
    /// Cap on a server's `Retry-After` (default 30 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// What to do after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait this long, then send again.
    RetryAfter(Duration),
    /// Attempts are used up: the failure is the answer.
    GiveUp,
    /// The wait would leave no time for another attempt before the
    /// deadline: fail now rather than sleep into it.
    DeadlineFirst,
}

impl RetryPolicy {
    /// After attempt `attempt` (1-based) failed retryably with the server's
    /// `retry_after` (if any), and `left` before the call's deadline.
    pub(crate) fn next(&self, attempt: u32, retry_after: Option<Duration>, left: Duration) -> Next {
        if attempt >= self.max_attempts {
            return Next::GiveUp;
        }
        let delay = self.delay(attempt, retry_after);
        if delay.saturating_add(MIN_ATTEMPT_TIME) > left {
            return Next::DeadlineFirst;
        }
        Next::RetryAfter(delay)
    }

    /// The delay before attempt `attempt + 1` (1-based `attempt` failed):
    /// the server's Retry-After when given (capped), else full-jitter
    /// exponential backoff.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_retry_after);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Half fixed, half random: never zero, spread across replicas.
        let half = exp / 2;
        half + half.mul_f64(jitter_fraction())
    }
}

/// A uniform number in [0, 1) from the system RNG (0.5 if it fails).
fn jitter_fraction() -> f64 {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for attempt in 1..20 {
            let d = p.delay(attempt, None);
            assert!(d <= p.max_delay, "{attempt}: {d:?}");
            assert!(d >= p.base_delay / 2, "{attempt}: {d:?}");
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            p.max_retry_after
        );
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let p = RetryPolicy::default();
        assert!(matches!(p.next(3, None, LONG), Next::RetryAfter(_)));
        assert_eq!(p.next(4, None, LONG), Next::GiveUp);
    }

    #[test]
    fn never_waits_into_the_deadline() {
        let p = RetryPolicy::default();
        let ra = Some(Duration::from_secs(2));
        assert_eq!(
            p.next(1, ra, Duration::from_secs(3)),
            Next::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(p.next(1, ra, Duration::from_secs(2)), Next::DeadlineFirst);
        // Backoff is at least base_delay / 2 = 100 ms.
        assert_eq!(
            p.next(1, None, Duration::from_millis(100)),
            Next::DeadlineFirst
        );
        assert_eq!(p.next(1, None, Duration::ZERO), Next::DeadlineFirst);
    }
}
