//! The Prometheus text exposition format, version 0.0.4
//! (prometheus/docs content/docs/instrumenting/exposition_formats.md):
//!
//! ```text
//! # HELP fn_runner_evaluations_total Evaluations by runtime and outcome.
//! # TYPE fn_runner_evaluations_total counter
//! fn_runner_evaluations_total{runtime="exec",outcome="ok"} 3
//! ```
//!
//! Sans-I/O: the [`Encoder`] appends to a `String`; the endpoint sends it.
//! Label values are escaped (`\\`, `\"`, `\n`) although ours are chosen by
//! the runner, because image names come from configuration files.

use std::fmt::Write as _;

use super::value::Histogram;
use super::Label;

/// The `# TYPE` of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The content type of the text format (the `Content-Type` of a scrape).
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Builds one exposition: families, each with its `# HELP` and `# TYPE`
/// lines first, then its samples.
#[derive(Debug, Default)]
pub struct Encoder {
    out: String,
}

impl Encoder {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the family `name`: its `# HELP` and `# TYPE` lines. Every
    /// sample written until the next family must belong to it.
    pub(crate) fn family(&mut self, name: &str, help: &str, kind: Kind) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(&mut self.out, help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// One sample of an integer value (counters, gauges).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<i128>) {
        self.series(name, labels, None);
        let _ = writeln!(self.out, " {}", value.into());
    }

    /// One sample per value `l` of the label `L`, labelled `fixed` then
    /// `L`: `value(l)`, or none when it gives `None` (a series not seen).
    pub(crate) fn samples_by<L: Label>(
        &mut self,
        name: &str,
        fixed: &[(&str, &str)],
        value: impl Fn(L) -> Option<i128>,
    ) {
        for l in L::ALL {
            if let Some(v) = value(*l) {
                self.series(name, fixed, Some((L::NAME, l.as_str())));
                let _ = writeln!(self.out, " {v}");
            }
        }
    }

    /// One sample of a floating-point value (seconds).
    pub(crate) fn sample_f64(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.series(name, labels, None);
        self.out.push(' ');
        push_f64(&mut self.out, value);
        self.out.push('\n');
    }

    /// The `_bucket` (cumulative, with `le`), `_sum` and `_count` samples
    /// of `histogram`, whose family `name` was started with
    /// [`Kind::Histogram`].
    pub fn histogram<const N: usize>(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        histogram: &Histogram<N>,
    ) {
        let snapshot = histogram.snapshot();
        let mut le = String::new();
        for (bound, count) in &snapshot.cumulative {
            le.clear();
            if *bound == u64::MAX {
                le.push_str("+Inf");
            } else {
                push_f64(&mut le, *bound as f64 / 1e9);
            }
            self.series_suffixed(name, "_bucket", labels, Some(("le", &le)));
            let _ = writeln!(self.out, " {count}");
        }
        self.series_suffixed(name, "_sum", labels, None);
        self.out.push(' ');
        push_f64(&mut self.out, snapshot.sum_seconds);
        self.out.push('\n');
        self.series_suffixed(name, "_count", labels, None);
        let _ = writeln!(self.out, " {}", snapshot.count);
    }

    /// [`histogram`](Self::histogram) for each value `l` of the label `L`:
    /// `value(l)`.
    pub(crate) fn histograms_by<'h, L: Label, const N: usize>(
        &mut self,
        name: &str,
        value: impl Fn(L) -> &'h Histogram<N>,
    ) {
        for l in L::ALL {
            self.histogram(name, &[(L::NAME, l.as_str())], value(*l));
        }
    }

    /// The exposition.
    pub fn finish(self) -> String {
        self.out
    }

    fn series(&mut self, name: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>) {
        self.series_suffixed(name, "", labels, extra);
    }

    fn series_suffixed(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        extra: Option<(&str, &str)>,
    ) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        let mut all = labels.iter().copied().chain(extra).peekable();
        if all.peek().is_none() {
            return;
        }
        self.out.push('{');
        for (i, (key, value)) in all.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_label(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('}');
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A `# HELP` text: backslash and line feed escaped.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as Go's `strconv.ParseFloat` reads it back: `+Inf`, `-Inf`,
/// `NaN`, else Rust's shortest round-trip form (`0.005`, `1`, `2.5`).
fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::value::micros;

    #[test]
    fn writes_a_counter_family() {
        let mut e = Encoder::new();
        e.family("x_total", "Things.", Kind::Counter);
        e.sample("x_total", &[("a", "1"), ("b", "two")], 3u64);
        e.sample("x_total", &[], 0u64);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"two\"} 3\nx_total 0\n"
        );
    }

    crate::label!(
        enum Side: "side" { Left = "left", Right = "right" }
    );

    #[test]
    fn writes_a_sample_per_label_value_after_the_fixed_labels() {
        let mut e = Encoder::new();
        e.samples_by("y_total", &[("image", "i")], |s: Side| match s {
            Side::Left => Some(2),
            Side::Right => None,
        });
        assert_eq!(e.finish(), "y_total{image=\"i\",side=\"left\"} 2\n");
    }

    #[test]
    fn escapes_label_values_and_help() {
        let mut e = Encoder::new();
        e.family("g", "a \\ b\nc", Kind::Gauge);
        e.sample("g", &[("image", "we\"ird\\im\nage")], -1i64);
        assert_eq!(
            e.finish(),
            "# HELP g a \\\\ b\\nc\n# TYPE g gauge\ng{image=\"we\\\"ird\\\\im\\nage\"} -1\n"
        );
    }

    #[test]
    fn writes_a_histogram_with_cumulative_buckets() {
        static BOUNDS: [u64; 3] = micros([5_000, 2_500_000, u64::MAX]);
        let h = Histogram::new(&BOUNDS);
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_secs(1));
        h.observe(Duration::from_secs(3));
        let mut e = Encoder::new();
        e.family("d_seconds", "Durations.", Kind::Histogram);
        e.histogram("d_seconds", &[("m", "x")], &h);
        assert_eq!(
            e.finish(),
            "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{m=\"x\",le=\"0.005\"} 1\n\
             d_seconds_bucket{m=\"x\",le=\"2.5\"} 2\n\
             d_seconds_bucket{m=\"x\",le=\"+Inf\"} 3\n\
             d_seconds_sum{m=\"x\"} 4.001\n\
             d_seconds_count{m=\"x\"} 3\n"
        );
    }

    #[test]
    fn floats_read_back_as_go_parses_them() {
        for (v, text) in [
            (1.0, "1"),
            (0.0005, "0.0005"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            let mut s = String::new();
            push_f64(&mut s, v);
            assert_eq!(s, text);
        }
    }
}
