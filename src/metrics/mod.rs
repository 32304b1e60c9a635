//! Metrics an operator scrapes (issue 16): the primitives every layer
//! counts with, the Prometheus text format, the `/metrics` HTTP endpoint
//! and the process's own numbers from /proc.
//!
//! ```text
//!   grpc/metrics.rs  evaluator/metrics/  kube/metrics.rs  registry/metrics.rs
//!        (each layer names its own metrics: statics of the types below,
//!         label values resolved once to a slot, atomics per event)
//!                           |  render(&mut Encoder)
//!                           v
//!   crate::exporter (serve, wrapper-server): OTEL_* / -metrics-address
//!        -> Endpoint (GET /metrics, HTTP/1.1, its own listener) -> Encoder -> text 0.0.4
//! ```
//!
//! Recording costs one relaxed load when metrics are off ([`is_enabled`])
//! and a few relaxed atomic adds when on: no lock and no allocation per
//! event on the serving paths. Label values are bounded: each label is a
//! closed enum ([`Label`]) or a [`LabelTable`] of values the runner chose
//! (configured images, images in the pod cache) with a cap, beyond which
//! a value counts as `other`. Raw request text never becomes a label.
//!
//! Left out: OTLP push (only the Prometheus exporter is supported, as the
//! log says when `OTEL_METRICS_EXPORTER` names another), exemplars,
//! OpenMetrics' `# EOF` format, compression of the scrape.

mod endpoint;
mod http;
pub(crate) mod procfs;
mod table;
mod text;
mod value;

use std::sync::atomic::{AtomicBool, Ordering};

pub use endpoint::{render as render_endpoint, Endpoint, EndpointConfig};
pub use table::{LabelTable, OTHER};
pub use text::{Encoder, Kind};
pub use value::{micros, Counter, Gauge, Histogram, Snapshot};

/// Histogram bounds for the time of a call or an evaluation, from a
/// health check (well under a millisecond) to a pod evaluation that waits
/// for its pod to start (a minute and more), in nanoseconds.
pub(crate) const CALL_BOUNDS: [u64; 17] = micros([
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    10_000_000,
    30_000_000,
    60_000_000,
    u64::MAX,
]);

/// Whether events are recorded: off until an exporter starts, so a runner
/// without metrics pays one relaxed load per event site.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns recording on for the life of the process (the exporter calls it
/// before it serves the first scrape).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether events are recorded ([`enable`] was called).
#[inline]
pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A closed set of label values: each value has a slot index (`0..ALL.len()`)
/// into the arrays of its metric, so recording is an array index, never a
/// lookup. Declare one with [`label!`](crate::label).
pub trait Label: Copy + 'static {
    /// The label's name (`code`, `method`).
    const NAME: &'static str;
    /// Every value, in slot order.
    const ALL: &'static [Self];
    /// The slot: the position in [`ALL`](Self::ALL).
    fn index(self) -> usize;
    /// The value as the exposition writes it.
    fn as_str(self) -> &'static str;
}

/// Declares a [`Label`] enum: `label!(pub enum Outcome: "outcome" { Ok = "ok", Failed = "failed" })`.
/// The enum's `COUNT` sizes the arrays of the metrics that use it.
#[macro_export]
macro_rules! label {
    ($(#[$doc:meta])* $vis:vis enum $name:ident : $label:literal {
        $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// How many values: the length of the arrays indexed by it.
            #[allow(dead_code, reason = "a label read only through `Label` sizes no array")]
            pub(crate) const COUNT: usize = [$($name::$variant),+].len();
        }

        impl $crate::metrics::Label for $name {
            const NAME: &'static str = $label;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Label;

    crate::label!(
        /// A label for the test.
        enum Colour: "colour" { Red = "red", Green = "green" }
    );

    #[test]
    fn a_label_enum_knows_its_slots_and_texts() {
        assert_eq!(Colour::COUNT, 2);
        assert_eq!(Colour::ALL, &[Colour::Red, Colour::Green]);
        assert_eq!(Colour::Green.index(), 1);
        assert_eq!(Colour::Green.as_str(), "green");
        assert_eq!(Colour::NAME, "colour");
    }
}
