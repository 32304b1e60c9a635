//! The pods a [`PodWatch`](super::PodWatch) has seen: keyed by name,
//! indexed by the value of one label (`fn.kpt.dev/image` by default: the
//! pod runtime's pod id), and observable per key.
//!
//! Readers never call the API: [`Store::get`], [`Store::labelled`] (an
//! index lookup, not a scan) and [`Store::list`] read the copy.
//!
//! Waiting is per key, so a call waiting for its own pod wakes on that pod's
//! changes and no other. [`Store::subscribe_pod`] (a pod name) and
//! [`Store::subscribe_label`] (an index label value) give a
//! [`Subscription`]; each subscribed key has a change counter and its own
//! condition variable (all sharing the store's one mutex), bumped and
//! signalled only by events that touch a pod under that key, so hundreds of
//! waiters over tens of pods cost one hash lookup per event and no wake-up
//! that is not theirs. A relist (first sync, or after 410) may have changed
//! anything and signals every key.
//!
//! ```text
//! let mut sub = store.subscribe_pod(&name);
//! let stop = sub.interrupter();            // e.g. called by the call's cancel hook
//! loop {
//!     let pods = sub.pods();               // current state; marks it seen
//!     if ready(&pods) { break }
//!     match sub.wait(deadline) {           // returns once something newer exists
//!         Waited::Changed => continue,
//!         Waited::Interrupted | Waited::TimedOut => return ...,
//!     }
//! }
//! ```
//!
//! No change is lost between `pods()` and `wait()`: both compare the key's
//! counter under the same lock. [`Store::wait_for`] waits on a condition
//! over the whole store instead (start-up, tests); it wakes on every change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::objects::Pod;

/// The pods the watch has seen, keyed by name and indexed by one label.
pub struct Store {
    state: Mutex<State>,
    /// Signalled on every change, for [`Store::wait_for`].
    changed: Condvar,
    /// The label whose value keys the index.
    index_label: String,
}

#[derive(Default)]
struct State {
    pods: BTreeMap<String, Pod>,
    /// `index_label` value -> names of the pods carrying it. Pods without
    /// the label are not indexed.
    by_label: HashMap<String, BTreeSet<String>>,
    resource_version: String,
    synced: bool,
    stats: WatchStats,
    last_error: Option<String>,
    /// The keys someone waits on; an entry lives as long as a
    /// [`Subscription`] to it.
    topics: HashMap<Key, Topic>,
}

/// What a [`Subscription`] follows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// One pod, by name.
    Pod(String),
    /// The pods whose index label has this value.
    Label(String),
}

/// One subscribed key.
struct Topic {
    /// Bumped whenever a pod under the key changes (or the store relists).
    generation: u64,
    /// Live subscriptions; the topic goes with the last.
    subscribers: usize,
    /// Wakes this key's waiters only (used with the store's mutex).
    changed: Arc<Condvar>,
}

/// Counters, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// LIST calls made (1 + relists after 410).
    pub lists: u64,
    /// WATCH requests opened.
    pub watches: u64,
    /// Events applied (bookmarks included).
    pub events: u64,
}

/// One change the watch saw.
pub(crate) enum Change {
    /// ADDED or MODIFIED.
    Upsert(Pod),
    /// DELETED (the object is its last state).
    Delete(Pod),
    /// BOOKMARK: only the resourceVersion moves.
    Bookmark,
}

impl Store {
    /// An empty, unsynced store indexing pods by `index_label`'s value.
    pub(crate) fn new(index_label: &str) -> Store {
        Store {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            index_label: index_label.to_owned(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pod by name.
    pub fn get(&self, name: &str) -> Option<Pod> {
        self.lock().pods.get(name).cloned()
    }

    /// `f` of pod `name` (`None`: not in the store), without copying the
    /// pod: for a check on every call (the pod runtime's warm path).
    pub fn inspect<T>(&self, name: &str, f: impl FnOnce(Option<&Pod>) -> T) -> T {
        f(self.lock().pods.get(name))
    }

    /// The pods whose index label has `value`, ordered by name (an index
    /// lookup: the cost does not grow with other pods).
    pub fn labelled(&self, value: &str) -> Vec<Pod> {
        let state = self.lock();
        state.pods_under(&Key::Label(value.to_owned()))
    }

    /// All pods, ordered by name.
    pub fn list(&self) -> Vec<Pod> {
        self.lock().pods.values().cloned().collect()
    }

    /// Whether the first list has completed.
    pub fn is_synced(&self) -> bool {
        self.lock().synced
    }

    /// The resourceVersion the store reflects.
    pub fn resource_version(&self) -> String {
        self.lock().resource_version.clone()
    }

    /// Counters of lists, watches and events so far.
    pub fn stats(&self) -> WatchStats {
        self.lock().stats
    }

    /// The last list/watch failure, if the latest attempt failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// Follows one pod by name (it may not exist yet, or any more).
    pub fn subscribe_pod(self: &Arc<Self>, name: &str) -> Subscription {
        self.subscribe(Key::Pod(name.to_owned()))
    }

    /// Follows the pods whose index label has `value` (a pod id: every pod
    /// of one function).
    pub fn subscribe_label(self: &Arc<Self>, value: &str) -> Subscription {
        self.subscribe(Key::Label(value.to_owned()))
    }

    fn subscribe(self: &Arc<Self>, key: Key) -> Subscription {
        let mut state = self.lock();
        let topic = state.topics.entry(key.clone()).or_insert_with(|| Topic {
            generation: 0,
            subscribers: 0,
            changed: Arc::new(Condvar::new()),
        });
        topic.subscribers += 1;
        Subscription {
            store: Arc::clone(self),
            key,
            seen: topic.generation,
            changed: Arc::clone(&topic.changed),
            interrupted: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Waits until the store has synced (its first list is in), or until
    /// `deadline`; returns whether it has.
    pub fn wait_synced(&self, deadline: Instant) -> bool {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.wait_for(timeout, |_| Some(())).is_some()
    }

    /// Waits up to `timeout` until `check` (called on every change of the
    /// whole store once synced, and once at once) returns `Some`; `None` on
    /// timeout. For conditions over many pods; a waiter for one pod or pod
    /// id uses a [`Subscription`], which is not woken by the others.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&BTreeMap<String, Pod>) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if state.synced {
                if let Some(v) = check(&state.pods) {
                    return Some(v);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A relist: `pods` replace everything (pods deleted while we were away
    /// disappear), at `resource_version`. Signals every key.
    pub(crate) fn replace(&self, pods: Vec<Pod>, resource_version: String) {
        let mut state = self.lock();
        state.pods.clear();
        state.by_label.clear();
        for pod in pods {
            state.insert(&self.index_label, pod, &mut Vec::new());
        }
        state.resource_version = resource_version;
        state.synced = true;
        state.stats.lists += 1;
        state.last_error = None;
        for topic in state.topics.values_mut() {
            topic.generation += 1;
            topic.changed.notify_all();
        }
        self.changed.notify_all();
    }

    /// One watch event, at `resource_version`. Signals the keys it touches:
    /// the pod's name and its label value (before and after, if it moved).
    pub(crate) fn apply(&self, change: Change, resource_version: String) {
        let mut state = self.lock();
        let mut touched = Vec::new();
        match change {
            Change::Upsert(pod) => state.insert(&self.index_label, pod, &mut touched),
            Change::Delete(pod) => {
                state.remove(
                    &self.index_label,
                    pod.metadata.name_or_empty(),
                    &mut touched,
                );
            }
            Change::Bookmark => {}
        }
        state.resource_version = resource_version;
        state.stats.events += 1;
        state.signal(&touched);
        self.changed.notify_all();
    }

    /// Counts a watch request opened: the latest attempt worked, so an
    /// earlier failure is no longer news ([`Store::last_error`]).
    pub(crate) fn count_watch(&self) {
        let mut state = self.lock();
        state.stats.watches += 1;
        state.last_error = None;
        drop(state);
        self.changed.notify_all();
    }

    /// Records why the latest list or watch failed.
    pub(crate) fn record_error(&self, error: String) {
        self.lock().last_error = Some(error);
        self.changed.notify_all();
    }

    /// The counter of `key`'s topic (0 when nobody follows it).
    fn generation(state: &State, key: &Key) -> u64 {
        state.topics.get(key).map_or(0, |t| t.generation)
    }
}

impl State {
    /// Inserts or replaces `pod` (keyed by name) and keeps the index; pushes
    /// the keys whose pods changed onto `touched`.
    fn insert(&mut self, index_label: &str, pod: Pod, touched: &mut Vec<Key>) {
        let name = pod.metadata.name_or_empty().to_owned();
        let label = pod.metadata.labels.get(index_label).cloned();
        let old_label = self
            .pods
            .get(&name)
            .and_then(|old| old.metadata.labels.get(index_label).cloned());
        if old_label != label {
            if let Some(old) = old_label {
                self.unindex(&old, &name);
                touched.push(Key::Label(old));
            }
        }
        if let Some(value) = label {
            self.by_label
                .entry(value.clone())
                .or_default()
                .insert(name.clone());
            touched.push(Key::Label(value));
        }
        touched.push(Key::Pod(name.clone()));
        self.pods.insert(name, pod);
    }

    /// Removes a pod by name (and from the index).
    fn remove(&mut self, index_label: &str, name: &str, touched: &mut Vec<Key>) {
        let Some(old) = self.pods.remove(name) else {
            return;
        };
        if let Some(value) = old.metadata.labels.get(index_label) {
            self.unindex(value, name);
            touched.push(Key::Label(value.clone()));
        }
        touched.push(Key::Pod(name.to_owned()));
    }

    fn unindex(&mut self, value: &str, name: &str) {
        if let Some(names) = self.by_label.get_mut(value) {
            names.remove(name);
            if names.is_empty() {
                self.by_label.remove(value);
            }
        }
    }

    /// Bumps and signals the subscribed keys among `touched`.
    fn signal(&mut self, touched: &[Key]) {
        for key in touched {
            if let Some(topic) = self.topics.get_mut(key) {
                topic.generation += 1;
                topic.changed.notify_all();
            }
        }
    }

    /// The pods under `key`, ordered by name.
    fn pods_under(&self, key: &Key) -> Vec<Pod> {
        match key {
            Key::Pod(name) => self.pods.get(name).cloned().into_iter().collect(),
            Key::Label(value) => self
                .by_label
                .get(value)
                .into_iter()
                .flatten()
                .filter_map(|name| self.pods.get(name).cloned())
                .collect(),
        }
    }
}

/// How [`Subscription::wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// The key changed since the subscriber last read [`Subscription::pods`].
    Changed,
    /// Its [`Interrupter`] was called (the caller gave up, say).
    Interrupted,
    /// The deadline passed first.
    TimedOut,
}

/// A follower of one key of a [`Store`] (see the module doc). Dropping it
/// unsubscribes.
pub struct Subscription {
    store: Arc<Store>,
    key: Key,
    /// The key's counter when [`pods`](Self::pods) last read it.
    seen: u64,
    changed: Arc<Condvar>,
    interrupted: Arc<AtomicBool>,
}

impl Subscription {
    /// The pods under this key now (none or one for a pod name), and marks
    /// this state as seen: [`wait`](Self::wait) returns on anything newer.
    /// Empty before the store has synced (see [`Store::wait_synced`]).
    pub fn pods(&mut self) -> Vec<Pod> {
        let state = self.store.lock();
        self.seen = Store::generation(&state, &self.key);
        state.pods_under(&self.key)
    }

    /// Whether the key changed since [`pods`](Self::pods) last read it (or
    /// since subscribing). Does not block.
    pub fn has_changed(&self) -> bool {
        Store::generation(&self.store.lock(), &self.key) != self.seen
    }

    /// Blocks until the key changes after what [`pods`](Self::pods) last
    /// returned, the [`Interrupter`] is called, or `deadline`. Does not mark
    /// anything seen: call `pods()` for the new state.
    pub fn wait(&mut self, deadline: Instant) -> Waited {
        let mut state = self.store.lock();
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                return Waited::Interrupted;
            }
            if Store::generation(&state, &self.key) != self.seen {
                return Waited::Changed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Waited::TimedOut;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A handle that makes this subscription's waits return
    /// [`Waited::Interrupted`], now and from then on (for a call's cancel
    /// hook). Cheap to clone, `Send + Sync`.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            store: Arc::clone(&self.store),
            changed: Arc::clone(&self.changed),
            interrupted: Arc::clone(&self.interrupted),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.store.lock();
        if let Some(topic) = state.topics.get_mut(&self.key) {
            topic.subscribers -= 1;
            if topic.subscribers == 0 {
                state.topics.remove(&self.key);
            }
        }
    }
}

/// Interrupts the waits of one [`Subscription`] (see
/// [`Subscription::interrupter`]).
#[derive(Clone)]
pub struct Interrupter {
    store: Arc<Store>,
    changed: Arc<Condvar>,
    interrupted: Arc<AtomicBool>,
}

impl Interrupter {
    /// Makes the subscription's current and later waits return
    /// [`Waited::Interrupted`].
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        // Under the lock, so a waiter between its check and its wait
        // cannot miss the signal. Other waiters on the same key wake too,
        // see their counter unchanged, and sleep again.
        let _state = self.store.lock();
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    const LABEL: &str = "fn.kpt.dev/image";

    fn pod(name: &str, label: Option<&str>, rv: u64) -> Pod {
        let labels = label.map_or(
            serde_json::json!({"other": "x"}),
            |l| serde_json::json!({ LABEL: l }),
        );
        serde_json::from_value(serde_json::json!({"metadata": {
            "name": name, "labels": labels, "resourceVersion": rv.to_string()}}))
        .expect("pod")
    }

    fn names(pods: &[Pod]) -> Vec<&str> {
        pods.iter().map(|p| p.metadata.name_or_empty()).collect()
    }

    fn synced_store() -> Arc<Store> {
        let store = Arc::new(Store::new(LABEL));
        store.replace(
            vec![
                pod("a-1", Some("a"), 1),
                pod("a-2", Some("a"), 2),
                pod("b-1", Some("b"), 3),
                pod("plain", None, 4),
            ],
            "4".to_owned(),
        );
        store
    }

    #[test]
    fn index_follows_inserts_label_moves_and_deletes() {
        let store = synced_store();
        assert_eq!(names(&store.labelled("a")), ["a-1", "a-2"]);
        assert_eq!(names(&store.labelled("b")), ["b-1"]);
        assert!(store.labelled("x").is_empty());
        assert_eq!(store.list().len(), 4);
        // a-2 moves to b; plain gains the label; a-1 goes.
        store.apply(Change::Upsert(pod("a-2", Some("b"), 5)), "5".to_owned());
        store.apply(Change::Upsert(pod("plain", Some("c"), 6)), "6".to_owned());
        store.apply(Change::Delete(pod("a-1", Some("a"), 7)), "7".to_owned());
        assert!(store.labelled("a").is_empty());
        assert_eq!(names(&store.labelled("b")), ["a-2", "b-1"]);
        assert_eq!(names(&store.labelled("c")), ["plain"]);
        assert!(!store.lock().by_label.contains_key("a"), "empty sets go");
        // Losing the label leaves the index.
        store.apply(Change::Upsert(pod("plain", None, 8)), "8".to_owned());
        assert!(store.labelled("c").is_empty());
        assert_eq!(store.resource_version(), "8");
        // A relist rebuilds it.
        store.replace(vec![pod("z", Some("a"), 9)], "9".to_owned());
        assert_eq!(names(&store.labelled("a")), ["z"]);
        assert!(store.labelled("b").is_empty());
        assert_eq!(store.stats().lists, 2);
    }

    #[test]
    fn an_event_signals_only_the_keys_it_touches() {
        let store = synced_store();
        let mut label_a = store.subscribe_label("a");
        let mut label_b = store.subscribe_label("b");
        let mut pod_a1 = store.subscribe_pod("a-1");
        for sub in [&mut label_a, &mut label_b, &mut pod_a1] {
            sub.pods();
            assert!(!sub.has_changed());
        }
        store.apply(Change::Upsert(pod("b-1", Some("b"), 10)), "10".to_owned());
        assert!(label_b.has_changed());
        assert!(!label_a.has_changed() && !pod_a1.has_changed());
        assert_eq!(names(&label_b.pods()), ["b-1"]);
        assert!(!label_b.has_changed(), "pods() marks the state seen");

        store.apply(Change::Upsert(pod("a-2", Some("a"), 11)), "11".to_owned());
        assert!(label_a.has_changed());
        assert!(!pod_a1.has_changed(), "a sibling is not this pod");
        store.apply(Change::Bookmark, "12".to_owned());
        assert!(!label_b.has_changed() && !pod_a1.has_changed());

        store.apply(Change::Delete(pod("a-1", Some("a"), 13)), "13".to_owned());
        assert!(pod_a1.has_changed());
        assert!(pod_a1.pods().is_empty(), "deleted");
        assert_eq!(names(&label_a.pods()), ["a-2"]);

        // A pod moving from a to b touches both.
        store.apply(Change::Upsert(pod("a-2", Some("b"), 14)), "14".to_owned());
        assert!(label_a.has_changed() && label_b.has_changed());
    }

    #[test]
    fn last_error_is_the_latest_attempts_only() {
        let store = Store::new(LABEL);
        store.record_error("watch refused".to_owned());
        assert_eq!(store.last_error().as_deref(), Some("watch refused"));
        store.count_watch();
        assert_eq!(store.last_error(), None, "a watch opened since");
        store.record_error("list refused".to_owned());
        store.replace(Vec::new(), "1".to_owned());
        assert_eq!(store.last_error(), None, "a list worked since");
    }

    #[test]
    fn a_relist_signals_every_key() {
        let store = Arc::new(Store::new(LABEL));
        let mut sub = store.subscribe_pod("p");
        assert!(sub.pods().is_empty(), "nothing before the first list");
        let mut other = store.subscribe_label("q");
        other.pods();
        store.replace(vec![pod("p", Some("a"), 1)], "1".to_owned());
        assert!(sub.has_changed() && other.has_changed());
        assert_eq!(names(&sub.pods()), ["p"]);
        assert!(store.wait_synced(Instant::now()));
    }

    #[test]
    fn topics_live_as_long_as_their_subscriptions() {
        let store = synced_store();
        let one = store.subscribe_label("a");
        let two = store.subscribe_label("a");
        let three = store.subscribe_pod("a-1");
        assert_eq!(store.lock().topics.len(), 2);
        drop(one);
        assert_eq!(store.lock().topics.len(), 2);
        drop(two);
        drop(three);
        assert!(store.lock().topics.is_empty());
    }

    #[test]
    fn wait_returns_on_a_change_an_interrupt_or_the_deadline() {
        let store = synced_store();
        let mut sub = store.subscribe_pod("a-1");
        sub.pods();
        assert_eq!(sub.wait(Instant::now()), Waited::TimedOut);

        let far = Instant::now() + Duration::from_secs(60);
        let writer = Arc::clone(&store);
        let t = std::thread::spawn(move || {
            writer.apply(Change::Upsert(pod("a-1", Some("a"), 20)), "20".to_owned());
        });
        assert_eq!(sub.wait(far), Waited::Changed);
        t.join().expect("writer");
        assert_eq!(sub.wait(far), Waited::Changed, "until pods() is read");
        sub.pods();

        let stop = sub.interrupter();
        let t = std::thread::spawn(move || stop.interrupt());
        assert_eq!(sub.wait(far), Waited::Interrupted);
        t.join().expect("interrupter");
        assert_eq!(sub.wait(far), Waited::Interrupted, "and stays interrupted");
    }

    #[test]
    fn hundreds_of_waiters_wake_for_their_own_pod_only() {
        const PODS: usize = 20;
        const WAITERS_PER_POD: usize = 10;
        let store = Arc::new(Store::new(LABEL));
        store.replace(
            (0..PODS)
                .map(|i| pod(&format!("p{i}"), Some(&format!("id{i}")), 1))
                .collect(),
            "1".to_owned(),
        );
        let far = Instant::now() + Duration::from_secs(120);
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        let mut interrupters = Vec::new();
        for i in 0..PODS {
            for _ in 0..WAITERS_PER_POD {
                let mut sub = if i % 2 == 0 {
                    store.subscribe_pod(&format!("p{i}"))
                } else {
                    store.subscribe_label(&format!("id{i}"))
                };
                sub.pods();
                interrupters.push(sub.interrupter());
                let tx = tx.clone();
                threads.push(std::thread::spawn(move || {
                    let _ = tx.send((i, sub.wait(far)));
                }));
            }
        }
        // Pods 3 and 4 change: exactly their waiters return, as Changed.
        for i in [3, 4] {
            store.apply(
                Change::Upsert(pod(&format!("p{i}"), Some(&format!("id{i}")), 2)),
                "2".to_owned(),
            );
        }
        let mut woken: Vec<(usize, Waited)> = (0..2 * WAITERS_PER_POD)
            .map(|_| rx.recv_timeout(Duration::from_secs(60)).expect("woken"))
            .collect();
        woken.sort_by_key(|(i, _)| *i);
        assert!(woken[..WAITERS_PER_POD]
            .iter()
            .all(|w| *w == (3, Waited::Changed)));
        assert!(woken[WAITERS_PER_POD..]
            .iter()
            .all(|w| *w == (4, Waited::Changed)));
        // Everyone else is still waiting, on an unchanged key.
        for i in (0..PODS).filter(|i| ![3, 4].contains(i)) {
            let key = if i % 2 == 0 {
                Key::Pod(format!("p{i}"))
            } else {
                Key::Label(format!("id{i}"))
            };
            assert_eq!(Store::generation(&store.lock(), &key), 0, "{key:?}");
        }
        assert!(rx.try_recv().is_err());
        for stop in &interrupters {
            stop.interrupt();
        }
        drop(tx);
        let rest: Vec<(usize, Waited)> = rx.iter().collect();
        assert_eq!(rest.len(), (PODS - 2) * WAITERS_PER_POD);
        assert!(rest.iter().all(|(_, w)| *w == Waited::Interrupted));
        for t in threads {
            t.join().expect("waiter");
        }
        assert!(store.lock().topics.is_empty());
    }
}
