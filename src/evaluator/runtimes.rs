//! The runtimes `serve` runs, as one value that owns their life (compat §2):
//!
//! ```text
//!   Runtimes::start(config)   exec: load --config (fast)
//!                             pod: not in this build (one log line)
//!   wait_ready(timeout)       every runtime can take calls (a pod runtime:
//!                             its warm-up is done); health says NOT_SERVING
//!                             until then
//!   evaluate                  exec, then pod: UnknownImage passes on
//!   shutdown(deadline)        each runtime stops what it started (exec:
//!                             kills its functions still running)
//! ```
//!
//! A runtime is anything that implements [`Runtime`]: the pod runtime, with
//! its slow start and its own shutdown, slots in as one more entry.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::exec::{self, ExecConfig, ExecEvaluator};
use super::pod::PodRuntime;
use super::{evaluate_in_order, Error, Evaluator};
use crate::buffers;
use crate::call::CallContext;
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};

/// A way of running functions that has a life: it may need time before it
/// takes calls, and it owns what it started until it is shut down.
pub trait Runtime: Evaluator {
    /// Waits at most `timeout` for the runtime to take calls; true once it
    /// does. False when `timeout` passed first or the runtime is shut down.
    /// With a zero `timeout` it answers at once.
    fn wait_ready(&self, timeout: Duration) -> bool;

    /// Stops the runtime by `deadline`: what it started (processes, client
    /// connections) is stopped, calls still running end, later calls fail,
    /// and a [`wait_ready`](Self::wait_ready) in progress returns false.
    fn shutdown(&self, deadline: Instant);
}

/// Which runtimes `serve` starts, and with what (`flags` builds it).
#[derive(Debug, Clone)]
pub struct Config {
    /// The exec runtime; `None` when `--disable-runtimes` lists `exec`.
    pub exec: Option<ExecConfig>,
    /// The pod runtime; `None` when `--disable-runtimes` lists `pod`.
    pub pod: Option<super::pod::Config>,
    /// The large buffers the runtimes' calls share with the server
    /// (`crate::buffers`).
    pub buffers: buffers::Pool,
}

/// Why the runtimes could not start.
#[derive(Debug)]
pub enum StartError {
    /// The exec runtime's config cannot be used.
    Exec(exec::Error),
    /// The pod runtime cannot start.
    Pod(super::pod::StartError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Exec(e) => write!(f, "starting the exec runtime: {e}"),
            StartError::Pod(e) => write!(f, "starting the pod runtime: {}", crate::log::chain(e)),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Exec(e) => Some(e),
            // Display renders the pod runtime's cause chain already.
            StartError::Pod(_) => None,
        }
    }
}

/// The runtimes, tried in order; one [`Runtime`] made of several.
pub struct Runtimes {
    runtimes: Vec<Arc<dyn Runtime>>,
}

impl fmt::Debug for Runtimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtimes")
            .field("count", &self.runtimes.len())
            .finish()
    }
}

impl Runtimes {
    /// Starts the runtimes of `config`: the exec runtime unless disabled,
    /// then the pod runtime. The pod runtime is not built yet, so this
    /// behaves as with `--disable-runtimes=pod` and says so once in the
    /// log. Fails when the exec config cannot be used (missing, malformed,
    /// an entry escaping `--functions`); see [`exec::MissingConfig`].
    pub fn start(config: Config) -> Result<Runtimes, StartError> {
        let mut runtimes: Vec<Arc<dyn Runtime>> = Vec::new();
        if let Some(exec) = &config.exec {
            let started = ExecEvaluator::start(exec, config.buffers.clone());
            if let Some(runtime) = started.map_err(StartError::Exec)? {
                runtimes.push(Arc::new(runtime));
            }
        }
        if let Some(pod) = config.pod {
            if let Some(runtime) = PodRuntime::start(pod).map_err(StartError::Pod)? {
                runtimes.push(Arc::new(runtime));
            }
        }
        Ok(Runtimes::new(runtimes))
    }

    /// Runtimes already started, tried first to last. Shared: a runtime
    /// may also be held by its own threads (a pod runtime's watch).
    pub fn new(runtimes: Vec<Arc<dyn Runtime>>) -> Runtimes {
        Runtimes { runtimes }
    }
}

impl Evaluator for Runtimes {
    fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error> {
        evaluate_in_order(self.runtimes.iter().map(|r| &**r), request, ctx)
    }
}

impl Runtime for Runtimes {
    /// Ready when every runtime is, all within one `timeout`.
    fn wait_ready(&self, timeout: Duration) -> bool {
        let started = Instant::now();
        self.runtimes.iter().all(|r| {
            let left = timeout.saturating_sub(started.elapsed());
            r.wait_ready(left)
        })
    }

    /// Shuts every runtime down, each by the same `deadline`.
    fn shutdown(&self, deadline: Instant) {
        for runtime in &self.runtimes {
            runtime.shutdown(deadline);
        }
    }
}

/// A runtime for tests that becomes ready when told to, like a pod runtime
/// whose warm-up finishes.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Gate {
    /// (ready, shut down)
    state: std::sync::Mutex<(bool, bool)>,
    changed: std::sync::Condvar,
}

#[cfg(test)]
impl Gate {
    /// The warm-up is done.
    pub(crate) fn open(&self) {
        self.lock().0 = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (bool, bool)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
impl Evaluator for Gate {
    fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        _ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error> {
        Err(Error::UnknownImage {
            image: request.image.clone(),
        })
    }
}

#[cfg(test)]
impl Runtime for Gate {
    fn wait_ready(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |(ready, down)| !*ready && !*down)
            .unwrap_or_else(|p| p.into_inner());
        state.0 && !state.1
    }

    fn shutdown(&self, _deadline: Instant) {
        self.lock().1 = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_runtime_is() {
        let gate = Arc::new(Gate::default());
        let runtimes = Runtimes::new(vec![Arc::clone(&gate) as Arc<dyn Runtime>]);
        assert!(!runtimes.wait_ready(Duration::ZERO));
        gate.open();
        assert!(runtimes.wait_ready(Duration::ZERO));
        assert!(Runtimes::new(Vec::new()).wait_ready(Duration::ZERO));
    }

    #[test]
    fn shutdown_ends_a_wait_for_ready() {
        let runtimes = Arc::new(Runtimes::new(vec![Arc::new(Gate::default())]));
        let r = Arc::clone(&runtimes);
        let waiter = std::thread::spawn(move || r.wait_ready(Duration::from_secs(3600)));
        runtimes.shutdown(Instant::now());
        assert!(!waiter.join().expect("waiter"), "not ready after shutdown");
    }

    #[test]
    fn an_unknown_image_passes_through_every_runtime() {
        let runtimes = Runtimes::new(vec![Arc::new(Gate::default()), Arc::new(Gate::default())]);
        let mut request = EvaluateFunctionRequest {
            resource_list: Vec::new(),
            image: "x:v1".to_owned(),
        };
        let err = runtimes
            .evaluate(&mut request, &CallContext::background())
            .expect_err("unknown");
        assert!(matches!(err, Error::UnknownImage { image } if image == "x:v1"));
    }
}
