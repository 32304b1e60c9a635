//! The pod runtime's metrics (issue 16): the API the pod runtime calls,
//! one call per event.
//!
//! ```text
//!   an image's metadata resolved, or a pod of it made:
//!                            let m = pod_image(&image);          (keep `m`, e.g. in the pod's handle)
//!   a pod is created:        m.pod_created();
//!   it became Ready:         m.pod_ready(create_sent.elapsed()); -> fn_runner_pod_cold_start_seconds
//!   its start failed:        m.pod_start_failed(FailReason::of(&failure.reason));  (or NotReady, ...)
//!   a call got its pod:      m.call_served(Start::Warm | Start::Cold);
//!   a pod is deleted:        pod_deleted(DeleteReason::Ttl | Template | Failed | Vanished);
//!   an evaluation ended:     evaluated(Runtime::Pod, &result, started);     (evaluator::metrics)
//!   once, at start:          report_census(Arc::downgrade(&source));        (gauges, read per scrape)
//! ```
//!
//! Image labels come only from the pod runtime, for images whose metadata
//! resolved (they exist in a registry), never from a request's text
//! before that; at most [`MAX_POD_IMAGES`] images get a label of their
//! own, the rest share `other`. Everything is a no-op while metrics are
//! off (a [`PodMetrics`] is then empty), and atomics otherwise: the warm
//! path takes no lock. The gauges (pods and load per function) are read
//! from the runtime at each scrape ([`PodCensus`]), so they are never
//! stale and cost the serving path nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::metrics::{self, Counter, Encoder, Histogram, Kind, Label, LabelTable};

crate::label!(
    /// Why a function pod was deleted.
    pub(crate) enum DeleteReason: "reason" {
        /// Idle past its TTL (garbage collection, compat §4.5).
        Ttl = "ttl",
        /// Made from an old template version.
        Template = "template",
        /// It failed (phase Failed; a fail-fast reason; not Ready in time).
        Failed = "failed",
        /// It was gone or unusable when the runner looked (deleted by
        /// someone else, evicted, its node lost), and dropped.
        Vanished = "vanished",
    }
);

crate::label!(
    /// Why a pod start failed: Kubernetes' reason verbatim for the
    /// fail-fast ones (compat §4.3), else ours.
    pub(crate) enum FailReason: "reason" {
        ErrImagePull = "ErrImagePull",
        ImagePullBackOff = "ImagePullBackOff",
        InvalidImageName = "InvalidImageName",
        CrashLoopBackOff = "CrashLoopBackOff",
        CreateContainerConfigError = "CreateContainerConfigError",
        CreateContainerError = "CreateContainerError",
        /// Phase Failed.
        Failed = "Failed",
        /// Not Ready within `--pod-ready-timeout`.
        NotReady = "NotReady",
        /// Deleted before it became Ready.
        Vanished = "Vanished",
        /// Anything else: a Kubernetes reason not listed above, or a start
        /// that failed after the image resolved but before a pod existed
        /// (template, API, pull Secret).
        Other = "Other",
    }
);

impl FailReason {
    /// The value of a Kubernetes `reason` (a container's waiting reason,
    /// or a failed pod's); `Other` for one not listed (the label stays
    /// bounded whatever the cluster says).
    pub fn of(reason: &str) -> FailReason {
        FailReason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == reason)
            .unwrap_or(FailReason::Other)
    }
}

crate::label!(
    /// Whether a call found its pod ready or waited for one to start.
    pub enum Start: "start" {
        /// A Ready pod was there.
        Warm = "warm",
        /// The call waited for a pod to start.
        Cold = "cold",
    }
);

/// Most images with a label of their own (our choice: a runner serves
/// tens of functions; a bound against unbounded label sets).
pub(crate) const MAX_POD_IMAGES: usize = 256;

/// The counters of one image.
struct PodImage {
    created: Counter,
    failures: [Counter; FailReason::COUNT],
    calls: [Counter; Start::COUNT],
}

impl PodImage {
    fn new() -> PodImage {
        PodImage {
            created: Counter::new(),
            failures: [const { Counter::new() }; FailReason::COUNT],
            calls: [const { Counter::new() }; Start::COUNT],
        }
    }
}

static POD_IMAGES: LabelTable<PodImage> = LabelTable::new(MAX_POD_IMAGES);
static DELETED: [Counter; DeleteReason::COUNT] = [const { Counter::new() }; DeleteReason::COUNT];

/// Bounds of the cold-start histogram (created -> Ready): pulls and
/// container starts take from under a second to minutes, in microseconds.
const COLD_START_BOUNDS: [u64; 12] = metrics::micros([
    250_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    u64::MAX,
]);
static COLD_START: Histogram<12> = Histogram::new(&COLD_START_BOUNDS);

/// The metrics of one image: cheap to clone, kept where the runtime keeps
/// the image's state; every method is a few atomics, or nothing when
/// metrics are off.
#[derive(Clone, Default)]
pub struct PodMetrics(Option<Arc<PodImage>>);

impl std::fmt::Debug for PodMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "PodMetrics"
        } else {
            "PodMetrics(off)"
        })
    }
}

/// The metrics of `image`, an image whose metadata resolved. Takes a
/// lock: call it once per image (or per pod start) and keep the result.
pub fn pod_image(image: &str) -> PodMetrics {
    if !metrics::is_enabled() {
        return PodMetrics(None);
    }
    PodMetrics(Some(POD_IMAGES.row(image, PodImage::new)))
}

impl PodMetrics {
    /// The runner created a pod for this image (found and reused: no call).
    pub(crate) fn pod_created(&self) {
        if let Some(m) = &self.0 {
            m.created.inc();
        }
    }

    /// A pod the runner created became Ready `cold_start` after its create
    /// was sent (what a caller of a cold function waits for the pod).
    pub(crate) fn pod_ready(&self, cold_start: Duration) {
        if self.0.is_some() {
            COLD_START.observe(cold_start);
        }
    }

    /// A pod start failed (`FailReason::of(&failure.reason)` for a
    /// fail-fast one).
    pub(crate) fn pod_start_failed(&self, reason: FailReason) {
        if let Some(m) = &self.0 {
            m.failures[reason.index()].inc();
        }
    }

    /// A call got its pod, ready at once (`Warm`) or after waiting for a
    /// start (`Cold`).
    pub fn call_served(&self, start: Start) {
        if let Some(m) = &self.0 {
            m.calls[start.index()].inc();
        }
    }
}

/// The runner deleted a function pod, for `reason`.
pub(crate) fn pod_deleted(reason: DeleteReason) {
    if metrics::is_enabled() {
        DELETED[reason.index()].inc();
    }
}

/// One function's pods as a scrape sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionPods {
    /// The image (whose metadata resolved).
    pub image: String,
    /// Its pods, starting or ready.
    pub pods: usize,
    /// Its load: calls waiting for its pods or in flight on them (Porch's
    /// waitlist, which `--max-waitlist-length` bounds per pod).
    pub load: usize,
}

/// What the pod runtime reports at each scrape for the gauges
/// `fn_runner_function_pods` and `fn_runner_pod_waitlist_length`.
pub(crate) trait PodCensus: Send + Sync {
    /// Every function with pods or calls now.
    fn census(&self) -> Vec<FunctionPods>;
}

/// The census source; a `Weak`, so that a runtime that is gone reports
/// nothing and is not kept alive by the metrics.
static CENSUS: Mutex<Option<Weak<dyn PodCensus>>> = Mutex::new(None);

/// Makes `source` the pod runtime whose census each scrape reads (the
/// runtime calls it once, at start; a later call replaces it).
pub(crate) fn report_census(source: Weak<dyn PodCensus>) {
    *CENSUS.lock().unwrap_or_else(|p| p.into_inner()) = Some(source);
}

/// Pods and load of one label (images beyond the cap summed as `other`).
#[derive(Debug, Default)]
struct Counts {
    pods: usize,
    load: usize,
}

/// The census now, summed per label.
fn census() -> BTreeMap<String, Counts> {
    let source = CENSUS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(Weak::upgrade);
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for f in source.map(|s| s.census()).unwrap_or_default() {
        let entry = out
            .entry(POD_IMAGES.label_of(&f.image).to_owned())
            .or_default();
        entry.pods = entry.pods.saturating_add(f.pods);
        entry.load = entry.load.saturating_add(f.load);
    }
    out
}

/// Writes the pod runtime's families.
pub(super) fn render(enc: &mut Encoder) {
    let images = POD_IMAGES.rows();
    const CREATED: &str = "fn_runner_pods_created_total";
    enc.family(
        CREATED,
        "Function pods the runner created, by image.",
        Kind::Counter,
    );
    for (image, m) in &images {
        enc.sample(CREATED, &[("image", image)], m.created.get());
    }
    let census = census();
    gauge(
        enc,
        &census,
        "fn_runner_function_pods",
        "Function pods (starting and ready) per image.",
        |c| c.pods,
    );
    gauge(
        enc,
        &census,
        "fn_runner_pod_waitlist_length",
        "Calls waiting for or running on the pods of the image (Porch's waitlist).",
        |c| c.load,
    );
    const FAILURES: &str = "fn_runner_pod_start_failures_total";
    enc.family(
        FAILURES,
        "Pod starts that failed, by image and reason (Kubernetes' fail-fast reasons verbatim).",
        Kind::Counter,
    );
    for (image, m) in &images {
        enc.samples_by(FAILURES, &[("image", image)], |r: FailReason| {
            Some(m.failures[r.index()].get().into())
        });
    }
    const CALLS: &str = "fn_runner_pod_calls_total";
    enc.family(
        CALLS,
        "Pod evaluations by image and whether the pod was ready (warm) or started for them (cold).",
        Kind::Counter,
    );
    for (image, m) in &images {
        enc.samples_by(CALLS, &[("image", image)], |s: Start| {
            Some(m.calls[s.index()].get().into())
        });
    }
    const DELETED_NAME: &str = "fn_runner_pods_deleted_total";
    enc.family(
        DELETED_NAME,
        "Function pods the runner deleted, by reason.",
        Kind::Counter,
    );
    enc.samples_by(DELETED_NAME, &[], |r: DeleteReason| {
        Some(DELETED[r.index()].get().into())
    });
    const COLD: &str = "fn_runner_pod_cold_start_seconds";
    enc.family(
        COLD,
        "Time from a function pod's create to Ready.",
        Kind::Histogram,
    );
    enc.histogram(COLD, &[], &COLD_START);
}

/// A gauge family with a sample per label of the census.
fn gauge(
    enc: &mut Encoder,
    census: &BTreeMap<String, Counts>,
    name: &str,
    help: &str,
    value: impl Fn(&Counts) -> usize,
) {
    enc.family(name, help, Kind::Gauge);
    for (image, counts) in census {
        enc.sample(name, &[("image", image)], value(counts) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape() -> String {
        let mut enc = Encoder::new();
        render(&mut enc);
        enc.finish()
    }

    #[test]
    fn fail_reasons_are_kubernetes_words_or_other() {
        assert_eq!(
            FailReason::of("ImagePullBackOff"),
            FailReason::ImagePullBackOff
        );
        assert_eq!(FailReason::of("Failed"), FailReason::Failed);
        assert_eq!(FailReason::of("SomethingNew"), FailReason::Other);
        assert_eq!(FailReason::of("imagepullbackoff"), FailReason::Other);
    }

    /// A runtime's census for the test.
    struct Fixed(Vec<FunctionPods>);

    impl PodCensus for Fixed {
        fn census(&self) -> Vec<FunctionPods> {
            self.0.clone()
        }
    }

    #[test]
    fn each_event_is_one_call_and_the_gauges_are_read_per_scrape() {
        metrics::enable();
        let image = "example.com/fn/pod-metrics-test:v1";
        let m = pod_image(image);
        m.pod_created();
        m.pod_ready(Duration::from_millis(1500));
        m.call_served(Start::Cold);
        m.call_served(Start::Warm);
        m.call_served(Start::Warm);
        m.pod_start_failed(FailReason::of("ErrImagePull"));
        pod_deleted(DeleteReason::Ttl);
        // The same image resolves to the same row.
        pod_image(image).call_served(Start::Warm);
        let runtime: Arc<dyn PodCensus> = Arc::new(Fixed(vec![FunctionPods {
            image: image.to_owned(),
            pods: 2,
            load: 3,
        }]));
        report_census(Arc::downgrade(&runtime));
        let text = scrape();
        let has = |line: String| assert!(text.contains(&line), "{line} in:\n{text}");
        has(format!(
            "fn_runner_pods_created_total{{image=\"{image}\"}} 1\n"
        ));
        has(format!("fn_runner_function_pods{{image=\"{image}\"}} 2\n"));
        has(format!(
            "fn_runner_pod_waitlist_length{{image=\"{image}\"}} 3\n"
        ));
        has(format!(
            "fn_runner_pod_calls_total{{image=\"{image}\",start=\"warm\"}} 3\n"
        ));
        has(format!(
            "fn_runner_pod_calls_total{{image=\"{image}\",start=\"cold\"}} 1\n"
        ));
        has(format!(
            "fn_runner_pod_start_failures_total{{image=\"{image}\",reason=\"ErrImagePull\"}} 1\n"
        ));
        // Other tests of this process may delete and start pods too.
        assert!(text.contains("fn_runner_pods_deleted_total{reason=\"ttl\"} "));
        assert!(text.contains("fn_runner_pod_cold_start_seconds_bucket{le=\"2\"} "));
        // A runtime that is gone reports no gauges.
        drop(runtime);
        assert!(!scrape().contains("fn_runner_function_pods{"));
    }

    #[test]
    fn an_image_of_metrics_that_are_off_records_nothing() {
        let off = PodMetrics::default();
        off.pod_created();
        off.call_served(Start::Warm);
        assert_eq!(format!("{off:?}"), "PodMetrics(off)");
    }
}
