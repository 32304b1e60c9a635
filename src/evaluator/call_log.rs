//! The evaluation log (issue 14): one line per evaluation at the default
//! verbosity, as the Go runner logs every evaluation, in one format for
//! `serve` (every runtime's calls pass through `Runtimes`) and the wrapper
//! server:
//!
//! ```text
//! I1206 10:00:00.112000       1 call_log.rs:88] call 3: evaluated "IMAGE" with exec in 12.1ms: ok, 1050 bytes out
//! W1206 10:00:00.212000       1 call_log.rs:88] call 4: evaluated "IMAGE" with exec in 3.2ms: function failed: exit status 1
//! I1206 10:00:00.212100       1 call_log.rs:98] call 4: stderr of "IMAGE" (17 bytes): "set-nothing: boom\n"
//! ```
//!
//! - `with RUNTIME` names the runtime that answered (`exec`, `pod`,
//!   `wrapper`); it is left out when none knew the image.
//! - A failure is a warning; its reason is a few words that hold neither
//!   the function's stderr nor anything of its ResourceList.
//! - At verbosity [`STDERR_LEVEL`] a failure's stderr follows on a line of
//!   its own, its last [`STDERR_LOG_BYTES`] at most, escaped onto one line
//!   (a function cannot forge log lines). The ResourceList is never logged.
//! - A start line (`call N: evaluating "IMAGE", B bytes in`) is written at
//!   the verbosity the owner chooses: the wrapper server's default (its
//!   pod's log tells which calls it served and when), above `serve`'s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Error;
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};

/// The verbosity from which a failed function's stderr is logged: above
/// the default (2), which logs one line per evaluation.
pub(crate) const STDERR_LEVEL: u8 = 3;
/// The most of a failed function's stderr one log line shows: its end,
/// where the error usually is (our choice: a screenful, not megabytes).
pub(crate) const STDERR_LOG_BYTES: usize = 4096;

/// Numbers one server's evaluations and writes their log lines.
#[derive(Debug)]
pub struct CallLog {
    next: AtomicU64,
    /// The verbosity of the start line.
    start_level: u8,
}

/// A call [`CallLog::start`] numbered.
#[derive(Debug)]
pub struct Started {
    call: u64,
    at: Instant,
}

impl Started {
    /// When the call began.
    pub fn at(&self) -> Instant {
        self.at
    }
}

impl CallLog {
    /// A log whose start lines show from verbosity `start_level`.
    pub const fn new(start_level: u8) -> CallLog {
        CallLog {
            next: AtomicU64::new(1),
            start_level,
        }
    }

    /// A call of `request` begins: its number, and its start line.
    pub fn start(&self, request: &EvaluateFunctionRequest) -> Started {
        let call = self.next.fetch_add(1, Ordering::Relaxed);
        crate::v!(
            self.start_level,
            "call {call}: evaluating {:?}, {} bytes in",
            request.image,
            request.resource_list.len()
        );
        Started {
            call,
            at: Instant::now(),
        }
    }

    /// The call ended with `result`, answered by `runtime` (`None`: no
    /// runtime knew `image`): its line, and a failure's stderr at
    /// [`STDERR_LEVEL`].
    pub fn end(
        &self,
        started: Started,
        image: &str,
        runtime: Option<&str>,
        result: &Result<EvaluateFunctionResponse, Error>,
    ) {
        let line = line(started.call, image, runtime, started.at.elapsed(), result);
        match result {
            Ok(_) => crate::info!("{line}"),
            Err(_) => crate::warn!("{line}"),
        }
        if let Some((what, output)) = result
            .as_ref()
            .err()
            .and_then(Error::function_output)
            .filter(|(_, output)| !output.is_empty())
        {
            crate::v!(
                STDERR_LEVEL,
                "call {}: {what} of {image:?} {}",
                started.call,
                stderr_excerpt(output)
            );
        }
    }
}

/// `call N: evaluated "IMAGE" [with RUNTIME] in D: OUTCOME`.
fn line(
    call: u64,
    image: &str,
    runtime: Option<&str>,
    elapsed: Duration,
    result: &Result<EvaluateFunctionResponse, Error>,
) -> String {
    let with = runtime.map(|r| format!(" with {r}")).unwrap_or_default();
    let outcome = match result {
        Ok(response) => format!("ok, {} bytes out", response.resource_list.len()),
        Err(e) => e.log_reason(),
    };
    format!("call {call}: evaluated {image:?}{with} in {elapsed:?}: {outcome}")
}

/// `(N bytes): "..."` or `(last M of N bytes): "..."`, escaped onto one line.
fn stderr_excerpt(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_LOG_BYTES);
    let tail = stderr.get(start..).unwrap_or_default();
    let text = String::from_utf8_lossy(tail);
    if start == 0 {
        format!("({} bytes): {text:?}", stderr.len())
    } else {
        format!("(last {} of {} bytes): {text:?}", tail.len(), stderr.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Interrupt;

    fn ok(bytes: usize) -> Result<EvaluateFunctionResponse, Error> {
        Ok(EvaluateFunctionResponse {
            resource_list: vec![b'x'; bytes],
            log: b"the function's log".to_vec(),
        })
    }

    #[test]
    fn names_the_call_image_runtime_time_and_outcome() {
        let took = Duration::from_micros(12_100);
        assert_eq!(
            line(3, "r/fn:v1", Some("exec"), took, &ok(1050)),
            "call 3: evaluated \"r/fn:v1\" with exec in 12.1ms: ok, 1050 bytes out"
        );
        let unknown = Err(Error::UnknownImage {
            image: "r/x:v1".into(),
        });
        assert_eq!(
            line(4, "r/x:v1", None, took, &unknown),
            "call 4: evaluated \"r/x:v1\" in 12.1ms: no runtime knows the image"
        );
        let late = Err(Error::Interrupted(Interrupt::DeadlineExceeded));
        assert!(line(5, "r/fn:v1", Some("pod"), took, &late)
            .ends_with(" with pod in 12.1ms: deadline exceeded"));
    }

    #[test]
    fn a_failure_says_why_without_its_stderr() {
        let failed = Err(Error::function_failed(
            "Failed to execute function \"r/fn:v1\": exit status 1 (secret stderr)".into(),
            "exit status 1",
            b"secret stderr".to_vec(),
        ));
        let text = line(1, "r/fn:v1", Some("exec"), Duration::ZERO, &failed);
        assert!(text.ends_with(": function failed: exit status 1"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn stderr_is_escaped_and_bounded_to_its_end() {
        assert_eq!(
            stderr_excerpt(b"boom\nI0101 forged line\n"),
            "(23 bytes): \"boom\\nI0101 forged line\\n\""
        );
        let mut long = vec![b'a'; STDERR_LOG_BYTES];
        long.extend_from_slice(b"the end");
        let excerpt = stderr_excerpt(&long);
        assert!(
            excerpt.starts_with(&format!(
                "(last {STDERR_LOG_BYTES} of {} bytes): \"",
                STDERR_LOG_BYTES + 7
            )),
            "{excerpt}"
        );
        assert!(excerpt.ends_with("the end\""));
        assert!(excerpt.len() < STDERR_LOG_BYTES + 64);
    }
}
