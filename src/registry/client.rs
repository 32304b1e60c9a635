//! The registry client: OCI distribution API v2 over `ureq` (compat §5.5).
//! The only file of `registry` that names `ureq`.
//!
//! One resolve is one request sequence:
//!
//! ```text
//! GET /v2/                      climbs the TLS ladder (ladder.rs); the answer
//!                               settles the rung and may carry a challenge
//! [token: GET/POST realm]       Bearer: realm fetched with its own ladder
//! GET /v2/<repo>/manifests/<r>  Accept: OCI + Docker manifest and index
//! [GET .../manifests/<child>]   an index resolves to the runner's platform
//! GET /v2/<repo>/blobs/<config> redirects followed (bounded), config parsed
//! ```
//!
//! Credentials (compat §5.2) apply only with `--enable-private-registry`
//! and for images outside `--default-image-prefix`; otherwise requests are
//! anonymous (anonymous bearer tokens included). Every digest is checked:
//! a pinned reference against the manifest bytes, a child against the
//! index entry, the config blob against the manifest.
//!
//! Redirects: ureq follows at most [`MAX_REDIRECTS`] and never carries the
//! `Authorization` header to the redirected request
//! (`RedirectAuthHeaders::Never`, ureq's default), so a blob redirect to
//! object storage on another host gets no registry credentials.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::auth::TokenCache;
use super::credentials::{Credential, Credentials, DockerConfig};
use super::ladder::{CaBundle, Plan, Rung, Step};
use super::manifest::{self, Manifest, Platform};
use super::reference::{Digest, Reference};
use super::session::{check_digest, Session};
use crate::flags::RegistrySettings;
use crate::tls::{ClientTls, Roots};

pub use super::error::Error;

/// Largest manifest or index we read. distribution's own limit is 4 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest image config blob we read. Configs are a few KiB; 8 MiB leaves
/// room for long histories without letting a registry steer our memory.
pub const MAX_CONFIG_BLOB_BYTES: u64 = 8 * 1024 * 1024;
/// Most of an error answer's body we read (for its error code).
pub const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// Most redirects followed for one request (blobs on object storage use one).
pub const MAX_REDIRECTS: u32 = 5;
/// TCP connect plus TLS handshake.
pub const TIMEOUT_CONNECT: Duration = Duration::from_secs(10);
/// Sending the request and receiving the response headers.
pub const TIMEOUT_RECV_RESPONSE: Duration = Duration::from_secs(30);
/// Receiving a response body (bounded by the limits above).
pub const TIMEOUT_RECV_BODY: Duration = Duration::from_secs(60);
/// One whole request, redirects included.
pub const TIMEOUT_GLOBAL: Duration = Duration::from_secs(120);

/// What the pod runtime needs about an image (compat §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image string as given.
    pub image: String,
    /// The normalized registry (`docker.io`, `ghcr.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path.
    pub repository: String,
    /// The digest of the image manifest for this runner's platform (for an
    /// index: the chosen child's digest).
    pub digest: Digest,
    /// `Entrypoint`, else `Cmd`, of the image config.
    pub entrypoint: Vec<String>,
    /// How the registry was reached.
    pub transport: Rung,
    /// Whether credentials from the docker config were used.
    pub authenticated: bool,
}

/// A registry client for the settings of `serve` / `inspect`. Cheap to
/// share between threads (`&Client` is all `resolve` needs).
#[derive(Debug)]
pub struct Client {
    settings: RegistrySettings,
    pub(super) credentials: Option<Credentials>,
    pub(super) ca: Option<CaBundle>,
    custom_ca: Option<ureq::Agent>,
    public_roots: ureq::Agent,
    platform: Platform,
    pub(super) tokens: TokenCache,
    /// The docker config the cached tokens were obtained with.
    tokens_config: Mutex<Option<Arc<DockerConfig>>>,
    warned_plain_http: Mutex<HashSet<String>>,
}

impl Client {
    /// A client for `settings`. With `--enable-private-registry-tls` the CA
    /// directory is checked here, so a wrong setup fails at once.
    pub fn new(settings: &RegistrySettings) -> Result<Self, Error> {
        let ca = if settings.enable_private_registry_tls {
            Some(CaBundle::load(&settings.tls_secret_path)?)
        } else {
            None
        };
        let custom_ca = match &ca {
            Some(ca) => Some(agent(crate::tls::ureq_config(&ClientTls::with_roots(
                ca.roots(),
            ))?)),
            None => None,
        };
        let public_roots = agent(crate::tls::ureq_config(&ClientTls::with_roots(
            Roots::PublicRoots,
        ))?);
        let credentials = settings
            .enable_private_registry
            .then(|| Credentials::new(settings.registry_auth_secret_path.clone()));
        Ok(Self {
            settings: settings.clone(),
            credentials,
            ca,
            custom_ca,
            public_roots,
            platform: Platform::runner(),
            tokens: TokenCache::default(),
            tokens_config: Mutex::new(None),
            warned_plain_http: Mutex::new(HashSet::new()),
        })
    }

    /// The docker config (when `--enable-private-registry` is on), for the
    /// pod runtime to replicate into the pod namespace (compat §5.3).
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Whether compat §5.2 lets `image` use the docker config: private
    /// registries enabled and the image outside `--default-image-prefix`.
    /// The pod runtime gives such pods the replicated `imagePullSecret`.
    pub fn applies_credentials(&self, image: &str) -> bool {
        self.credentials.is_some() && !image.starts_with(&self.settings.default_image_prefix)
    }

    /// Resolves `image` to its digest and entrypoint for this runner's
    /// platform. Each request is bounded by the phase timeouts above.
    pub fn resolve(&self, image: &str) -> Result<ImageInfo, Error> {
        self.resolve_by(image, None)
    }

    /// Like [`resolve`](Self::resolve), and every request also ends by
    /// `deadline` (a caller's gRPC deadline): past it, the resolve stops
    /// with [`Error::DeadlineExceeded`] and the ladder does not step down.
    pub fn resolve_by(&self, image: &str, deadline: Option<Instant>) -> Result<ImageInfo, Error> {
        let reference = Reference::parse(image)?;
        let (credential, why_anonymous) = self.credential_for(image, &reference)?;
        let host = reference.api_host().to_owned();
        let plan = Plan::new(self.ca.as_ref(), reference.is_loopback());
        let (rung, ping) = self.climb(&plan, &host, "/v2/", deadline)?;
        let mut session = Session {
            deadline,
            client: self,
            image,
            reference: &reference,
            host,
            rung,
            credential,
            why_anonymous,
            auth: None,
            authenticated: false,
        };
        if ping.status == 401 {
            session.authorize(&ping)?;
        }
        let pinned = reference.manifest_reference();
        let (top_bytes, top_type) = session.manifest(&pinned)?;
        let top_digest = match reference.digest() {
            Some(want) => {
                let got = Digest::of(want.algorithm(), &top_bytes);
                if &got != want {
                    return Err(Error::DigestMismatch {
                        image: image.to_owned(),
                        what: "the manifest".to_owned(),
                        expected: want.to_string(),
                        actual: got.to_string(),
                    });
                }
                Digest::sha256(&top_bytes)
            }
            None => Digest::sha256(&top_bytes),
        };
        let decode = |ctype: Option<&str>, bytes: &[u8]| {
            Manifest::decode(ctype, bytes).map_err(|cause| Error::Manifest {
                image: image.to_owned(),
                cause,
            })
        };
        let (digest, config) = match decode(top_type.as_deref(), &top_bytes)? {
            Manifest::Image { config } => (top_digest, config),
            Manifest::Index(children) => {
                let child = manifest::select(&children, &self.platform).ok_or_else(|| {
                    Error::NoPlatform {
                        image: image.to_owned(),
                        want: self.platform.to_string(),
                        available: manifest::platforms(&children),
                    }
                })?;
                let (bytes, ctype) = session.manifest(&child.digest.to_string())?;
                let verified = check_digest(image, "the platform manifest", &child.digest, &bytes)?;
                match decode(ctype.as_deref(), verified.bytes())? {
                    Manifest::Image { config } => (child.digest.clone(), config),
                    Manifest::Index(_) => {
                        return Err(Error::Manifest {
                            image: image.to_owned(),
                            cause: manifest::Error::UnsupportedMediaType(
                                "an index inside an index".to_owned(),
                            ),
                        })
                    }
                }
            }
        };
        let config_bytes = session.blob(&config)?;
        let config_bytes = check_digest(image, "the image config", &config, &config_bytes)?;
        let entrypoint = manifest::entrypoint(&config_bytes).map_err(|cause| Error::Manifest {
            image: image.to_owned(),
            cause,
        })?;
        Ok(ImageInfo {
            image: image.to_owned(),
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
            digest,
            entrypoint,
            transport: session.rung,
            authenticated: session.authenticated,
        })
    }

    /// The credential for `image` under compat §5.2, or why there is none.
    fn credential_for(
        &self,
        image: &str,
        reference: &Reference,
    ) -> Result<(Option<Credential>, String), Error> {
        let Some(credentials) = &self.credentials else {
            return Ok((None, "--enable-private-registry is off".to_owned()));
        };
        if !self.applies_credentials(image) {
            return Ok((
                None,
                format!(
                    "the image is under --default-image-prefix {:?}, which is always pulled anonymously",
                    self.settings.default_image_prefix
                ),
            ));
        }
        let config = credentials.load()?;
        {
            let mut seen = self.tokens_config.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.as_ref().is_some_and(|old| Arc::ptr_eq(old, &config)) {
                // The file changed: tokens got with the old credentials go.
                self.tokens.clear();
                *seen = Some(config.clone());
            }
        }
        match config.lookup(reference.registry()) {
            Some(c) => Ok((Some(c.clone()), String::new())),
            None => Ok((
                None,
                format!(
                    "{} has no entry for {}",
                    credentials.path().display(),
                    reference.registry()
                ),
            )),
        }
    }

    fn agent(&self, rung: Rung) -> &ureq::Agent {
        match (rung, &self.custom_ca) {
            (Rung::HttpsCustomCa, Some(agent)) => agent,
            _ => &self.public_roots,
        }
    }

    /// Climbs the ladder with `GET path` on `host` until a rung answers.
    fn climb(
        &self,
        plan: &Plan,
        host: &str,
        path: &str,
        deadline: Option<Instant>,
    ) -> Result<(Rung, Answer), Error> {
        let mut ladder = plan.start();
        let mut step = ladder.first();
        loop {
            let rung = match step {
                Step::Try(rung) => rung,
                Step::Exhausted(failures) => {
                    return Err(Error::Unreachable {
                        host: host.to_owned(),
                        failures,
                        ca_path: self.ca.as_ref().map(|ca| ca.path().to_owned()),
                    })
                }
            };
            let url = format!("{}://{host}{path}", rung.scheme());
            let mut req = Request::get(&url);
            req.deadline = deadline;
            match self.send(rung, req, MAX_ERROR_BODY_BYTES) {
                Ok(answer) if rung == Rung::PlainHttp && answer.is_https_only_complaint() => {
                    step = ladder.failed(
                        "the server speaks HTTPS (it answered 400 \"Client sent an HTTP request to an HTTPS server\")"
                            .to_owned(),
                    );
                }
                Ok(answer) => return Ok((rung, answer)),
                Err(Sent::Transport(cause)) => {
                    // The cause names the TLS or socket failure, never a header.
                    crate::v!(2, "registry {}: {rung} failed: {cause}", host);
                    step = ladder.failed(cause);
                }
                Err(Sent::TooLarge) => {
                    return Err(Error::TooLarge {
                        what: format!("the answer of {url}"),
                        limit: MAX_ERROR_BODY_BYTES,
                    })
                }
                Err(Sent::DeadlineExceeded) => {
                    return Err(Error::DeadlineExceeded {
                        host: host.to_owned(),
                    })
                }
            }
        }
    }

    /// One HTTP exchange; the whole body is read, up to `limit` bytes.
    pub(super) fn send(&self, rung: Rung, req: Request<'_>, limit: u64) -> Result<Answer, Sent> {
        let agent = self.agent(rung);
        let budget = match req.deadline {
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
                    .post(req.url)
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
                let mut r = agent
                    .get(req.url)
                    .config()
                    .timeout_global(Some(budget))
                    .build();
                if let Some(a) = req.authorization {
                    r = r.header("Authorization", a);
                }
                if let Some(accept) = req.accept {
                    r = r.header("Accept", accept);
                }
                for (k, v) in req.query {
                    r = r.query(k, v);
                }
                r.call()
            }
        };
        let past_deadline = || req.deadline.is_some_and(|d| Instant::now() >= d);
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
        let limit = if (200..300).contains(&status) {
            limit
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
            body,
        })
    }

    /// Warns once per registry that credentials travel in clear text.
    pub(super) fn warn_plain_http(&self, host: &str) {
        let mut warned = self
            .warned_plain_http
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if warned.insert(host.to_owned()) {
            crate::warn!(
                "sending registry credentials for {host} over plain HTTP: anyone on the network can read them; serve the registry over HTTPS"
            );
        }
    }
}

/// One request. `authorization` is a secret: never logged.
pub(super) struct Request<'a> {
    pub(super) url: &'a str,
    pub(super) authorization: Option<&'a str>,
    pub(super) accept: Option<&'a str>,
    pub(super) query: Vec<(&'a str, &'a str)>,
    /// An `application/x-www-form-urlencoded` body: makes it a POST.
    pub(super) form: Option<&'a str>,
    /// The caller's deadline, if any.
    pub(super) deadline: Option<Instant>,
}

impl<'a> Request<'a> {
    pub(super) fn get(url: &'a str) -> Self {
        Self {
            url,
            authorization: None,
            accept: None,
            query: Vec::new(),
            form: None,
            deadline: None,
        }
    }
}

/// An HTTP answer, body read.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) www_authenticate: Vec<String>,
    pub(super) content_type: Option<String>,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// Go's TLS servers answer plain HTTP with this 400.
    pub(super) fn is_https_only_complaint(&self) -> bool {
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
pub(super) enum Sent {
    /// Connection, TLS or protocol failure (a ladder step).
    Transport(String),
    /// A 2xx body over its limit.
    TooLarge,
    /// The caller's deadline passed.
    DeadlineExceeded,
}

fn agent(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .max_redirects(MAX_REDIRECTS)
        .timeout_connect(Some(TIMEOUT_CONNECT))
        .timeout_recv_response(Some(TIMEOUT_RECV_RESPONSE))
        .timeout_recv_body(Some(TIMEOUT_RECV_BODY))
        .timeout_global(Some(TIMEOUT_GLOBAL))
        .user_agent(concat!("fn-runner/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// A transport error as one line. ureq's errors name the failure (TLS
/// alert, connection refused, timeout phase); none of them carries our
/// headers, so no secret can leak through here.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => match io.get_ref() {
            Some(inner) => inner.to_string(),
            None => io.to_string(),
        },
        ureq::Error::Timeout(t) => format!("timed out ({t:?})"),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_go_https_complaint() {
        let a = Answer {
            status: 400,
            www_authenticate: Vec::new(),
            content_type: None,
            body: b"Client sent an HTTP request to an HTTPS server.\n".to_vec(),
        };
        assert!(a.is_https_only_complaint());
    }

    #[test]
    fn error_detail_reads_registry_errors() {
        let a = Answer {
            status: 404,
            www_authenticate: Vec::new(),
            content_type: None,
            body: br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                .to_vec(),
        };
        assert_eq!(a.error_detail(), "MANIFEST_UNKNOWN manifest unknown");
    }

    #[test]
    fn client_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
    }

    #[test]
    fn credentials_apply_only_outside_the_default_prefix() {
        let off = Client::new(&RegistrySettings::default()).unwrap();
        assert!(!off.applies_credentials("ghcr.io/a/b"));
        let on = Client::new(&RegistrySettings {
            enable_private_registry: true,
            ..RegistrySettings::default()
        })
        .unwrap();
        assert!(on.applies_credentials("ghcr.io/a/b"));
        assert!(!on.applies_credentials("gcr.io/kpt-fn/set-namespace:v0.4"));
    }

    #[test]
    fn tls_flag_with_bad_ca_dir_fails_at_new() {
        let settings = RegistrySettings {
            enable_private_registry_tls: true,
            tls_secret_path: "/nonexistent-tls-dir".into(),
            ..RegistrySettings::default()
        };
        let err = Client::new(&settings).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-tls-dir"), "{err}");
    }
}
