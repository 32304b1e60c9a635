//! The bounded worker pool that runs blocking handlers (design.md "Threads,
//! not async"). Threads are created lazily up to a maximum and exit after
//! an idle period; when every thread is busy, [`Pool::try_execute`] fails at
//! once so the call gets RESOURCE_EXHAUSTED instead of waiting.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::h2::io::{not_logged, LogBudget};
use crate::h2::limits::EVENT_LOG_LINES;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long an idle worker waits for work before its thread exits.
const IDLE_EXIT: Duration = Duration::from_secs(60);

/// A fixed-capacity pool of threads.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    max_threads: usize,
    name: &'static str,
    /// Lines about threads that could not start (rate-limited).
    spawn_log: Mutex<LogBudget>,
}

struct State {
    threads: usize,
    idle: usize,
    queue: VecDeque<Job>,
}

/// Every worker is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    pub max_threads: usize,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "all {} workers are busy", self.max_threads)
    }
}

impl std::error::Error for Full {}

impl Pool {
    /// A pool of at most `max_threads` threads named `name`.
    pub fn new(name: &'static str, max_threads: usize) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    threads: 0,
                    idle: 0,
                    queue: VecDeque::new(),
                }),
                wake: Condvar::new(),
                max_threads: max_threads.max(1),
                name,
                spawn_log: Mutex::new(LogBudget::new(EVENT_LOG_LINES)),
            }),
        }
    }

    /// Runs `job(Ok(()))` on an idle or new worker; when all are busy, runs
    /// `job(Err(Full))` at once on the calling thread (so the job can answer
    /// its caller) and returns the same error.
    pub(crate) fn execute_or_reject<F>(&self, job: F) -> Result<(), Full>
    where
        F: FnOnce(Result<(), Full>) + Send + 'static,
    {
        let full = Full {
            max_threads: self.shared.max_threads,
        };
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.idle > state.queue.len() {
            state.queue.push_back(Box::new(move || job(Ok(()))));
            self.shared.wake.notify_one();
            return Ok(());
        }
        if state.threads >= self.shared.max_threads {
            drop(state);
            job(Err(full));
            return Err(full);
        }
        state.threads += 1;
        drop(state);
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name(self.shared.name.to_owned())
            .spawn(move || worker(&shared, Box::new(move || job(Ok(())))));
        if let Err(e) = spawned {
            // The job was dropped with the closure; its owner's Drop answers.
            let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            state.threads -= 1;
            drop(state);
            let mut log = self
                .shared
                .spawn_log
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(left_out) = log.admit(|| true) {
                crate::error!(
                    "cannot start a {} thread: {e}; its call was reset{}",
                    self.shared.name,
                    not_logged(left_out)
                );
            }
            return Err(full);
        }
        Ok(())
    }

    /// Runs `job` on an idle or new worker, or fails when all are busy.
    pub fn try_execute(&self, job: impl FnOnce() + Send + 'static) -> Result<(), Full> {
        self.execute_or_reject(move |admitted| {
            if admitted.is_ok() {
                job();
            }
        })
    }
}

/// Runs a job; a panicking job is contained so the worker (and the pool's
/// count of threads) survives. The job's owners answer from their `Drop`
/// (an unfinished responder resets its stream).
fn run(job: Job) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
        crate::error!("a request handler panicked; its call was reset");
    }
}

fn worker(shared: &Shared, first: Job) {
    run(first);
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            run(job);
            state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        state.idle += 1;
        let (next, timeout) = shared
            .wake
            .wait_timeout_while(state, IDLE_EXIT, |s| s.queue.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        state = next;
        state.idle -= 1;
        if timeout.timed_out() && state.queue.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn full_pool_fails_at_once() {
        let pool = Pool::new("test-worker", 2);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (started_tx, started_rx) = mpsc::channel();
        for _ in 0..2 {
            let (rx, started) = (Arc::clone(&release_rx), started_tx.clone());
            pool.try_execute(move || {
                started.send(()).expect("test alive");
                let _ = rx.lock().expect("lock").recv();
            })
            .expect("room");
        }
        for _ in 0..2 {
            started_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("started");
        }
        assert_eq!(pool.try_execute(|| {}), Err(Full { max_threads: 2 }));
        release_tx.send(()).expect("worker alive");
        release_tx.send(()).expect("worker alive");
        let (done_tx, done_rx) = mpsc::channel();
        // An idle worker takes the next job; retry until one is idle.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let tx = done_tx.clone();
            if pool
                .try_execute(move || tx.send(()).expect("test alive"))
                .is_ok()
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "pool never freed");
            thread::yield_now();
        }
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("job ran");
    }

    #[test]
    fn a_panicking_job_does_not_lose_the_worker() {
        let pool = Pool::new("test-worker", 1);
        pool.try_execute(|| panic!("test panic")).expect("room");
        // The single worker survives and takes the next job.
        let (tx, rx) = mpsc::channel();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let tx = tx.clone();
            if pool
                .try_execute(move || tx.send(()).expect("test alive"))
                .is_ok()
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "worker lost");
            thread::yield_now();
        }
        rx.recv_timeout(Duration::from_secs(10)).expect("job ran");
    }
}
