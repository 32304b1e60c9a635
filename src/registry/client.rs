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
//! Redirects are followed here, not by ureq (at most [`MAX_REDIRECTS`]
//! per request, see [`Client::fetch`]): a target on the registry's own
//! origin keeps the registry's rung and `Authorization` header; a target
//! on another host (a blob on object storage, which has a public
//! certificate, or plain HTTP) climbs its own ladder (custom CA -> public
//! roots -> plain HTTP, as the flags allow) and never gets the
//! `Authorization` header, on any later hop either.
//!
//! The CA of `--tls-secret-path` is checked in [`Client::new`] and checked
//! again (one `stat` per file, `watch.rs`) at the start of every resolve:
//! a mounted Secret that changed is read anew, strict check included.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::auth::TokenCache;
use super::credentials::{Credential, Credentials, DockerConfig};
use super::ladder::{CaBundle, Plan, Rung, Step};
use super::manifest::{self, Manifest, Platform};
use super::redirect::{self, Target};
use super::reference::{is_loopback_host, Digest, Reference};
use super::session::{check_digest, Session};
use super::watch::Watched;
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
    /// `--tls-secret-path` with the TLS flag: re-read when it changes.
    ca: Option<CaSource>,
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
            let dir = settings.tls_secret_path.clone();
            let stamps = CaBundle::stamps(&dir);
            let current = Watched::holding(stamps, CustomCa::load(&dir)?);
            Some(CaSource { dir, current })
        } else {
            None
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
        let ca = self.custom_ca()?;
        let plan = Plan::new(ca.as_deref().map(CustomCa::bundle), reference.is_loopback());
        let target = Target {
            scheme: "https",
            host: host.clone(),
            path: "/v2/".to_owned(),
        };
        let (rung, ping) = self.climb(
            ca.as_deref(),
            &plan,
            &target,
            None,
            MAX_ERROR_BODY_BYTES,
            deadline,
        )?;
        let mut session = Session {
            deadline,
            client: self,
            ca,
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

    /// The CA of `--tls-secret-path` (with the TLS flag): the one read
    /// before unless one of its files changed since, else read anew.
    pub(super) fn custom_ca(&self) -> Result<Option<Arc<CustomCa>>, Error> {
        let Some(source) = &self.ca else {
            return Ok(None);
        };
        source
            .current
            .get(CaBundle::stamps(&source.dir), || {
                crate::v!(
                    1,
                    "registry CA directory {} changed: reading it again",
                    source.dir.display()
                );
                CustomCa::load(&source.dir)
            })
            .map(Some)
    }

    fn agent<'a>(&'a self, ca: Option<&'a CustomCa>, rung: Rung) -> &'a ureq::Agent {
        match (rung, ca) {
            (Rung::HttpsCustomCa, Some(ca)) => &ca.agent,
            _ => &self.public_roots,
        }
    }

    /// Climbs the ladder with `GET target` (`target.scheme` is ignored:
    /// each rung has its own) until a rung answers. `via` says why this
    /// host is asked when it is not the image's registry.
    fn climb(
        &self,
        ca: Option<&CustomCa>,
        plan: &Plan,
        target: &Target,
        via: Option<&str>,
        limit: u64,
        deadline: Option<Instant>,
    ) -> Result<(Rung, Answer), Error> {
        let host = target.host.as_str();
        let mut ladder = plan.start();
        let mut step = ladder.first();
        loop {
            let rung = match step {
                Step::Try(rung) => rung,
                Step::Exhausted(failures) => {
                    return Err(Error::Unreachable {
                        host: host.to_owned(),
                        failures,
                        ca_path: ca.map(|ca| ca.bundle.path().to_owned()),
                        via: via.map(str::to_owned),
                    })
                }
            };
            let url = format!("{}://{host}{}", rung.scheme(), target.path);
            let mut req = Request::get(&url);
            req.deadline = deadline;
            match self.send(ca, rung, req, limit) {
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
                        what: format!("the answer of {}", target.display()),
                        limit,
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

    /// `GET req.url` on the registry over its settled `rung`, following
    /// redirects (at most [`MAX_REDIRECTS`]): a target on the registry's
    /// origin gets the same rung, `Accept` and `Authorization`; a target on
    /// another origin climbs its own ladder (`https`: the plan the flags
    /// give that host; `http`: plain HTTP only) without `Authorization`,
    /// and nothing after it gets `Authorization` again. `what` names the
    /// object in errors.
    pub(super) fn fetch(
        &self,
        ca: Option<&CustomCa>,
        rung: Rung,
        req: Request<'_>,
        limit: u64,
        what: &str,
    ) -> Result<Answer, Error> {
        let origin = Target::parse(req.url).ok_or_else(|| Error::Redirect {
            what: what.to_owned(),
            why: "not an http(s) URL".to_owned(),
        })?;
        let again = Again {
            authorization: req.authorization,
            accept: req.accept,
            deadline: req.deadline,
            limit,
            what,
        };
        let answer = self
            .send(ca, rung, req, limit)
            .map_err(|sent| sent_error(sent, &origin.host, rung, what, limit))?;
        self.follow(ca, origin, rung, answer, again)
    }

    /// Follows the redirects of `answer`, which `origin` sent over `rung`,
    /// as [`fetch`](Self::fetch) says: `again` holds what the first request
    /// carried (its `Authorization` only ever goes to `origin`). A non-2xx
    /// final answer from another origin is an [`Error::Redirect`] naming
    /// that host (an expired pre-signed URL's 403 is not the registry's).
    pub(super) fn follow(
        &self,
        ca: Option<&CustomCa>,
        origin: Target,
        rung: Rung,
        mut answer: Answer,
        again: Again<'_>,
    ) -> Result<Answer, Error> {
        let Again {
            mut authorization,
            accept,
            deadline,
            limit,
            what,
        } = again;
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
                    authorization = None;
                }
                let url = next.url();
                let req = Request {
                    url: &url,
                    authorization,
                    accept,
                    query: Vec::new(),
                    form: None,
                    deadline,
                };
                answer = self
                    .send(ca, at.1, req, limit)
                    .map_err(|sent| sent_error(sent, &next.host, at.1, what, limit))?;
                at.0 = next;
            } else {
                // Another host: never the registry's credentials, its own ladder.
                authorization = None;
                let plan = match next.scheme {
                    "https" => Plan::new(ca.map(CustomCa::bundle), is_loopback_host(&next.host)),
                    _ => Plan::plain_http_only(),
                };
                let via = format!("{what} redirected there by {}", registry.host);
                let (rung, got) = self.climb(ca, &plan, &next, Some(&via), limit, deadline)?;
                answer = got;
                at = (next, rung);
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

    /// One HTTP exchange; the whole body is read, up to `limit` bytes.
    pub(super) fn send(
        &self,
        ca: Option<&CustomCa>,
        rung: Rung,
        req: Request<'_>,
        limit: u64,
    ) -> Result<Answer, Sent> {
        let agent = self.agent(ca, rung);
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
        let location = headers
            .get("location")
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
            location,
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

/// What a redirected GET carries again (see [`Client::follow`]).
pub(super) struct Again<'a> {
    /// Only ever sent to the origin of the first request.
    pub(super) authorization: Option<&'a str>,
    pub(super) accept: Option<&'a str>,
    pub(super) deadline: Option<Instant>,
    /// The body limit of a 2xx answer.
    pub(super) limit: u64,
    /// The object asked for, for errors.
    pub(super) what: &'a str,
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

/// The CA of `--tls-secret-path` as last read, and the agent that trusts
/// only it (the first rung).
#[derive(Debug)]
pub(super) struct CustomCa {
    bundle: CaBundle,
    agent: ureq::Agent,
}

impl CustomCa {
    fn load(dir: &Path) -> Result<Self, Error> {
        let bundle = CaBundle::load(dir)?;
        let agent = agent(crate::tls::ureq_config(&ClientTls::with_roots(
            bundle.roots(),
        ))?);
        Ok(Self { bundle, agent })
    }

    /// The checked CA certificates.
    pub(super) fn bundle(&self) -> &CaBundle {
        &self.bundle
    }
}

/// `--tls-secret-path` and the CA last read from it.
#[derive(Debug)]
struct CaSource {
    dir: PathBuf,
    current: Watched<CustomCa>,
}

/// The error for a request that got no answer from `host` over `rung`.
fn sent_error(sent: Sent, host: &str, rung: Rung, what: &str, limit: u64) -> Error {
    match sent {
        Sent::Transport(cause) => Error::Transport {
            host: host.to_owned(),
            rung,
            cause,
        },
        Sent::TooLarge => Error::TooLarge {
            what: what.to_owned(),
            limit,
        },
        Sent::DeadlineExceeded => Error::DeadlineExceeded {
            host: host.to_owned(),
        },
    }
}

/// An agent that follows no redirects itself ([`Client::fetch`] does).
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
            location: None,
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
            location: None,
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
