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
//! Each call is logged, numbered, in the evaluation log's format
//! (`evaluator::call_log`, as `serve` logs): `call N: evaluating "IMAGE", B
//! bytes in` (verbosity 2, the default) when it starts and `call N:
//! evaluated "IMAGE" with wrapper in 12ms: ok, B bytes out` (or why it
//! failed, as a warning) when it ends, like the Go wrapper's `Evaluated
//! "IMAGE"` line. Operators (and the pod-runtime tests) read from it which
//! calls a pod served and when.

use std::ffi::OsString;
use std::io;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffers;
use crate::call::CallContext;
use crate::evaluator::{self, CallLog, Evaluator, Runtime};
use crate::flags::WrapperSettings;
use crate::grpc::ServerConfig;
use crate::h2::limits::Limits;
use crate::process::{self, Runner};
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};
use crate::resourcelist::ResourceList;
use crate::serve;
use crate::signals::Signals;

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
    /// Numbers the calls; a start and an end line per call.
    log: CallLog,
}

/// The verbosity of the wrapper's per-call start line: its default, so
/// that a pod's log tells which calls it served and when.
const START_LINE_LEVEL: u8 = 2;

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
            log: CallLog::new(START_LINE_LEVEL),
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
                let message = format!("failed to execute function {image:?}: {e}");
                return Err(evaluator::Error::function_failed(
                    message,
                    e.to_string(),
                    Vec::new(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let what = format!("the output of function {image:?}");
        let limit_bytes = self.runner.options().output_limit_bytes;
        let exit = process::describe_exit(&out.status);
        let list = match ResourceList::decode(&out.stdout, &what, limit_bytes) {
            Ok(list) => list,
            Err(e) => {
                let message = format!(
                    "failed to parse the output of function {image:?} with stderr '{stderr}': {e}"
                );
                // Not the parse error: it may quote the output.
                let reason = format!("its output is not a ResourceList ({exit})");
                return Err(evaluator::Error::function_failed(
                    message, reason, out.stderr,
                ));
            }
        };
        if !out.status.success() {
            let message = format!(
                "failed to evaluate function {image:?} with structured results: {} and stderr: {stderr}",
                list.render_results()
            );
            return Err(evaluator::Error::function_failed(message, exit, out.stderr));
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
        let started = self.log.start(request);
        let result = self.run_function(request, ctx);
        evaluator::metrics::evaluated(evaluator::metrics::Runtime::Wrapper, &result, started.at());
        self.log
            .end(started, &request.image, Some(self.name()), &result);
        result
    }
}

impl Runtime for WrapperEvaluator {
    fn name(&self) -> &'static str {
        "wrapper"
    }

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
    // Before any thread starts, so every thread inherits the signal mask.
    let signals = Signals::start()?;
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
    // An entrypoint that cannot run would fail every call: say so now, so
    // the pod fails to start (CrashLoopBackOff, which the pod runtime
    // reports) instead of looking ready (issue 14).
    process::program::check_program(&evaluator.program).map_err(|problem| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the function's entrypoint {:?} {problem}",
                evaluator.program
            ),
        )
    })?;
    let listener = serve::listen(settings.bind_address, settings.port)?;
    crate::info!("wrapper-server running {:?}", settings.entrypoint);
    let config = ServerConfig {
        max_message_bytes: settings.max_request_body_size,
        limits: settings.connections.limits(Limits {
            buffers,
            ..Limits::default()
        }),
        ..ServerConfig::default()
    };
    // serve_until_signal also kills what still runs after the grace period.
    serve::serve_until_signal(listener, Arc::new(evaluator), config, signals)
}
