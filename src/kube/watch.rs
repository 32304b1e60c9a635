//! An informer in miniature: one thread keeps an in-memory copy of the pods
//! matching a namespace + label selector, readable without API calls.
//!
//! ```text
//!            +-------- 410 Gone / ERROR 410 / first start ---------+
//!            v                                                     |
//!        [ List ] --ok--> [ Watch from rv ] --event--> apply, rv = event's rv
//!            |                  |   |
//!            | error            |   +-- stream ended (timeoutSeconds) --> Watch from rv
//!            v                  +------ transport error / other ERROR --> backoff, Watch from rv
//!         backoff
//! ```
//!
//! A relist replaces the whole store, so pods deleted while we were away
//! disappear; events after that are applied in order and keyed by name, so
//! a resumed watch neither loses nor duplicates pods. Bookmarks only move
//! the resourceVersion. [`PodWatch::stop`] (or drop) ends the thread at
//! its next wake-up: at once while it backs off, else at the next event or
//! when the server ends the watch ([`WATCH_SERVER_TIMEOUT`] at most).

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::client::{Client, WATCH_SERVER_TIMEOUT};
use super::error::Error;
use super::objects::{Pod, Status};
use crate::call::CancelToken;

/// Settings of a [`PodWatch`]; the defaults suit a cluster, tests shorten.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// `timeoutSeconds` asked of the server per watch request.
    pub server_timeout: Duration,
    /// First reconnect delay after a failure, doubled up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            server_timeout: WATCH_SERVER_TIMEOUT,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The pods the watch has seen, keyed by name.
#[derive(Default)]
pub struct Store {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    pods: BTreeMap<String, Pod>,
    resource_version: String,
    synced: bool,
    /// Bumped on every change (event, relist, error); waiters compare it.
    generation: u64,
    stats: WatchStats,
    last_error: Option<String>,
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

impl Store {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pod by name.
    pub fn get(&self, name: &str) -> Option<Pod> {
        self.lock().pods.get(name).cloned()
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
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// A counter bumped on every change of the store (events, relists,
    /// bookmarks, errors); pass it to [`wait_changed`](Self::wait_changed).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Waits up to `timeout` for the store to change after `generation`;
    /// returns the current generation (unchanged on timeout). For callers
    /// that interleave their own checks (a call's cancellation) with waits.
    pub fn wait_changed(&self, generation: u64, timeout: Duration) -> u64 {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.generation == generation)
            .unwrap_or_else(|p| p.into_inner());
        state.generation
    }

    /// Waits up to `timeout` until `check` (called on every change, and once
    /// at once) returns `Some`; `None` on timeout.
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

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        f(&mut state);
        state.generation += 1;
        self.changed.notify_all();
    }
}

/// A running pod watch. Dropping it stops the thread.
pub struct PodWatch {
    store: Arc<Store>,
    stop: CancelToken,
    thread: Option<JoinHandle<()>>,
}

impl PodWatch {
    /// Starts listing and watching pods in `namespace` matching
    /// `label_selector` on a thread of its own.
    pub fn start(
        client: Arc<Client>,
        namespace: &str,
        label_selector: &str,
        options: WatchOptions,
    ) -> PodWatch {
        let store = Arc::new(Store::default());
        let stop = CancelToken::new();
        let worker = Worker {
            client,
            namespace: namespace.to_owned(),
            selector: label_selector.to_owned(),
            options,
            store: Arc::clone(&store),
            stop: stop.clone(),
        };
        let thread = match std::thread::Builder::new()
            .name("kube-watch-pods".to_owned())
            .spawn(move || worker.run())
        {
            Ok(thread) => Some(thread),
            Err(e) => {
                // The store never syncs; say why instead of leaving callers
                // to time out in silence.
                let error = format!("cannot start the watch thread: {e}");
                crate::error!("kube watch pods in {namespace}: {error}");
                store.update(|s| s.last_error = Some(error));
                None
            }
        };
        PodWatch {
            store,
            stop,
            thread,
        }
    }

    /// The store the watch keeps current.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Asks the thread to end (see the module doc for when it does).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    client: Arc<Client>,
    namespace: String,
    selector: String,
    options: WatchOptions,
    store: Arc<Store>,
    stop: CancelToken,
}

/// One line of a watch stream.
#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    type_: String,
    object: serde_json::Value,
}

/// A watch the server ends sooner than this without sending anything is
/// treated as a failure (backoff), so a misbehaving proxy cannot make us
/// reconnect in a tight loop (client-go has the same guard).
const MIN_WATCH_DURATION: Duration = Duration::from_secs(1);

/// What ended one watch request.
enum Ended {
    /// Server closed the stream normally: watch again from the same rv.
    Closed,
    /// The resourceVersion expired: relist.
    Expired,
    /// Anything else: back off, then watch again from the same rv.
    Failed(String),
    Stopped,
}

impl Worker {
    fn run(self) {
        let mut rv: Option<String> = None;
        let mut backoff = self.options.min_backoff;
        while !self.stop.is_cancelled() {
            let from = match &rv {
                Some(rv) => rv.clone(),
                None => match self.relist() {
                    Ok(new_rv) => {
                        rv = Some(new_rv.clone());
                        new_rv
                    }
                    Err(e) => {
                        self.failed(chain(&e), &mut backoff);
                        continue;
                    }
                },
            };
            let opened = Instant::now();
            let events_before = self.store.stats().events;
            let ended = match self.client.watch_pods(
                &self.namespace,
                &self.selector,
                &from,
                self.options.server_timeout,
            ) {
                Ok(stream) => {
                    self.store.update(|s| s.stats.watches += 1);
                    self.consume(stream, &mut rv, &mut backoff)
                }
                Err(Error::Gone(_)) => Ended::Expired,
                Err(e) => Ended::Failed(chain(&e)),
            };
            let silent = self.store.stats().events == events_before;
            match ended {
                Ended::Closed if silent && opened.elapsed() < MIN_WATCH_DURATION => {
                    self.failed(
                        "watch ended at once with no events".to_owned(),
                        &mut backoff,
                    );
                }
                Ended::Closed => {}
                Ended::Expired => {
                    crate::v!(
                        2,
                        "kube watch pods in {}: resourceVersion expired, relisting",
                        self.namespace
                    );
                    rv = None;
                }
                Ended::Failed(e) => self.failed(e, &mut backoff),
                Ended::Stopped => return,
            }
        }
    }

    fn relist(&self) -> Result<String, Error> {
        let list = self.client.pods(&self.namespace).list(&self.selector)?;
        let rv = list.metadata.resource_version.clone().unwrap_or_default();
        let pods: BTreeMap<String, Pod> = list
            .items
            .into_iter()
            .map(|p| (p.metadata.name_or_empty().to_owned(), p))
            .collect();
        let rv_for_store = rv.clone();
        self.store.update(move |s| {
            s.pods = pods;
            s.resource_version = rv_for_store;
            s.synced = true;
            s.stats.lists += 1;
            s.last_error = None;
        });
        Ok(rv)
    }

    fn consume(
        &self,
        mut stream: super::client::WatchStream,
        rv: &mut Option<String>,
        backoff: &mut Duration,
    ) -> Ended {
        loop {
            if self.stop.is_cancelled() {
                return Ended::Stopped;
            }
            let line = match stream.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return Ended::Closed,
                Err(e) => return Ended::Failed(chain(&e)),
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: RawEvent = match serde_json::from_slice(&line) {
                Ok(ev) => ev,
                Err(e) => {
                    return Ended::Failed(format!("{}: bad event: {e}", stream.request()));
                }
            };
            // A working stream resets the backoff.
            *backoff = self.options.min_backoff;
            match event.type_.as_str() {
                "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" => {
                    let pod: Pod = match serde_json::from_value(event.object) {
                        Ok(p) => p,
                        Err(e) => {
                            return Ended::Failed(format!("{}: bad pod: {e}", stream.request()));
                        }
                    };
                    let new_rv = pod.metadata.resource_version.clone().unwrap_or_default();
                    let kind = event.type_;
                    self.store.update(|s| {
                        let name = pod.metadata.name_or_empty().to_owned();
                        match kind.as_str() {
                            "DELETED" => {
                                s.pods.remove(&name);
                            }
                            "BOOKMARK" => {}
                            _ => {
                                s.pods.insert(name, pod);
                            }
                        }
                        s.resource_version = new_rv.clone();
                        s.stats.events += 1;
                    });
                    *rv = Some(new_rv);
                }
                "ERROR" => {
                    let status: Status = serde_json::from_value(event.object).unwrap_or_default();
                    if status.code == 410 || status.reason == "Expired" || status.reason == "Gone" {
                        return Ended::Expired;
                    }
                    return Ended::Failed(format!(
                        "{}: watch error {} {}: {}",
                        stream.request(),
                        status.code,
                        status.reason,
                        status.message
                    ));
                }
                // An event type we do not know: the API may grow new ones;
                // skipping it is what client-go's decoder does too.
                _unknown => {}
            }
        }
    }

    fn failed(&self, error: String, backoff: &mut Duration) {
        if !self.stop.is_cancelled() {
            crate::warn!(
                "kube watch pods in {}: {error}; retrying in {backoff:?}",
                self.namespace
            );
        }
        self.store.update(|s| s.last_error = Some(error));
        self.stop.wait_timeout(*backoff);
        *backoff = (*backoff * 2).min(self.options.max_backoff);
    }
}

/// An error and its causes on one line, for log lines (errors themselves
/// keep causes in `source()`).
fn chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
