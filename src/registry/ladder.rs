//! The TLS ladder of compat §5.4 and the strict CA-directory check that
//! feeds its first rung.
//!
//! ```text
//!            TLS or connection failure           TLS or connection failure
//! HttpsCustomCa ───────────────────> HttpsPublicRoots ───────────────────> PlainHttp
//!      │                                    │                                  │
//!      │ any HTTP answer                    │ any HTTP answer                  │ any HTTP answer
//!      v                                    v                                  v
//!   Settled(HttpsCustomCa)           Settled(HttpsPublicRoots)          Settled(PlainHttp)
//!
//!  failure on the last rung of the plan ──> Exhausted: one error listing every rung and its cause
//! ```
//!
//! Which rungs a plan holds:
//! - `--enable-private-registry-tls`: all three (the CA from `--tls-secret-path`);
//! - otherwise: `HttpsPublicRoots`, plus `PlainHttp` for loopback registries
//!   (`localhost`, `127.0.0.0/8`, `::1`) only;
//! - another host (a token realm, a redirect target such as object
//!   storage): its own plan by the same rules for its own name, never the
//!   registry's settled rung; an `http://` URL: `PlainHttp` only.
//!
//! An HTTP answer (401, 404, 5xx) settles the ladder: it is the registry
//! talking, not a transport failure (compat §5.4). One exception, on the
//! last rung only: an HTTPS server's "Client sent an HTTP request to an
//! HTTPS server" 400 answer to plain HTTP counts as that rung failing, so
//! the final error still says why each rung did not work.
//!
//! [`CaBundle`] is the proof that the CA directory was checked: only
//! [`CaBundle::load`] makes one, and the custom-CA rung cannot exist without it.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;

use super::watch::{FileStamp, Stamps};

/// The CA file names the user guide accepts, in order of preference.
pub(super) const CA_FILE_NAMES: [&str; 2] = ["ca.crt", "ca.pem"];

/// One way of reaching a registry. Weakest last; the name says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rung {
    /// HTTPS, trusting only the CA of `--tls-secret-path`.
    HttpsCustomCa,
    /// HTTPS, trusting the public web roots compiled into the binary.
    HttpsPublicRoots,
    /// Plain HTTP: no encryption, no server authentication.
    PlainHttp,
}

impl Rung {
    /// The URL scheme of this rung.
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            Rung::HttpsCustomCa | Rung::HttpsPublicRoots => "https",
            Rung::PlainHttp => "http",
        }
    }

    /// The name `inspect` prints as `transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rung::HttpsCustomCa => "https-custom-ca",
            Rung::HttpsPublicRoots => "https-public-roots",
            Rung::PlainHttp => "http",
        }
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rung::HttpsCustomCa => "HTTPS with the custom CA",
            Rung::HttpsPublicRoots => "HTTPS with the public roots",
            Rung::PlainHttp => "plain HTTP",
        })
    }
}

/// The rungs to try for one host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan(Vec<Rung>);

impl Plan {
    /// The plan for a host: all three rungs with the TLS flag (given the
    /// checked CA), else public roots, plus plain HTTP for loopback hosts.
    pub(super) fn new(custom_ca: Option<&CaBundle>, loopback: bool) -> Self {
        if custom_ca.is_some() {
            return Plan(vec![
                Rung::HttpsCustomCa,
                Rung::HttpsPublicRoots,
                Rung::PlainHttp,
            ]);
        }
        if loopback {
            Plan(vec![Rung::HttpsPublicRoots, Rung::PlainHttp])
        } else {
            Plan(vec![Rung::HttpsPublicRoots])
        }
    }

    /// Only plain HTTP (a token realm given as an `http://` URL).
    pub(super) fn plain_http_only() -> Self {
        Plan(vec![Rung::PlainHttp])
    }

    /// The rungs in order (the tests' view; climbing uses [`Plan::start`]).
    #[cfg(test)]
    pub(super) fn rungs(&self) -> &[Rung] {
        &self.0
    }

    /// Starts climbing down.
    pub(super) fn start(&self) -> Ladder<'_> {
        Ladder {
            plan: &self.0,
            at: 0,
            failures: Vec::new(),
        }
    }
}

/// The ladder while it is being climbed down: which rung is current and
/// why the ones above it failed.
#[derive(Debug)]
pub(super) struct Ladder<'a> {
    plan: &'a [Rung],
    at: usize,
    failures: Vec<(Rung, String)>,
}

/// Where the ladder stands after an outcome.
#[derive(Debug)]
pub(super) enum Step {
    /// Try this rung next.
    Try(Rung),
    /// Every rung failed: each with its cause, in order.
    Exhausted(Vec<(Rung, String)>),
}

impl Ladder<'_> {
    /// The rung to try first (`Exhausted` with no causes for an empty plan).
    pub(super) fn first(&self) -> Step {
        match self.plan.get(self.at) {
            Some(rung) => Step::Try(*rung),
            None => Step::Exhausted(Vec::new()),
        }
    }

    /// The current rung failed at the transport level (`cause` says how):
    /// step down to the next rung, or report every failure.
    pub(super) fn failed(&mut self, cause: String) -> Step {
        if let Some(rung) = self.plan.get(self.at) {
            self.failures.push((*rung, cause));
        }
        self.at += 1;
        match self.plan.get(self.at) {
            Some(rung) => Step::Try(*rung),
            None => Step::Exhausted(std::mem::take(&mut self.failures)),
        }
    }

    /// Whether the current rung is the plan's last (the tests' view).
    #[cfg(test)]
    pub(super) fn is_last(&self) -> bool {
        self.at + 1 >= self.plan.len()
    }
}

/// The CA certificates of `--tls-secret-path`, checked as compat §5.4 says.
#[derive(Clone)]
pub(super) struct CaBundle {
    path: PathBuf,
    certs: Vec<CertificateDer<'static>>,
}

impl CaBundle {
    /// Reads `ca.crt` (preferred) or `ca.pem` from `dir`; anything else is
    /// an error that names the directory and what it holds.
    pub(super) fn load(dir: &Path) -> Result<Self, CaError> {
        let listing = std::fs::read_dir(dir).map_err(|cause| CaError::Dir {
            dir: dir.to_owned(),
            cause,
        })?;
        let mut seen: Vec<String> = listing
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            // Kubernetes' own bookkeeping in a mounted Secret (..data, ..2024_...).
            .filter(|name| !name.starts_with(".."))
            .collect();
        seen.sort();
        let Some(name) = CA_FILE_NAMES
            .iter()
            .find(|name| seen.iter().any(|s| s == *name))
        else {
            return Err(CaError::NoCaFile {
                dir: dir.to_owned(),
                seen,
            });
        };
        let path = dir.join(name);
        let pem = read_bounded(&path).map_err(|cause| CaError::Read {
            path: path.clone(),
            cause,
        })?;
        let certs =
            crate::tls::certs_from_pem(&pem, "registry CA").map_err(|cause| CaError::NotPem {
                path: path.clone(),
                cause,
            })?;
        Ok(Self { path, certs })
    }

    /// The stamps that tell whether `dir` changed since a [`load`](Self::load):
    /// the directory itself (a `..data` swap renames an entry in it) and
    /// each accepted CA file name (a symlink into `..data`, followed).
    pub(super) fn stamps(dir: &Path) -> Stamps {
        std::iter::once(dir.to_owned())
            .chain(CA_FILE_NAMES.iter().map(|name| dir.join(name)))
            .map(|path| FileStamp::of_maybe(&path))
            .collect()
    }

    /// The file the certificates came from.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The certificates, as the TLS layer wants them.
    pub(super) fn roots(&self) -> crate::tls::Roots {
        crate::tls::Roots::CustomCa(self.certs.clone())
    }
}

/// The CA file of `--tls-secret-path` as [`CaBundle::load`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    /// `ca.crt` or `ca.pem` in the directory.
    pub path: PathBuf,
    /// How many certificates it holds (at least one).
    pub certificates: usize,
}

/// Checks the CA directory exactly as [`super::Client::new`] does (compat
/// §5.4), for `fn-runner preflight` to report before deploying.
pub fn check_ca_dir(dir: &Path) -> Result<CaFile, CaError> {
    let bundle = CaBundle::load(dir)?;
    Ok(CaFile {
        certificates: bundle.certs.len(),
        path: bundle.path,
    })
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CaBundle({}, {} certificates)",
            self.path.display(),
            self.certs.len()
        )
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(crate::tls::MAX_PEM_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Why the CA of `--tls-secret-path` cannot be used.
#[derive(Debug)]
pub enum CaError {
    /// The directory cannot be listed.
    Dir { dir: PathBuf, cause: std::io::Error },
    /// Neither `ca.crt` nor `ca.pem` is there.
    NoCaFile { dir: PathBuf, seen: Vec<String> },
    /// The CA file cannot be read.
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The CA file holds no PEM certificate (or is malformed or too large).
    NotPem {
        path: PathBuf,
        cause: crate::tls::Error,
    },
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Dir { dir, cause } => write!(
                f,
                "cannot read the registry TLS directory {} (--tls-secret-path): {cause}",
                dir.display()
            ),
            CaError::NoCaFile { dir, seen } => {
                let seen = if seen.is_empty() {
                    "nothing".to_owned()
                } else {
                    seen.join(", ")
                };
                write!(
                    f,
                    "no CA certificate in {} (--tls-secret-path): it holds {seen}; \
                     the CA file must be named ca.crt or ca.pem (no other name is accepted)",
                    dir.display()
                )
            }
            CaError::Read { path, cause } => {
                write!(f, "cannot read the registry CA {}: {cause}", path.display())
            }
            CaError::NotPem {
                path,
                cause: crate::tls::Error::NoCertificate { .. },
            } => write!(
                f,
                "registry CA {} holds no PEM certificate (-----BEGIN CERTIFICATE-----); it must hold the CA certificate in PEM format",
                path.display()
            ),
            CaError::NotPem { path, cause } => write!(
                f,
                "registry CA {}: {cause}; it must hold the CA certificate in PEM format",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaError::Dir { cause, .. } | CaError::Read { cause, .. } => Some(cause),
            CaError::NotPem { cause, .. } => Some(cause),
            CaError::NoCaFile { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../../testdata/tls/selfsigned.crt");

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fn-runner-ca-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn bundle() -> CaBundle {
        CaBundle {
            path: PathBuf::from("ca.crt"),
            certs: Vec::new(),
        }
    }

    #[test]
    fn plans_follow_the_flag_and_loopback() {
        let ca = bundle();
        use Rung::*;
        assert_eq!(
            Plan::new(Some(&ca), false).rungs(),
            &[HttpsCustomCa, HttpsPublicRoots, PlainHttp]
        );
        assert_eq!(
            Plan::new(None, true).rungs(),
            &[HttpsPublicRoots, PlainHttp]
        );
        assert_eq!(Plan::new(None, false).rungs(), &[HttpsPublicRoots]);
    }

    // One test per arrow of the diagram.
    #[test]
    fn custom_ca_failure_steps_to_public_roots() {
        let ca = bundle();
        let plan = Plan::new(Some(&ca), false);
        let mut ladder = plan.start();
        assert!(matches!(ladder.first(), Step::Try(Rung::HttpsCustomCa)));
        assert!(matches!(
            ladder.failed("x".into()),
            Step::Try(Rung::HttpsPublicRoots)
        ));
    }

    #[test]
    fn public_roots_failure_steps_to_plain_http() {
        let ca = bundle();
        let plan = Plan::new(Some(&ca), false);
        let mut ladder = plan.start();
        ladder.failed("a".into());
        assert!(!ladder.is_last());
        assert!(matches!(
            ladder.failed("b".into()),
            Step::Try(Rung::PlainHttp)
        ));
        assert!(ladder.is_last());
    }

    #[test]
    fn last_failure_reports_every_rung_in_order() {
        let ca = bundle();
        let plan = Plan::new(Some(&ca), false);
        let mut ladder = plan.start();
        ladder.failed("a".into());
        ladder.failed("b".into());
        match ladder.failed("c".into()) {
            Step::Exhausted(f) => assert_eq!(
                f,
                vec![
                    (Rung::HttpsCustomCa, "a".to_owned()),
                    (Rung::HttpsPublicRoots, "b".to_owned()),
                    (Rung::PlainHttp, "c".to_owned())
                ]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_flag_a_remote_registry_has_one_rung() {
        let plan = Plan::new(None, false);
        let mut ladder = plan.start();
        assert!(ladder.is_last());
        assert!(matches!(ladder.failed("a".into()), Step::Exhausted(f) if f.len() == 1));
    }

    #[test]
    fn ca_crt_wins_over_ca_pem() {
        let dir = temp_dir("both");
        std::fs::write(dir.join("ca.crt"), CERT).unwrap();
        std::fs::write(dir.join("ca.pem"), "not pem").unwrap();
        assert_eq!(CaBundle::load(&dir).unwrap().path(), dir.join("ca.crt"));
        std::fs::remove_file(dir.join("ca.crt")).unwrap();
        assert!(matches!(CaBundle::load(&dir), Err(CaError::NotPem { .. })));
        std::fs::write(dir.join("ca.pem"), CERT).unwrap();
        assert_eq!(CaBundle::load(&dir).unwrap().path(), dir.join("ca.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn check_ca_dir_names_the_file_and_counts_its_certificates() {
        let dir = temp_dir("check");
        std::fs::write(dir.join("ca.pem"), format!("{CERT}{CERT}")).unwrap();
        assert_eq!(
            check_ca_dir(&dir).unwrap(),
            CaFile {
                path: dir.join("ca.pem"),
                certificates: 2
            }
        );
        std::fs::remove_file(dir.join("ca.pem")).unwrap();
        assert!(matches!(check_ca_dir(&dir), Err(CaError::NoCaFile { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_names_are_refused_with_the_listing() {
        let dir = temp_dir("other");
        std::fs::write(dir.join("ca.cert"), CERT).unwrap();
        std::fs::write(dir.join("tls.key"), "k").unwrap();
        std::fs::create_dir(dir.join("..data")).unwrap();
        let text = CaBundle::load(&dir).unwrap_err().to_string();
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(text.contains("it holds ca.cert, tls.key;"), "{text}");
        assert!(text.contains("must be named ca.crt or ca.pem"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_without_certificate_is_refused() {
        let dir = temp_dir("notpem");
        std::fs::write(dir.join("ca.crt"), "hello").unwrap();
        let text = CaBundle::load(&dir).unwrap_err().to_string();
        assert!(text.contains("ca.crt") && text.contains("PEM"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
