//! The registry's HTTP edge over `ureq`: the only file of `registry` that
//! names `ureq`. It sends one request ([`Edge::send`]), climbs the TLS
//! ladder for a host ([`Edge::climb`], the one place the ladder of
//! `ladder.rs` is walked), and follows redirects ([`Edge::follow`]).
//! What to ask for, and what an answer means, is the session's business
//! (`session.rs`).
//!
//! Redirects are followed here, not by ureq (at most [`MAX_REDIRECTS`]
//! per request): a target on the first request's origin keeps its rung and
//! `Authorization` header; a target on another host (a blob on object
//! storage, which has a public certificate, or plain HTTP) climbs its own
//! ladder (custom CA -> public roots -> plain HTTP, as the flags allow) and
//! never gets the `Authorization` header, on any later hop either.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::Error;
use super::ladder::{CaBundle, Cause, CauseKind, Plan, Rung, Step};
use super::redirect::{self, Target};
use super::reference::is_loopback_host;
use crate::tls::{ClientTls, Roots};

/// Most of an error answer's body we read (for its error code).
pub(super) const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// Most redirects followed for one request (blobs on object storage use one).
pub(super) const MAX_REDIRECTS: u32 = 5;
/// TCP connect plus TLS handshake.
const TIMEOUT_CONNECT: Duration = Duration::from_secs(10);
/// Sending the request and receiving the response headers.
const TIMEOUT_RECV_RESPONSE: Duration = Duration::from_secs(30);
/// Receiving a response body (bounded by the limits of each request).
const TIMEOUT_RECV_BODY: Duration = Duration::from_secs(60);
/// One whole request, redirects included.
const TIMEOUT_GLOBAL: Duration = Duration::from_secs(120);

/// The client's agents and warnings, shared by every resolve.
#[derive(Debug)]
pub(super) struct Http {
    /// Trusts the public roots; also sends plain HTTP.
    public_roots: ureq::Agent,
    /// Hosts already warned about credentials in clear text.
    warned_plain_http: Mutex<HashSet<String>>,
}

impl Http {
    /// The agents that need no CA of ours.
    pub(super) fn new() -> Result<Self, Error> {
        Ok(Self {
            public_roots: agent(crate::tls::ureq_config(&ClientTls::with_roots(
                Roots::PublicRoots,
            ))?),
            warned_plain_http: Mutex::new(HashSet::new()),
        })
    }

    /// The edge for one resolve: `ca` as read for it, every request ending
    /// by `deadline` when there is one.
    pub(super) fn edge(&self, ca: Option<Arc<CustomCa>>, deadline: Option<Instant>) -> Edge<'_> {
        Edge {
            http: self,
            ca,
            deadline,
        }
    }
}

/// The CA of `--tls-secret-path` as last read, and the agent that trusts
/// only it (the first rung). Only [`CustomCa::load`] makes one, from a
/// checked [`CaBundle`].
#[derive(Debug)]
pub(super) struct CustomCa {
    bundle: CaBundle,
    agent: ureq::Agent,
}

impl CustomCa {
    /// Checks the CA directory (compat §5.4) and builds its agent.
    pub(super) fn load(dir: &Path) -> Result<Self, Error> {
        let bundle = CaBundle::load(dir)?;
        let agent = agent(crate::tls::ureq_config(&ClientTls::with_roots(
            bundle.roots(),
        ))?);
        Ok(Self { bundle, agent })
    }
}

/// One resolve's view of the HTTP side.
pub(super) struct Edge<'a> {
    http: &'a Http,
    /// The CA of `--tls-secret-path` as read for this resolve.
    ca: Option<Arc<CustomCa>>,
    /// The caller's deadline for the whole resolve, if any: past it a
    /// request fails with [`Error::DeadlineExceeded`] and the ladder does
    /// not step down.
    deadline: Option<Instant>,
}

impl Edge<'_> {
    /// Climbs the ladder for `target` until a rung answers `req`, and
    /// returns the target as reached (its scheme the rung's), the rung and
    /// the answer. The plan is the flags' plan for the host of an
    /// `https` target (`ladder.rs`), plain HTTP only for an `http` one;
    /// `via` says why this host is asked when it is not the image's
    /// registry. A request that carries a secret warns (once per host)
    /// before it goes out over plain HTTP.
    pub(super) fn climb(
        &self,
        target: &Target,
        req: &Request<'_>,
        via: Option<&str>,
    ) -> Result<(Target, Rung, Answer), Error> {
        let host = target.host.as_str();
        let plan = match target.scheme {
            "https" => Plan::new(self.bundle(), is_loopback_host(host)),
            _ => Plan::plain_http_only(),
        };
        let mut ladder = plan.start();
        let mut step = ladder.first();
        loop {
            let rung = match step {
                Step::Try(rung) => rung,
                Step::Exhausted(failures) => {
                    return Err(Error::Unreachable {
                        host: host.to_owned(),
                        failures,
                        ca_path: self.ca_path().map(Path::to_owned),
                        via: via.map(str::to_owned),
                    })
                }
            };
            let at = Target {
                scheme: rung.scheme(),
                ..target.clone()
            };
            if rung == Rung::PlainHttp && req.carries_secret() {
                self.warn_plain_http(host);
            }
            match self.send(rung, &at.url(), req) {
                Ok(answer) if rung == Rung::PlainHttp && answer.is_https_only_complaint() => {
                    step = ladder.failed(Cause::new(
                        CauseKind::SpeaksHttps,
                        "the server speaks HTTPS (it answered 400 \"Client sent an HTTP request to an HTTPS server\")",
                    ));
                }
                Ok(answer) => return Ok((at, rung, answer)),
                Err(Sent::Transport(cause)) => {
                    // The cause names the TLS or socket failure, never a header.
                    crate::v!(2, "registry {}: {rung} failed: {cause}", host);
                    step = ladder.failed(cause);
                }
                Err(sent) => return Err(sent.into_error(host, rung, req)),
            }
        }
    }

    /// `req` to `origin`, which settled on `rung`, with its redirects
    /// followed as [`follow`](Self::follow) says.
    pub(super) fn fetch(
        &self,
        origin: Target,
        rung: Rung,
        req: &Request<'_>,
    ) -> Result<Answer, Error> {
        let answer = self
            .send(rung, &origin.url(), req)
            .map_err(|sent| sent.into_error(&origin.host, rung, req))?;
        self.follow(origin, rung, answer, req)
    }

    /// Follows the redirects of `answer`, which `origin` sent over `rung`
    /// for `req` (at most [`MAX_REDIRECTS`]): each hop is a GET with the
    /// same `Accept`; a target on `origin` gets the same rung and
    /// `Authorization`; a target on another origin climbs its own ladder
    /// without `Authorization`, and nothing after it gets `Authorization`
    /// again. A non-2xx final answer from another origin is an
    /// [`Error::Redirect`] naming that host (an expired pre-signed URL's
    /// 403 is not the registry's).
    pub(super) fn follow(
        &self,
        origin: Target,
        rung: Rung,
        mut answer: Answer,
        req: &Request<'_>,
    ) -> Result<Answer, Error> {
        let what = req.what;
        let mut hop = Request {
            query: &[],
            form: None,
            ..*req
        };
        let registry = origin;
        let mut at = (registry.clone(), rung);
        // An error answer from another host is that host's, not the
        // registry's: it must not read as a registry refusal (401/403).
        let settled = |answer: Answer, at: &Target| {
            if at.same_origin(&registry) || (200..300).contains(&answer.status) {
                return Ok(answer);
            }
            let detail = answer.error_detail();
            Err(Error::Redirect {
                what: what.to_owned(),
                why: format!(
                    "{} (redirected there by {}) answered HTTP {}{}{detail}",
                    at.display(),
                    registry.host,
                    answer.status,
                    if detail.is_empty() { "" } else { ": " }
                ),
            })
        };
        for _ in 0..MAX_REDIRECTS {
            if !redirect::is_redirect(answer.status) {
                return settled(answer, &at.0);
            }
            let Some(location) = answer.location.as_deref() else {
                return settled(answer, &at.0);
            };
            let next = at.0.join(location).ok_or_else(|| Error::Redirect {
                what: what.to_owned(),
                why: format!(
                    "{} answered HTTP {} with a Location that is not an http(s) URL",
                    at.0.display(),
                    answer.status
                ),
            })?;
            if next.same_origin(&at.0) {
                if !next.same_origin(&registry) {
                    hop.authorization = None;
                }
                answer = self
                    .send(at.1, &next.url(), &hop)
                    .map_err(|sent| sent.into_error(&next.host, at.1, &hop))?;
                at.0 = next;
            } else {
                // Another host: never the registry's credentials, its own ladder.
                hop.authorization = None;
                let via = format!("{what} redirected there by {}", registry.host);
                let answer_of = format!("the answer of {}", next.display());
                let (reached, rung, got) = self.climb(
                    &next,
                    &Request {
                        what: &answer_of,
                        ..hop
                    },
                    Some(&via),
                )?;
                answer = got;
                at = (reached, rung);
            }
        }
        if redirect::is_redirect(answer.status) && answer.location.is_some() {
            return Err(Error::Redirect {
                what: what.to_owned(),
                why: format!("more than {MAX_REDIRECTS} redirects"),
            });
        }
        settled(answer, &at.0)
    }

    /// Warns once per host that credentials travel in clear text.
    pub(super) fn warn_plain_http(&self, host: &str) {
        let mut warned = self
            .http
            .warned_plain_http
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if warned.insert(host.to_owned()) {
            crate::warn!(
                "sending registry credentials for {host} over plain HTTP: anyone on the network can read them; serve the registry over HTTPS"
            );
        }
    }

    fn bundle(&self) -> Option<&CaBundle> {
        self.ca.as_deref().map(|ca| &ca.bundle)
    }

    fn ca_path(&self) -> Option<&Path> {
        self.bundle().map(CaBundle::path)
    }

    fn agent(&self, rung: Rung) -> &ureq::Agent {
        match (rung, self.ca.as_deref()) {
            (Rung::HttpsCustomCa, Some(ca)) => &ca.agent,
            _ => &self.http.public_roots,
        }
    }

    /// One HTTP exchange over `rung`; the whole body is read, up to
    /// `req.limit` bytes for a 2xx answer.
    fn send(&self, rung: Rung, url: &str, req: &Request<'_>) -> Result<Answer, Sent> {
        let agent = self.agent(rung);
        let budget = match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Sent::DeadlineExceeded);
                }
                left.min(TIMEOUT_GLOBAL)
            }
            None => TIMEOUT_GLOBAL,
        };
        let result = match req.form {
            Some(form) => {
                let mut r = agent
                    .post(url)
                    .config()
                    .timeout_global(Some(budget))
                    .build()
                    .header("Content-Type", "application/x-www-form-urlencoded");
                if let Some(a) = req.authorization {
                    r = r.header("Authorization", a);
                }
                r.send(form.as_bytes())
            }
            None => {
                let mut r = agent.get(url).config().timeout_global(Some(budget)).build();
                if let Some(a) = req.authorization {
                    r = r.header("Authorization", a);
                }
                if let Some(accept) = req.accept {
                    r = r.header("Accept", accept);
                }
                for (k, v) in req.query {
                    r = r.query(*k, *v);
                }
                r.call()
            }
        };
        let past_deadline = || self.deadline.is_some_and(|d| Instant::now() >= d);
        let mut response = result.map_err(|e| match e {
            ureq::Error::Timeout(_) if past_deadline() => Sent::DeadlineExceeded,
            e => Sent::Transport(describe(&e)),
        })?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let www_authenticate = headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = if (200..300).contains(&status) {
            req.limit
        } else {
            MAX_ERROR_BODY_BYTES
        };
        let body = match response.body_mut().with_config().limit(limit).read_to_vec() {
            Ok(body) => body,
            Err(ureq::Error::BodyExceedsLimit(_)) if (200..300).contains(&status) => {
                return Err(Sent::TooLarge)
            }
            Err(_) if !(200..300).contains(&status) => Vec::new(),
            Err(ureq::Error::Timeout(_)) if past_deadline() => return Err(Sent::DeadlineExceeded),
            Err(e) => return Err(Sent::Transport(describe(&e))),
        };
        Ok(Answer {
            status,
            www_authenticate,
            content_type,
            location,
            body,
        })
    }
}

/// What one request sends and how much of the answer it takes. Its
/// `authorization` and `form` may hold secrets: never logged.
#[derive(Clone, Copy)]
pub(super) struct Request<'a> {
    /// Only ever sent to the origin of the first request (see
    /// [`Edge::follow`]).
    pub(super) authorization: Option<&'a str>,
    pub(super) accept: Option<&'a str>,
    pub(super) query: &'a [(&'a str, &'a str)],
    /// An `application/x-www-form-urlencoded` body: makes it a POST, which
    /// is never re-sent to a redirect target.
    pub(super) form: Option<&'a str>,
    /// The body limit of a 2xx answer, in bytes.
    pub(super) limit: u64,
    /// The object asked for, for errors.
    pub(super) what: &'a str,
}

impl<'a> Request<'a> {
    /// A bare GET for `what`, taking up to `limit` bytes of a 2xx body.
    pub(super) fn get(what: &'a str, limit: u64) -> Self {
        Self {
            authorization: None,
            accept: None,
            query: &[],
            form: None,
            limit,
            what,
        }
    }

    /// Whether sending this over plain HTTP shows a secret to the network.
    fn carries_secret(&self) -> bool {
        self.authorization.is_some() || self.form.is_some()
    }
}

/// An HTTP answer, body read.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) www_authenticate: Vec<String>,
    pub(super) content_type: Option<String>,
    /// The `Location` header (redirects).
    pub(super) location: Option<String>,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// Go's TLS servers answer plain HTTP with this 400.
    fn is_https_only_complaint(&self) -> bool {
        self.status == 400
            && String::from_utf8_lossy(&self.body).contains("HTTP request to an HTTPS server")
    }

    /// The registry's `{"errors":[{"code":..,"message":..}]}`, shortened.
    pub(super) fn error_detail(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            code: Option<String>,
            message: Option<String>,
        }
        let Ok(errors) = serde_json::from_slice::<Errors>(&self.body) else {
            return String::new();
        };
        let mut text: String = errors
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e.code.as_deref().unwrap_or_default(),
                    e.message.as_deref().unwrap_or_default()
                )
                .trim()
                .to_owned()
            })
            .collect::<Vec<_>>()
            .join("; ");
        if text.len() > 200 {
            let mut cut = 200;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        text
    }
}

/// Why `send` produced no answer.
enum Sent {
    /// Connection, TLS or protocol failure (a ladder step).
    Transport(Cause),
    /// A 2xx body over its limit.
    TooLarge,
    /// The caller's deadline passed.
    DeadlineExceeded,
}

impl Sent {
    /// The error for `req`, which got no answer from `host` over `rung`.
    fn into_error(self, host: &str, rung: Rung, req: &Request<'_>) -> Error {
        match self {
            Sent::Transport(cause) => Error::Transport {
                host: host.to_owned(),
                rung,
                cause: cause.text,
            },
            Sent::TooLarge => Error::TooLarge {
                what: req.what.to_owned(),
                limit: req.limit,
            },
            Sent::DeadlineExceeded => Error::DeadlineExceeded {
                host: host.to_owned(),
            },
        }
    }
}

/// An agent that follows no redirects itself ([`Edge::follow`] does).
fn agent(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .max_redirects(0)
        .timeout_connect(Some(TIMEOUT_CONNECT))
        .timeout_recv_response(Some(TIMEOUT_RECV_RESPONSE))
        .timeout_recv_body(Some(TIMEOUT_RECV_BODY))
        .timeout_global(Some(TIMEOUT_GLOBAL))
        .user_agent(concat!("fn-runner/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// How std's `ToSocketAddrs` words a failed name lookup (getaddrinfo).
const LOOKUP_FAILED: &str = "failed to lookup address information";

/// A transport error as one line, and its kind. ureq's errors name the
/// failure (TLS alert, connection refused, timeout phase); none of them
/// carries our headers, so no secret can leak through here. A failed TLS
/// handshake reaches us as an I/O error of kind `InvalidData` (what the
/// TLS stream reports its errors as).
fn describe(e: &ureq::Error) -> Cause {
    match e {
        ureq::Error::Io(io) => {
            let kind = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => CauseKind::Refused,
                std::io::ErrorKind::TimedOut => CauseKind::Timeout,
                std::io::ErrorKind::InvalidData => CauseKind::Tls,
                // std's text for a failed getaddrinfo (ureq resolves with
                // std): its kind is not one we can match on.
                _ if io.to_string().starts_with(LOOKUP_FAILED) => CauseKind::UnknownHost,
                _ => CauseKind::Other,
            };
            match io.get_ref() {
                Some(inner) => Cause::new(kind, inner.to_string()),
                None => Cause::new(kind, io.to_string()),
            }
        }
        ureq::Error::Timeout(t) => Cause::new(CauseKind::Timeout, format!("timed out ({t:?})")),
        ureq::Error::HostNotFound => Cause::new(CauseKind::UnknownHost, "host not found"),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => Cause::new(CauseKind::Tls, e.to_string()),
        other => Cause::new(CauseKind::Other, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &[u8]) -> Answer {
        Answer {
            status,
            www_authenticate: Vec::new(),
            content_type: None,
            location: None,
            body: body.to_vec(),
        }
    }

    #[test]
    fn recognizes_go_https_complaint() {
        let a = answer(400, b"Client sent an HTTP request to an HTTPS server.\n");
        assert!(a.is_https_only_complaint());
    }

    #[test]
    fn error_detail_reads_registry_errors() {
        let a = answer(
            404,
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        );
        assert_eq!(a.error_detail(), "MANIFEST_UNKNOWN manifest unknown");
    }

    #[test]
    fn only_authorization_or_a_form_is_a_secret() {
        let bare = Request::get("x", 1);
        assert!(!bare.carries_secret());
        assert!(Request {
            authorization: Some("Basic x"),
            ..bare
        }
        .carries_secret());
        assert!(Request {
            form: Some("refresh_token=x"),
            ..bare
        }
        .carries_secret());
    }
}
