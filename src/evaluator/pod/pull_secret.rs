//! The registry auth file replicated into the pod namespace (compat §5.3),
//! so that the kubelet can pull private function images: the Secret
//! `--registry-auth-secret-name` of type `kubernetes.io/dockerconfigjson`
//! whose `.dockerconfigjson` holds the mounted file's bytes.
//!
//! The Go original GETs the Secret before every private image's metadata
//! lookup. **Ours** checks it when the mounted file changed since the last
//! success (the registry client re-reads the file only when its stamp
//! changes, so an unchanged file is the same `Arc`): one GET (and a create
//! or update) per version of the file, not per pod.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::kube::{self, ObjectMeta, Secret};
use crate::registry::DockerConfig;

/// The Secret type the kubelet reads pull credentials from.
pub(crate) const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The key of the docker config inside it.
pub(crate) const SECRET_KEY: &str = ".dockerconfigjson";

/// How many times a write that lost a race with another replica (409) is
/// tried again from a fresh read.
const CONFLICT_RETRIES: usize = 2;

/// Keeps one Secret equal to the auth file.
pub(crate) struct PullSecret {
    namespace: String,
    name: String,
    /// The file version last written (or found equal); `None` before the
    /// first success.
    replicated: Mutex<Option<Arc<DockerConfig>>>,
}

/// What [`PullSecret::ensure`] did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This version of the file was replicated before: no API call.
    Unchanged,
    /// The Secret already held these bytes.
    Matched,
    Created,
    Updated,
}

/// The Secret could not be made current.
#[derive(Debug)]
pub struct Error {
    pub namespace: String,
    pub name: String,
    pub source: kube::Error,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot replicate the registry auth file into Secret {}/{}",
            self.namespace, self.name
        )
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl PullSecret {
    /// The Secret `name` in `namespace` (the pod namespace).
    pub fn new(namespace: &str, name: &str) -> PullSecret {
        PullSecret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            replicated: Mutex::new(None),
        }
    }

    /// The Secret's name, for `imagePullSecrets`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the Secret hold `config`'s bytes: nothing when this version
    /// was replicated already, else GET and create or update. Concurrent
    /// callers wait for one another (one replication per version).
    pub fn ensure(
        &self,
        client: &kube::Client,
        config: &Arc<DockerConfig>,
        deadline: Option<Instant>,
    ) -> Result<Outcome, Error> {
        let mut replicated = self.lock();
        if replicated
            .as_ref()
            .is_some_and(|done| Arc::ptr_eq(done, config))
        {
            return Ok(Outcome::Unchanged);
        }
        let outcome = self.replicate(client, config.bytes(), deadline)?;
        *replicated = Some(Arc::clone(config));
        Ok(outcome)
    }

    fn replicate(
        &self,
        client: &kube::Client,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Outcome, Error> {
        let api = client.secrets(&self.namespace).with_deadline(deadline);
        let fail = |source| Error {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match api.get(&self.name) {
                Ok(existing) if existing.data.get(SECRET_KEY).map(Vec::as_slice) == Some(bytes) => {
                    return Ok(Outcome::Matched)
                }
                Ok(mut existing) => {
                    existing.data.insert(SECRET_KEY.to_owned(), bytes.to_vec());
                    api.update(&existing).map(|_| Outcome::Updated)
                }
                Err(e) if e.is_not_found() => {
                    api.create(&self.secret(bytes)).map(|_| Outcome::Created)
                }
                Err(e) => return Err(fail(e)),
            };
            match result {
                Ok(outcome) => {
                    crate::info!(
                        "registry auth Secret {}/{}: {}",
                        self.namespace,
                        self.name,
                        match outcome {
                            Outcome::Created => "created from the auth file",
                            _ => "updated to the auth file's new content",
                        }
                    );
                    return Ok(outcome);
                }
                // Another replica wrote it between our read and our write:
                // read again and compare.
                Err(kube::Error::AlreadyExists(_) | kube::Error::Conflict(_))
                    if attempt <= CONFLICT_RETRIES =>
                {
                    continue
                }
                Err(e) => return Err(fail(e)),
            }
        }
    }

    fn secret(&self, bytes: &[u8]) -> Secret {
        let mut secret = Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.to_owned()),
            ..Secret::default()
        };
        secret.data.insert(SECRET_KEY.to_owned(), bytes.to_vec());
        secret
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<DockerConfig>>> {
        self.replicated.lock().unwrap_or_else(|p| p.into_inner())
    }
}
