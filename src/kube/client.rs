//! The HTTPS edge to one API server (ureq 3, rustls): sends a described
//! request (`request.rs`) with the bearer token, retries it, and returns
//! the answer; typed calls are in `api.rs`, the watch loop in `watch.rs`.
//!
//! One [`ureq::Agent`] per [`Client`], so connections are kept alive and
//! reused. Every request carries the current bearer token
//! (`credentials.rs`); a 401 makes us re-read the token and retry once.
//! Status codes are not ureq errors (`http_status_as_error(false)`): the
//! `Status` body is read and mapped by [`Error::from_status`].
//!
//! Retries (when: `retry.rs`):
//! - 429 TooManyRequests, for every verb (the server refused before doing
//!   anything), waiting `Retry-After` when given;
//! - 5xx and transport failures only for idempotent calls (get, list,
//!   update, apply, merge patch, delete). A create (POST, maybe with
//!   generateName) is never repeated after it may have reached the server.
//!
//! Deadlines: every exchange has one (the caller's, capped by
//! [`ClientOptions::call_timeout`]). Each attempt's timeout is the smaller
//! of [`ClientOptions::request_timeout`] and the time left; no retry wait
//! reaches past it; a call that runs out of time fails with
//! [`Error::DeadlineExceeded`] (its last failure as the source).
//!
//! Bounds: [`MAX_OBJECT_BYTES`], [`MAX_LIST_BYTES`],
//! [`MAX_ERROR_BODY_BYTES`], [`MAX_WATCH_EVENT_BYTES`]; timeouts
//! [`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`] per attempt and
//! [`CALL_TIMEOUT`] per call (see [`ClientOptions`]), and for a watch
//! [`WATCH_IDLE_TIMEOUT`] between reads. ureq types stay in this file.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use ureq::http;

use super::config::{self, Config};
use super::credentials::Credentials;
use super::error::Error;
use super::objects::{Pod, Resource};
use super::rbac::Verb;
use super::request::{collection_path, encode, http_method, Req};
use super::retry::{Next, RetryPolicy, MIN_ATTEMPT_TIME};

/// TCP connect + TLS handshake budget (our choice).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Budget of one attempt of a non-watch call (client-go has none by
/// default; kubectl's `--request-timeout` is the analogue).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Budget of one whole call, retries and their waits included, when the
/// caller's deadline is later or absent (our choice: a start-up or garbage
/// collection call gets its answer or its error within a minute; without
/// it 4 attempts of [`REQUEST_TIMEOUT`] plus `Retry-After` waits could take
/// three and a half).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest silence on a watch before we assume the connection is dead: the
/// server ends a watch after `timeoutSeconds` ([`WATCH_SERVER_TIMEOUT`]) and
/// sends bookmarks meanwhile, so this only fires on a dead peer.
const WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(330);
/// `timeoutSeconds` we ask the server for on a watch (client-go picks
/// 5-10 min at random).
pub(crate) const WATCH_SERVER_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest single object we accept (etcd's default limit is 1.5 MiB).
pub(crate) const MAX_OBJECT_BYTES: u64 = 4 * 1024 * 1024;
/// Largest list answer we accept.
pub(crate) const MAX_LIST_BYTES: u64 = 64 * 1024 * 1024;
/// Largest error body we read (a Status is a few hundred bytes).
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// Largest line (one event) of a watch stream.
const MAX_WATCH_EVENT_BYTES: u64 = MAX_OBJECT_BYTES + 4096;
/// Idle connections kept per API server.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// Retry policy and timeouts of a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    /// TCP connect + TLS handshake (default [`CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// One attempt of a non-watch call (default [`REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
    /// One call with its retries, at most (default [`CALL_TIMEOUT`]).
    pub call_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            call_timeout: CALL_TIMEOUT,
        }
    }
}

/// A connection to one API server. Cheap to share (`Arc`); all methods take
/// `&self` and may be called from many threads.
pub struct Client {
    agent: ureq::Agent,
    server: String,
    credentials: Credentials,
    retry: RetryPolicy,
    request_timeout: Duration,
    call_timeout: Duration,
    namespace: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config` with the default [`ClientOptions`].
    pub fn new(config: Config) -> Result<Client, Error> {
        Client::with_options(config, ClientOptions::default())
    }

    /// A client with custom retries and timeouts.
    pub fn with_options(config: Config, options: ClientOptions) -> Result<Client, Error> {
        let tls = tls_config(&config)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(options.connect_timeout))
            .max_redirects(0)
            .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
            .user_agent(concat!("fn-runner/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            server: config.server,
            credentials: Credentials::new(config.auth),
            retry: options.retry,
            request_timeout: options.request_timeout,
            call_timeout: options.call_timeout,
            namespace: config.namespace,
        })
    }

    /// The namespace of the configuration (service account or context).
    pub fn default_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Opens a watch on pods (`namespace`, `label_selector`) from
    /// `resource_version`, with bookmarks. Used by `watch.rs`.
    pub(crate) fn watch_pods(
        &self,
        namespace: &str,
        label_selector: &str,
        resource_version: &str,
        timeout: Duration,
    ) -> Result<WatchStream, Error> {
        let mut path = format!(
            "{}?watch=1&allowWatchBookmarks=true&timeoutSeconds={}&resourceVersion={}",
            collection_path(namespace, Pod::PLURAL),
            timeout.as_secs().max(1),
            encode(resource_version)
        );
        if !label_selector.is_empty() {
            path.push_str("&labelSelector=");
            path.push_str(&encode(label_selector));
        }
        let req = Req::new(Verb::Watch, Pod::PLURAL, path, MAX_WATCH_EVENT_BYTES);
        let (resp, _) = self.exchange(&req, self.call_deadline(None))?;
        let reader = resp.into_body().into_reader();
        Ok(WatchStream {
            reader: Box::new(BufReader::new(reader)),
            request: req.describe(),
        })
    }

    /// When a call that starts now must end: the caller's `deadline`,
    /// but no later than `call_timeout` from now.
    pub(crate) fn call_deadline(&self, deadline: Option<Instant>) -> Instant {
        let ours = Instant::now() + self.call_timeout;
        deadline.map_or(ours, |d| d.min(ours))
    }

    /// Sends `req` (with retries, by `deadline`) and returns the body of a
    /// 2xx answer.
    pub(crate) fn execute(&self, req: &Req, deadline: Instant) -> Result<Vec<u8>, Error> {
        let (resp, sent) = self.exchange(req, deadline)?;
        read_limited(resp, req).map_err(|err| match err {
            // The body too is read under the attempt's timeout.
            Error::Transport { .. } if is_past(deadline) => deadline_exceeded(req, sent, Some(err)),
            other => other,
        })
    }

    /// Sends `req` until a 2xx answer (returned unread, with the number of
    /// requests sent), a final error, or `deadline`.
    fn exchange(
        &self,
        req: &Req,
        deadline: Instant,
    ) -> Result<(http::Response<ureq::Body>, u32), Error> {
        let mut attempt: u32 = 0;
        let mut sent: u32 = 0;
        let mut reauthenticated = false;
        let mut last: Option<Error> = None;
        loop {
            if is_past(deadline) {
                return Err(deadline_exceeded(req, sent, last));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            attempt += 1;
            sent += 1;
            let token = self.credentials.token()?;
            let outcome = self.send_once(req, token.as_deref(), left);
            let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
            super::metrics::request(req.verb, req.resource, status);
            // The most verbose level (client-go uses -v=6); never headers or bodies.
            crate::v!(
                5,
                "kube {} -> {}",
                req.describe(),
                match &outcome {
                    Ok(resp) => resp.status().as_u16().to_string(),
                    Err(e) => e.to_string(),
                }
            );
            let (err, retryable) = match outcome {
                Ok(resp) if resp.status().is_success() => return Ok((resp, sent)),
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body = resp
                        .into_body()
                        .into_with_config()
                        .limit(MAX_ERROR_BODY_BYTES)
                        .read_to_vec()
                        .unwrap_or_default();
                    let err = Error::from_status(code, &body, retry_after);
                    if code == 401 && !reauthenticated && self.credentials.invalidate() {
                        // Rotated token: re-read it and try once more. Does
                        // not count as a retry: the server did nothing.
                        reauthenticated = true;
                        attempt -= 1;
                        last = Some(err);
                        continue;
                    }
                    let retryable = match code {
                        429 => true,
                        // 501 Not Implemented will not get better.
                        500 | 502..=504 => req.is_idempotent(),
                        _ => false,
                    };
                    (err, retryable)
                }
                Err(e) => {
                    let retryable = req.is_idempotent() || is_connect_refused(&e);
                    let err = transport_error(req, e);
                    if is_past(deadline) {
                        // Most likely our own timeout, cut to the deadline.
                        return Err(deadline_exceeded(req, sent, Some(err)));
                    }
                    (err, retryable)
                }
            };
            if !retryable {
                return Err(err);
            }
            let retry_after = err.status().and_then(|s| s.retry_after);
            let left = deadline.saturating_duration_since(Instant::now());
            match self.retry.next(attempt, retry_after, left) {
                Next::RetryAfter(delay) => std::thread::sleep(delay),
                Next::GiveUp => return Err(err),
                Next::DeadlineFirst => return Err(deadline_exceeded(req, sent, Some(err))),
            }
            last = Some(err);
        }
    }

    /// One attempt, given at most `left` (a watch: only to get its
    /// answer's headers; its body then streams for as long as it lasts).
    fn send_once(
        &self,
        req: &Req,
        token: Option<&str>,
        left: Duration,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let mut builder = http::Request::builder()
            .method(http_method(req.verb))
            .uri(format!("{}{}", self.server, req.path))
            .header("accept", "application/json");
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        let body = match &req.body {
            Some((bytes, content_type)) => {
                builder = builder.header("content-type", *content_type);
                bytes.clone()
            }
            None => Vec::new(),
        };
        let request = builder.body(body).map_err(ureq::Error::Http)?;
        let budget = left.min(self.request_timeout);
        let request = if req.is_watch() {
            self.agent
                .configure_request(request)
                .timeout_per_call(None)
                .timeout_recv_response(Some(budget))
                .timeout_recv_body(None)
                .timeout_per_read(Some(WATCH_IDLE_TIMEOUT))
                .build()
        } else {
            self.agent
                .configure_request(request)
                .timeout_per_call(Some(budget))
                .build()
        };
        self.agent.run(request)
    }
}

/// The body of an open watch: newline-delimited JSON events.
pub(crate) struct WatchStream {
    reader: Box<dyn BufRead + Send>,
    request: String,
}

impl WatchStream {
    /// The next event line; `Ok(None)` when the server ended the watch.
    pub(crate) fn next_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut line = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_WATCH_EVENT_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Transport {
                request: self.request.clone(),
                source: Box::new(e),
            })?;
        if read == 0 {
            return Ok(None);
        }
        if line.len() as u64 > MAX_WATCH_EVENT_BYTES {
            return Err(Error::TooLarge {
                request: self.request.clone(),
                limit_bytes: MAX_WATCH_EVENT_BYTES,
            });
        }
        Ok(Some(line))
    }

    /// `GET /path` of the watch, for error messages.
    pub(crate) fn request(&self) -> &str {
        &self.request
    }
}

fn read_limited(resp: http::Response<ureq::Body>, req: &Req) -> Result<Vec<u8>, Error> {
    resp.into_body()
        .into_with_config()
        .limit(req.limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => Error::TooLarge {
                request: req.describe(),
                limit_bytes: req.limit,
            },
            other => transport_error(req, other),
        })
}

/// Whether too little is left before `deadline` for another attempt (a
/// timeout that fired at the deadline counts as past it).
fn is_past(deadline: Instant) -> bool {
    deadline.saturating_duration_since(Instant::now()) < MIN_ATTEMPT_TIME
}

fn deadline_exceeded(req: &Req, attempts: u32, last: Option<Error>) -> Error {
    Error::DeadlineExceeded {
        request: req.describe(),
        attempts,
        last: last.map(Box::new),
    }
}

fn transport_error(req: &Req, e: ureq::Error) -> Error {
    Error::Transport {
        request: req.describe(),
        source: Box::new(e),
    }
}

fn is_connect_refused(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        ureq::Error::ConnectionFailed => true,
        _ => false,
    }
}

/// ureq's TLS settings from our config, built by `src/tls.rs`.
fn tls_config(config: &Config) -> Result<ureq::tls::TlsConfig, Error> {
    use crate::tls::{certs_from_pem, ClientTls, Identity, Roots};
    let origin = match &config.origin {
        config::Origin::InCluster => "in-cluster service account".to_owned(),
        config::Origin::Kubeconfig(p) => p.display().to_string(),
    };
    let tls_err = |source| {
        Error::from(config::Error::Tls {
            origin: origin.clone(),
            source,
        })
    };
    let roots = if config.danger_insecure_skip_tls_verify {
        Roots::DangerInsecureSkipVerify
    } else {
        match &config.ca_pem {
            Some(pem) => {
                Roots::CustomCa(certs_from_pem(pem, "certificate authority").map_err(tls_err)?)
            }
            None => Roots::PublicRoots,
        }
    };
    let identity = match &config.identity {
        Some(id) => Some(Identity::from_pem(&id.cert_pem, &id.key_pem).map_err(tls_err)?),
        None => None,
    };
    crate::tls::ureq_config(&ClientTls { roots, identity }).map_err(tls_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(bytes: Vec<u8>) -> WatchStream {
        WatchStream {
            reader: Box::new(std::io::Cursor::new(bytes)),
            request: "GET /w".to_owned(),
        }
    }

    #[test]
    fn watch_lines_are_bounded() {
        let limit = usize::try_from(MAX_WATCH_EVENT_BYTES).expect("fits");
        let mut at_limit = vec![b'x'; limit - 1];
        at_limit.push(b'\n');
        let mut s = stream(at_limit.clone());
        assert_eq!(
            s.next_line().expect("at limit").map(|l| l.len()),
            Some(limit)
        );
        assert!(s.next_line().expect("end").is_none());
        let mut over = vec![b'x'; limit];
        over.push(b'\n');
        let err = stream(over).next_line().expect_err("over limit");
        assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn watch_lines_split_on_newlines_and_keep_a_final_partial_line() {
        let mut s = stream(b"{\"a\":1}\n{\"b\":2}\n{\"c\"".to_vec());
        assert_eq!(s.next_line().expect("1"), Some(b"{\"a\":1}\n".to_vec()));
        assert_eq!(s.next_line().expect("2"), Some(b"{\"b\":2}\n".to_vec()));
        assert_eq!(s.next_line().expect("3"), Some(b"{\"c\"".to_vec()));
        assert_eq!(s.next_line().expect("eof"), None);
    }
}
