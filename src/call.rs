//! What a running call knows about its own life: its deadline and whether
//! the caller has gone away.
//!
//! The gRPC layer creates a [`CallContext`] per call (from `grpc-timeout`,
//! RST_STREAM and connection loss); evaluators read it. It is neutral ground
//! so that `evaluator` never names a gRPC or HTTP/2 type (style.md §1).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why a call stopped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// The caller's deadline (`grpc-timeout`) passed.
    DeadlineExceeded,
    /// The caller cancelled (RST_STREAM) or its connection was lost.
    Cancelled,
}

/// A cancellation flag that can be waited on. Cheap to clone; all clones
/// share one flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<(Mutex<bool>, Condvar)>,
    hooks: Arc<Mutex<Hooks>>,
}

/// Functions to call on cancellation (see [`CancelToken::on_cancel`]).
#[derive(Default)]
struct Hooks {
    next_id: u64,
    registered: Vec<(u64, Arc<dyn Fn() + Send + Sync>)>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hooks({})", self.registered.len())
    }
}

/// A registration made by [`CancelToken::on_cancel`]; dropping it removes
/// the hook.
pub(crate) struct CancelHook {
    token: CancelToken,
    id: u64,
}

impl Drop for CancelHook {
    fn drop(&mut self) {
        let mut hooks = lock(&self.token.hooks);
        hooks.registered.retain(|(id, _)| *id != self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the call cancelled, wakes every waiter and runs the
    /// [`on_cancel`](Self::on_cancel) hooks. Idempotent.
    pub fn cancel(&self) {
        {
            let (flag, cond) = &*self.inner;
            let mut cancelled = lock(flag);
            *cancelled = true;
            cond.notify_all();
        }
        // Run outside the lock, so a hook may use the token itself.
        let hooks: Vec<_> = lock(&self.hooks)
            .registered
            .iter()
            .map(|(_, hook)| Arc::clone(hook))
            .collect();
        for hook in hooks {
            hook();
        }
    }

    /// Calls `hook` when the token is cancelled (at once when it already
    /// is), until the returned [`CancelHook`] is dropped. Lets a thread
    /// blocked in `poll(2)` be woken through a file descriptor (the exec
    /// runtime's pump) instead of checking the flag on a timer.
    pub(crate) fn on_cancel(&self, hook: Arc<dyn Fn() + Send + Sync>) -> CancelHook {
        let id = {
            let mut hooks = lock(&self.hooks);
            let id = hooks.next_id;
            hooks.next_id = id.wrapping_add(1);
            hooks.registered.push((id, Arc::clone(&hook)));
            id
        };
        // A cancel that came before the registration still reaches it.
        if self.is_cancelled() {
            hook();
        }
        CancelHook {
            token: self.clone(),
            id,
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        *self
            .inner
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits up to `timeout` for cancellation; true when cancelled.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (flag, cond) = &*self.inner;
        let guard = flag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (guard, _) = cond
            .wait_timeout_while(guard, timeout, |cancelled| !*cancelled)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard
    }

    /// Waits up to `timeout` until the token is cancelled or `stop()`
    /// returns true; true when cancelled. `stop` is checked under the
    /// token's lock at every wake, so a helper that sets its own flag and
    /// then calls [`notify`](Self::notify) is never missed. Lets a watcher
    /// wait for "cancelled, deadline or work done" without polling
    /// (the exec runtime's child watcher).
    pub(crate) fn wait_timeout_until(&self, timeout: Duration, stop: impl Fn() -> bool) -> bool {
        let (flag, cond) = &*self.inner;
        let guard = flag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (guard, _) = cond
            .wait_timeout_while(guard, timeout, |cancelled| !*cancelled && !stop())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard
    }

    /// Wakes every waiter without cancelling, so that
    /// [`wait_timeout_until`](Self::wait_timeout_until) re-checks its `stop`.
    pub fn notify(&self) {
        let (flag, cond) = &*self.inner;
        let _guard = flag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cond.notify_all();
    }
}

/// Waits on `cond` (releasing `guard`) until notified or `deadline` has
/// passed (`None`: no deadline). Callers re-check what they wait for; a
/// poisoned lock is taken as it is. The one way a call's thread waits for
/// an event under its deadline (design.md: wait, don't poll).
pub fn wait_until<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> MutexGuard<'a, T> {
    match deadline {
        None => cond.wait(guard).unwrap_or_else(|p| p.into_inner()),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            match cond.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            }
        }
    }
}

/// The deadline and cancellation of one call.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// When the caller stops waiting; `None` means no deadline.
    pub deadline: Option<Instant>,
    /// Set when the caller cancels or disconnects.
    pub cancel: CancelToken,
}

impl CallContext {
    /// A context with no deadline that is never cancelled (unless told to).
    pub fn background() -> Self {
        Self::default()
    }

    /// A context whose deadline is `timeout` from now.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            deadline: Instant::now().checked_add(timeout),
            cancel: CancelToken::new(),
        }
    }

    /// Time left before the deadline (`None`: no deadline; zero: passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Why the call should stop now, if it should.
    pub fn interrupted(&self) -> Option<Interrupt> {
        if self.cancel.is_cancelled() {
            return Some(Interrupt::Cancelled);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Some(Interrupt::DeadlineExceeded),
            _ => None,
        }
    }

    /// Sleeps up to `timeout` (cut short by the deadline); returns the
    /// interrupt if the call was cancelled or its deadline passed meanwhile.
    pub fn wait(&self, timeout: Duration) -> Option<Interrupt> {
        let wait_for = match self.remaining() {
            Some(left) => left.min(timeout),
            None => timeout,
        };
        self.cancel.wait_timeout(wait_for);
        self.interrupted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wakes_a_waiter() {
        let ctx = CallContext::background();
        let token = ctx.cancel.clone();
        let t = std::thread::spawn(move || ctx.wait(Duration::from_secs(30)));
        token.cancel();
        assert_eq!(t.join().expect("waiter thread"), Some(Interrupt::Cancelled));
    }

    #[test]
    fn cancel_runs_hooks_until_they_are_dropped() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let token = CancelToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let hook = token.on_cancel(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        token.cancel();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(hook);
        token.cancel();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Registered after the cancel: runs at once.
        let counter = Arc::clone(&calls);
        let _late = token.on_cancel(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn passed_deadline_interrupts() {
        let ctx = CallContext::with_timeout(Duration::ZERO);
        assert_eq!(ctx.interrupted(), Some(Interrupt::DeadlineExceeded));
    }
}
