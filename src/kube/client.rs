//! Typed calls to the core/v1 API over HTTPS (ureq 3, rustls).
//!
//! One [`ureq::Agent`] per [`Client`], so connections are kept alive and
//! reused. Every request carries the current bearer token
//! (`credentials.rs`); a 401 makes us re-read the token and retry once.
//! Status codes are not ureq errors (`http_status_as_error(false)`): the
//! `Status` body is read and mapped by [`Error::from_status`].
//!
//! Retries (with exponential backoff and jitter, at most
//! [`RetryPolicy::max_attempts`]):
//! - 429 TooManyRequests, for every verb (the server refused before doing
//!   anything), waiting `Retry-After` when given;
//! - 5xx and transport failures only for idempotent calls (get, list,
//!   update, apply, merge patch, delete). A create (POST, maybe with
//!   generateName) is never repeated after it may have reached the server.
//!
//! Bounds: [`MAX_OBJECT_BYTES`], [`MAX_LIST_BYTES`],
//! [`MAX_ERROR_BODY_BYTES`], [`MAX_WATCH_EVENT_BYTES`]; timeouts
//! [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`] per call (see
//! [`ClientOptions`]), and for a watch
//! [`WATCH_IDLE_TIMEOUT`] between reads. ureq types stay in this file.

use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use ureq::http;

use super::config::{self, Config};
use super::credentials::Credentials;
use super::error::Error;
use super::objects::{ConfigMap, List, Pod, Resource, Secret};

/// TCP connect + TLS handshake budget (our choice).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-exchange budget for a non-watch call (client-go has none by
/// default; kubectl's `--request-timeout` is the analogue).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence on a watch before we assume the connection is dead: the
/// server ends a watch after `timeoutSeconds` ([`WATCH_SERVER_TIMEOUT`]) and
/// sends bookmarks meanwhile, so this only fires on a dead peer.
pub const WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(330);
/// `timeoutSeconds` we ask the server for on a watch (client-go picks
/// 5-10 min at random).
pub const WATCH_SERVER_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest single object we accept (etcd's default limit is 1.5 MiB).
pub const MAX_OBJECT_BYTES: u64 = 4 * 1024 * 1024;
/// Largest list answer we accept.
pub const MAX_LIST_BYTES: u64 = 64 * 1024 * 1024;
/// Largest error body we read (a Status is a few hundred bytes).
pub const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// Largest line (one event) of a watch stream.
pub const MAX_WATCH_EVENT_BYTES: u64 = MAX_OBJECT_BYTES + 4096;
/// The field manager of our server-side applies (compat.md §4.3).
pub const FIELD_MANAGER: &str = "krm-function-runner";
/// Idle connections kept per API server.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// How calls are retried. The defaults suit a real cluster; tests shorten
/// the delays.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, first included (default 4).
    pub max_attempts: u32,
    /// First backoff delay, doubled per attempt (default 200 ms).
    pub base_delay: Duration,
    /// Cap of one backoff delay (default 5 s).
    pub max_delay: Duration,
    /// Cap on a server's `Retry-After` (default 30 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (1-based `attempt` failed):
    /// the server's Retry-After when given (capped), else full-jitter
    /// exponential backoff.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_retry_after);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Half fixed, half random: never zero, spread across replicas.
        let half = exp / 2;
        half + half.mul_f64(jitter_fraction())
    }
}

/// Retry policy and timeouts of a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    /// TCP connect + TLS handshake (default [`CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// One whole non-watch exchange (default [`REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
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

/// What one request is, before it is sent (and maybe re-sent).
struct Req {
    method: http::Method,
    /// Path and query, starting with `/`.
    path: String,
    body: Option<(Vec<u8>, &'static str)>,
    idempotent: bool,
    limit: u64,
    watch: bool,
}

impl Req {
    /// A call (not a watch) answering at most `limit` bytes. Every verb we
    /// use but POST is idempotent: GET, PUT with a resourceVersion, DELETE,
    /// and our PATCHes (apply and merge patches converge when repeated).
    fn new(method: http::Method, path: String, limit: u64) -> Req {
        Req {
            idempotent: method != http::Method::POST,
            method,
            path,
            body: None,
            limit,
            watch: false,
        }
    }

    /// The same request with a body of `content_type`.
    fn with_body(self, body: Vec<u8>, content_type: &'static str) -> Req {
        Req {
            body: Some((body, content_type)),
            ..self
        }
    }

    fn describe(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        format!("{} {path}", self.method)
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
            .timeout_per_call(Some(options.request_timeout))
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
            namespace: config.namespace,
        })
    }

    /// The namespace of the configuration (service account or context).
    pub fn default_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Pods in `namespace`.
    pub fn pods<'a>(&'a self, namespace: &str) -> Api<'a, Pod> {
        Api::new(self, namespace)
    }

    /// Secrets in `namespace`.
    pub fn secrets<'a>(&'a self, namespace: &str) -> Api<'a, Secret> {
        Api::new(self, namespace)
    }

    /// ConfigMaps in `namespace`.
    pub fn config_maps<'a>(&'a self, namespace: &str) -> Api<'a, ConfigMap> {
        Api::new(self, namespace)
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
        let req = Req {
            watch: true,
            ..Req::new(http::Method::GET, path, MAX_WATCH_EVENT_BYTES)
        };
        let resp = self.exchange(&req)?;
        let reader = resp.into_body().into_reader();
        Ok(WatchStream {
            reader: Box::new(BufReader::new(reader)),
            request: req.describe(),
        })
    }

    /// Sends `req` (with retries) and returns the body of a 2xx answer.
    fn execute(&self, req: &Req) -> Result<Vec<u8>, Error> {
        let resp = self.exchange(req)?;
        read_limited(resp, req)
    }

    /// Sends `req` until a 2xx answer (returned unread) or a final error.
    fn exchange(&self, req: &Req) -> Result<http::Response<ureq::Body>, Error> {
        let mut attempt: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let token = self.credentials.token()?;
            let outcome = self.send_once(req, token.as_deref());
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
                Ok(resp) if resp.status().is_success() => return Ok(resp),
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
                        continue;
                    }
                    let retryable = match code {
                        429 => true,
                        // 501 Not Implemented will not get better.
                        500 | 502..=504 => req.idempotent,
                        _ => false,
                    };
                    (err, retryable)
                }
                Err(e) => {
                    let retryable = req.idempotent || is_connect_refused(&e);
                    (transport_error(req, e), retryable)
                }
            };
            if !retryable || attempt >= self.retry.max_attempts {
                return Err(err);
            }
            let retry_after = err.status().and_then(|s| s.retry_after);
            std::thread::sleep(self.retry.delay(attempt, retry_after));
        }
    }

    fn send_once(
        &self,
        req: &Req,
        token: Option<&str>,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let mut builder = http::Request::builder()
            .method(req.method.clone())
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
        let request = if req.watch {
            self.agent
                .configure_request(request)
                .timeout_per_call(None)
                .timeout_recv_body(None)
                .timeout_per_read(Some(WATCH_IDLE_TIMEOUT))
                .build()
        } else {
            request
        };
        self.agent.run(request)
    }
}

/// Calls on one resource type in one namespace.
pub struct Api<'a, K> {
    client: &'a Client,
    namespace: String,
    kind: PhantomData<K>,
}

impl<'a, K: Resource> Api<'a, K> {
    fn new(client: &'a Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            kind: PhantomData,
        }
    }

    fn item_path(&self, name: &str) -> String {
        format!(
            "{}/{}",
            collection_path(&self.namespace, K::PLURAL),
            encode(name)
        )
    }

    fn decode<T: serde::de::DeserializeOwned>(req: &Req, body: &[u8]) -> Result<T, Error> {
        serde_json::from_slice(body).map_err(|source| Error::Decode {
            request: req.describe(),
            source,
        })
    }

    fn run<T: serde::de::DeserializeOwned>(&self, req: Req) -> Result<T, Error> {
        let body = self.client.execute(&req)?;
        Self::decode(&req, &body)
    }

    /// GET one object.
    pub fn get(&self, name: &str) -> Result<K, Error> {
        self.run(Req::new(
            http::Method::GET,
            self.item_path(name),
            MAX_OBJECT_BYTES,
        ))
    }

    /// LIST objects matching `label_selector` (`""`: all). The list's
    /// `metadata.resourceVersion` is where a watch should start.
    pub fn list(&self, label_selector: &str) -> Result<List<K>, Error> {
        let mut path = collection_path(&self.namespace, K::PLURAL);
        if !label_selector.is_empty() {
            path.push_str("?labelSelector=");
            path.push_str(&encode(label_selector));
        }
        self.run(Req::new(http::Method::GET, path, MAX_LIST_BYTES))
    }

    /// POST a new object (`metadata.generateName` gives it a fresh name).
    /// Never retried once it may have reached the server.
    pub fn create(&self, object: &K) -> Result<K, Error> {
        self.run(
            Req::new(
                http::Method::POST,
                collection_path(&self.namespace, K::PLURAL),
                MAX_OBJECT_BYTES,
            )
            .with_body(json(object)?, "application/json"),
        )
    }

    /// PUT an object read earlier; its `metadata.resourceVersion` makes the
    /// server refuse (Conflict) when someone changed it meanwhile.
    pub fn update(&self, object: &K) -> Result<K, Error> {
        self.run(
            Req::new(
                http::Method::PUT,
                self.item_path(object.metadata().name_or_empty()),
                MAX_OBJECT_BYTES,
            )
            .with_body(json(object)?, "application/json"),
        )
    }

    /// Server-side apply as field manager `krm-function-runner` (created
    /// when absent). `force=true`: these objects are ours. The body gets
    /// `metadata.name` (and `apiVersion`/`kind` when empty), as the server
    /// requires of an apply configuration.
    pub fn apply(&self, name: &str, object: &K) -> Result<K, Error> {
        let mut body = serde_json::to_value(object).map_err(Error::Encode)?;
        if let Some(map) = body.as_object_mut() {
            for (field, value) in [("apiVersion", "v1"), ("kind", K::KIND)] {
                if map
                    .get(field)
                    .and_then(|v| v.as_str())
                    .is_none_or(str::is_empty)
                {
                    map.insert(field.to_owned(), value.into());
                }
            }
            let meta = map
                .entry("metadata")
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.entry("name").or_insert_with(|| name.into());
            }
        }
        let path = format!(
            "{}?fieldManager={FIELD_MANAGER}&force=true",
            self.item_path(name)
        );
        self.run(
            Req::new(http::Method::PATCH, path, MAX_OBJECT_BYTES)
                // JSON is YAML: the server accepts it as an apply patch.
                .with_body(json(&body)?, "application/apply-patch+yaml"),
        )
    }

    /// JSON merge patch (RFC 7386).
    pub fn patch_merge(&self, name: &str, patch: &serde_json::Value) -> Result<K, Error> {
        self.run(
            Req::new(http::Method::PATCH, self.item_path(name), MAX_OBJECT_BYTES)
                .with_body(json(patch)?, "application/merge-patch+json"),
        )
    }

    /// DELETE (graceful for pods). NotFound means it is already gone.
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        self.delete_with(name, None)
    }

    /// DELETE only if the object still has `resource_version` (Conflict
    /// otherwise): never delete what someone else just changed.
    pub fn delete_if_unchanged(&self, name: &str, resource_version: &str) -> Result<(), Error> {
        self.delete_with(name, Some(resource_version))
    }

    fn delete_with(&self, name: &str, resource_version: Option<&str>) -> Result<(), Error> {
        let mut req = Req::new(http::Method::DELETE, self.item_path(name), MAX_OBJECT_BYTES);
        if let Some(rv) = resource_version {
            let opts = serde_json::json!({
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "preconditions": {"resourceVersion": rv},
            });
            req = req.with_body(opts.to_string().into_bytes(), "application/json");
        }
        self.client.execute(&req).map(|_| ())
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

fn json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(Error::Encode)
}

fn collection_path(namespace: &str, plural: &str) -> String {
    format!("/api/v1/namespaces/{}/{plural}", encode(namespace))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A uniform number in [0, 1) from the system RNG (0.5 if it fails).
fn jitter_fraction() -> f64 {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
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

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for attempt in 1..20 {
            let d = p.delay(attempt, None);
            assert!(d <= p.max_delay, "{attempt}: {d:?}");
            assert!(d >= p.base_delay / 2, "{attempt}: {d:?}");
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            p.max_retry_after
        );
    }

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

    #[test]
    fn only_post_is_not_idempotent() {
        for method in [
            http::Method::GET,
            http::Method::PUT,
            http::Method::PATCH,
            http::Method::DELETE,
        ] {
            assert!(Req::new(method, "/".to_owned(), 1).idempotent);
        }
        assert!(!Req::new(http::Method::POST, "/".to_owned(), 1).idempotent);
    }

    #[test]
    fn encodes_selectors_and_names() {
        assert_eq!(encode("a=b,c in (x,y)"), "a%3Db%2Cc%20in%20%28x%2Cy%29");
        assert_eq!(encode("fn.kpt.dev/image"), "fn.kpt.dev%2Fimage");
    }
}
