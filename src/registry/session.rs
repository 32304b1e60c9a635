//! One resolve (compat §5.5), driven from start to end:
//!
//! ```text
//! GET /v2/                      climbs the TLS ladder (http.rs); the answer
//!                               settles the rung and may carry a challenge
//! [token: GET/POST realm]       Bearer: realm fetched with its own ladder
//! GET /v2/<repo>/manifests/<r>  Accept: OCI + Docker manifest and index
//! [GET .../manifests/<child>]   an index resolves to the runner's platform
//! GET /v2/<repo>/blobs/<config> redirects followed (bounded), config parsed
//! ```
//!
//! Authentication comes from the registry's `WWW-Authenticate` challenge
//! (Basic, or Bearer through the token realm); a manifest or blob request
//! is retried once on a 401 (a revoked or expired token). Every digest is
//! checked: a pinned reference against the manifest bytes, a child against
//! the index entry, the config blob against the manifest.
//!
//! Never holds `ureq` types: requests go through the [`Edge`].

use std::path::Path;
use std::time::Instant;

use base64::Engine as _;

use super::auth::{self, Challenge, TokenCache};
use super::credentials::Credential;
use super::error::Error;
use super::http::{Answer, Edge, Request, MAX_ERROR_BODY_BYTES};
use super::ladder::Rung;
use super::manifest::{self, Manifest, Platform};
use super::redirect::Target;
use super::reference::{Digest, Reference};

/// Largest manifest or index we read. distribution's own limit is 4 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest image config blob we read. Configs are a few KiB; 8 MiB leaves
/// room for long histories without letting a registry steer our memory.
pub(super) const MAX_CONFIG_BLOB_BYTES: u64 = 8 * 1024 * 1024;

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
    /// The ladder rung the registry settled on (for logs, metrics and
    /// preflight checks; `inspect` prints it as `transport`).
    pub transport: Rung,
    /// Whether credentials from the docker config were used.
    pub authenticated: bool,
}

/// What a resolve starts from: the client's shared parts and what it
/// decided for this image.
pub(super) struct Start<'a> {
    pub(super) edge: Edge<'a>,
    pub(super) tokens: &'a TokenCache,
    pub(super) platform: &'a Platform,
    /// The docker config's path, for errors about refused credentials.
    pub(super) credentials_path: Option<&'a Path>,
    pub(super) image: &'a str,
    pub(super) reference: &'a Reference,
    /// The credential compat §5.2 gives this image, or why there is none.
    pub(super) credential: Result<Credential, String>,
}

/// One resolve once the ladder has settled on the registry's rung.
pub(super) struct Session<'a> {
    edge: Edge<'a>,
    tokens: &'a TokenCache,
    credentials_path: Option<&'a Path>,
    image: &'a str,
    reference: &'a Reference,
    /// The API host (`registry-1.docker.io` for Docker Hub).
    host: String,
    rung: Rung,
    credential: Option<Credential>,
    why_anonymous: String,
    /// The `Authorization` value to send (a secret: never printed).
    auth: Option<String>,
    authenticated: bool,
}

/// Resolves the image of `start` to its digest and entrypoint for
/// `start.platform`.
pub(super) fn resolve(start: Start<'_>) -> Result<ImageInfo, Error> {
    let Start {
        edge,
        tokens,
        platform,
        credentials_path,
        image,
        reference,
        credential,
    } = start;
    let host = reference.api_host().to_owned();
    let ping = Target {
        scheme: "https",
        host: host.clone(),
        path: "/v2/".to_owned(),
    };
    let what = format!("the answer of {}", ping.display());
    let (_, rung, answer) = edge.climb(&ping, &Request::get(&what, MAX_ERROR_BODY_BYTES), None)?;
    let (credential, why_anonymous) = match credential {
        Ok(credential) => (Some(credential), String::new()),
        Err(why) => (None, why),
    };
    let mut session = Session {
        edge,
        tokens,
        credentials_path,
        image,
        reference,
        host,
        rung,
        credential,
        why_anonymous,
        auth: None,
        authenticated: false,
    };
    if answer.status == 401 {
        session.authorize(&answer)?;
    }
    session.resolve(platform)
}

impl Session<'_> {
    /// Manifest, platform child of an index, config blob.
    fn resolve(mut self, platform: &Platform) -> Result<ImageInfo, Error> {
        let image = self.image;
        let reference = self.reference;
        let (top_bytes, top_type) = self.manifest(&reference.manifest_reference())?;
        if let Some(want) = reference.digest() {
            let got = Digest::of(want.algorithm(), &top_bytes);
            if &got != want {
                return Err(Error::DigestMismatch {
                    image: image.to_owned(),
                    what: "the manifest".to_owned(),
                    expected: want.to_string(),
                    actual: got.to_string(),
                });
            }
        }
        let decode = |ctype: Option<&str>, bytes: &[u8]| {
            Manifest::decode(ctype, bytes).map_err(|cause| Error::Manifest {
                image: image.to_owned(),
                cause,
            })
        };
        let (digest, config) = match decode(top_type.as_deref(), &top_bytes)? {
            Manifest::Image { config } => (Digest::sha256(&top_bytes), config),
            Manifest::Index(children) => {
                let child =
                    manifest::select(&children, platform).ok_or_else(|| Error::NoPlatform {
                        image: image.to_owned(),
                        want: platform.to_string(),
                        available: manifest::platforms(&children),
                    })?;
                let (bytes, ctype) = self.manifest(&child.digest.to_string())?;
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
        let config_bytes = self.blob(&config)?;
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
            transport: self.rung,
            authenticated: self.authenticated,
        })
    }

    fn scope(&self) -> String {
        format!("repository:{}:pull", self.reference.repository())
    }

    fn cache_key(&self) -> String {
        match self.credential {
            Some(_) => self.host.clone(),
            None => format!("{} (anonymous)", self.host),
        }
    }

    /// Sets `auth` from a 401 answer's challenge.
    fn authorize(&mut self, answer: &Answer) -> Result<(), Error> {
        let challenge = Challenge::parse(answer.www_authenticate.iter().map(String::as_str));
        match (challenge, &self.credential) {
            (Some(Challenge::Basic), Some(Credential::Basic { username, password })) => {
                self.auth = Some(basic(username, password));
                self.authenticated = true;
            }
            (Some(Challenge::Bearer { .. }), Some(Credential::RegistryToken(token))) => {
                self.auth = Some(format!("Bearer {token}"));
                self.authenticated = true;
            }
            (Some(Challenge::Bearer { realm, service, scope }), _) => {
                let scope = scope.unwrap_or_else(|| self.scope());
                let token = self.token(&realm, service.as_deref(), &scope)?;
                self.auth = Some(format!("Bearer {}", token.value()));
                self.authenticated = self.credential.is_some();
            }
            (_, Some(_)) => {
                return Err(Error::AuthRequired {
                    registry: self.reference.registry().to_owned(),
                    why: "its challenge is neither Basic nor Bearer, or the credential kind does not fit it"
                        .to_owned(),
                })
            }
            (_, None) => return Err(self.auth_required()),
        }
        if self.authenticated && self.rung == Rung::PlainHttp {
            self.edge.warn_plain_http(&self.host);
        }
        Ok(())
    }

    /// A bearer token for `scope`, from the cache or the realm.
    fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<auth::Token, Error> {
        let key = self.cache_key();
        if let Some(token) = self.tokens.get(&key, scope, Instant::now()) {
            return Ok(token);
        }
        let registry = self.reference.registry().to_owned();
        let target = Target::parse(realm).ok_or_else(|| Error::BadRealm {
            registry: registry.clone(),
            realm: realm.to_owned(),
        })?;
        let what = format!("the answer of token server {realm}");
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        query.push(("scope", scope));
        let mut authorization = None;
        let mut form = None;
        match &self.credential {
            Some(Credential::Basic { username, password }) => {
                query.push(("account", username));
                authorization = Some(basic(username, password));
            }
            Some(Credential::IdentityToken { token, .. }) => {
                // OAuth2 refresh-token grant (docker token spec, "oauth").
                form = Some(form_encode(&[
                    ("grant_type", "refresh_token"),
                    ("service", service.unwrap_or_default()),
                    ("scope", scope),
                    ("client_id", "fn-runner"),
                    ("refresh_token", token),
                ]));
            }
            Some(Credential::RegistryToken(_)) | None => {}
        }
        let req = Request {
            authorization: authorization.as_deref(),
            query: if form.is_some() { &[] } else { &query },
            form: form.as_deref(),
            ..Request::get(&what, auth::MAX_TOKEN_RESPONSE_BYTES)
        };
        let via = format!("the token server of registry {registry}");
        let (reached, rung, answer) = self.edge.climb(&target, &req, Some(&via))?;
        // A GET realm that redirects: followed like a blob (its basic
        // credentials only to the realm's own origin). The refresh-token
        // POST is not re-sent anywhere: its redirect is reported below.
        let answer = match req.form {
            Some(_) => answer,
            None => self.edge.follow(reached, rung, answer, &req)?,
        };
        match answer.status {
            200 => {}
            401 | 403 if self.credential.is_some() => {
                return Err(self.auth_failed(format!(
                    "the token server {realm} refused the credentials (HTTP {})",
                    answer.status
                )))
            }
            401 | 403 => return Err(self.auth_required()),
            status => {
                return Err(Error::TokenServer {
                    registry,
                    realm: realm.to_owned(),
                    status,
                })
            }
        }
        let token = auth::parse_token_response(&answer.body, Instant::now()).ok_or_else(|| {
            Error::TokenServer {
                registry,
                realm: realm.to_owned(),
                status: answer.status,
            }
        })?;
        self.tokens.put(&key, scope, token.clone());
        Ok(token)
    }

    fn auth_failed(&self, detail: String) -> Error {
        Error::AuthFailed {
            registry: self.reference.registry().to_owned(),
            credentials_path: self
                .credentials_path
                .map(Path::to_owned)
                .unwrap_or_default(),
            detail,
        }
    }

    fn auth_required(&self) -> Error {
        Error::AuthRequired {
            registry: self.reference.registry().to_owned(),
            why: format!("no credentials apply: {}", self.why_anonymous),
        }
    }

    /// GET with the current auth; on a 401, authorize from its challenge
    /// and try once more.
    fn get(
        &mut self,
        path: &str,
        accept: Option<&str>,
        limit: u64,
        what: &str,
    ) -> Result<Answer, Error> {
        let origin = Target {
            scheme: self.rung.scheme(),
            host: self.host.clone(),
            path: path.to_owned(),
        };
        let object = format!("{what} of {}", self.image);
        let mut retried = false;
        loop {
            let req = Request {
                authorization: self.auth.as_deref(),
                accept,
                ..Request::get(&object, limit)
            };
            let answer = self.edge.fetch(origin.clone(), self.rung, &req)?;
            match answer.status {
                200..=299 => return Ok(answer),
                401 if !retried => {
                    retried = true;
                    if self
                        .auth
                        .as_deref()
                        .is_some_and(|a| a.starts_with("Basic "))
                    {
                        // Basic credentials are sent as they are: a 401 is a refusal.
                        return Err(self.auth_failed(
                            "the registry refused the username and password (HTTP 401)".to_owned(),
                        ));
                    }
                    if self.auth.is_some() {
                        // A cached token may have expired or been revoked: fetch anew once.
                        self.tokens.remove(&self.cache_key(), &self.scope());
                    }
                    self.authorize(&answer)?;
                }
                401 if self.credential.is_some() => {
                    return Err(self
                        .auth_failed("the registry refused the credentials (HTTP 401)".to_owned()))
                }
                401 => return Err(self.auth_required()),
                403 => {
                    return Err(Error::Denied {
                        registry: self.reference.registry().to_owned(),
                        repository: self.reference.repository().to_owned(),
                    })
                }
                404 => {
                    return Err(Error::NotFound {
                        image: self.image.to_owned(),
                        what: what.to_owned(),
                        detail: answer.error_detail(),
                    })
                }
                status => {
                    return Err(Error::Status {
                        registry: self.reference.registry().to_owned(),
                        what: object,
                        status,
                        detail: answer.error_detail(),
                    })
                }
            }
        }
    }

    fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Option<String>), Error> {
        let path = format!("/v2/{}/manifests/{reference}", self.reference.repository());
        let answer = self.get(
            &path,
            Some(manifest::ACCEPT),
            MAX_MANIFEST_BYTES,
            "manifest",
        )?;
        Ok((answer.body, answer.content_type))
    }

    fn blob(&mut self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let path = format!("/v2/{}/blobs/{digest}", self.reference.repository());
        Ok(self
            .get(&path, None, MAX_CONFIG_BLOB_BYTES, "image config")?
            .body)
    }
}

/// Checks `bytes` against the descriptor digest `want`.
fn check_digest<'a>(
    image: &str,
    what: &str,
    want: &Digest,
    bytes: &'a [u8],
) -> Result<manifest::Verified<'a>, Error> {
    manifest::Verified::check(want, bytes).map_err(|got| Error::DigestMismatch {
        image: image.to_owned(),
        what: what.to_owned(),
        expected: want.to_string(),
        actual: got.to_string(),
    })
}

/// `Authorization: Basic` for a username and password (a secret).
fn basic(username: &str, password: &str) -> String {
    let raw = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                b => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_bytes() {
        assert_eq!(form_encode(&[("a b", "x&y=z/")]), "a+b=x%26y%3Dz%2F");
    }

    #[test]
    fn basic_encodes_user_and_password() {
        assert_eq!(basic("u", "p"), "Basic dTpw");
    }
}
