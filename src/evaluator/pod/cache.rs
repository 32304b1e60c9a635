//! The pod cache (compat §4.4, docs/pod.md): per image, the pods serving
//! it (slots) and the calls waiting for one.
//!
//! ```text
//!             call finds no slot, or the least-loaded one has load >= waitlist
//!             and fewer than max pods exist
//!   (none) ------------------------------------------> [Starting] --failed--> [Failed]
//!                                                          |                    | last waiter
//!                                               ready      v                    v gone
//!   slot removed <--- unusable (the watch says) --- [Ready(pod)]             (removed)
//! ```
//!
//! A slot's *load* is the calls waiting for it plus the calls in flight on
//! it (Porch v1.5). A call goes to the least-loaded slot, round-robin
//! among ties, Starting slots included; a call on a Ready slot leaves at
//! once with a [`Lease`], a call on a Starting slot waits. A new slot is
//! started when there is none, or when the least-loaded one has load >=
//! `max_waitlist` and fewer than `max_pods` exist; at the maximum calls
//! still queue on the least-loaded slot: nothing is rejected.
//!
//! **Ours** (compat §4.4): a waiting call takes whichever pod can serve it
//! first: its own slot becoming Ready, or a Ready slot of the same image
//! whose load fell below `max_waitlist`; a call whose slot failed moves to
//! a Ready slot if there is one, else gets the start's error. No waiter is
//! ever lost: waiters are threads re-checking their own condition on every
//! change, not entries in a list that can be dropped.
//!
//! The cache knows neither Kubernetes nor gRPC: a pod is any `P`, starting
//! one is the caller's closure, and whether a Ready pod may still be used
//! is the caller's predicate (the watch's view of it).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::call::{CallContext, Interrupt};

/// Per-image bounds on pods (compat §4.4; issue 13 makes them per image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `--max-parallel-pods-per-function` (>= 1).
    pub max_pods: usize,
    /// `--max-waitlist-length`: the load at which another pod is started.
    pub max_waitlist: usize,
}

/// What [`Cache::release_if_idle`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// No slot holds the pod.
    NotHeld,
    /// A call is on it: kept.
    Busy,
    /// Its slots were removed: no call will take it.
    Released,
}

/// Identifies a slot for the life of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SlotId(u64);

/// Why [`Cache::acquire`] gave no pod.
#[derive(Debug)]
pub(crate) enum AcquireError<E> {
    /// The call's deadline passed or it was cancelled while it waited.
    Interrupted(Interrupt),
    /// The start of the pod this call waited for failed.
    StartFailed(Arc<E>),
}

/// A call's hold on a ready pod; the slot's load drops when it is dropped.
pub(crate) struct Lease<'a, P, E> {
    cache: &'a Cache<P, E>,
    image: String,
    slot: SlotId,
    pod: P,
    waited: bool,
}

impl<P, E> Lease<'_, P, E> {
    /// The pod to call.
    pub fn pod(&self) -> &P {
        &self.pod
    }

    /// The slot the pod is in (to [`Cache::remove`] it).
    pub(crate) fn slot(&self) -> SlotId {
        self.slot
    }

    /// Whether the call waited for a pod to start (a cold call) rather
    /// than finding one ready (warm).
    pub fn waited(&self) -> bool {
        self.waited
    }
}

impl<P, E> Drop for Lease<'_, P, E> {
    fn drop(&mut self) {
        let mut guard = lock(&self.cache.inner);
        if let Some(function) = guard.functions.get_mut(&self.image) {
            if let Some(slot) = function.slots.iter_mut().find(|s| s.id == self.slot) {
                slot.load = slot.load.saturating_sub(1);
            }
            // A waiter may take this pod now that it has room.
            function.changed.notify_all();
        }
    }
}

/// The pods of every image. `P` is a ready pod (cheap to clone: an
/// `Arc`), `E` the error of a failed start.
pub(crate) struct Cache<P, E> {
    /// In an `Arc` so that a cancelled call's hook can take the lock
    /// before it wakes the waiters (no lost wake-up).
    inner: Arc<Mutex<Inner<P, E>>>,
}

struct Inner<P, E> {
    functions: HashMap<String, Function<P, E>>,
    next_slot: u64,
}

struct Function<P, E> {
    slots: Vec<Slot<P, E>>,
    /// Where the next round-robin search among equally loaded slots begins.
    round_robin: usize,
    /// Waiters of this image sleep here: a change of another image never
    /// wakes them.
    changed: Arc<Condvar>,
}

struct Slot<P, E> {
    id: SlotId,
    state: State<P, E>,
    load: usize,
}

enum State<P, E> {
    Starting,
    Ready(P),
    Failed(Arc<E>),
}

/// What a waiting call does after one look at its image's slots.
enum Next<P, E> {
    /// Leave with a lease on this slot's pod (its load already counts us).
    Take(SlotId, P),
    /// Give up with the start's error.
    Fail(Arc<E>),
    /// Our slot is gone: choose again, as a new call would.
    Replace,
    Wait,
}

impl<P: Clone, E> Default for Cache<P, E> {
    fn default() -> Self {
        Cache {
            inner: Arc::new(Mutex::new(Inner {
                functions: HashMap::new(),
                next_slot: 0,
            })),
        }
    }
}

impl<P: Clone + Send + 'static, E: Send + Sync + 'static> Cache<P, E> {
    fn lock(&self) -> MutexGuard<'_, Inner<P, E>> {
        lock(&self.inner)
    }

    /// A pod for one call of `image`. Ready slots for which `usable` is
    /// false are removed first (the pod is gone, terminating, not ready or
    /// moved: the watch's view). When a new slot is needed, `start(slot)`
    /// is called under the cache's lock (it must only hand the work to a
    /// thread) and the start reports back through [`finish`](Self::finish).
    /// Waits, within the call's deadline and cancellation, while the slot
    /// chosen is starting.
    pub(crate) fn acquire(
        &self,
        image: &str,
        limits: Limits,
        ctx: &CallContext,
        usable: impl Fn(&P) -> bool,
        start: impl Fn(SlotId),
    ) -> Result<Lease<'_, P, E>, AcquireError<E>> {
        let mut guard = self.lock();
        let (changed, mut mine) = {
            let Inner {
                functions,
                next_slot,
            } = &mut *guard;
            let function = functions
                .entry(image.to_owned())
                .or_insert_with(Function::new);
            function.prune(&usable);
            let mine = function.place(limits, next_slot, &start);
            (Arc::clone(&function.changed), mine)
        };
        // A cancel wakes this image's waiters; the hook takes the lock
        // first, so the wake-up cannot fall between our check and our wait.
        let _hook = {
            let inner = Arc::clone(&self.inner);
            let changed = Arc::clone(&changed);
            ctx.cancel.on_cancel(Arc::new(move || {
                let _guard = lock(&inner);
                changed.notify_all();
            }))
        };
        let mut waited = false;
        loop {
            let Inner {
                functions,
                next_slot,
            } = &mut *guard;
            let Some(function) = functions.get_mut(image) else {
                unreachable!("an image with a slot we count on is never removed");
            };
            match function.next_for_waiter(mine, limits, &usable) {
                Next::Take(slot, pod) => {
                    drop(guard);
                    return Ok(Lease {
                        cache: self,
                        image: image.to_owned(),
                        slot,
                        pod,
                        waited,
                    });
                }
                Next::Fail(error) => {
                    function.leave(mine);
                    tidy(functions, image);
                    return Err(AcquireError::StartFailed(error));
                }
                Next::Replace => {
                    function.prune(&usable);
                    mine = function.place(limits, next_slot, &start);
                    continue;
                }
                Next::Wait => {}
            }
            if let Some(interrupt) = ctx.interrupted() {
                function.leave(mine);
                tidy(functions, image);
                return Err(AcquireError::Interrupted(interrupt));
            }
            guard = wait(&changed, guard, ctx.deadline);
            waited = true;
        }
    }

    /// Records the end of a start: the slot becomes Ready with `pod` or
    /// Failed with the error, and its waiters are woken. A failed slot
    /// nobody waits for is forgotten at once.
    pub fn finish(&self, image: &str, slot: SlotId, result: Result<P, E>) {
        let mut guard = self.lock();
        let Some(function) = guard.functions.get_mut(image) else {
            return;
        };
        if let Some(s) = function.slot_mut(slot) {
            s.state = match result {
                Ok(pod) => State::Ready(pod),
                Err(e) => State::Failed(Arc::new(e)),
            };
        }
        function.forget_unwaited_failures();
        function.changed.notify_all();
        tidy(&mut guard.functions, image);
    }

    /// Removes `slot` of `image` (its pod is gone or must not be used
    /// again): leases on it run to their end; new calls start another pod.
    pub fn remove(&self, image: &str, slot: SlotId) {
        let mut guard = self.lock();
        if let Some(function) = guard.functions.get_mut(image) {
            function.slots.retain(|s| s.id != slot);
            function.changed.notify_all();
        }
        tidy(&mut guard.functions, image);
    }

    /// Adds a Starting slot for `image` unless it has a live one (warm-up:
    /// a call that comes meanwhile waits for this start instead of making
    /// another pod). `start(slot)` is called under the lock, as in
    /// [`acquire`](Self::acquire).
    pub(crate) fn prestart(&self, image: &str, start: impl FnOnce(SlotId)) -> Option<SlotId> {
        let mut guard = self.lock();
        let Inner {
            functions,
            next_slot,
        } = &mut *guard;
        let function = functions
            .entry(image.to_owned())
            .or_insert_with(Function::new);
        if function
            .slots
            .iter()
            .any(|s| !matches!(s.state, State::Failed(_)))
        {
            return None;
        }
        *next_slot += 1;
        let id = SlotId(*next_slot);
        function.slots.push(Slot {
            id,
            state: State::Starting,
            load: 0,
        });
        start(id);
        Some(id)
    }

    /// For the GC: removes the ready slots whose pod `is_pod` matches, unless
    /// a call is on one of them (then nothing is removed). Under the lock,
    /// so no call can take the pod between the check and the removal.
    pub(crate) fn release_if_idle(&self, is_pod: impl Fn(&P) -> bool) -> Held {
        let mut guard = self.lock();
        let mut held = Held::NotHeld;
        for function in guard.functions.values() {
            for slot in &function.slots {
                if let State::Ready(pod) = &slot.state {
                    if is_pod(pod) {
                        if slot.load > 0 {
                            return Held::Busy;
                        }
                        held = Held::Released;
                    }
                }
            }
        }
        if held == Held::Released {
            let images: Vec<String> = guard.functions.keys().cloned().collect();
            for image in images {
                if let Some(function) = guard.functions.get_mut(&image) {
                    function.slots.retain(|s| match &s.state {
                        State::Ready(pod) => !is_pod(pod),
                        State::Starting | State::Failed(_) => true,
                    });
                    function.changed.notify_all();
                }
                tidy(&mut guard.functions, &image);
            }
        }
        held
    }

    /// The calls of `image` waiting or in flight (its slots' loads summed).
    #[cfg(test)]
    pub(crate) fn load(&self, image: &str) -> usize {
        self.lock()
            .functions
            .get(image)
            .map_or(0, |f| f.slots.iter().map(|s| s.load).sum())
    }

    /// Per image: its live slots (starting or ready) and its load.
    pub(crate) fn census(&self) -> Vec<(String, usize, usize)> {
        self.lock()
            .functions
            .iter()
            .map(|(image, f)| {
                let live = f
                    .slots
                    .iter()
                    .filter(|s| !matches!(s.state, State::Failed(_)))
                    .count();
                (image.clone(), live, f.slots.iter().map(|s| s.load).sum())
            })
            .collect()
    }
}

impl<P: Clone, E> Function<P, E> {
    fn new() -> Self {
        Function {
            slots: Vec::new(),
            round_robin: 0,
            changed: Arc::new(Condvar::new()),
        }
    }

    fn slot_mut(&mut self, id: SlotId) -> Option<&mut Slot<P, E>> {
        self.slots.iter_mut().find(|s| s.id == id)
    }

    /// Drops Ready slots whose pod may no longer be used.
    fn prune(&mut self, usable: &impl Fn(&P) -> bool) {
        self.slots.retain(|slot| match &slot.state {
            State::Ready(pod) => usable(pod),
            State::Starting | State::Failed(_) => true,
        });
    }

    /// Puts one call on a slot (counted in its load): the least-loaded
    /// live one, or a new Starting one (see the module doc for when).
    fn place(&mut self, limits: Limits, next_slot: &mut u64, start: &impl Fn(SlotId)) -> SlotId {
        let live = self
            .slots
            .iter()
            .filter(|s| !matches!(s.state, State::Failed(_)))
            .count();
        let chosen = match self.least_loaded() {
            Some((id, load)) if load < limits.max_waitlist || live >= limits.max_pods => id,
            _ => {
                *next_slot += 1;
                let id = SlotId(*next_slot);
                self.slots.push(Slot {
                    id,
                    state: State::Starting,
                    load: 0,
                });
                start(id);
                id
            }
        };
        if let Some(slot) = self.slot_mut(chosen) {
            slot.load += 1;
        }
        chosen
    }

    /// The least-loaded live slot, round-robin among ties.
    fn least_loaded(&mut self) -> Option<(SlotId, usize)> {
        let live = |s: &Slot<P, E>| !matches!(s.state, State::Failed(_));
        let min = self
            .slots
            .iter()
            .filter(|s| live(s))
            .map(|s| s.load)
            .min()?;
        let n = self.slots.len();
        (0..n)
            .map(|k| (self.round_robin + k) % n)
            .find(|&i| live(&self.slots[i]) && self.slots[i].load == min)
            .map(|i| {
                self.round_robin = (i + 1) % n;
                (self.slots[i].id, min)
            })
    }

    /// What a call counted on slot `mine` does now (module doc, "Ours").
    fn next_for_waiter(
        &mut self,
        mine: SlotId,
        limits: Limits,
        usable: &impl Fn(&P) -> bool,
    ) -> Next<P, E> {
        let failed = match self.slots.iter().find(|s| s.id == mine).map(|s| &s.state) {
            Some(State::Ready(pod)) if usable(pod) => return Next::Take(mine, pod.clone()),
            Some(State::Ready(_)) | None => return Next::Replace,
            Some(State::Starting) => None,
            Some(State::Failed(error)) => Some(Arc::clone(error)),
        };
        // Another ready pod: with room below the waitlist while ours is
        // starting, or any when our start failed.
        let other = self
            .slots
            .iter()
            .filter(|s| s.id != mine && (failed.is_some() || s.load < limits.max_waitlist))
            .filter_map(|s| match &s.state {
                State::Ready(pod) if usable(pod) => Some((s.id, s.load, pod)),
                State::Ready(_) | State::Starting | State::Failed(_) => None,
            })
            .min_by_key(|(_, load, _)| *load)
            .map(|(id, _, pod)| (id, pod.clone()));
        match (other, failed) {
            (Some((id, pod)), _) => {
                self.leave(mine);
                if let Some(slot) = self.slot_mut(id) {
                    slot.load += 1;
                }
                Next::Take(id, pod)
            }
            (None, Some(error)) => Next::Fail(error),
            (None, None) => Next::Wait,
        }
    }

    /// A call gives up its place on `slot`.
    fn leave(&mut self, slot: SlotId) {
        if let Some(s) = self.slot_mut(slot) {
            s.load = s.load.saturating_sub(1);
        }
        self.forget_unwaited_failures();
    }

    fn forget_unwaited_failures(&mut self) {
        self.slots
            .retain(|s| !(matches!(s.state, State::Failed(_)) && s.load == 0));
    }
}

/// Forgets an image with no slots left (the map stays bounded by the
/// images in use, not by every image string ever asked for).
fn tidy<P, E>(functions: &mut HashMap<String, Function<P, E>>, image: &str) {
    if functions.get(image).is_some_and(|f| f.slots.is_empty()) {
        functions.remove(image);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits on `changed` until notified or `deadline`.
fn wait<'a, T>(
    changed: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> MutexGuard<'a, T> {
    match deadline {
        None => changed.wait(guard).unwrap_or_else(|p| p.into_inner()),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|p| p.into_inner())
                .0
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::call::CancelToken;

    /// Bound on every wait in these tests (a hang fails, it never passes).
    const WATCHDOG: Duration = Duration::from_secs(10);

    type TestCache = Cache<u32, String>;

    fn limits(max_pods: usize, max_waitlist: usize) -> Limits {
        Limits {
            max_pods,
            max_waitlist,
        }
    }

    fn always(_: &u32) -> bool {
        true
    }

    /// Acquires on a thread; the slot ids it asked to start go to `starts`,
    /// the pod it got (or the error text) to the returned receiver.
    fn call_on_thread(
        cache: &Arc<TestCache>,
        image: &'static str,
        l: Limits,
        ctx: CallContext,
        starts: mpsc::Sender<SlotId>,
        hold: Option<mpsc::Receiver<()>>,
    ) -> mpsc::Receiver<Result<u32, String>> {
        let (tx, rx) = mpsc::channel();
        let cache = Arc::clone(cache);
        thread::spawn(move || {
            let got = cache.acquire(image, l, &ctx, always, |slot| {
                let _ = starts.send(slot);
            });
            match got {
                Ok(lease) => {
                    let _ = tx.send(Ok(*lease.pod()));
                    if let Some(hold) = hold {
                        let _ = hold.recv_timeout(WATCHDOG);
                    }
                }
                Err(AcquireError::StartFailed(e)) => {
                    let _ = tx.send(Err(format!("failed: {e}")));
                }
                Err(AcquireError::Interrupted(i)) => {
                    let _ = tx.send(Err(format!("{i:?}")));
                }
            }
        });
        rx
    }

    /// Waits until `n` calls of `image` are placed (threads spawned by the
    /// test reach `acquire` in their own time).
    fn wait_for_load(cache: &TestCache, image: &str, n: usize) {
        let deadline = Instant::now() + WATCHDOG;
        while cache.load(image) < n {
            assert!(Instant::now() < deadline, "{n} calls never arrived");
            thread::yield_now();
        }
    }

    /// `n` calls of "img" (one pod at most, waitlist 2) on threads of their own.
    fn cold_calls(
        cache: &Arc<TestCache>,
        n: usize,
        starts: &mpsc::Sender<SlotId>,
    ) -> Vec<mpsc::Receiver<Result<u32, String>>> {
        (0..n)
            .map(|_| {
                call_on_thread(
                    cache,
                    "img",
                    limits(1, 2),
                    CallContext::background(),
                    starts.clone(),
                    None,
                )
            })
            .collect()
    }

    #[test]
    fn concurrent_cold_calls_start_one_pod_and_all_get_it() {
        let cache = Arc::new(TestCache::default());
        let (starts, started) = mpsc::channel();
        let results = cold_calls(&cache, 50, &starts);
        let slot = started.recv_timeout(WATCHDOG).expect("one start");
        cache.finish("img", slot, Ok(7));
        for r in results {
            assert_eq!(r.recv_timeout(WATCHDOG).expect("answer"), Ok(7));
        }
        assert!(started.try_recv().is_err(), "exactly one pod was started");
    }

    #[test]
    fn warm_call_takes_the_ready_pod_without_a_start() {
        let cache = TestCache::default();
        let ctx = CallContext::background();
        let (tx, rx) = mpsc::channel();
        let starter = |slot| tx.send(slot).expect("send");
        // First call: no pod yet; finish its start from another thread.
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                cache
                    .acquire("img", limits(1, 2), &ctx, always, starter)
                    .map(|l| *l.pod())
                    .map_err(|_| ())
            });
            let slot = rx.recv_timeout(WATCHDOG).expect("start");
            cache.finish("img", slot, Ok(1));
            assert_eq!(waiter.join().expect("joins"), Ok(1));
        });
        let lease = cache
            .acquire("img", limits(1, 2), &ctx, always, |_| {
                panic!("no start when warm")
            })
            .map_err(|_| ())
            .expect("warm");
        assert_eq!(*lease.pod(), 1);
    }

    #[test]
    fn a_failed_start_fails_every_waiter_and_the_next_call_starts_again() {
        let cache = Arc::new(TestCache::default());
        let (starts, started) = mpsc::channel();
        let results = cold_calls(&cache, 5, &starts);
        let slot = started.recv_timeout(WATCHDOG).expect("start");
        wait_for_load(&cache, "img", 5);
        cache.finish("img", slot, Err("ErrImagePull".to_owned()));
        for r in results {
            assert_eq!(
                r.recv_timeout(WATCHDOG).expect("answer"),
                Err("failed: ErrImagePull".to_owned())
            );
        }
        let again = call_on_thread(
            &cache,
            "img",
            limits(1, 2),
            CallContext::background(),
            starts,
            None,
        );
        let slot = started.recv_timeout(WATCHDOG).expect("a new start");
        cache.finish("img", slot, Ok(3));
        assert_eq!(again.recv_timeout(WATCHDOG).expect("answer"), Ok(3));
    }

    #[test]
    fn a_waiter_past_its_deadline_leaves_and_the_pod_serves_the_next_call() {
        let cache = Arc::new(TestCache::default());
        let (starts, started) = mpsc::channel();
        let short = CallContext::with_timeout(Duration::from_millis(20));
        let first = call_on_thread(&cache, "img", limits(1, 2), short, starts.clone(), None);
        assert_eq!(
            first.recv_timeout(WATCHDOG).expect("answer"),
            Err("DeadlineExceeded".to_owned())
        );
        // The start goes on; its pod is there for the next call.
        let slot = started.recv_timeout(WATCHDOG).expect("start");
        cache.finish("img", slot, Ok(5));
        let next = call_on_thread(
            &cache,
            "img",
            limits(1, 2),
            CallContext::background(),
            starts,
            None,
        );
        assert_eq!(next.recv_timeout(WATCHDOG).expect("answer"), Ok(5));
        assert!(started.try_recv().is_err(), "no second pod");
    }

    #[test]
    fn a_cancelled_waiter_is_woken_at_once() {
        let cache = Arc::new(TestCache::default());
        let (starts, _started) = mpsc::channel();
        let cancel = CancelToken::new();
        let ctx = CallContext {
            deadline: None,
            cancel: cancel.clone(),
        };
        let waiter = call_on_thread(&cache, "img", limits(1, 2), ctx, starts, None);
        assert!(
            waiter.recv_timeout(Duration::from_millis(50)).is_err(),
            "waits"
        );
        cancel.cancel();
        assert_eq!(
            waiter.recv_timeout(WATCHDOG).expect("woken by the cancel"),
            Err("Cancelled".to_owned())
        );
    }

    #[test]
    fn an_unusable_pod_is_dropped_and_replaced() {
        let cache = TestCache::default();
        let ctx = CallContext::background();
        let (tx, rx) = mpsc::channel();
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                cache
                    .acquire("img", limits(1, 2), &ctx, always, |slot| {
                        tx.send(slot).expect("send")
                    })
                    .map(|l| *l.pod())
                    .map_err(|_| ())
            });
            let slot = rx.recv_timeout(WATCHDOG).expect("start");
            cache.finish("img", slot, Ok(1));
            assert_eq!(waiter.join().expect("joins"), Ok(1));
            // The watch now says pod 1 is gone: the next call starts pod 2.
            let waiter = s.spawn(|| {
                cache
                    .acquire(
                        "img",
                        limits(1, 2),
                        &ctx,
                        |p| *p != 1,
                        |slot| tx.send(slot).expect("send"),
                    )
                    .map(|l| *l.pod())
                    .map_err(|_| ())
            });
            let slot = rx.recv_timeout(WATCHDOG).expect("second start");
            cache.finish("img", slot, Ok(2));
            assert_eq!(waiter.join().expect("joins"), Ok(2));
        });
        assert_eq!(cache.census(), [("img".to_owned(), 1, 0)]);
    }

    #[test]
    fn parallel_pods_start_at_the_waitlist_length_up_to_the_maximum() {
        // Porch v1.5: max 2 pods, waitlist 1.
        let cache = Arc::new(TestCache::default());
        let (starts, started) = mpsc::channel();
        let l = limits(2, 1);
        let first = call_on_thread(
            &cache,
            "img",
            l,
            CallContext::background(),
            starts.clone(),
            None,
        );
        let s1 = started.recv_timeout(WATCHDOG).expect("first pod");
        // Load 1 on the starting pod = the waitlist: a second pod starts.
        let second = call_on_thread(
            &cache,
            "img",
            l,
            CallContext::background(),
            starts.clone(),
            None,
        );
        let s2 = started.recv_timeout(WATCHDOG).expect("second pod");
        assert_ne!(s1, s2);
        // At the maximum, calls queue on the least-loaded pod: no third start.
        let third = call_on_thread(&cache, "img", l, CallContext::background(), starts, None);
        cache.finish("img", s1, Ok(1));
        cache.finish("img", s2, Ok(2));
        let mut got = vec![
            first.recv_timeout(WATCHDOG).expect("answer"),
            second.recv_timeout(WATCHDOG).expect("answer"),
            third.recv_timeout(WATCHDOG).expect("answer"),
        ];
        got.sort();
        assert!(got.iter().all(Result::is_ok), "{got:?}");
        assert!(started.try_recv().is_err(), "two pods at most");
    }

    /// With at most 2 pods and a waitlist of 1: pod 1 ready and busy with
    /// one call held until the returned sender is used (or dropped).
    fn busy_first_pod(
        cache: &Arc<TestCache>,
        starts: &mpsc::Sender<SlotId>,
        started: &mpsc::Receiver<SlotId>,
    ) -> mpsc::Sender<()> {
        let (release, hold) = mpsc::channel();
        let busy = call_on_thread(
            cache,
            "img",
            limits(2, 1),
            CallContext::background(),
            starts.clone(),
            Some(hold),
        );
        let s1 = started.recv_timeout(WATCHDOG).expect("first pod");
        cache.finish("img", s1, Ok(1));
        assert_eq!(busy.recv_timeout(WATCHDOG).expect("answer"), Ok(1));
        release
    }

    #[test]
    fn a_waiter_takes_whichever_pod_frees_first() {
        let cache = Arc::new(TestCache::default());
        let (starts, started) = mpsc::channel();
        let l = limits(2, 1);
        let release = busy_first_pod(&cache, &starts, &started);
        // The next call finds pod 1 at the waitlist length: pod 2 starts
        // and the call waits for it...
        let waiter = call_on_thread(&cache, "img", l, CallContext::background(), starts, None);
        let _s2 = started.recv_timeout(WATCHDOG).expect("second pod");
        assert!(waiter.recv_timeout(Duration::from_millis(50)).is_err());
        // ...but pod 1 frees first, and the waiter takes it.
        release.send(()).expect("release");
        assert_eq!(waiter.recv_timeout(WATCHDOG).expect("answer"), Ok(1));
    }

    #[test]
    fn a_failed_start_moves_its_waiters_to_a_ready_pod() {
        let cache = Arc::new(TestCache::default());
        let (starts, started) = mpsc::channel();
        let l = limits(2, 1);
        let release = busy_first_pod(&cache, &starts, &started);
        let waiter = call_on_thread(&cache, "img", l, CallContext::background(), starts, None);
        let s2 = started.recv_timeout(WATCHDOG).expect("second pod");
        cache.finish("img", s2, Err("CrashLoopBackOff".to_owned()));
        assert_eq!(waiter.recv_timeout(WATCHDOG).expect("answer"), Ok(1));
        drop(release);
    }

    #[test]
    fn images_are_forgotten_when_their_last_slot_goes() {
        let cache = Arc::new(TestCache::default());
        let (starts, started) = mpsc::channel();
        let r = call_on_thread(
            &cache,
            "bad",
            limits(1, 2),
            CallContext::background(),
            starts,
            None,
        );
        let slot = started.recv_timeout(WATCHDOG).expect("start");
        cache.finish("bad", slot, Err("no such image".to_owned()));
        assert!(r.recv_timeout(WATCHDOG).expect("answer").is_err());
        assert!(lock(&cache.inner).functions.is_empty());
    }
}
