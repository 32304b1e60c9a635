//! The registry client's metrics (issue 16): image resolutions by the
//! ladder rung the registry settled on (compat §5.4; `none` when the
//! resolve failed before or without one) and by outcome, one value per
//! [`Error`] variant.

use std::time::Instant;

use super::error::Error;
use super::ladder::Rung;
use super::session::ImageInfo;
use crate::metrics::{self, Counter, Encoder, Histogram, Kind, Label};

crate::label!(
    /// The rung a resolve used.
    pub(crate) enum RungLabel: "rung" {
        HttpsCustomCa = "https-custom-ca",
        HttpsPublicRoots = "https-public-roots",
        PlainHttp = "http",
        /// The resolve failed without a settled rung.
        None = "none",
    }
);

impl RungLabel {
    fn of(rung: Rung) -> RungLabel {
        match rung {
            Rung::HttpsCustomCa => RungLabel::HttpsCustomCa,
            Rung::HttpsPublicRoots => RungLabel::HttpsPublicRoots,
            Rung::PlainHttp => RungLabel::PlainHttp,
        }
    }
}

crate::label!(
    /// How a resolve ended.
    pub(crate) enum Outcome: "outcome" {
        Ok = "ok",
        Reference = "bad_reference",
        Credentials = "credentials",
        Ca = "ca",
        Tls = "tls",
        Unreachable = "unreachable",
        Redirect = "redirect",
        Transport = "transport",
        AuthFailed = "auth_failed",
        AuthRequired = "auth_required",
        TokenServer = "token_server",
        DeadlineExceeded = "deadline_exceeded",
        BadRealm = "bad_realm",
        Denied = "denied",
        NotFound = "not_found",
        Status = "status",
        TooLarge = "too_large",
        DigestMismatch = "digest_mismatch",
        NoPlatform = "no_platform",
        Manifest = "manifest",
    }
);

/// The rung and outcome of a resolve's result.
fn labels(result: &Result<ImageInfo, Error>) -> (RungLabel, Outcome) {
    let err = match result {
        Ok(info) => return (RungLabel::of(info.transport), Outcome::Ok),
        Err(err) => err,
    };
    // No wildcard: a new variant does not compile until it has an outcome.
    let outcome = match err {
        Error::Reference(_) => Outcome::Reference,
        Error::Credentials(_) => Outcome::Credentials,
        Error::Ca(_) => Outcome::Ca,
        Error::Tls(_) => Outcome::Tls,
        Error::Unreachable { .. } => Outcome::Unreachable,
        Error::Redirect { .. } => Outcome::Redirect,
        Error::Transport { rung, .. } => return (RungLabel::of(*rung), Outcome::Transport),
        Error::AuthFailed { .. } => Outcome::AuthFailed,
        Error::AuthRequired { .. } => Outcome::AuthRequired,
        Error::TokenServer { .. } => Outcome::TokenServer,
        Error::DeadlineExceeded { .. } => Outcome::DeadlineExceeded,
        Error::BadRealm { .. } => Outcome::BadRealm,
        Error::Denied { .. } => Outcome::Denied,
        Error::NotFound { .. } => Outcome::NotFound,
        Error::Status { .. } => Outcome::Status,
        Error::TooLarge { .. } => Outcome::TooLarge,
        Error::DigestMismatch { .. } => Outcome::DigestMismatch,
        Error::NoPlatform { .. } => Outcome::NoPlatform,
        Error::Manifest { .. } => Outcome::Manifest,
    };
    (RungLabel::None, outcome)
}

/// Resolutions by rung and outcome, and their duration.
struct Resolutions {
    count: [[Counter; Outcome::COUNT]; RungLabel::COUNT],
    duration: Histogram<17>,
}

static RESOLUTIONS: Resolutions = Resolutions {
    count: [const { [const { Counter::new() }; Outcome::COUNT] }; RungLabel::COUNT],
    duration: Histogram::new(&metrics::CALL_BOUNDS),
};

/// One resolve that began at `started` ended with `result`.
pub(crate) fn resolved(result: &Result<ImageInfo, Error>, started: Instant) {
    if metrics::is_enabled() {
        let (rung, outcome) = labels(result);
        RESOLUTIONS.count[rung.index()][outcome.index()].inc();
        RESOLUTIONS.duration.observe(started.elapsed());
    }
}

/// Writes the registry client's families: resolution counts for the
/// (rung, outcome) pairs seen.
pub fn render(enc: &mut Encoder) {
    const COUNT: &str = "fn_runner_registry_resolutions_total";
    enc.family(
        COUNT,
        "Image resolutions (digest and entrypoint) by the TLS ladder rung used and outcome.",
        Kind::Counter,
    );
    for rung in RungLabel::ALL {
        let counts = &RESOLUTIONS.count[rung.index()];
        enc.samples_by(COUNT, &[(RungLabel::NAME, rung.as_str())], |o: Outcome| {
            Some(counts[o.index()].get())
                .filter(|c| *c > 0)
                .map(i128::from)
        });
    }
    const DURATION: &str = "fn_runner_registry_resolution_duration_seconds";
    enc.family(
        DURATION,
        "Time an image resolution took (all its registry requests).",
        Kind::Histogram,
    );
    enc.histogram(DURATION, &[], &RESOLUTIONS.duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rung_labels_are_the_inspect_names() {
        for rung in [Rung::HttpsCustomCa, Rung::HttpsPublicRoots, Rung::PlainHttp] {
            assert_eq!(RungLabel::of(rung).as_str(), rung.as_str());
        }
    }

    #[test]
    fn a_failed_resolve_keeps_its_rung_when_it_has_one() {
        let transport = Err(Error::Transport {
            host: "h".into(),
            rung: Rung::PlainHttp,
            cause: "reset".into(),
        });
        assert_eq!(
            labels(&transport),
            (RungLabel::PlainHttp, Outcome::Transport)
        );
        let deadline = Err(Error::DeadlineExceeded { host: "h".into() });
        assert_eq!(
            labels(&deadline),
            (RungLabel::None, Outcome::DeadlineExceeded)
        );
    }

    #[test]
    fn resolutions_are_counted() {
        metrics::enable();
        resolved(
            &Err(Error::DeadlineExceeded { host: "h".into() }),
            Instant::now(),
        );
        let mut enc = Encoder::new();
        render(&mut enc);
        let text = enc.finish();
        assert!(text.contains(
            "fn_runner_registry_resolutions_total{rung=\"none\",outcome=\"deadline_exceeded\"} "
        ));
        assert!(text.contains("fn_runner_registry_resolution_duration_seconds_count "));
    }
}
