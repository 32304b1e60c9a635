//! Running KRM functions: the [`Evaluator`] trait, the [`Runtime`]s that
//! implement it with a life of their own, and [`Runtimes`], the assembly
//! `serve` runs. Evaluators are tried in order, exec then pod (compat §2);
//! one that does not know the image passes to the next; when none knows it
//! the call fails NOT_FOUND.
//!
//! This layer names no gRPC or HTTP/2 type and reads no command line: the
//! server maps [`Error`] to a gRPC status in one function, and `flags`
//! builds the [`Config`].

mod error;
pub mod exec;
pub mod metrics;
pub mod pod;
pub mod runtimes;

pub use error::{Error, PodFailure};
pub use exec::{ExecConfig, ExecEvaluator, MissingConfig};
pub use runtimes::{Config, Runtime, Runtimes, StartError};

use crate::call::CallContext;
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
