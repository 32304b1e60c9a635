//! The three kinds of value: [`Counter`], [`Gauge`] and [`Histogram`]
//! (fixed buckets). Each is a few atomics, `const`-constructible so that a
//! layer's metrics are plain statics, and updated with relaxed ordering:
//! a scrape needs no happens-before with the event, only the event's count
//! (a scrape that races an observation may see its bucket and not yet its
//! sum; the next scrape sees both).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A count that only goes up (Prometheus `counter`).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Zero.
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    /// Adds one.
    #[inline]
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` (wrapping after 2^64, which no process reaches).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (Prometheus `gauge`).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Zero.
    pub const fn new() -> Self {
        Gauge(AtomicI64::new(0))
    }

    /// Sets the value; a count beyond `i64::MAX` shows as `i64::MAX`.
    #[inline]
    pub fn set(&self, value: usize) {
        self.0
            .store(i64::try_from(value).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one away.
    #[inline]
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Durations counted into fixed buckets (Prometheus `histogram`), in
/// nanoseconds inside, seconds in the exposition. `N` buckets; the last
/// one's bound is `u64::MAX`, written `+Inf`.
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    /// Upper bounds in nanoseconds, ascending; the last is `u64::MAX`.
    bounds: &'static [u64; N],
    /// Observations per bucket, not cumulative (one add per observation;
    /// the exposition sums them).
    counts: [AtomicU64; N],
    sum_nanos: AtomicU64,
}

/// What a scrape reads from a [`Histogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// (upper bound in nanoseconds, observations at or below it), the last
    /// bound `u64::MAX` (+Inf).
    pub cumulative: Vec<(u64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl<const N: usize> Histogram<N> {
    /// An empty histogram with `bounds` (see [`micros`]). Fails to compile
    /// (in a static) or panics when the last bound is not `u64::MAX` or the
    /// bounds do not ascend.
    pub const fn new(bounds: &'static [u64; N]) -> Self {
        assert!(
            N > 0 && bounds[N - 1] == u64::MAX,
            "the last bucket is +Inf"
        );
        let mut i = 1;
        while i < N {
            assert!(bounds[i - 1] < bounds[i], "bucket bounds ascend");
            i += 1;
        }
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; N],
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one observation of `d` (beyond 584 years: the last bucket).
    #[inline]
    pub(crate) fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // The last bound is u64::MAX, so a bucket always matches.
        let at = self
            .bounds
            .iter()
            .position(|b| nanos <= *b)
            .unwrap_or(N - 1);
        if let Some(count) = self.counts.get(at) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The cumulative bucket counts, count and sum, for a scrape.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut total = 0u64;
        let cumulative = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(bound, count)| {
                total = total.saturating_add(count.load(Ordering::Relaxed));
                (*bound, total)
            })
            .collect();
        Snapshot {
            cumulative,
            count: total,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// Bucket bounds given in microseconds, as nanoseconds; write the last
/// as `u64::MAX` (+Inf, kept as it is).
pub const fn micros<const N: usize>(us: [u64; N]) -> [u64; N] {
    let mut out = [0u64; N];
    let mut i = 0;
    while i < N {
        out[i] = us[i].saturating_mul(1000);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static BOUNDS: [u64; 3] = micros([1_000, 10_000, u64::MAX]);

    #[test]
    fn counters_and_gauges_count() {
        let c = Counter::new();
        c.inc();
        c.add(41);
        assert_eq!(c.get(), 42);
        let g = Gauge::new();
        g.inc();
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1);
        g.set(7);
        assert_eq!(g.get(), 7);
        g.set(usize::MAX);
        assert_eq!(g.get(), i64::MAX);
    }

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new(&BOUNDS);
        h.observe(Duration::from_millis(1)); // on the bound: le="0.001"
        h.observe(Duration::from_micros(1_001)); // just above: le="0.01"
        h.observe(Duration::from_secs(5)); // +Inf
        h.observe(Duration::MAX); // +Inf, without overflow of the bucket choice
        let s = h.snapshot();
        assert_eq!(
            s.cumulative,
            vec![(1_000_000, 1), (10_000_000, 2), (u64::MAX, 4)]
        );
        assert_eq!(s.count, 4);
    }

    #[test]
    fn the_sum_is_in_seconds() {
        let h = Histogram::new(&BOUNDS);
        h.observe(Duration::from_millis(250));
        h.observe(Duration::from_millis(750));
        assert!((h.snapshot().sum_seconds - 1.0).abs() < 1e-9);
    }

    #[test]
    fn micros_keeps_infinity() {
        assert_eq!(micros([1, u64::MAX]), [1_000, u64::MAX]);
    }

    #[test]
    #[should_panic(expected = "the last bucket is +Inf")]
    fn a_histogram_needs_an_infinite_last_bucket() {
        static FINITE: [u64; 2] = [1, 2];
        let _ = Histogram::new(&FINITE);
    }
}
