//! What the runtime does to its pods off the request path, on one thread:
//! refreshing `fn.kpt.dev/reclaim-after` of pods in use (compat §4.4:
//! **ours**, at most once per refresh interval per pod instead of a PATCH
//! per evaluation) and deleting pods it retired (a pod of an old template
//! version, once no call of ours is on it).
//!
//! Jobs are queued by name, so a pod has at most one pending job of each
//! kind; the queue is bounded ([`MAX_JOBS`]): when full, a refresh is
//! dropped (the next use asks again) and logged.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::template::{reclaim_after, RECLAIM_AFTER_ANNOTATION};
use crate::evaluator::metrics::pod::{pod_deleted, DeleteReason};
use crate::kube;
use crate::metrics::Label as _;

/// Most jobs waiting: far more pods than a runner serves.
const MAX_JOBS: usize = 1_024;
/// Bound on one job's API call.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// One thing to do to a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Job {
    /// Merge-patch reclaim-after to now + `ttl`.
    Refresh { pod: String, ttl: Duration },
    /// Delete the pod if it still has `resource_version` (empty: any).
    Delete {
        pod: String,
        resource_version: String,
        why: DeleteReason,
    },
}

impl Job {
    fn pod(&self) -> &str {
        match self {
            Job::Refresh { pod, .. } | Job::Delete { pod, .. } => pod,
        }
    }

    fn same_kind(&self, other: &Job) -> bool {
        matches!(
            (self, other),
            (Job::Refresh { .. }, Job::Refresh { .. }) | (Job::Delete { .. }, Job::Delete { .. })
        )
    }
}

/// The upkeep thread and its queue.
pub(crate) struct Upkeep {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    stopped: bool,
}

impl Upkeep {
    /// Starts the thread, working on pods in `namespace`.
    pub fn start(kube: Arc<kube::Client>, namespace: String) -> std::io::Result<Upkeep> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pod-upkeep".to_owned())
            .spawn(move || run(&worker, &kube, &namespace))?;
        Ok(Upkeep {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `job` unless one of its kind for its pod is queued already.
    /// Returns false when it was dropped (queue full or stopped).
    pub fn push(&self, job: Job) -> bool {
        let mut queue = self.shared.lock();
        if queue.stopped {
            return false;
        }
        if queue
            .jobs
            .iter()
            .any(|j| j.pod() == job.pod() && j.same_kind(&job))
        {
            return true;
        }
        if queue.jobs.len() >= MAX_JOBS {
            crate::warn!("pod upkeep queue full ({MAX_JOBS} jobs): dropping {job:?}");
            return false;
        }
        queue.jobs.push_back(job);
        self.shared.changed.notify_one();
        true
    }

    /// Stops the thread after the job it is running; queued jobs are
    /// dropped (pods keep their annotations; GC judges them later).
    pub fn stop(&self) {
        self.shared.lock().stopped = true;
        self.shared.changed.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn run(shared: &Shared, kube: &kube::Client, namespace: &str) {
    loop {
        let job = {
            let mut queue = shared.lock();
            loop {
                if queue.stopped {
                    return;
                }
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                queue = shared
                    .changed
                    .wait(queue)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        perform(kube, namespace, &job);
    }
}

fn perform(kube: &kube::Client, namespace: &str, job: &Job) {
    let api = kube
        .pods(namespace)
        .with_deadline(Some(Instant::now() + JOB_TIMEOUT));
    match job {
        Job::Refresh { pod, ttl } => {
            let value = reclaim_after(SystemTime::now(), *ttl);
            let patch =
                json!({ "metadata": { "annotations": { RECLAIM_AFTER_ANNOTATION: value } } });
            match api.patch_merge(pod, &patch) {
                Ok(_) => crate::v!(4, "refreshed {RECLAIM_AFTER_ANNOTATION} of pod {pod}"),
                // Deleted meanwhile: nothing to refresh.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    crate::warn!("cannot refresh {RECLAIM_AFTER_ANNOTATION} of pod {pod}: {e}")
                }
            }
        }
        Job::Delete {
            pod,
            resource_version,
            why,
        } => {
            let result = if resource_version.is_empty() {
                api.delete(pod)
            } else {
                api.delete_if_unchanged(pod, resource_version)
            };
            match result {
                Ok(()) => {
                    pod_deleted(*why);
                    crate::info!("deleted function pod {namespace}/{pod} ({})", why.as_str())
                }
                Err(e) if e.is_not_found() => {}
                // Changed since we judged it (another replica refreshed it).
                Err(kube::Error::Conflict(_)) => {
                    crate::info!(
                        "kept function pod {namespace}/{pod}: it changed since it was judged ({})",
                        why.as_str()
                    )
                }
                Err(e) => crate::warn!(
                    "cannot delete function pod {namespace}/{pod} ({}): {e}",
                    why.as_str()
                ),
            }
        }
    }
}
