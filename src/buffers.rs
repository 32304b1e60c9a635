//! Large byte buffers kept between calls.
//!
//! A 6 MB EvaluateFunction needs two buffers of that size: the request body
//! and the function's output. A fresh one costs the kernel a page
//! allocation, zeroing and memory-cgroup charge per 4 KiB page, and an
//! munmap when freed; for a 6 MB call at c=1 that was about a sixth of the
//! server's CPU (docs/perf.md). Freed large buffers are kept (at most
//! [`POOL_BUFFERS`]) and handed out again; [`release_idle`] frees those
//! unused for [`IDLE_RELEASE`], so an idle server gives the memory back.
//! Buffers are kept only while at most one call is in flight ([`Call`]):
//! a kept buffer is resident as a whole, where a new one fills page by
//! page, so keeping them while other calls fill theirs raised the peak RSS
//! of concurrent large calls (by ~6% at c=4).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buffers below this size come from malloc as usual.
pub const MIN_POOLED_BYTES: usize = 1 << 20;
/// How many freed buffers are kept: the body and output of one call.
const POOL_BUFFERS: usize = 2;
/// Larger buffers (a server configured with a huge message limit) are not kept.
const MAX_POOLED_BYTES: usize = 64 << 20;
/// Kept buffers unused this long are freed by [`release_idle`].
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);
/// New large buffers are sized in whole MiB, so that a body's buffer fits
/// an output of about the same size later, and the other way round.
const SIZE_STEP: usize = 1 << 20;

static POOL: Mutex<Vec<(Vec<u8>, Instant)>> = Mutex::new(Vec::new());
static CALLS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Whether more than one call is in flight (then large buffers are not
/// kept, and inputs are given back as they are consumed).
pub fn concurrent() -> bool {
    CALLS_IN_FLIGHT.load(Ordering::Relaxed) > 1
}

/// A call that may use large buffers, in flight while this lives.
#[derive(Debug)]
pub struct Call(());

impl Call {
    pub fn start() -> Call {
        CALLS_IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        Call(())
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        CALLS_IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An empty buffer with room for at least `capacity` bytes: the smallest
/// kept one that is big enough, or a new one.
pub fn take(capacity: usize) -> Vec<u8> {
    if capacity < MIN_POOLED_BYTES {
        return Vec::with_capacity(capacity);
    }
    if let Ok(mut pool) = POOL.lock() {
        let fits = pool
            .iter()
            .enumerate()
            .filter(|(_, (buf, _))| buf.capacity() >= capacity)
            .min_by_key(|(_, (buf, _))| buf.capacity())
            .map(|(i, _)| i);
        if let Some(i) = fits {
            return pool.swap_remove(i).0;
        }
    }
    Vec::with_capacity(new_capacity(capacity))
}

/// The capacity of a new large buffer: whole MiB.
fn new_capacity(capacity: usize) -> usize {
    capacity
        .checked_next_multiple_of(SIZE_STEP)
        .unwrap_or(capacity)
}

/// Gives a buffer back: kept when it is large, at most one call is in
/// flight and there is room; else freed (outside the lock).
pub fn give(mut buf: Vec<u8>) {
    if !(MIN_POOLED_BYTES..=MAX_POOLED_BYTES).contains(&buf.capacity()) || concurrent() {
        return;
    }
    buf.clear();
    if let Ok(mut pool) = POOL.lock() {
        if pool.len() < POOL_BUFFERS {
            pool.push((buf, Instant::now()));
        }
    }
}

/// Frees the kept buffers that were not used for [`IDLE_RELEASE`].
pub fn release_idle() {
    let stale: Vec<Vec<u8>> = match POOL.lock() {
        Ok(mut pool) => {
            let now = Instant::now();
            let (stale, fresh): (Vec<_>, Vec<_>) = pool
                .drain(..)
                .partition(|(_, since)| now.duration_since(*since) >= IDLE_RELEASE);
            *pool = fresh;
            stale.into_iter().map(|(buf, _)| buf).collect()
        }
        Err(_) => Vec::new(),
    };
    drop(stale);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_not_kept() {
        let buf = take(1000);
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
        // The pool is shared with other tests: whichever buffer we get, it
        // is big enough and empty.
        let mut buf = take(MIN_POOLED_BYTES + 5);
        assert!(buf.capacity() >= MIN_POOLED_BYTES + 5);
        buf.extend_from_slice(b"data");
        let ptr = buf.as_ptr();
        give(buf);
        // Other tests may take it first; when we get it, it is empty.
        let again = take(MIN_POOLED_BYTES + 100);
        if again.as_ptr() == ptr {
            assert!(again.is_empty());
        }
        assert!(again.capacity() >= MIN_POOLED_BYTES + 100);
    }
}
