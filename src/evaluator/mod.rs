//! Running KRM functions: the [`Evaluator`] trait, the [`Runtime`]s that
//! implement it with a life of their own, and [`Runtimes`], the assembly
//! `serve` runs. Evaluators are tried in order, exec then pod (compat §2);
//! one that does not know the image passes to the next; when none knows it
//! the call fails NOT_FOUND.
//!
//! This layer names no gRPC or HTTP/2 type and reads no command line: the
//! server maps [`Error`] to a gRPC status in one function, and `flags`
//! builds the [`Config`].

use std::fmt;

pub mod exec;
pub mod runtimes;

pub use exec::{ExecConfig, ExecEvaluator, MissingConfig};
pub use runtimes::{Config, Runtime, Runtimes, StartError};

use crate::call::{CallContext, Interrupt};
use crate::process;
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};

/// One way of running a KRM function.
pub trait Evaluator: Send + Sync {
    /// Runs the function named by `request.image` on `request.resource_list`.
    /// Returns [`Error::UnknownImage`] when this evaluator does not know the
    /// image (before touching the request), so that the chain tries the
    /// next one. The input is consumed: pages of a large one may be given
    /// back to the kernel once the function has been fed them (they read as
    /// zeros afterwards), see `process::Runner::run`.
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
            e @ process::Error::ShutDown => Error::Runtime {
                message: e.to_string(),
                unavailable: true,
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
        evaluate_in_order(self.evaluators.iter().map(|e| &**e), request, ctx)
    }
}

/// Tries `evaluators` first to last (compat §2): the first that knows the
/// image answers; [`Error::UnknownImage`] when none does.
fn evaluate_in_order<'a, E>(
    evaluators: impl IntoIterator<Item = &'a E>,
    request: &mut EvaluateFunctionRequest,
    ctx: &CallContext,
) -> Result<EvaluateFunctionResponse, Error>
where
    E: Evaluator + ?Sized + 'a,
{
    for evaluator in evaluators {
        match evaluator.evaluate(request, ctx) {
            Err(Error::UnknownImage { .. }) => continue,
            other => return other,
        }
    }
    Err(Error::UnknownImage {
        image: request.image.clone(),
    })
}
