//! Why an evaluation failed: one variant per cause the caller must tell
//! apart, each mapped to one gRPC code by `serve::status_of` (the one
//! mapping, style.md §3). The pod runtime's failures share one wording,
//! written here once (compat §4.7): `unable to evaluate IMAGE with pod
//! evaluator: ...`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::call::Interrupt;
use crate::process;

/// Why an evaluation failed.
#[derive(Debug)]
pub enum Error {
    /// This evaluator does not know the image (-> next evaluator, NOT_FOUND
    /// at the end).
    UnknownImage { image: String },
    /// The function ran and failed (-> INTERNAL); `message` is the
    /// compat-exact text, e.g. `Failed to execute function "IMAGE": ...`,
    /// `log` what the evaluation log says of it. Built by
    /// [`Error::function_failed`].
    FunctionFailed {
        message: String,
        /// Boxed: off the success path, and the error stays small.
        log: Box<FailureLog>,
    },
    /// The call's deadline passed or it was cancelled.
    Interrupted(Interrupt),
    /// Output larger than the message limit (-> RESOURCE_EXHAUSTED).
    OutputTooLarge { limit_bytes: usize },
    /// Running the function's process failed outside the function itself:
    /// poll, pipes or wait (-> INTERNAL). A failed start is the runtime's
    /// to word (exec and wrapper: [`Error::FunctionFailed`], as the Go
    /// original does).
    Process(process::Error),
    /// The runtime is shut down: the server is going away (-> UNAVAILABLE:
    /// the caller may try again elsewhere).
    ShutDown,
    /// The pod runtime could not evaluate `image` (compat §4.7).
    Pod {
        image: String,
        /// Boxed: the largest variant, off the exec hot path.
        failure: Box<PodFailure>,
    },
}

/// What the evaluation log says of a failed function (`call_log`): a
/// short reason at the default verbosity, its stderr at a higher one.
#[derive(Debug, Default)]
pub struct FailureLog {
    /// Why, in a few words that hold neither the function's stderr nor
    /// anything of its ResourceList: `exit status 1`, `output is not a
    /// ResourceList`.
    pub reason: String,
    /// What the function wrote on stderr (at most the output limit).
    pub stderr: Vec<u8>,
}

impl Error {
    /// A [`Error::FunctionFailed`]: `message` for the caller, `reason` and
    /// `stderr` for the log.
    pub fn function_failed(message: String, reason: impl Into<String>, stderr: Vec<u8>) -> Error {
        Error::FunctionFailed {
            message,
            log: Box::new(FailureLog {
                reason: reason.into(),
                stderr,
            }),
        }
    }

    /// The outcome the evaluation log gives this error: no stderr, no
    /// ResourceList (`call_log`).
    pub(crate) fn log_reason(&self) -> String {
        match self {
            Error::UnknownImage { .. } => "no runtime knows the image".to_owned(),
            Error::FunctionFailed { log, .. } => format!("function failed: {}", log.reason),
            Error::Pod { failure, .. } => match &**failure {
                // Its message holds the function's stderr: `function_output`.
                PodFailure::Function { code, .. } => format!(
                    "function failed in its pod ({})",
                    crate::grpc::Code(*code).go_name()
                ),
                _ => self.to_string(),
            },
            Error::Interrupted(_)
            | Error::OutputTooLarge { .. }
            | Error::Process(_)
            | Error::ShutDown => self.to_string(),
        }
    }

    /// What a failed function said, for the log at a higher verbosity: its
    /// stderr (`"stderr"`), or its pod's answer, which quotes its stderr
    /// (`"the pod's answer"`).
    pub(crate) fn function_output(&self) -> Option<(&'static str, &[u8])> {
        match self {
            Error::FunctionFailed { log, .. } => Some(("stderr", &log.stderr)),
            Error::Pod { failure, .. } => match &**failure {
                PodFailure::Function { message, .. } => {
                    Some(("the pod's answer", message.as_bytes()))
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// Why the pod runtime could not evaluate an image.
#[derive(Debug)]
pub enum PodFailure {
    /// More calls wait for the function's pods than we let wait (ours, a
    /// bounded queue: style.md §6) (-> RESOURCE_EXHAUSTED: the same answer
    /// as a full worker pool; UNAVAILABLE would say the server is down).
    Busy { waiting: usize, limit: usize },
    /// The function's pod cannot start (compat §4.3: ErrImagePull,
    /// CrashLoopBackOff, phase Failed, ...), with the container's own
    /// reason and message (-> INTERNAL: retrying will not help).
    Failed {
        pod: String,
        reason: String,
        message: String,
    },
    /// The pod, or the function's server in it, cannot be reached: refused,
    /// reset, gone (-> UNAVAILABLE: a retry may reach a new pod).
    Unreachable {
        pod: String,
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The image's digest and entrypoint could not be read from its
    /// registry (compat §4.1) (-> INTERNAL: the image name, the registry's
    /// answer or the credentials need a fix). Shared by every call that
    /// waited for the same start.
    Image {
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// No pod could be had for another reason: the Kubernetes API, the pod
    /// template, the pod not ready in time, deleted while starting
    /// (-> UNAVAILABLE: a later call may succeed).
    NoPod {
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// The function's wrapper server in the pod answered with an error
    /// status: the function failed, or it refused the call. Its code is
    /// kept (INTERNAL for a function failure, compat §6) and its message
    /// whole, structured results included.
    Function { code: u32, message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownImage { image } => write!(f, "no evaluator knows image {image:?}"),
            Error::FunctionFailed { message, .. } => f.write_str(message),
            Error::Interrupted(Interrupt::DeadlineExceeded) => f.write_str("deadline exceeded"),
            Error::Interrupted(Interrupt::Cancelled) => f.write_str("call cancelled"),
            Error::OutputTooLarge { limit_bytes } => {
                write!(
                    f,
                    "function output larger than the message limit of {limit_bytes} bytes"
                )
            }
            // The caller sees only this text: it keeps the process error's
            // own wording (which names its cause).
            Error::Process(e) => write!(f, "{e}"),
            Error::ShutDown => f.write_str("the function runner is shutting down"),
            Error::Pod { image, failure } => {
                write!(
                    f,
                    "unable to evaluate {image} with pod evaluator: {failure}"
                )
            }
        }
    }
}

impl fmt::Display for PodFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodFailure::Busy { waiting, limit } => write!(
                f,
                "{waiting} calls already wait for the function's pods (at most {limit} may wait)"
            ),
            PodFailure::Failed {
                pod,
                reason,
                message,
            } => write!(f, "pod {pod} cannot start: {reason}: {message}"),
            PodFailure::Unreachable { pod, source } => {
                write!(f, "cannot reach the function in pod {pod}: {source}")
            }
            // The whole cause chain: porch-server's users see only this text.
            PodFailure::Image { source } | PodFailure::NoPod { source } => {
                f.write_str(&crate::log::chain(&**source))
            }
            // What grpc-go's client prints for the status, as the Go
            // original passed it on (`%w` of the wrapper's status error).
            PodFailure::Function { code, message } => write!(
                f,
                "rpc error: code = {} desc = {message}",
                crate::grpc::Code(*code).go_name()
            ),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Display already is the process error's own text.
            Error::Process(e) => e.source(),
            Error::Pod { failure, .. } => failure.source(),
            Error::UnknownImage { .. }
            | Error::FunctionFailed { .. }
            | Error::Interrupted(_)
            | Error::OutputTooLarge { .. }
            | Error::ShutDown => None,
        }
    }
}

impl StdError for PodFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            PodFailure::Unreachable { source, .. } => Some(&**source),
            // Display already renders the chain.
            PodFailure::Image { .. }
            | PodFailure::NoPod { .. }
            | PodFailure::Busy { .. }
            | PodFailure::Failed { .. }
            | PodFailure::Function { .. } => None,
        }
    }
}

impl From<process::Error> for Error {
    /// The runtime-neutral mapping; each runtime handles a failed start
    /// (`Spawn`) itself first when its contract words it differently.
    fn from(e: process::Error) -> Self {
        match e {
            process::Error::Interrupted(why) => Error::Interrupted(why),
            process::Error::OutputTooLarge { limit_bytes, .. } => {
                Error::OutputTooLarge { limit_bytes }
            }
            process::Error::ShutDown => Error::ShutDown,
            e @ (process::Error::Spawn { .. } | process::Error::Io { .. }) => Error::Process(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_failures_read_like_the_go_pod_evaluator() {
        let err = Error::Pod {
            image: "gcr.io/kpt-fn/set-namespace:v0.4.1".to_owned(),
            failure: Box::new(PodFailure::Failed {
                pod: "set-namespace-0ec0fb23".to_owned(),
                reason: "ErrImagePull".to_owned(),
                message: "manifest unknown".to_owned(),
            }),
        };
        assert_eq!(
            err.to_string(),
            "unable to evaluate gcr.io/kpt-fn/set-namespace:v0.4.1 with pod evaluator: \
             pod set-namespace-0ec0fb23 cannot start: ErrImagePull: manifest unknown"
        );
    }

    #[test]
    fn an_unreachable_pod_keeps_its_cause() {
        let cause = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = Error::Pod {
            image: "x:v1".to_owned(),
            failure: Box::new(PodFailure::Unreachable {
                pod: "x-1".to_owned(),
                source: Box::new(cause),
            }),
        };
        assert!(err.to_string().starts_with(
            "unable to evaluate x:v1 with pod evaluator: cannot reach the function in pod x-1: "
        ));
        assert!(err.source().is_some());
    }

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 56);
    }
}
