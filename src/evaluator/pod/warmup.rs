//! Warm-up (compat §4.6): at start, a pod for every image of
//! `--pod-cache-config` (both formats, `cache_config.rs`), all at once,
//! each with a fixed name `<pod id>` made by server-side apply and bounded
//! by [`WARM_UP_POD_BOUND`]. Failures are logged, never fatal. Health says
//! NOT_SERVING until every warm-up start has ended (bounded by
//! [`WARM_UP_BOUND`]); evaluations are served meanwhile, and a call for a
//! warming image waits for that pod instead of making another.
//!
//! This file is the bookkeeping: how many warm-up starts are pending, and
//! a wait for them to end.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long one warm-up start may take: the original's one minute.
pub(crate) const WARM_UP_POD_BOUND: Duration = Duration::from_secs(60);
/// How long health stays NOT_SERVING for the warm-up at most: a start's
/// bound plus the image's registry lookup before it. Past it the runner
/// reports ready (with a warning) and the late pods join when they can.
pub(crate) const WARM_UP_BOUND: Duration = Duration::from_secs(90);

/// The warm-up starts not ended yet.
#[derive(Default)]
pub struct Pending {
    count: Mutex<usize>,
    ended: Condvar,
}

impl Pending {
    /// `n` starts are about to run.
    pub fn add(&self, n: usize) {
        *self.lock() += n;
    }

    /// One start ended (well or not).
    pub fn done(&self) {
        let mut count = self.lock();
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.ended.notify_all();
        }
    }

    /// Waits until every start has ended, or `deadline`; true when none
    /// is pending.
    pub fn wait(&self, deadline: Instant) -> bool {
        let count = self.lock();
        let left = deadline.saturating_duration_since(Instant::now());
        let (count, _) = self
            .ended
            .wait_timeout_while(count, left, |c| *c > 0)
            .unwrap_or_else(|p| p.into_inner());
        *count == 0
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_every_start() {
        let pending = std::sync::Arc::new(Pending::default());
        assert!(pending.wait(Instant::now()), "nothing pending");
        pending.add(2);
        pending.done();
        assert!(!pending.wait(Instant::now()), "one left");
        let p = std::sync::Arc::clone(&pending);
        let ender = std::thread::spawn(move || p.done());
        assert!(pending.wait(Instant::now() + Duration::from_secs(10)));
        ender.join().expect("joins");
    }
}
