//! The evaluations' metrics (issue 16): evaluations by runtime and
//! outcome, their duration by runtime, and the exit codes of exec
//! functions by image; the pod runtime's own are in [`pod`].
//!
//! Each runtime records its evaluations with one call,
//! [`evaluated`]`(runtime, &result, started)`, where the call ends. An
//! image label is only ever an image of the exec config or of the pod
//! cache, resolved once to its row ([`ExecExits`], [`pod::pod_image`]);
//! request text is never a label.

pub mod pod;

use std::process::ExitStatus;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::{Error, PodFailure};
use crate::call::Interrupt;
use crate::metrics::{self, Counter, Encoder, Histogram, Kind, Label, LabelTable};
use crate::proto::EvaluateFunctionResponse;

crate::label!(
    /// The runtime that ran an evaluation.
    pub enum Runtime: "runtime" {
        Exec = "exec",
        Pod = "pod",
        /// `wrapper-server`: the function's entrypoint inside its pod.
        Wrapper = "wrapper",
    }
);

crate::label!(
    /// How an evaluation ended: one value per [`Error`] variant a caller
    /// tells apart (`serve::status_of` maps the same variants to codes).
    pub enum Outcome: "outcome" {
        Ok = "ok",
        FunctionFailed = "function_failed",
        DeadlineExceeded = "deadline_exceeded",
        Cancelled = "cancelled",
        OutputTooLarge = "output_too_large",
        ProcessError = "process_error",
        ShutDown = "shut_down",
        PodBusy = "pod_busy",
        PodFailed = "pod_failed",
        PodUnreachable = "pod_unreachable",
        /// The image's digest and entrypoint could not be read.
        PodImage = "pod_image",
        /// No pod could be had (API, template, not ready in time, deleted).
        PodUnavailable = "pod_unavailable",
    }
);

impl Outcome {
    /// The outcome of `result`; `None` for [`Error::UnknownImage`], which
    /// is no evaluation (the next runtime is asked).
    pub fn of(result: &Result<EvaluateFunctionResponse, Error>) -> Option<Outcome> {
        let err = match result {
            Ok(_) => return Some(Outcome::Ok),
            Err(err) => err,
        };
        // No wildcard: a new variant does not compile until it has an outcome.
        Some(match err {
            Error::UnknownImage { .. } => return None,
            Error::FunctionFailed { .. } => Outcome::FunctionFailed,
            Error::Interrupted(Interrupt::DeadlineExceeded) => Outcome::DeadlineExceeded,
            Error::Interrupted(Interrupt::Cancelled) => Outcome::Cancelled,
            Error::OutputTooLarge { .. } => Outcome::OutputTooLarge,
            Error::Process(_) => Outcome::ProcessError,
            Error::ShutDown => Outcome::ShutDown,
            Error::Pod { failure, .. } => match **failure {
                PodFailure::Busy { .. } => Outcome::PodBusy,
                PodFailure::Failed { .. } => Outcome::PodFailed,
                PodFailure::Unreachable { .. } => Outcome::PodUnreachable,
                PodFailure::Image { .. } => Outcome::PodImage,
                PodFailure::NoPod { .. } => Outcome::PodUnavailable,
                // The function failed in its pod, as an exec function can.
                PodFailure::Function { .. } => Outcome::FunctionFailed,
            },
        })
    }
}

/// Evaluations by runtime: count by outcome, duration.
struct Evaluations {
    count: [[Counter; Outcome::COUNT]; Runtime::COUNT],
    duration: [Histogram<17>; Runtime::COUNT],
}

impl Evaluations {
    const fn new() -> Self {
        Evaluations {
            count: [const { [const { Counter::new() }; Outcome::COUNT] }; Runtime::COUNT],
            duration: [const { Histogram::new(&metrics::CALL_BOUNDS) }; Runtime::COUNT],
        }
    }

    fn record(
        &self,
        runtime: Runtime,
        result: &Result<EvaluateFunctionResponse, Error>,
        started: Instant,
    ) {
        if let Some(outcome) = Outcome::of(result) {
            self.count[runtime.index()][outcome.index()].inc();
            self.duration[runtime.index()].observe(started.elapsed());
        }
    }

    fn render(&self, enc: &mut Encoder) {
        const COUNT: &str = "fn_runner_evaluations_total";
        enc.family(
            COUNT,
            "Function evaluations by runtime and outcome.",
            Kind::Counter,
        );
        for runtime in Runtime::ALL {
            let counts = &self.count[runtime.index()];
            enc.samples_by(COUNT, &[(Runtime::NAME, runtime.as_str())], |o: Outcome| {
                Some(counts[o.index()].get().into())
            });
        }
        const DURATION: &str = "fn_runner_evaluation_duration_seconds";
        enc.family(
            DURATION,
            "Time an evaluation took in its runtime (a pod evaluation: waiting for the pod included), by runtime.",
            Kind::Histogram,
        );
        enc.histograms_by(DURATION, |r: Runtime| &self.duration[r.index()]);
    }
}

static EVALUATIONS: Evaluations = Evaluations::new();

/// Records one evaluation by `runtime` that began at `started` and ended
/// with `result` (nothing for [`Error::UnknownImage`], nor when metrics
/// are off). The one call a runtime makes per evaluation.
pub fn evaluated(
    runtime: Runtime,
    result: &Result<EvaluateFunctionResponse, Error>,
    started: Instant,
) {
    if metrics::is_enabled() {
        EVALUATIONS.record(runtime, result, started);
    }
}

/// Slots of an exec image's exit codes: 0-255, then killed by a signal.
const EXIT_SLOTS: usize = 257;
/// Most exec images with a label of their own (our choice: exec configs
/// list tens of images); more count as `other`.
const MAX_EXEC_IMAGES: usize = 256;

/// Exit codes of one exec image.
struct ExecImage {
    exits: [Counter; EXIT_SLOTS],
}

static EXEC_IMAGES: LabelTable<ExecImage> = LabelTable::new(MAX_EXEC_IMAGES);

/// The exit codes of one image of the exec config: its row is resolved
/// at the first exit recorded, then kept (one per config entry).
#[derive(Debug, Default)]
pub(crate) struct ExecExits(OnceLock<Arc<ExecImage>>);

impl std::fmt::Debug for ExecImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecImage")
    }
}

impl ExecExits {
    /// Counts `status` for `image`, which must be an image of the exec
    /// config (the key this value is kept under).
    pub fn record(&self, image: &str, status: &ExitStatus) {
        if !metrics::is_enabled() {
            return;
        }
        let row = self.0.get_or_init(|| {
            EXEC_IMAGES.row(image, || ExecImage {
                exits: [const { Counter::new() }; EXIT_SLOTS],
            })
        });
        let slot = status
            .code()
            .and_then(|c| usize::try_from(c).ok())
            .filter(|c| *c < EXIT_SLOTS - 1)
            .unwrap_or(EXIT_SLOTS - 1);
        row.exits[slot].inc();
    }
}

/// Writes the evaluation families (the pod runtime's included).
pub fn render(enc: &mut Encoder) {
    EVALUATIONS.render(enc);
    const EXITS: &str = "fn_runner_exec_exits_total";
    enc.family(
        EXITS,
        "Exits of exec functions by image and exit code (\"signal\": killed by a signal); codes seen only.",
        Kind::Counter,
    );
    for (image, row) in EXEC_IMAGES.rows() {
        for (slot, count) in row.exits.iter().enumerate() {
            let count = count.get();
            if count == 0 {
                continue;
            }
            let code = if slot == EXIT_SLOTS - 1 {
                "signal".to_owned()
            } else {
                slot.to_string()
            };
            enc.sample(EXITS, &[("image", &image), ("code", &code)], count);
        }
    }
    pod::render(enc);
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn failed() -> Result<EvaluateFunctionResponse, Error> {
        Err(Error::function_failed(
            "m".into(),
            "exit status 1",
            Vec::new(),
        ))
    }

    #[test]
    fn an_unknown_image_is_no_evaluation() {
        let unknown = Err(Error::UnknownImage { image: "x".into() });
        assert_eq!(Outcome::of(&unknown), None);
        assert_eq!(Outcome::of(&failed()), Some(Outcome::FunctionFailed));
        let ok = Ok(EvaluateFunctionResponse {
            resource_list: Vec::new(),
            log: Vec::new(),
        });
        assert_eq!(Outcome::of(&ok), Some(Outcome::Ok));
        let busy = Err(Error::Pod {
            image: "i".into(),
            failure: Box::new(PodFailure::Busy {
                waiting: 1,
                limit: 1,
            }),
        });
        assert_eq!(Outcome::of(&busy), Some(Outcome::PodBusy));
    }

    #[test]
    fn evaluations_are_counted_by_runtime_and_outcome() {
        static E: Evaluations = Evaluations::new();
        let started = Instant::now();
        E.record(Runtime::Exec, &failed(), started);
        E.record(
            Runtime::Exec,
            &Err(Error::UnknownImage { image: "x".into() }),
            started,
        );
        let mut enc = Encoder::new();
        E.render(&mut enc);
        let text = enc.finish();
        assert!(text.contains(
            "fn_runner_evaluations_total{runtime=\"exec\",outcome=\"function_failed\"} 1\n"
        ));
        assert!(text.contains("fn_runner_evaluation_duration_seconds_count{runtime=\"exec\"} 1\n"));
        assert!(text.contains("fn_runner_evaluations_total{runtime=\"pod\",outcome=\"ok\"} 0\n"));
    }

    #[test]
    fn exec_exits_are_counted_by_code_and_signal() {
        metrics::enable();
        let exits = ExecExits::default();
        let image = "example.com/fn/exits-test:v1";
        exits.record(image, &ExitStatus::from_raw(3 << 8)); // exit 3
        exits.record(image, &ExitStatus::from_raw(3 << 8));
        exits.record(image, &ExitStatus::from_raw(9)); // SIGKILL
        let mut enc = Encoder::new();
        render(&mut enc);
        let text = enc.finish();
        assert!(text.contains(&format!(
            "fn_runner_exec_exits_total{{image=\"{image}\",code=\"3\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "fn_runner_exec_exits_total{{image=\"{image}\",code=\"signal\"}} 1\n"
        )));
        assert!(!text.contains(&format!("{{image=\"{image}\",code=\"0\"}}")));
    }
}
