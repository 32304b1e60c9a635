//! `fn-runner wrapper-server`: the gRPC front of a function pod (compat §6).
//!
//! Porch starts it in every function pod as
//! `wrapper-server --port 9446 --max-request-body-size N -- <entrypoint...>`.
//! Each EvaluateFunction runs the entrypoint with stdin = resource_list
//! (the request's `image` only names the function in messages), through
//! the same process runner as the exec runtime (process-group kill on
//! deadline or cancel, output capped at the message limit). Then:
//!
//! - non-zero exit, stdout a ResourceList -> INTERNAL `failed to evaluate
//!   function "IMAGE" with structured results: <results> and stderr: <stderr>`;
//! - stdout not a ResourceList (whatever the exit) -> INTERNAL
//!   `failed to parse the output of function "IMAGE" with stderr '<stderr>': <parse error>`;
//! - exit 0 -> the response carries stdout and stderr; results of
//!   severity `error` are logged as a warning.
//!
//! Each call is logged, numbered: `call N: evaluating "IMAGE", B bytes in`
//! (verbosity 2) when it starts and `call N: evaluated "IMAGE" in 12ms: ok`
//! (or what stopped it) when it ends, like the Go wrapper's `Evaluated
//! "IMAGE": duration=...` line. Operators (and the pod-runtime tests) read
//! from it which calls a pod served and when.

use std::ffi::OsString;
use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffers;
use crate::call::CallContext;
use crate::evaluator::{self, Evaluator, Runtime};
use crate::flags::WrapperSettings;
use crate::grpc::ServerConfig;
use crate::h2::limits::Limits;
use crate::process::{self, Runner};
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};
use crate::resourcelist::ResourceList;
use crate::serve;

/// Runs one fixed entrypoint for every call.
#[derive(Debug)]
pub struct WrapperEvaluator {
    /// The entrypoint's program.
    program: OsString,
    /// The entrypoint's arguments.
    args: Vec<OsString>,
    /// Runs the entrypoint and owns it while it runs. Its output cap is
    /// the message limit (`--max-request-body-size`).
    runner: Runner,
}

impl WrapperEvaluator {
    /// An evaluator for `entrypoint` (program then arguments); `None` when
    /// it is empty. Each output of the entrypoint is capped at
    /// `output_limit_bytes`.
    pub fn new(entrypoint: Vec<OsString>, output_limit_bytes: usize) -> Option<Self> {
        let options = process::Options {
            output_limit_bytes,
            buffers: buffers::Pool::unpooled(),
        };
        Self::with_options(entrypoint, options)
    }

    /// [`new`](Self::new) with the process runner's options.
    pub fn with_options(entrypoint: Vec<OsString>, options: process::Options) -> Option<Self> {
        let mut entrypoint = entrypoint.into_iter();
        let program = entrypoint.next()?;
        Some(Self {
            program,
            args: entrypoint.collect(),
            runner: Runner::new(options),
        })
    }

    /// One call: the entrypoint run on the request, its output judged.
    fn run_function(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, evaluator::Error> {
        let image = &request.image;
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        let out = match self.runner.run(command, &mut request.resource_list, ctx) {
            Ok(out) => out,
            Err(e @ process::Error::Spawn { .. }) => {
                return Err(evaluator::Error::FunctionFailed {
                    message: format!("failed to execute function {image:?}: {e}"),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("the output of function {image:?}");
        let limit_bytes = self.runner.options().output_limit_bytes;
        let list = match ResourceList::decode(&out.stdout, &what, limit_bytes) {
            Ok(list) => list,
            Err(e) => {
                return Err(evaluator::Error::FunctionFailed {
                    message: format!(
                    "failed to parse the output of function {image:?} with stderr '{stderr}': {e}"
                ),
                })
            }
        };
        if !out.status.success() {
            return Err(evaluator::Error::FunctionFailed {
                message: format!(
                    "failed to evaluate function {image:?} with structured results: {} and stderr: {stderr}",
                    list.render_results()
                ),
            });
        }
        if list.has_errors() {
            crate::warn!(
                "function {image:?} returned structured results with severity error: {}",
                list.render_results()
            );
        }
        Ok(EvaluateFunctionResponse {
            resource_list: out.stdout,
            log: out.stderr,
        })
    }
}

impl Evaluator for WrapperEvaluator {
    fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, evaluator::Error> {
        /// Numbers the calls of this process in the log, to pair each
        /// call's start and end lines.
        static NEXT_CALL: AtomicU64 = AtomicU64::new(1);
        let call = NEXT_CALL.fetch_add(1, Ordering::Relaxed);
        crate::v!(
            2,
            "call {call}: evaluating {:?}, {} bytes in",
            request.image,
            request.resource_list.len()
        );
        let started = Instant::now();
        let result = self.run_function(request, ctx);
        evaluator::metrics::evaluated(evaluator::metrics::Runtime::Wrapper, &result, started);
        let outcome = match &result {
            Ok(response) => format!("ok, {} bytes out", response.resource_list.len()),
            Err(evaluator::Error::FunctionFailed { .. }) => "function failed".to_owned(),
            Err(e) => e.to_string(),
        };
        crate::info!(
            "call {call}: evaluated {:?} in {:?}: {outcome}",
            request.image,
            started.elapsed()
        );
        result
    }
}

impl Runtime for WrapperEvaluator {
    /// Ready at once: the entrypoint starts per call.
    fn wait_ready(&self, _timeout: Duration) -> bool {
        true
    }

    /// Kills the entrypoint's runs still going (at once).
    fn shutdown(&self, _deadline: Instant) {
        self.runner.shutdown();
    }
}

/// Serves FunctionEvaluator and health on `--bind-address`:`--port` until
/// SIGTERM/SIGINT, then shuts down gracefully like `serve`.
pub fn run(settings: &WrapperSettings) -> io::Result<()> {
    // Before any thread starts, so every thread inherits the blocked mask.
    crate::sys::block_shutdown_signals()?;
    let _metrics = crate::exporter::start(settings.metrics_address)?;
    let buffers = buffers::Pool::new();
    let options = process::Options {
        output_limit_bytes: settings.max_request_body_size,
        buffers: buffers.clone(),
    };
    let evaluator = WrapperEvaluator::with_options(settings.entrypoint.clone(), options)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "missing the function's entrypoint",
            )
        })?;
    let listener = serve::listen(settings.bind_address, settings.port)?;
    crate::info!(
        "wrapper-server serving {} for {:?}",
        std::net::SocketAddr::from((settings.bind_address, settings.port)),
        settings.entrypoint
    );
    let config = ServerConfig {
        max_message_bytes: settings.max_request_body_size,
        limits: settings.connections.limits(Limits {
            buffers,
            ..Limits::default()
        }),
        ..ServerConfig::default()
    };
    // serve_until_signal also kills what still runs after the grace period.
    serve::serve_until_signal(listener, Arc::new(evaluator), config)
}
