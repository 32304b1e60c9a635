//! An informer in miniature: one thread keeps an in-memory copy of the pods
//! matching a namespace + label selector (a [`Store`], `store.rs`: indexed,
//! with per-pod wake-ups), readable without API calls. The pod runtime runs
//! one per runner: its namespace, label key [`IMAGE_LABEL`].
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

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::client::{Client, WatchStream, WATCH_SERVER_TIMEOUT};
use super::error::Error;
use super::metrics::{self, Restart};
use super::objects::{Pod, Status};
use super::store::{Change, Store};
use crate::call::CancelToken;

/// The label the pod runtime puts its pod id in (compat.md §4.2): the
/// default key of the store's index.
pub const IMAGE_LABEL: &str = "fn.kpt.dev/image";

/// Settings of a [`PodWatch`]; the defaults suit a cluster, tests shorten.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// `timeoutSeconds` asked of the server per watch request.
    pub server_timeout: Duration,
    /// First reconnect delay after a failure, doubled up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// The label whose value indexes the store (default [`IMAGE_LABEL`]).
    pub index_label: String,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            server_timeout: WATCH_SERVER_TIMEOUT,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            index_label: IMAGE_LABEL.to_owned(),
        }
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
        let store = Arc::new(Store::new(&options.index_label));
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
                store.record_error(error);
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
                        self.failed(crate::log::chain(&e), &mut backoff);
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
                    self.store.count_watch();
                    self.consume(stream, &mut rv, &mut backoff)
                }
                Err(Error::Gone(_)) => Ended::Expired,
                Err(e) => Ended::Failed(crate::log::chain(&e)),
            };
            let silent = self.store.stats().events == events_before;
            match ended {
                Ended::Closed if silent && opened.elapsed() < MIN_WATCH_DURATION => {
                    self.failed(
                        "watch ended at once with no events".to_owned(),
                        &mut backoff,
                    );
                }
                Ended::Closed => metrics::watch_restarted(Restart::Closed),
                Ended::Expired => {
                    metrics::watch_restarted(Restart::Expired);
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
        self.store.replace(list.items, rv.clone());
        Ok(rv)
    }

    fn consume(
        &self,
        mut stream: WatchStream,
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
                Err(e) => return Ended::Failed(crate::log::chain(&e)),
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
                    let change = match event.type_.as_str() {
                        "DELETED" => Change::Delete(pod),
                        "BOOKMARK" => Change::Bookmark,
                        _ => Change::Upsert(pod),
                    };
                    self.store.apply(change, new_rv.clone());
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
        metrics::watch_restarted(Restart::Error);
        if !self.stop.is_cancelled() {
            crate::warn!(
                "kube watch pods in {}: {error}; retrying in {backoff:?}",
                self.namespace
            );
        }
        self.store.record_error(error);
        self.stop.wait_timeout(*backoff);
        *backoff = (*backoff * 2).min(self.options.max_backoff);
    }
}
