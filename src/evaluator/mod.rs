//! The evaluator chain (compat §2): evaluators are tried in order, exec then
//! pod; one that does not know the image passes to the next; when none
//! knows it the call fails NOT_FOUND.
//!
//! This layer names no gRPC or HTTP/2 type: the server maps [`Error`] to a
//! gRPC status in one function.

use std::fmt;

pub mod exec;
pub mod pod;
pub mod process;

pub use exec::ExecEvaluator;

use crate::call::{CallContext, Interrupt};
use crate::flags::ServeSettings;
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};

/// One way of running a KRM function.
pub trait Evaluator: Send + Sync {
    /// Runs the function named by `request.image` on `request.resource_list`.
    /// Returns [`Error::UnknownImage`] when this evaluator does not know the
    /// image (before touching the request), so that the chain tries the
    /// next one. The input is consumed: pages of a large one may be given
    /// back to the kernel once the function has been fed them (they read as
    /// zeros afterwards), see `process::run`.
    fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error>;
}

/// Why an evaluation failed. Each variant maps to one gRPC code.
#[derive(Debug)]
pub enum Error {
    /// This evaluator does not know the image (-> next evaluator, NOT_FOUND at the end).
    UnknownImage { image: String },
    /// The function ran and failed (-> INTERNAL); the message is the
    /// compat-exact text, e.g. `Failed to execute function "IMAGE": ...`.
    FunctionFailed { message: String },
    /// The call's deadline passed or it was cancelled.
    Interrupted(Interrupt),
    /// Output larger than the message limit (-> RESOURCE_EXHAUSTED).
    OutputTooLarge { limit_bytes: usize },
    /// Anything else that stopped the evaluation (-> INTERNAL or UNAVAILABLE
    /// as `unavailable` says), with a message fit for the caller.
    Runtime { message: String, unavailable: bool },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownImage { image } => write!(f, "no evaluator knows image {image:?}"),
            Error::FunctionFailed { message } => f.write_str(message),
            Error::Interrupted(Interrupt::DeadlineExceeded) => f.write_str("deadline exceeded"),
            Error::Interrupted(Interrupt::Cancelled) => f.write_str("call cancelled"),
            Error::OutputTooLarge { limit_bytes } => {
                write!(
                    f,
                    "function output larger than the message limit of {limit_bytes} bytes"
                )
            }
            Error::Runtime { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<process::Error> for Error {
    /// The runtime-neutral mapping; each runtime handles a failed start
    /// (`Spawn`) itself first when its contract words it differently.
    fn from(e: process::Error) -> Self {
        match e {
            process::Error::Interrupted(why) => Error::Interrupted(why),
            process::Error::OutputTooLarge { limit_bytes, .. } => {
                Error::OutputTooLarge { limit_bytes }
            }
            e @ (process::Error::Spawn { .. } | process::Error::Io { .. }) => Error::Runtime {
                message: e.to_string(),
                unavailable: false,
            },
        }
    }
}

/// Evaluators tried in order (compat §2).
pub struct Chain {
    evaluators: Vec<Box<dyn Evaluator>>,
}

impl Chain {
    /// A chain of `evaluators`, tried first to last.
    pub fn new(evaluators: Vec<Box<dyn Evaluator>>) -> Self {
        Self { evaluators }
    }
}

impl Evaluator for Chain {
    fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error> {
        for evaluator in &self.evaluators {
            match evaluator.evaluate(request, ctx) {
                Err(Error::UnknownImage { .. }) => continue,
                other => return other,
            }
        }
        Err(Error::UnknownImage {
            image: request.image.clone(),
        })
    }
}

/// The chain `fn-runner serve` runs (compat §2): the exec runtime unless
/// `--disable-runtimes` lists `exec`, then the pod runtime. The pod runtime
/// is not built yet, so `serve` behaves as with `--disable-runtimes=pod`
/// and says so once in the log. Fails when the exec config cannot be used
/// (missing, malformed, an entry escaping `--functions`); only the default
/// `./config.yaml` may be absent (a warning: no cached functions).
pub fn serve_chain(settings: &ServeSettings) -> Result<Chain, exec::Error> {
    let mut evaluators: Vec<Box<dyn Evaluator>> = Vec::new();
    let default_config = ServeSettings::default().config;
    if settings.runtimes.exec && settings.config == default_config && !default_config.exists() {
        // Ours: no `--config` given and none in the working directory is a
        // runner without cached functions (useful on a laptop, with the pod
        // runtime); a `--config` that names a missing file is an error.
        crate::warn!(
            "no exec runtime config at {} (--config): the exec runtime knows no images",
            default_config.display()
        );
    } else if settings.runtimes.exec {
        let exec = ExecEvaluator::load(
            &settings.config,
            &settings.functions,
            settings.max_request_body_size,
        )?;
        for warning in exec.warnings() {
            crate::warn!("{warning}");
        }
        crate::info!(
            "exec runtime: {} images from {}, binaries in {}",
            exec.image_count(),
            settings.config.display(),
            settings.functions.display()
        );
        evaluators.push(Box::new(exec));
    }
    if settings.runtimes.pod {
        crate::warn!(
            "the pod runtime is not available in this build: serving as with --disable-runtimes=pod"
        );
    }
    Ok(Chain::new(evaluators))
}
