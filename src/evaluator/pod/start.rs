//! One pod start (compat §4.1-4.3, docs/pod.md "One pod start"): image
//! metadata, the pull Secret, the template, find or create, then wait for
//! Ready on the watch.
//!
//! ```text
//!  resolve image -> [private: Secret current] -> template -> pods of this id (store index)
//!        |                                                     |
//!        |                      one of the current version ----+---- none, or old version only
//!        |                      not terminating, not in use    |          |
//!        v                                  |                  |     create (generateName / apply)
//!   errors end the start                    v                  v          |  old one retired
//!                                      [ wait on the watch for that pod ] <-+
//!                                        Ready -> started    | fail-fast reason -> CannotStart
//!                                        gone -> Vanished    | --pod-ready-timeout -> NotReady
//! ```
//!
//! It runs on a starter thread of its own, never on a caller's: a caller
//! that stops waiting does not stop the start (the pod keeps starting for
//! the next caller).

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::image::Images;
use super::pull_secret::{self, PullSecret};
use super::template::{Naming, PodId, PodSpec, Template, TEMPLATE_VERSION_ANNOTATION};
use crate::evaluator::metrics::pod::{pod_image, FailReason, PodMetrics};
use crate::kube::{self, Pod, StartFailure, Store, Subscription, Waited};
use crate::registry::{self, ImageInfo, Reference};

/// How many times a create that failed with a server error (5xx, 429) is
/// tried again. The kube client never repeats a create itself (a POST with
/// generateName may have made a pod); here we first look in the watch for
/// a pod that create made, then try again.
const CREATE_ATTEMPTS: usize = 3;
/// How long, after a failed create, the watch may take to show a pod the
/// failed attempt made after all (our choice: a watch event arrives in
/// milliseconds; a pod seen sooner ends the wait at once). Also the pause
/// before the create is tried again.
const CREATE_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Hint added to an `x509:` pull error (compat §5.4).
const X509_HINT: &str = "the node's container runtime must trust the registry's CA (the \
    runner's --tls-secret-path is not used by the kubelet): configure the CA on every node, \
    e.g. in containerd's /etc/containerd/certs.d/<registry>/ca.crt";

/// What a start needs, borrowed from the runtime.
pub(crate) struct Starter<'a> {
    pub kube: &'a kube::Client,
    pub store: &'a Arc<Store>,
    pub images: &'a Images,
    pub pull_secret: &'a PullSecret,
    /// The template to make pods from (current version).
    pub template: &'a Template,
    /// `--pod-namespace`.
    pub namespace: &'a str,
    /// `--max-request-body-size`.
    pub max_message_bytes: usize,
    /// `--pod-ready-timeout`.
    pub ready_timeout: Duration,
}

/// What one start asks for.
#[derive(Clone)]
pub struct Request<'a> {
    pub image: &'a str,
    /// Time to live written into a new pod's reclaim-after.
    pub ttl: Duration,
    pub naming: Naming,
    /// Pods not to be reused: those that refused a call's connection while
    /// the watch showed them ready.
    pub avoid: &'a [String],
    /// The pods other starts and handles hold (parallel pods must be
    /// distinct pods, however their starts interleave).
    pub claims: &'a Claims,
}

/// A pod that is Running and Ready.
#[derive(Debug, Clone)]
pub struct Started {
    pub name: String,
    pub uid: String,
    pub ip: IpAddr,
    pub pod_id: PodId,
    /// The template version it was made from.
    pub template_version: String,
    /// Whether this start created it (false: found and reused).
    pub created: bool,
    /// A pod of an old template version this start replaced: to be deleted
    /// once no call of ours is on it (name, resourceVersion judged).
    pub replaced: Option<(String, String)>,
    /// The image's pod metrics (its label is the image: resolved, so a
    /// real one).
    pub metrics: PodMetrics,
}

/// Why a start failed.
#[derive(Debug)]
pub enum Error {
    /// The image's digest and entrypoint could not be read (compat §4.1).
    Image(registry::Error),
    /// The image string does not parse (the registry client parsed it
    /// already, so this is not expected).
    Reference(registry::reference::Error),
    /// The registry auth file could not be read for the pull Secret.
    AuthFile(registry::AuthFileError),
    /// The pull Secret could not be made current.
    PullSecret(pull_secret::Error),
    /// A Kubernetes call failed; `doing` says which.
    Kubernetes { doing: String, source: kube::Error },
    /// The pod watch has not listed the pods yet (the API server is
    /// unreachable, or RBAC refuses the watch).
    WatchNotSynced { last_error: Option<String> },
    /// Kubernetes says the pod cannot start (compat §4.3).
    CannotStart { pod: String, failure: StartFailure },
    /// The pod was deleted before it became ready.
    Vanished { pod: String },
    /// Not Ready within `--pod-ready-timeout`. `watch_error`: the pod
    /// watch was failing then (the runner learns a pod's state from it
    /// only, so a Role without `watch` looks like a pod that never gets
    /// ready).
    NotReady {
        pod: String,
        waited: Duration,
        watch_error: Option<String>,
    },
    /// The `--function-pod-template` ConfigMap cannot be used.
    Template(super::template::Error),
    /// [`super::MAX_STARTING_PODS`] pods are starting already.
    TooManyStarts { limit: usize },
    /// The starter thread could not be created.
    Thread(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Image(_) => f.write_str("cannot read the image's digest and entrypoint"),
            Error::Reference(e) => write!(f, "{e}"),
            Error::AuthFile(_) => f.write_str("cannot read the registry auth file"),
            Error::PullSecret(e) => write!(f, "{e}"),
            Error::Kubernetes { doing, .. } => write!(f, "{doing}"),
            Error::WatchNotSynced { last_error } => {
                f.write_str(
                    "the runner has no list of the function pods yet (pod watch not synced",
                )?;
                if let Some(e) = last_error {
                    write!(f, ": {e}")?;
                }
                f.write_str(")")
            }
            Error::CannotStart { pod, failure } => write!(
                f,
                "pod {pod} cannot start: {}: {}",
                failure.reason,
                failure_message(failure)
            ),
            Error::Template(e) => write!(f, "{e}"),
            Error::TooManyStarts { limit } => write!(
                f,
                "{limit} function pods are starting already (the most at once)"
            ),
            Error::Thread(_) => f.write_str("cannot start a thread to start the pod"),
            Error::Vanished { pod } => write!(f, "pod {pod} was deleted before it became ready"),
            Error::NotReady {
                pod,
                waited,
                watch_error,
            } => {
                write!(
                    f,
                    "pod {pod} was not ready within {waited:.1?} (--pod-ready-timeout)"
                )?;
                match watch_error {
                    Some(e) => write!(
                        f,
                        "; the runner could not see its state: the pod watch fails: {e}"
                    ),
                    None => Ok(()),
                }
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Image(e) => Some(e),
            Error::AuthFile(e) => Some(e),
            Error::PullSecret(e) => Some(e),
            Error::Kubernetes { source, .. } => Some(source),
            Error::Template(e) => e.source(),
            Error::Thread(e) => Some(e),
            Error::Reference(_)
            | Error::TooManyStarts { .. }
            | Error::WatchNotSynced { .. }
            | Error::CannotStart { .. }
            | Error::Vanished { .. }
            | Error::NotReady { .. } => None,
        }
    }
}

impl Starter<'_> {
    /// Starts (or finds) a pod for `request` and waits until it is Ready.
    pub fn start(&self, request: &Request<'_>) -> Result<Started, Error> {
        let image = request.image;
        let info = self
            .images
            .resolve(image, Some(Instant::now() + self.ready_timeout))
            .map_err(Error::Image)?;
        let metrics = pod_image(image);
        let started = self.find_or_create(request, &info, &metrics);
        if let Err(e) = &started {
            metrics.pod_start_failed(match e {
                Error::CannotStart { failure, .. } => FailReason::of(&failure.reason),
                Error::NotReady { .. } => FailReason::NotReady,
                Error::Vanished { .. } => FailReason::Vanished,
                _ => FailReason::Other,
            });
        }
        started
    }

    /// [`start`](Self::start) once the image's metadata is known.
    fn find_or_create(
        &self,
        request: &Request<'_>,
        info: &ImageInfo,
        metrics: &PodMetrics,
    ) -> Result<Started, Error> {
        let image = request.image;
        let reference = Reference::parse(image).map_err(Error::Reference)?;
        let pod_id = PodId::new(&reference, &info.digest);
        let pull_secret = self.ensure_pull_secret(image)?;
        if !self.store.wait_synced(Instant::now() + self.ready_timeout) {
            return Err(Error::WatchNotSynced {
                last_error: self.store.last_error(),
            });
        }
        let version = self.template.version();
        let mut replaced = None;
        let existing = self.store.labelled(pod_id.as_str());
        for pod in &existing {
            let name = pod.metadata.name_or_empty();
            if pod.is_terminating() || request.avoid.iter().any(|n| n == name) {
                continue;
            }
            if template_version(pod) == Some(version) {
                if !request.claims.claim(name) {
                    continue;
                }
                crate::info!("reusing function pod {name} for {image}");
                return self
                    .wait_ready(name, &pod_id, version, None, None, metrics)
                    .inspect_err(|_| request.claims.release(name));
            }
            if replaced.is_none() {
                replaced = Some((
                    name.to_owned(),
                    pod.metadata.resource_version.clone().unwrap_or_default(),
                ));
            }
        }
        let spec = PodSpec {
            image,
            pod_id: &pod_id,
            entrypoint: &info.entrypoint,
            namespace: self.namespace,
            ttl: request.ttl,
            max_message_bytes: self.max_message_bytes,
            pull_secret: pull_secret.then(|| self.pull_secret.name()),
            // A pod replacing an old one of the same id cannot take its name.
            naming: if replaced.is_some() {
                Naming::Generated
            } else {
                request.naming
            },
        };
        let manifest = self.template.pod_for(&spec, SystemTime::now());
        let sent = Instant::now();
        let name = self.create(&manifest, &pod_id)?;
        request.claims.claim(&name);
        metrics.pod_created();
        crate::info!(
            "created function pod {}/{name} for {image}{}",
            self.namespace,
            match &replaced {
                Some((old, _)) => format!(" (replacing {old}, made from an older template)"),
                None => String::new(),
            }
        );
        self.wait_ready(&name, &pod_id, version, Some(sent), replaced, metrics)
            .inspect_err(|_| request.claims.release(&name))
    }

    /// For a private image: the pull Secret is current. Returns whether
    /// pods of this image need it (`imagePullSecrets`).
    fn ensure_pull_secret(&self, image: &str) -> Result<bool, Error> {
        let registry = self.images.registry();
        if !registry.applies_credentials(image) {
            return Ok(false);
        }
        let Some(credentials) = registry.credentials() else {
            return Ok(false);
        };
        let config = credentials.load().map_err(Error::AuthFile)?;
        let deadline = Instant::now() + self.ready_timeout;
        self.pull_secret
            .ensure(self.kube, &config, Some(deadline))
            .map_err(Error::PullSecret)?;
        Ok(true)
    }

    /// Creates `manifest`, trying again after a server error when the
    /// watch shows no pod that the failed attempt made. Returns the name.
    fn create(&self, manifest: &Pod, pod_id: &PodId) -> Result<String, Error> {
        let api = self
            .kube
            .pods(self.namespace)
            .with_deadline(Some(Instant::now() + self.ready_timeout));
        let mut pods = self.store.subscribe_label(pod_id.as_str());
        let before: Vec<String> = pods
            .pods()
            .iter()
            .map(|p| p.metadata.name_or_empty().to_owned())
            .collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match manifest.metadata.name.as_deref() {
                // A fixed name (warm-up): server-side apply, as the original.
                Some(name) => api.apply(name, manifest),
                None => api.create(manifest),
            };
            match result {
                Ok(created) => return Ok(created.metadata.name_or_empty().to_owned()),
                Err(e) if attempt < CREATE_ATTEMPTS && is_server_side(&e) => {
                    crate::warn!(
                        "creating a function pod {pod_id}: {e}; trying again (attempt {})",
                        attempt + 1
                    );
                    if let Some(name) = made_anyway(&mut pods, &before) {
                        return Ok(name);
                    }
                }
                Err(source) => {
                    return Err(Error::Kubernetes {
                        doing: format!(
                            "cannot create a function pod {pod_id} in {}",
                            self.namespace
                        ),
                        source,
                    })
                }
            }
        }
    }

    /// Waits on the watch until pod `name` is Ready (or cannot start, or
    /// is gone, or `--pod-ready-timeout` passes).
    fn wait_ready(
        &self,
        name: &str,
        pod_id: &PodId,
        version: &str,
        created: Option<Instant>,
        replaced: Option<(String, String)>,
        metrics: &PodMetrics,
    ) -> Result<Started, Error> {
        let started = Instant::now();
        let deadline = started + self.ready_timeout;
        let mut follow = self.store.subscribe_pod(name);
        let mut seen = false;
        loop {
            match follow.pods().into_iter().next() {
                Some(pod) => {
                    seen = true;
                    if pod.is_terminating() {
                        return Err(Error::Vanished {
                            pod: name.to_owned(),
                        });
                    }
                    if pod.is_ready() {
                        if let Some(ip) = pod.pod_ip().and_then(|ip| ip.parse().ok()) {
                            if let Some(sent) = created {
                                metrics.pod_ready(sent.elapsed());
                            }
                            return Ok(Started {
                                name: name.to_owned(),
                                uid: pod.metadata.uid.clone().unwrap_or_default(),
                                ip,
                                pod_id: pod_id.clone(),
                                template_version: version.to_owned(),
                                created: created.is_some(),
                                replaced,
                                metrics: metrics.clone(),
                            });
                        }
                    }
                    if let Some(failure) = pod.waiting_reason() {
                        return Err(Error::CannotStart {
                            pod: name.to_owned(),
                            failure,
                        });
                    }
                }
                // Not in the store yet (the watch lags our create), or
                // deleted after we saw it.
                None if seen => {
                    return Err(Error::Vanished {
                        pod: name.to_owned(),
                    })
                }
                None => {}
            }
            match follow.wait(deadline) {
                Waited::Changed => {}
                Waited::Interrupted | Waited::TimedOut => {
                    return Err(Error::NotReady {
                        pod: name.to_owned(),
                        waited: started.elapsed(),
                        watch_error: self.store.last_error(),
                    })
                }
            }
        }
    }
}

/// A pod of the subscription's id that was not there before the first
/// create (`before`): made by a create whose answer was lost. Waits on the
/// watch up to [`CREATE_RETRY_PAUSE`] for one to show.
fn made_anyway(pods: &mut Subscription, before: &[String]) -> Option<String> {
    let deadline = Instant::now() + CREATE_RETRY_PAUSE;
    loop {
        let made = pods.pods().into_iter().find(|p| {
            let name = p.metadata.name_or_empty();
            !p.is_terminating() && !before.iter().any(|b| b == name)
        });
        if let Some(pod) = made {
            return Some(pod.metadata.name_or_empty().to_owned());
        }
        match pods.wait(deadline) {
            Waited::Changed => {}
            Waited::Interrupted | Waited::TimedOut => return None,
        }
    }
}

/// Kubernetes' message for a pod that cannot start, with the container
/// when it is not the function's own, and the node-CA hint for an `x509:`
/// pull error (compat §5.4: ours).
pub(crate) fn failure_message(failure: &StartFailure) -> String {
    let mut text = match failure.container.as_deref() {
        Some(c) if c != super::template::FUNCTION_CONTAINER => {
            format!("container {c}: {}", failure.message)
        }
        _ => failure.message.clone(),
    };
    if failure.message.contains("x509:") {
        text.push_str(" (hint: ");
        text.push_str(X509_HINT);
        text.push(')');
    }
    text
}

/// The pods held by starts and pod handles, by name: two slots of one
/// image (parallel pods) never share a pod. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Claims(Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Claims {
    /// Takes `name`; false when it is held already.
    pub(crate) fn claim(&self, name: &str) -> bool {
        self.lock().insert(name.to_owned())
    }

    /// Gives `name` back.
    pub fn release(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The template version a pod was made from.
pub(crate) fn template_version(pod: &Pod) -> Option<&str> {
    pod.metadata
        .annotations
        .get(TEMPLATE_VERSION_ANNOTATION)
        .map(String::as_str)
}

/// Errors after which the server did nothing we can see: a create may be
/// tried again.
fn is_server_side(e: &kube::Error) -> bool {
    matches!(
        e,
        kube::Error::ServerError(_)
            | kube::Error::TooManyRequests(_)
            | kube::Error::Transport { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_names_a_failing_watch() {
        let not_ready = |watch_error: Option<&str>| Error::NotReady {
            pod: "fn-1234abcd-x7k2q".to_owned(),
            waited: Duration::from_secs(60),
            watch_error: watch_error.map(str::to_owned),
        };
        assert_eq!(
            not_ready(None).to_string(),
            "pod fn-1234abcd-x7k2q was not ready within 60.0s (--pod-ready-timeout)"
        );
        assert_eq!(
            not_ready(Some("kubernetes API forbidden (403): no watch")).to_string(),
            "pod fn-1234abcd-x7k2q was not ready within 60.0s (--pod-ready-timeout); the \
             runner could not see its state: the pod watch fails: kubernetes API forbidden \
             (403): no watch"
        );
    }
}
