//! The registry client's error: one variant per thing that can go wrong,
//! each saying what to fix. No variant holds a password, token or
//! `Authorization` header (the tests grep for them).

use std::fmt;
use std::path::PathBuf;

use super::ladder::{CaError, Rung};
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
        failures: Vec<(Rung, String)>,
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
                match ca_path {
                    Some(path) => write!(
                        f,
                        "\ncheck that {} is the CA that signed {host}'s certificate and that {host} is reachable",
                        path.display()
                    ),
                    None => write!(
                        f,
                        "\nif {host} uses a private CA, pass --enable-private-registry-tls and put the CA in --tls-secret-path as ca.crt"
                    ),
                }
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

    #[test]
    fn ladder_error_lists_every_rung() {
        let e = Error::Unreachable {
            host: "reg:5000".into(),
            failures: vec![
                (Rung::HttpsCustomCa, "unknown issuer".into()),
                (Rung::HttpsPublicRoots, "unknown issuer".into()),
                (Rung::PlainHttp, "server speaks HTTPS".into()),
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
