//! The registry client's error: one variant per thing that can go wrong,
//! each saying what to fix. No variant holds a password, token or
//! `Authorization` header (the tests grep for them).

use std::fmt;
use std::path::PathBuf;

use super::ladder::{CaError, Cause, CauseKind, Rung};
use super::{credentials, manifest, reference};

/// What went wrong while resolving an image.
#[derive(Debug)]
pub enum Error {
    /// The image reference does not parse.
    Reference(reference::Error),
    /// The docker config cannot be used.
    Credentials(credentials::Error),
    /// The CA of `--tls-secret-path` cannot be used.
    Ca(CaError),
    /// A TLS configuration could not be built.
    Tls(crate::tls::Error),
    /// Every rung of the ladder failed; each with its cause.
    Unreachable {
        host: String,
        failures: Vec<(Rung, Cause)>,
        ca_path: Option<PathBuf>,
        /// Why `host` was asked when it is not the image's registry (a
        /// redirect target, a token realm on another host).
        via: Option<String>,
    },
    /// A redirect that cannot be followed (no usable `Location`, too many).
    Redirect { what: String, why: String },
    /// A request failed at the transport level after the ladder settled.
    Transport {
        host: String,
        rung: Rung,
        cause: String,
    },
    /// The registry (or its token server) refused the credentials we sent.
    AuthFailed {
        registry: String,
        credentials_path: PathBuf,
        detail: String,
    },
    /// The registry wants credentials and none apply.
    AuthRequired { registry: String, why: String },
    /// The token server answered something other than a token.
    TokenServer {
        registry: String,
        realm: String,
        status: u16,
    },
    /// The caller's deadline passed while talking to `host`.
    DeadlineExceeded { host: String },
    /// The realm in the registry's challenge is not an http(s) URL.
    BadRealm { registry: String, realm: String },
    /// 403: authenticated, but not allowed to pull this repository.
    Denied {
        registry: String,
        repository: String,
    },
    /// 404: the manifest or blob is not there.
    NotFound {
        image: String,
        what: String,
        detail: String,
    },
    /// Any other HTTP answer.
    Status {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    /// A manifest, config or token answer is larger than its limit.
    TooLarge { what: String, limit: u64 },
    /// The bytes served do not hash to the digest asked for.
    DigestMismatch {
        image: String,
        what: String,
        expected: String,
        actual: String,
    },
    /// The index has no child for the runner's platform.
    NoPlatform {
        image: String,
        want: String,
        available: Vec<String>,
    },
    /// A manifest or config that does not decode.
    Manifest {
        image: String,
        cause: manifest::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Reference(e) => e.fmt(f),
            Error::Credentials(e) => e.fmt(f),
            Error::Ca(e) => e.fmt(f),
            Error::Tls(e) => write!(f, "registry TLS: {e}"),
            Error::Unreachable {
                host,
                failures,
                ca_path,
                via,
            } => {
                match via {
                    Some(via) => write!(f, "cannot reach {host} ({via}): every transport failed:")?,
                    None => write!(f, "cannot reach registry {host}: every transport failed:")?,
                }
                for (i, (rung, cause)) in failures.iter().enumerate() {
                    write!(f, "\n  {}. {rung}", i + 1)?;
                    if let (Rung::HttpsCustomCa, Some(path)) = (rung, ca_path) {
                        write!(f, " ({})", path.display())?;
                    }
                    write!(f, ": {cause}")?;
                }
                f.write_str("\n")?;
                unreachable_hint(f, host, failures, ca_path.as_deref())
            }
            Error::Redirect { what, why } => write!(f, "cannot follow the redirect for {what}: {why}"),
            Error::Transport { host, rung, cause } => {
                write!(f, "registry {host} ({rung}): {cause}")
            }
            Error::AuthFailed {
                registry,
                credentials_path,
                detail,
            } => write!(
                f,
                "authentication failed for registry {registry}: {detail}; check its entry in {} (--registry-auth-secret-path)",
                credentials_path.display()
            ),
            Error::AuthRequired { registry, why } => {
                write!(f, "registry {registry} requires authentication, but {why}")
            }
            Error::TokenServer {
                registry,
                realm,
                status,
            } => write!(
                f,
                "token server {realm} of registry {registry} answered HTTP {status} instead of a token"
            ),
            Error::DeadlineExceeded { host } => {
                write!(f, "deadline exceeded while talking to {host}")
            }
            Error::BadRealm { registry, realm } => write!(
                f,
                "registry {registry} sent a token realm that is not an http(s) URL: {realm:?}"
            ),
            Error::Denied {
                registry,
                repository,
            } => write!(
                f,
                "registry {registry} denied access to {repository}: the credentials are valid but may not pull it"
            ),
            Error::NotFound {
                image,
                what,
                detail,
            } => {
                write!(f, "{image}: {what} not found")?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            Error::Status {
                registry,
                what,
                status,
                detail,
            } => {
                write!(f, "registry {registry} answered HTTP {status} for {what}")?;
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            Error::TooLarge { what, limit } => write!(f, "{what} is larger than {limit} bytes"),
            Error::DigestMismatch {
                image,
                what,
                expected,
                actual,
            } => write!(
                f,
                "{image}: {what} does not match its digest: expected {expected}, got {actual}"
            ),
            Error::NoPlatform {
                image,
                want,
                available,
            } => write!(
                f,
                "{image}: no image for this runner's platform {want} (the index has {})",
                available.join(", ")
            ),
            Error::Manifest { image, cause } => write!(f, "{image}: {cause}"),
        }
    }
}

/// The closing hint of [`Error::Unreachable`], fitted to how the rungs
/// failed: a host that does not resolve, refuses or does not answer is no
/// CA problem; a TLS failure is (issue 14).
fn unreachable_hint(
    f: &mut fmt::Formatter<'_>,
    host: &str,
    failures: &[(Rung, Cause)],
    ca_path: Option<&std::path::Path>,
) -> fmt::Result {
    let any = |kind| failures.iter().any(|(_, c)| c.kind == kind);
    let all = |kind| !failures.is_empty() && failures.iter().all(|(_, c)| c.kind == kind);
    if any(CauseKind::Tls) || any(CauseKind::SpeaksHttps) {
        return match ca_path {
            Some(path) => write!(
                f,
                "check that {} is the CA that signed {host}'s certificate and that {host} is \
                 reachable",
                path.display()
            ),
            None => write!(
                f,
                "if {host} uses a private CA, pass --enable-private-registry-tls and put the CA \
                 in --tls-secret-path as ca.crt"
            ),
        };
    }
    if all(CauseKind::UnknownHost) {
        return write!(
            f,
            "check the registry's name in the image reference: {host} is not known to the DNS \
             (resolv.conf) of this machine or pod"
        );
    }
    if all(CauseKind::Refused) {
        return write!(
            f,
            "nothing accepts connections at {host}: check the registry's host and port, and that \
             it runs"
        );
    }
    if any(CauseKind::Timeout) {
        return write!(
            f,
            "{host} did not answer in time: check the network path to it (a firewall, a proxy, a \
             NetworkPolicy)"
        );
    }
    write!(f, "check that {host} is a registry and reachable from here")
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Reference(e) => Some(e),
            Error::Credentials(e) => Some(e),
            Error::Ca(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Manifest { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

impl From<reference::Error> for Error {
    fn from(e: reference::Error) -> Self {
        Error::Reference(e)
    }
}

impl From<credentials::Error> for Error {
    fn from(e: credentials::Error) -> Self {
        Error::Credentials(e)
    }
}

impl From<CaError> for Error {
    fn from(e: CaError) -> Self {
        Error::Ca(e)
    }
}

impl From<crate::tls::Error> for Error {
    fn from(e: crate::tls::Error) -> Self {
        Error::Tls(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    fn unreachable(causes: &[(Rung, CauseKind)], ca: Option<&str>) -> String {
        Error::Unreachable {
            host: "reg:5000".into(),
            failures: causes
                .iter()
                .map(|&(rung, kind)| (rung, Cause::new(kind, "why")))
                .collect(),
            ca_path: ca.map(Into::into),
            via: None,
        }
        .to_string()
    }

    #[test]
    fn the_hint_fits_how_the_rungs_failed() {
        let last_line = |text: String| text.lines().last().unwrap_or_default().to_owned();
        let both = |kind| [(Rung::HttpsPublicRoots, kind), (Rung::PlainHttp, kind)];
        assert!(last_line(unreachable(&both(CauseKind::Refused), None))
            .starts_with("nothing accepts connections at reg:5000"));
        assert!(last_line(unreachable(&both(CauseKind::UnknownHost), None))
            .contains("reg:5000 is not known to the DNS"));
        assert!(last_line(unreachable(&both(CauseKind::Timeout), None))
            .starts_with("reg:5000 did not answer in time"));
        let tls = [
            (Rung::HttpsPublicRoots, CauseKind::Tls),
            (Rung::PlainHttp, CauseKind::SpeaksHttps),
        ];
        assert!(last_line(unreachable(&tls, None))
            .starts_with("if reg:5000 uses a private CA, pass --enable-private-registry-tls"));
        assert!(last_line(unreachable(&tls, Some("/tls/ca.crt")))
            .starts_with("check that /tls/ca.crt is the CA that signed"));
        assert!(last_line(unreachable(&both(CauseKind::Other), None))
            .starts_with("check that reg:5000 is a registry and reachable"));
    }

    #[test]
    fn ladder_error_lists_every_rung() {
        let e = Error::Unreachable {
            host: "reg:5000".into(),
            failures: vec![
                (
                    Rung::HttpsCustomCa,
                    Cause::new(CauseKind::Tls, "unknown issuer"),
                ),
                (
                    Rung::HttpsPublicRoots,
                    Cause::new(CauseKind::Tls, "unknown issuer"),
                ),
                (
                    Rung::PlainHttp,
                    Cause::new(CauseKind::SpeaksHttps, "server speaks HTTPS"),
                ),
            ],
            ca_path: Some("/tls/ca.crt".into()),
            via: None,
        };
        let text = e.to_string();
        assert!(
            text.contains("1. HTTPS with the custom CA (/tls/ca.crt): unknown issuer"),
            "{text}"
        );
        assert!(
            text.contains("2. HTTPS with the public roots: unknown issuer"),
            "{text}"
        );
        assert!(
            text.contains("3. plain HTTP: server speaks HTTPS"),
            "{text}"
        );
    }
}
