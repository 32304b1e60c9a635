//! One resolve after the TLS ladder has settled: authentication from the
//! registry's `WWW-Authenticate` challenge (Basic, or Bearer through the
//! token realm, which climbs its own ladder), then the manifest and blob
//! requests with one retry on a 401 (a revoked or expired token).
//!
//! Never holds `ureq` types: requests go through [`Client::send`].

use std::time::Instant;

use base64::Engine as _;

use super::auth::{self, Challenge};
use super::client::{
    Again, Answer, Client, CustomCa, Request, Sent, MAX_CONFIG_BLOB_BYTES, MAX_MANIFEST_BYTES,
};
use super::credentials::Credential;
use super::error::Error;
use super::ladder::{Plan, Rung, Step};
use super::manifest;
use super::redirect::Target;
use super::reference::{is_loopback_host, Digest, Reference};

/// The rest of one resolve once the ladder has settled.
pub(super) struct Session<'a> {
    /// The caller's deadline for the whole resolve, if any.
    pub(super) deadline: Option<Instant>,
    pub(super) client: &'a Client,
    /// The CA of `--tls-secret-path` as read for this resolve.
    pub(super) ca: Option<std::sync::Arc<CustomCa>>,
    pub(super) image: &'a str,
    pub(super) reference: &'a Reference,
    pub(super) host: String,
    pub(super) rung: Rung,
    pub(super) credential: Option<Credential>,
    pub(super) why_anonymous: String,
    /// The `Authorization` value to send (a secret: never printed).
    pub(super) auth: Option<String>,
    pub(super) authenticated: bool,
}

impl Session<'_> {
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
    pub(super) fn authorize(&mut self, answer: &Answer) -> Result<(), Error> {
        let challenge = Challenge::parse(answer.www_authenticate.iter().map(String::as_str));
        match (challenge, &self.credential) {
            (Some(Challenge::Basic), Some(Credential::Basic { username, password })) => {
                let raw = format!("{username}:{password}");
                self.auth = Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ));
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
            (_, None) => {
                return Err(Error::AuthRequired {
                    registry: self.reference.registry().to_owned(),
                    why: format!("no credentials apply: {}", self.why_anonymous),
                })
            }
        }
        if self.authenticated && self.rung == Rung::PlainHttp {
            self.client.warn_plain_http(&self.host);
        }
        Ok(())
    }

    /// A bearer token for `scope`, from the cache or the realm.
    fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<auth::Token, Error> {
        let key = self.cache_key();
        if let Some(token) = self.client.tokens.get(&key, scope, Instant::now()) {
            return Ok(token);
        }
        let registry = self.reference.registry().to_owned();
        let bad_realm = || Error::BadRealm {
            registry: registry.clone(),
            realm: realm.to_owned(),
        };
        let (scheme, rest) = realm.split_once("://").ok_or_else(bad_realm)?;
        let realm_host = rest.split(['/', '?']).next().unwrap_or_default();
        let realm_path = &rest[realm_host.len()..];
        let plan = match scheme {
            "https" => Plan::new(
                self.ca.as_deref().map(CustomCa::bundle),
                is_loopback_host(realm_host),
            ),
            "http" => Plan::plain_http_only(),
            _ => return Err(bad_realm()),
        };
        let client = self.client;
        let basic = match &self.credential {
            Some(Credential::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        };
        let mut ladder = plan.start();
        let mut step = ladder.first();
        let (rung, answer) = loop {
            let rung = match step {
                Step::Try(rung) => rung,
                Step::Exhausted(failures) => {
                    return Err(Error::Unreachable {
                        host: realm_host.to_owned(),
                        failures,
                        ca_path: self.ca.as_ref().map(|ca| ca.bundle().path().to_owned()),
                        via: Some(format!(
                            "the token server of registry {}",
                            self.reference.registry()
                        )),
                    })
                }
            };
            let url = format!("{}://{realm_host}{realm_path}", rung.scheme());
            let mut query: Vec<(&str, &str)> = Vec::new();
            if let Some(service) = service {
                query.push(("service", service));
            }
            query.push(("scope", scope));
            let form;
            let mut req = Request::get(&url);
            req.deadline = self.deadline;
            match &self.credential {
                Some(Credential::Basic { username, .. }) => {
                    query.push(("account", username));
                    req.authorization = basic.as_deref();
                    req.query = query;
                }
                Some(Credential::IdentityToken { token, .. }) => {
                    // OAuth2 refresh-token grant (docker token spec, "oauth").
                    form = form_encode(&[
                        ("grant_type", "refresh_token"),
                        ("service", service.unwrap_or_default()),
                        ("scope", scope),
                        ("client_id", "fn-runner"),
                        ("refresh_token", token),
                    ]);
                    req.form = Some(&form);
                }
                Some(Credential::RegistryToken(_)) | None => req.query = query,
            }
            if self.credential.is_some() && rung == Rung::PlainHttp {
                client.warn_plain_http(realm_host);
            }
            match client.send(
                self.ca.as_deref(),
                rung,
                req,
                auth::MAX_TOKEN_RESPONSE_BYTES,
            ) {
                Ok(answer) if rung == Rung::PlainHttp && answer.is_https_only_complaint() => {
                    step = ladder.failed("the server speaks HTTPS".to_owned())
                }
                Ok(answer) => break (rung, answer),
                Err(Sent::Transport(cause)) => {
                    // The cause names the TLS or socket failure, never a header.
                    crate::v!(2, "registry {}: {rung} failed: {cause}", realm_host);
                    step = ladder.failed(cause);
                }
                Err(Sent::TooLarge) => {
                    return Err(Error::TooLarge {
                        what: format!("the answer of token server {realm}"),
                        limit: auth::MAX_TOKEN_RESPONSE_BYTES,
                    })
                }
                Err(Sent::DeadlineExceeded) => {
                    return Err(Error::DeadlineExceeded {
                        host: realm_host.to_owned(),
                    })
                }
            }
        };
        // A GET realm that redirects: followed like a blob (its basic
        // credentials only to the realm's own origin). The refresh-token
        // POST is not re-sent anywhere: its redirect is reported below.
        let answer = match &self.credential {
            Some(Credential::IdentityToken { .. }) => answer,
            _ => client.follow(
                self.ca.as_deref(),
                Target {
                    scheme: rung.scheme(),
                    host: realm_host.to_owned(),
                    path: match realm_path {
                        p if p.starts_with('/') => p.to_owned(),
                        p => format!("/{p}"),
                    },
                },
                rung,
                answer,
                Again {
                    authorization: basic.as_deref(),
                    accept: None,
                    deadline: self.deadline,
                    limit: auth::MAX_TOKEN_RESPONSE_BYTES,
                    what: &format!("the answer of token server {realm}"),
                },
            )?,
        };
        match answer.status {
            200 => {}
            401 | 403 if self.credential.is_some() => {
                return Err(self.auth_failed(format!(
                    "the token server {realm} refused the credentials (HTTP {})",
                    answer.status
                )))
            }
            401 | 403 => {
                return Err(Error::AuthRequired {
                    registry,
                    why: format!("no credentials apply: {}", self.why_anonymous),
                })
            }
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
        self.client.tokens.put(&key, scope, token.clone());
        Ok(token)
    }

    fn auth_failed(&self, detail: String) -> Error {
        Error::AuthFailed {
            registry: self.reference.registry().to_owned(),
            credentials_path: self
                .client
                .credentials
                .as_ref()
                .map(|c| c.path().to_owned())
                .unwrap_or_default(),
            detail,
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
        let url = format!("{}://{}{path}", self.rung.scheme(), self.host);
        let mut retried = false;
        loop {
            let req = Request {
                url: &url,
                authorization: self.auth.as_deref(),
                accept,
                query: Vec::new(),
                form: None,
                deadline: self.deadline,
            };
            let answer = self.client.fetch(
                self.ca.as_deref(),
                self.rung,
                req,
                limit,
                &format!("{what} of {}", self.image),
            )?;
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
                        self.client.tokens.remove(&self.cache_key(), &self.scope());
                    }
                    self.authorize(&answer)?;
                }
                401 if self.credential.is_some() => {
                    return Err(self
                        .auth_failed("the registry refused the credentials (HTTP 401)".to_owned()))
                }
                401 => {
                    return Err(Error::AuthRequired {
                        registry: self.reference.registry().to_owned(),
                        why: format!("no credentials apply: {}", self.why_anonymous),
                    })
                }
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
                        what: format!("{what} of {}", self.image),
                        status,
                        detail: answer.error_detail(),
                    })
                }
            }
        }
    }

    pub(super) fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Option<String>), Error> {
        let path = format!("/v2/{}/manifests/{reference}", self.reference.repository());
        let answer = self.get(
            &path,
            Some(manifest::ACCEPT),
            MAX_MANIFEST_BYTES,
            "manifest",
        )?;
        Ok((answer.body, answer.content_type))
    }

    pub(super) fn blob(&mut self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let path = format!("/v2/{}/blobs/{digest}", self.reference.repository());
        Ok(self
            .get(&path, None, MAX_CONFIG_BLOB_BYTES, "image config")?
            .body)
    }
}

/// Checks `bytes` against the descriptor digest `want`.
pub(super) fn check_digest<'a>(
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
}
