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
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::call::CallContext;
use crate::evaluator::{self, process, Evaluator};
use crate::flags::WrapperSettings;
use crate::grpc::{Health, ServerConfig};
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};
use crate::resourcelist::ResourceList;
use crate::serve;

/// Runs one fixed entrypoint for every call.
#[derive(Debug, Clone)]
pub struct WrapperEvaluator {
    /// The program and its arguments (never empty).
    entrypoint: Vec<OsString>,
    /// Cap on each of the child's stdout and stderr, in bytes: the message
    /// limit (`--max-request-body-size`).
    output_limit_bytes: usize,
}

impl WrapperEvaluator {
    /// An evaluator for `entrypoint` (program then arguments); `None` when
    /// it is empty.
    pub fn new(entrypoint: Vec<OsString>, output_limit_bytes: usize) -> Option<Self> {
        if entrypoint.is_empty() {
            return None;
        }
        Some(Self {
            entrypoint,
            output_limit_bytes,
        })
    }

    /// One call: the entrypoint run on the request, its output judged.
    fn run_function(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, evaluator::Error> {
        let Some((program, args)) = self.entrypoint.split_first() else {
            return Err(evaluator::Error::Runtime {
                message: "wrapper-server has no entrypoint".to_owned(),
                unavailable: false,
            });
        };
        let image = &request.image;
        let out = match process::run(
            Path::new(program),
            args,
            &mut request.resource_list,
            self.output_limit_bytes,
            ctx,
        ) {
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
        let list = match ResourceList::decode(&out.stdout, &what, self.output_limit_bytes) {
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

/// Serves FunctionEvaluator and health on `--bind-address`:`--port` until
/// SIGTERM/SIGINT, then shuts down gracefully like `serve`.
pub fn run(settings: &WrapperSettings) -> io::Result<()> {
    // Before any thread starts, so every thread inherits the blocked mask.
    crate::sys::block_shutdown_signals()?;
    let evaluator =
        WrapperEvaluator::new(settings.entrypoint.clone(), settings.max_request_body_size)
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
        ..ServerConfig::default()
    };
    // serve_until_signal also kills what still runs after the grace period.
    let health = Health::new(&serve::HEALTH_SERVICES);
    serve::serve_until_signal(listener, Arc::new(evaluator), health, config)
}
