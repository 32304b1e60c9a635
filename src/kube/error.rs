//! `kube::Error`: what a Kubernetes API call can fail with.
//!
//! The server's `Status` body is mapped to a variant in exactly one place,
//! [`Error::from_status`] (style.md §3), by HTTP code the way client-go's
//! `apierrors` does: 404 NotFound, 409 AlreadyExists or Conflict (told apart
//! by `reason`), 401, 403, 410 Gone (an expired watch resourceVersion),
//! 429 TooManyRequests (with `Retry-After`), 5xx ServerError. Other 4xx
//! (400 BadRequest, 422 Invalid, 415 ...) are `Rejected`.
//! Messages are the server's own; they never hold a token or Secret data
//! (the server does not echo them and we never add them).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use super::config;
use super::objects::Status;

/// What the server said when it refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiStatus {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason` (`NotFound`, `Conflict`, ...), empty when absent.
    pub reason: String,
    /// `Status.message`, or the status line when the body was not a Status.
    pub message: String,
    /// `Retry-After` header or `details.retryAfterSeconds`.
    pub retry_after: Option<Duration>,
}

/// An error from a Kubernetes API call.
#[derive(Debug)]
pub enum Error {
    /// 404: the object (or namespace) does not exist.
    NotFound(Box<ApiStatus>),
    /// 409 reason AlreadyExists: create of a name that exists.
    AlreadyExists(Box<ApiStatus>),
    /// 409 (any other reason): the resourceVersion we sent is stale.
    Conflict(Box<ApiStatus>),
    /// 401 (after one retry with a re-read token).
    Unauthorized(Box<ApiStatus>),
    /// 403: RBAC denies the verb (see docs/kube.md).
    Forbidden(Box<ApiStatus>),
    /// 410: the watch resourceVersion is too old; relist.
    Gone(Box<ApiStatus>),
    /// 429 after our retries ran out.
    TooManyRequests(Box<ApiStatus>),
    /// 5xx after our retries (if the call was retryable) ran out.
    ServerError(Box<ApiStatus>),
    /// Any other 4xx (BadRequest, Invalid, UnsupportedMediaType, ...).
    Rejected(Box<ApiStatus>),
    /// No answer: connect, TLS, I/O, timeout, or a broken HTTP exchange.
    Transport {
        /// `VERB /path` of the request.
        request: String,
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The call's deadline (the caller's, or the client's `call_timeout`)
    /// came first: the attempt in flight was cut at it, or the next one
    /// could not have started and finished before it.
    DeadlineExceeded {
        /// `VERB /path` of the request.
        request: String,
        /// Requests sent (0: the deadline had passed before the first).
        attempts: u32,
        /// What the last attempt failed with, when one was made.
        last: Option<Box<Error>>,
    },
    /// The answer was larger than we accept.
    TooLarge { request: String, limit_bytes: u64 },
    /// The answer was not the JSON we expected.
    Decode {
        request: String,
        source: serde_json::Error,
    },
    /// We could not serialize what we meant to send (a bug, not input).
    Encode(serde_json::Error),
    /// Loading the configuration or credentials failed.
    Config(Box<config::Error>),
}

impl Error {
    /// Maps an HTTP error answer to its variant (the one mapping point).
    /// `body` is the response body (a `Status` when the server is a real
    /// API server); `retry_after` the parsed `Retry-After` header.
    pub(crate) fn from_status(code: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
        let status: Status = serde_json::from_slice(body).unwrap_or_default();
        let message = if status.message.is_empty() {
            format!("HTTP {code}")
        } else {
            status.message
        };
        let retry_after = retry_after.or_else(|| {
            status
                .details
                .and_then(|d| d.retry_after_seconds)
                .map(Duration::from_secs)
        });
        let s = Box::new(ApiStatus {
            code,
            reason: status.reason,
            message,
            retry_after,
        });
        match code {
            401 => Error::Unauthorized(s),
            403 => Error::Forbidden(s),
            404 => Error::NotFound(s),
            409 if s.reason == "AlreadyExists" => Error::AlreadyExists(s),
            409 => Error::Conflict(s),
            410 => Error::Gone(s),
            429 => Error::TooManyRequests(s),
            500..=599 => Error::ServerError(s),
            _ => Error::Rejected(s),
        }
    }

    /// The server's answer, for the variants that carry one.
    pub fn status(&self) -> Option<&ApiStatus> {
        match self {
            Error::NotFound(s)
            | Error::AlreadyExists(s)
            | Error::Conflict(s)
            | Error::Unauthorized(s)
            | Error::Forbidden(s)
            | Error::Gone(s)
            | Error::TooManyRequests(s)
            | Error::ServerError(s)
            | Error::Rejected(s) => Some(s),
            _ => None,
        }
    }

    /// True when the call ran out of time (see [`Error::DeadlineExceeded`]).
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, Error::DeadlineExceeded { .. })
    }

    /// True for 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each status variant names its kind here; the rest write their
        // whole message and return.
        let (kind, s) = match self {
            Error::NotFound(s) => ("not found", s),
            Error::AlreadyExists(s) => ("already exists", s),
            Error::Conflict(s) => ("conflict", s),
            Error::Unauthorized(s) => ("unauthorized", s),
            Error::Forbidden(s) => ("forbidden", s),
            Error::Gone(s) => ("gone", s),
            Error::TooManyRequests(s) => ("too many requests", s),
            Error::ServerError(s) => ("server error", s),
            Error::Rejected(s) => ("rejected", s),
            Error::Transport { request, .. } => {
                return write!(f, "kubernetes API {request}: no answer");
            }
            Error::DeadlineExceeded {
                request, attempts, ..
            } => {
                return write!(
                    f,
                    "kubernetes API {request}: deadline exceeded after {attempts} attempt{}",
                    if *attempts == 1 { "" } else { "s" }
                );
            }
            Error::TooLarge {
                request,
                limit_bytes,
            } => {
                return write!(
                    f,
                    "kubernetes API {request}: answer larger than {limit_bytes} bytes"
                );
            }
            Error::Decode { request, .. } => {
                return write!(f, "kubernetes API {request}: unexpected answer");
            }
            Error::Encode(_) => return f.write_str("kubernetes API: cannot encode the request"),
            Error::Config(e) => return write!(f, "kubernetes configuration: {e}"),
        };
        write!(f, "kubernetes API {kind} ({}): {}", s.code, s.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Transport { source, .. } => Some(source.as_ref()),
            Error::DeadlineExceeded { last, .. } => last.as_deref().map(|e| e as _),
            Error::Decode { source, .. } | Error::Encode(source) => Some(source),
            Error::Config(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<config::Error> for Error {
    fn from(e: config::Error) -> Self {
        Error::Config(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_status_codes_and_reasons() {
        let body = br#"{"kind":"Status","status":"Failure","message":"pods \"a\" already exists","reason":"AlreadyExists","code":409}"#;
        let e = Error::from_status(409, body, None);
        assert!(matches!(e, Error::AlreadyExists(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "kubernetes API already exists (409): pods \"a\" already exists"
        );
        let e = Error::from_status(409, br#"{"reason":"Conflict","message":"m"}"#, None);
        assert!(matches!(e, Error::Conflict(_)));
        assert!(Error::from_status(404, b"", None).is_not_found());
        assert!(matches!(
            Error::from_status(503, b"<html>", None),
            Error::ServerError(_)
        ));
        assert!(matches!(
            Error::from_status(422, b"", None),
            Error::Rejected(_)
        ));
    }

    #[test]
    fn retry_after_from_details() {
        let body = br#"{"reason":"TooManyRequests","details":{"retryAfterSeconds":3},"code":429}"#;
        let e = Error::from_status(429, body, None);
        assert_eq!(
            e.status().and_then(|s| s.retry_after),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn every_variant_displays_without_panicking() {
        let status = |code| Error::from_status(code, br#"{"message":"m"}"#, None);
        let io = || Box::new(std::io::Error::other("io"));
        let json = || serde_json::from_slice::<u8>(b"x").expect_err("not json");
        let all = [
            status(401),
            status(403),
            status(404),
            Error::from_status(409, br#"{"reason":"AlreadyExists"}"#, None),
            status(409),
            status(410),
            status(422),
            status(429),
            status(500),
            Error::Transport {
                request: "GET /p".to_owned(),
                source: io(),
            },
            Error::DeadlineExceeded {
                request: "GET /p".to_owned(),
                attempts: 2,
                last: Some(Box::new(status(500))),
            },
            Error::TooLarge {
                request: "GET /p".to_owned(),
                limit_bytes: 1,
            },
            Error::Decode {
                request: "GET /p".to_owned(),
                source: json(),
            },
            Error::Encode(json()),
            Error::from(config::Error::InClusterEnv {
                missing: "KUBERNETES_SERVICE_PORT",
            }),
        ];
        for e in &all {
            assert!(!e.to_string().is_empty(), "{e:?}");
        }
        assert_eq!(
            all[10].to_string(),
            "kubernetes API GET /p: deadline exceeded after 2 attempts"
        );
        let source = StdError::source(&all[10]).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("kubernetes API server error (500): m")
        );
    }

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 48,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
