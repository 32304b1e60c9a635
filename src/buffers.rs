//! Large byte buffers kept between calls.
//!
//! A 6 MB EvaluateFunction needs two buffers of that size: the request body
//! and the function's output. A fresh one costs the kernel a page
//! allocation, zeroing and memory-cgroup charge per 4 KiB page, and an
//! munmap when freed; for a 6 MB call at c=1 that was about a sixth of the
//! server's CPU (docs/perf.md). A [`Pool`] keeps freed large buffers (at
//! most [`POOL_BUFFERS`]) and hands them out again; [`Pool::release_idle`]
//! frees those unused for [`IDLE_RELEASE`], so an idle server gives the
//! memory back. Buffers are kept only while at most one call is in flight
//! ([`Pool::start_call`]): a kept buffer is resident as a whole, where a
//! new one fills page by page, so keeping them while other calls fill
//! theirs raised the peak RSS of concurrent large calls (by ~6% at c=4).
//!
//! The pool is a value, not a global: the server makes one and hands it to
//! its HTTP/2 connections (`h2::limits::Limits::buffers`), its process
//! runner (`process::Options::buffers`) and its call handler. What is not
//! handed one gets [`Pool::unpooled`], which keeps nothing.

use std::collections::TryReserveError;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Buffers below this size come from malloc as usual.
pub const MIN_POOLED_BYTES: usize = 1 << 20;
/// How many freed buffers are kept: the body and output of one call.
const POOL_BUFFERS: usize = 2;
/// Larger buffers (a server configured with a huge message limit) are not kept.
const MAX_POOLED_BYTES: usize = 64 << 20;
/// Kept buffers unused this long are freed by [`Pool::release_idle`].
pub(crate) const IDLE_RELEASE: Duration = Duration::from_secs(10);
/// New large buffers are sized in whole MiB, so that a body's buffer fits
/// an output of about the same size later, and the other way round.
const SIZE_STEP: usize = 1 << 20;

/// Large buffers kept between calls, and the count of calls in flight that
/// decides whether to keep them. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct Pool {
    /// `None`: keeps nothing ([`Pool::unpooled`]).
    shared: Option<Arc<Shared>>,
}

/// Kept buffers, each with when it was given back.
type Kept = Vec<(Vec<u8>, Instant)>;

struct Shared {
    kept: Mutex<Kept>,
    calls_in_flight: AtomicUsize,
}

impl Pool {
    /// A pool that keeps up to [`POOL_BUFFERS`] large buffers.
    pub fn new() -> Pool {
        Pool {
            shared: Some(Arc::new(Shared {
                kept: Mutex::new(Vec::new()),
                calls_in_flight: AtomicUsize::new(0),
            })),
        }
    }

    /// A pool that keeps nothing: buffers come from malloc and go back to
    /// it, and no call counts as concurrent.
    pub fn unpooled() -> Pool {
        Pool { shared: None }
    }

    /// Whether more than one call is in flight (then large buffers are not
    /// kept, and inputs are given back as they are consumed).
    pub(crate) fn is_concurrent(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.calls_in_flight.load(Ordering::Relaxed) > 1)
    }

    /// Marks a call that may use large buffers in flight while the returned
    /// value lives.
    pub(crate) fn start_call(&self) -> Call {
        if let Some(shared) = &self.shared {
            shared.calls_in_flight.fetch_add(1, Ordering::Relaxed);
        }
        Call {
            shared: self.shared.clone(),
        }
    }

    /// An empty buffer with room for at least `capacity` bytes: the smallest
    /// kept one that is big enough, or a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        if capacity < MIN_POOLED_BYTES {
            return Vec::with_capacity(capacity);
        }
        self.take_kept(capacity)
            .unwrap_or_else(|| Vec::with_capacity(new_capacity(capacity)))
    }

    /// [`take`](Self::take) for a size a peer declared: an allocation
    /// failure is an error for the caller to answer, never an abort.
    pub(crate) fn try_take(&self, capacity: usize) -> Result<Vec<u8>, TryReserveError> {
        if capacity >= MIN_POOLED_BYTES {
            if let Some(buf) = self.take_kept(capacity) {
                return Ok(buf);
            }
        }
        let mut buf = Vec::new();
        let capacity = if capacity < MIN_POOLED_BYTES {
            capacity
        } else {
            new_capacity(capacity)
        };
        buf.try_reserve_exact(capacity)?;
        Ok(buf)
    }

    /// The smallest kept buffer of at least `capacity` bytes.
    fn take_kept(&self, capacity: usize) -> Option<Vec<u8>> {
        let mut kept = self.lock()?;
        let fits = kept
            .iter()
            .enumerate()
            .filter(|(_, (buf, _))| buf.capacity() >= capacity)
            .min_by_key(|(_, (buf, _))| buf.capacity())
            .map(|(i, _)| i)?;
        Some(kept.swap_remove(fits).0)
    }

    /// Gives a buffer back: kept when it is large, at most one call is in
    /// flight and there is room; else freed (outside the lock).
    pub fn give(&self, mut buf: Vec<u8>) {
        if !(MIN_POOLED_BYTES..=MAX_POOLED_BYTES).contains(&buf.capacity()) || self.is_concurrent()
        {
            return;
        }
        buf.clear();
        if let Some(mut kept) = self.lock() {
            if kept.len() < POOL_BUFFERS {
                kept.push((buf, Instant::now()));
            }
        }
    }

    /// Frees the kept buffers that were not used for [`IDLE_RELEASE`].
    pub(crate) fn release_idle(&self) {
        self.release_idle_as_of(Instant::now());
    }

    fn release_idle_as_of(&self, now: Instant) {
        let stale: Vec<Vec<u8>> = match self.lock() {
            Some(mut kept) => {
                let (stale, fresh): (Vec<_>, Vec<_>) = kept
                    .drain(..)
                    .partition(|(_, since)| now.duration_since(*since) >= IDLE_RELEASE);
                *kept = fresh;
                stale.into_iter().map(|(buf, _)| buf).collect()
            }
            None => Vec::new(),
        };
        drop(stale);
    }

    /// The kept buffers; `None` when unpooled or the lock is poisoned
    /// (then buffers are simply not kept).
    fn lock(&self) -> Option<MutexGuard<'_, Kept>> {
        self.shared.as_ref().and_then(|s| s.kept.lock().ok())
    }
}

impl Default for Pool {
    /// [`Pool::unpooled`]: a pool is shared only when one is handed in.
    fn default() -> Self {
        Pool::unpooled()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shared {
            None => f.write_str("Pool(unpooled)"),
            Some(shared) => f
                .debug_struct("Pool")
                .field("kept", &shared.kept.lock().map(|k| k.len()).unwrap_or(0))
                .field(
                    "calls_in_flight",
                    &shared.calls_in_flight.load(Ordering::Relaxed),
                )
                .finish(),
        }
    }
}

/// A call in flight (see [`Pool::start_call`]), until dropped.
#[derive(Debug)]
pub struct Call {
    shared: Option<Arc<Shared>>,
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.calls_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shared")
    }
}

/// The capacity of a new large buffer: whole MiB.
fn new_capacity(capacity: usize) -> usize {
    capacity
        .checked_next_multiple_of(SIZE_STEP)
        .unwrap_or(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_not_kept() {
        let buf = Pool::new().take(1000);
        assert!(buf.capacity() >= 1000);
        assert!(buf.capacity() < MIN_POOLED_BYTES);
    }

    #[test]
    fn new_large_buffers_are_sized_in_whole_mib() {
        assert_eq!(new_capacity(MIN_POOLED_BYTES + 5), 2 * SIZE_STEP);
        assert_eq!(new_capacity(3 * SIZE_STEP), 3 * SIZE_STEP);
        assert_eq!(new_capacity(usize::MAX), usize::MAX);
    }

    #[test]
    fn a_large_buffer_comes_back_empty() {
        let pool = Pool::new();
        let mut buf = pool.take(MIN_POOLED_BYTES + 5);
        assert!(buf.capacity() >= MIN_POOLED_BYTES + 5);
        buf.extend_from_slice(b"data");
        let ptr = buf.as_ptr();
        pool.give(buf);
        let again = pool.take(MIN_POOLED_BYTES + 100);
        assert_eq!(again.as_ptr(), ptr, "the kept buffer is handed out again");
        assert!(again.is_empty());
        assert!(again.capacity() >= MIN_POOLED_BYTES + 100);
    }

    #[test]
    fn nothing_is_kept_while_calls_run_concurrently() {
        let pool = Pool::new();
        let first = pool.start_call();
        assert!(!pool.is_concurrent());
        let second = pool.start_call();
        assert!(pool.is_concurrent());
        pool.give(Vec::with_capacity(MIN_POOLED_BYTES));
        assert_eq!(pool.lock().expect("pooled").len(), 0);
        drop(second);
        pool.give(Vec::with_capacity(MIN_POOLED_BYTES));
        assert_eq!(pool.lock().expect("pooled").len(), 1);
        drop(first);
    }

    #[test]
    fn idle_buffers_are_released_after_idle_release() {
        let pool = Pool::new();
        pool.give(Vec::with_capacity(MIN_POOLED_BYTES));
        pool.release_idle();
        assert_eq!(pool.lock().expect("pooled").len(), 1, "still fresh");
        pool.release_idle_as_of(Instant::now() + IDLE_RELEASE);
        assert_eq!(pool.lock().expect("pooled").len(), 0, "released");
    }

    #[test]
    fn unpooled_keeps_nothing_and_counts_nothing() {
        let pool = Pool::unpooled();
        let _calls = (pool.start_call(), pool.start_call());
        assert!(!pool.is_concurrent());
        pool.give(Vec::with_capacity(MIN_POOLED_BYTES));
        assert!(pool.lock().is_none());
        assert!(pool.take(MIN_POOLED_BYTES).capacity() >= MIN_POOLED_BYTES);
    }

    #[test]
    fn clones_share_one_pool() {
        let pool = Pool::new();
        let clone = pool.clone();
        let _call = clone.start_call();
        let _other = pool.start_call();
        assert!(pool.is_concurrent() && clone.is_concurrent());
    }
}
