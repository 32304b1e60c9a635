//! The registry client: what outlives one resolve. It holds the
//! [`Config`], the docker config of `--registry-auth-secret-path` (re-read
//! when it changes), the CA of `--tls-secret-path`, the HTTP agents and the
//! token cache, and starts one session (`session.rs`) per resolve.
//!
//! Credentials (compat §5.2) apply only with `--enable-private-registry`
//! and for images outside `--default-image-prefix` ([`Config`]); otherwise
//! requests are anonymous (anonymous bearer tokens included).
//!
//! The CA of `--tls-secret-path` is checked in [`Client::new`] and checked
//! again (one `stat` per file, `watch.rs`) at the start of every resolve:
//! a mounted Secret that changed is read anew, strict check included.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::auth::TokenCache;
use super::config::{Anonymous, Config};
use super::credentials::{Credential, Credentials, DockerConfig};
use super::error::Error;
use super::http::{CustomCa, Http};
use super::ladder::CaBundle;
use super::manifest::Platform;
use super::reference::Reference;
use super::session::{self, ImageInfo, Start};
use super::watch::Watched;

/// A registry client for one [`Config`]. Cheap to share between threads
/// (`&Client` is all `resolve` needs).
#[derive(Debug)]
pub struct Client {
    config: Config,
    credentials: Option<Credentials>,
    /// `--tls-secret-path` with the TLS flag: re-read when it changes.
    ca: Option<CaSource>,
    http: Http,
    platform: Platform,
    tokens: TokenCache,
    /// The docker config the cached tokens were obtained with.
    tokens_config: Mutex<Option<Arc<DockerConfig>>>,
}

impl Client {
    /// A client for `config`. With a CA directory, the directory is
    /// checked here, so a wrong setup fails at once.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let ca = match &config.ca_dir {
            Some(dir) => {
                let stamps = CaBundle::stamps(dir);
                let current = Watched::holding(stamps, CustomCa::load(dir)?);
                Some(CaSource {
                    dir: dir.clone(),
                    current,
                })
            }
            None => None,
        };
        Ok(Self {
            config: config.clone(),
            credentials: config.auth_file.clone().map(Credentials::new),
            ca,
            http: Http::new()?,
            platform: Platform::runner(),
            tokens: TokenCache::default(),
            tokens_config: Mutex::new(None),
        })
    }

    /// The docker config (when `--enable-private-registry` is on), for the
    /// pod runtime to replicate into the pod namespace (compat §5.3): its
    /// `load()` reads the file again only when it changed.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Whether compat §5.2 lets `image` use the docker config (see
    /// [`Config::applies_credentials`]). The pod runtime gives such pods
    /// the replicated `imagePullSecret`.
    pub(crate) fn applies_credentials(&self, image: &str) -> bool {
        self.config.applies_credentials(image)
    }

    /// Resolves `image` to its digest and entrypoint for this runner's
    /// platform. Each request is bounded by the phase timeouts of the HTTP
    /// edge.
    pub fn resolve(&self, image: &str) -> Result<ImageInfo, Error> {
        self.resolve_by(image, None)
    }

    /// Like [`resolve`](Self::resolve), and every request also ends by
    /// `deadline` (a caller's gRPC deadline): past it, the resolve stops
    /// with [`Error::DeadlineExceeded`] and the ladder does not step down.
    pub fn resolve_by(&self, image: &str, deadline: Option<Instant>) -> Result<ImageInfo, Error> {
        let started = Instant::now();
        let result = self.resolve_now(image, deadline);
        super::metrics::resolved(&result, started);
        result
    }

    fn resolve_now(&self, image: &str, deadline: Option<Instant>) -> Result<ImageInfo, Error> {
        let reference = Reference::parse(image)?;
        let credential = self.credential_for(image, &reference)?;
        session::resolve(Start {
            edge: self.http.edge(self.custom_ca()?, deadline),
            tokens: &self.tokens,
            platform: &self.platform,
            credentials_path: self.credentials.as_ref().map(Credentials::path),
            image,
            reference: &reference,
            credential,
        })
    }

    /// The credential for `image` under compat §5.2, or why there is none.
    fn credential_for(
        &self,
        image: &str,
        reference: &Reference,
    ) -> Result<Result<Credential, String>, Error> {
        // `credentials` is there exactly when the config has an auth file.
        let credentials = match (&self.credentials, self.config.anonymous_because(image)) {
            (Some(credentials), None) => credentials,
            (_, why) => {
                let why = why.unwrap_or(Anonymous::PrivateRegistryOff);
                return Ok(Err(why.to_string()));
            }
        };
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
            Some(c) => Ok(Ok(c.clone())),
            None => Ok(Err(format!(
                "{} has no entry for {}",
                credentials.path().display(),
                reference.registry()
            ))),
        }
    }

    /// The CA of `--tls-secret-path` (with the TLS flag): the one read
    /// before unless one of its files changed since, else read anew.
    fn custom_ca(&self) -> Result<Option<Arc<CustomCa>>, Error> {
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
}

/// `--tls-secret-path` and the CA last read from it.
#[derive(Debug)]
struct CaSource {
    dir: PathBuf,
    current: Watched<CustomCa>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
    }

    #[test]
    fn credentials_apply_as_the_config_says() {
        let off = Client::new(&Config::default()).unwrap();
        assert!(!off.applies_credentials("ghcr.io/a/b"));
        assert!(off.credentials().is_none());
        let on = Client::new(&Config {
            auth_file: Some("/auth/.dockerconfigjson".into()),
            ..Config::default()
        })
        .unwrap();
        assert!(on.applies_credentials("ghcr.io/a/b"));
        assert!(!on.applies_credentials("gcr.io/kpt-fn/set-namespace:v0.4"));
        assert_eq!(
            on.credentials().map(Credentials::path),
            Some(std::path::Path::new("/auth/.dockerconfigjson"))
        );
    }

    #[test]
    fn a_bad_ca_dir_fails_at_new() {
        let config = Config {
            ca_dir: Some("/nonexistent-tls-dir".into()),
            ..Config::default()
        };
        let err = Client::new(&config).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-tls-dir"), "{err}");
    }
}
