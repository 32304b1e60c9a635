//! The pod runtime (compat §4-§6, docs/pod.md): a function image that no
//! `--config` entry lists runs in a function pod in `--pod-namespace`,
//! pulled from its (possibly private) registry and answered by our own
//! `wrapper-server` inside the pod.
//!
//! ```text
//!  evaluate(image) --> cache (cache.rs): a ready pod of the image? --yes--> channel.rs: call it
//!                        | no: a slot starts one on a thread of its own     (warm: no API call)
//!                        v
//!                      start.rs: image.rs (registry) -> pull_secret.rs -> template.rs
//!                                -> find or create -> Ready on the pod watch
//! ```
//!
//! Threads: the pod watch (`kube::PodWatch`), one starter per pod being
//! started (at most [`MAX_STARTING_PODS`]), the upkeep thread (upkeep.rs:
//! reclaim-after refreshes, deferred deletes), and the scan thread
//! (template changes every `--scan-interval`). Calls block only on their
//! own image's entry, within their own deadline.

pub mod cache;
pub mod cache_config;
pub mod channel;
pub mod gc;
pub mod image;
pub mod pull_secret;
pub mod start;
pub mod template;
pub(crate) mod upkeep;
pub mod warmup;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use self::cache::{AcquireError, Cache, Held, Limits, SlotId};
use self::cache_config::{CacheConfig, Defaults};
use self::channel::Channel;
use self::image::Images;
use self::pull_secret::PullSecret;
use self::start::Starter;
use self::template::{Naming, PodId, Template, FUNCTION_CONTAINER, IMAGE_LABEL};
use self::upkeep::{Job, Upkeep};
use super::metrics::pod::{
    pod_deleted, report_census, DeleteReason, FunctionPods, PodCensus, PodMetrics, Start,
};
use super::metrics::{evaluated, Runtime as Runs};
use super::{Error, Evaluator, PodFailure, Runtime};
use crate::call::CallContext;
use crate::grpc::Code;
use crate::kube::{self, PodWatch, Store, WatchOptions};
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};
use crate::registry;

/// Most pods being started at once (each start is a thread that mostly
/// waits on the watch): far above the functions of one render, a bound on
/// threads when a client asks for many images at once. Beyond it a call
/// fails RESOURCE_EXHAUSTED at once.
pub(crate) const MAX_STARTING_PODS: usize = 64;
/// How long [`Runtime::wait_ready`] waits at most for the first list of
/// pods: past it the runner reports ready anyway (with a warning), so that
/// an unreachable API server does not keep the exec runtime's functions
/// from being served; pod calls then fail with the reason.
pub(crate) const WATCH_SYNC_BOUND: Duration = Duration::from_secs(30);
/// Most names of unreachable pods kept (`Inner::unreachable`): far more
/// than one node's function pods.
const MAX_UNREACHABLE: usize = 64;
/// The longest time between reclaim-after refreshes of a pod in use (compat
/// §4.4: ours, at most once a minute instead of a PATCH per call). With a
/// TTL under three minutes the refresh comes every third of the TTL, so
/// another replica never judges a pod in use as expired.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The pod runtime's settings (`flags` builds them from serve's flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// `--pod-namespace`.
    pub namespace: String,
    /// `--pod-ttl`.
    pub ttl: Duration,
    /// `--scan-interval`: how often the template (and, with GC, the pods)
    /// are looked at.
    pub scan_interval: Duration,
    /// Where pods are made from.
    pub template: TemplateSource,
    /// `--max-request-body-size`, both ways, to the pods too.
    pub max_message_bytes: usize,
    /// `--max-parallel-pods-per-function`, `--max-waitlist-length`.
    pub limits: Limits,
    /// `--pod-ready-timeout`.
    pub ready_timeout: Duration,
    /// `--kubeconfig`; `None`: in-cluster, `$KUBECONFIG`, `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The private-registry settings (shared with `inspect`).
    pub registry: registry::Config,
    /// `--registry-auth-secret-name`: the Secret replicated for pulls.
    pub pull_secret: String,
    /// `--pod-cache-config`: per-image TTL and limits (read whether or not
    /// warm-up is on, as Porch v1.5 does), and the warm-up list.
    pub cache_config: PathBuf,
    /// `--warm-up-pod-cache`.
    pub warm_up: bool,
}

/// The base of every function pod (compat §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// The inline template; `$WRAPPER_SERVER_IMAGE` feeds its init
    /// container.
    Inline { wrapper_server_image: String },
    /// `--function-pod-template`: this ConfigMap in the runner's own
    /// namespace.
    ConfigMap { name: String },
}

/// Why the pod runtime could not start.
#[derive(Debug)]
pub enum StartError {
    /// The inline template needs `$WRAPPER_SERVER_IMAGE`.
    NoWrapperServerImage,
    /// The Kubernetes configuration exists but is unusable.
    KubeConfig(kube::ConfigError),
    /// The Kubernetes client could not be built (TLS material).
    KubeClient(kube::Error),
    /// The registry settings are unusable (the CA directory).
    Registry(registry::Error),
    /// A thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NoWrapperServerImage => f.write_str(
                "the environment variable WRAPPER_SERVER_IMAGE must name the image that holds \
                 /wrapper-server/ (copied into every function pod); set it, or pass \
                 --disable-runtimes=pod",
            ),
            StartError::KubeConfig(_) => f.write_str("the Kubernetes configuration is unusable"),
            StartError::KubeClient(_) => f.write_str("cannot build the Kubernetes client"),
            StartError::Registry(_) => f.write_str("the private-registry settings are unusable"),
            StartError::Thread(_) => f.write_str("cannot start a thread of the pod runtime"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::NoWrapperServerImage => None,
            StartError::KubeConfig(e) => Some(e),
            StartError::KubeClient(e) => Some(e),
            StartError::Registry(e) => Some(e),
            StartError::Thread(e) => Some(e),
        }
    }
}

/// The pod runtime. Cheap to share (`Arc` inside).
pub(crate) struct PodRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    kube: Arc<kube::Client>,
    watch: PodWatch,
    images: Images,
    pull_secret: PullSecret,
    templates: Templates,
    /// Per-image TTL and limits (`--pod-cache-config`).
    per_image: CacheConfig,
    warming: warmup::Pending,
    cache: Cache<Arc<PodHandle>, start::Error>,
    upkeep: Upkeep,
    /// Pods we hold a handle of, by name (to retire one in use).
    handles: Mutex<HashMap<String, Weak<PodHandle>>>,
    starting: AtomicUsize,
    started_at: Instant,
    shut_down: AtomicBool,
    /// Wakes the scan thread early (shutdown).
    scan_wake: (Mutex<bool>, Condvar),
    sync_warned: AtomicBool,
    /// Pods that refused a call's connection while the watch still showed
    /// them ready (a node lost and not noticed yet): a start never reuses
    /// them, so the call's retry gets a new pod. At most
    /// [`MAX_UNREACHABLE`] names, each forgotten once the watch no longer
    /// shows its pod.
    unreachable: Mutex<VecDeque<String>>,
    /// The pods held by starts and handles (`start::Claims`).
    claims: start::Claims,
}

/// A ready pod and the channel to it.
pub(crate) struct PodHandle {
    name: String,
    ip: IpAddr,
    pod_id: PodId,
    template_version: String,
    channel: Channel,
    calls: Mutex<Calls>,
    metrics: PodMetrics,
    /// Counted as vanished (deleted behind our back) once.
    gone: AtomicBool,
    /// Where this handle holds its pod (given back when it is dropped).
    claims: start::Claims,
}

impl Drop for PodHandle {
    fn drop(&mut self) {
        self.claims.release(&self.name);
    }
}

impl PodHandle {
    /// The pod was found gone under a call (refused, or absent from the
    /// watch): counted once as `vanished`.
    fn vanished(&self) {
        if !self.gone.swap(true, Ordering::SeqCst) {
            pod_deleted(DeleteReason::Vanished);
        }
    }
}

#[derive(Default)]
struct Calls {
    in_flight: usize,
    /// Retired (an old template version): delete once idle; the
    /// resourceVersion it was judged at.
    retired: Option<String>,
    last_refresh: Option<Instant>,
}

impl PodRuntime {
    /// Starts the runtime: the Kubernetes client and pod watch, the upkeep
    /// and scan threads. `Ok(None)` when no Kubernetes configuration exists
    /// at all (**ours**, compat §1: one clear line, and the runner serves
    /// the exec runtime alone).
    pub fn start(config: Config) -> Result<Option<PodRuntime>, StartError> {
        let kube_config = match kube::Config::load(config.kubeconfig.as_deref()) {
            Ok(c) => c,
            Err(kube::ConfigError::NotFound { tried }) => {
                crate::warn!(
                    "no Kubernetes configuration found (tried {}): the pod runtime is off, only \
                     the exec runtime serves",
                    tried.join(", ")
                );
                return Ok(None);
            }
            Err(e) => return Err(StartError::KubeConfig(e)),
        };
        // With a cluster to run pods in, pods that cannot get the wrapper
        // server are a mistake to report now, not at the first call.
        if let TemplateSource::Inline {
            wrapper_server_image,
        } = &config.template
        {
            if wrapper_server_image.is_empty() {
                return Err(StartError::NoWrapperServerImage);
            }
        }
        let kube = Arc::new(kube::Client::new(kube_config).map_err(StartError::KubeClient)?);
        let registry = registry::Client::new(&config.registry).map_err(StartError::Registry)?;
        let runner_namespace = kube
            .default_namespace()
            .unwrap_or(DEFAULT_RUNNER_NAMESPACE)
            .to_owned();
        let watch = PodWatch::start(
            Arc::clone(&kube),
            &config.namespace,
            IMAGE_LABEL,
            WatchOptions::default(),
        );
        let upkeep = Upkeep::start(Arc::clone(&kube), config.namespace.clone())
            .map_err(StartError::Thread)?;
        let templates = Templates::new(&config.template, runner_namespace);
        let per_image = load_cache_config(&config);
        crate::info!(
            "pod runtime: function pods in namespace {}, template {}, TTL {:?}, up to {} pod(s) \
             per function",
            config.namespace,
            templates.describe(),
            config.ttl,
            config.limits.max_pods
        );
        let inner = Arc::new(Inner {
            pull_secret: PullSecret::new(&config.namespace, &config.pull_secret),
            images: Images::new(Arc::new(registry)),
            config,
            kube,
            watch,
            templates,
            per_image,
            warming: warmup::Pending::default(),
            cache: Cache::default(),
            upkeep,
            handles: Mutex::new(HashMap::new()),
            starting: AtomicUsize::new(0),
            started_at: Instant::now(),
            shut_down: AtomicBool::new(false),
            scan_wake: (Mutex::new(false), Condvar::new()),
            sync_warned: AtomicBool::new(false),
            unreachable: Mutex::new(VecDeque::new()),
            claims: start::Claims::default(),
        });
        report_census(Arc::downgrade(&inner) as Weak<dyn PodCensus>);
        let scanner = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("pod-scan".to_owned())
            .spawn(move || scan_loop(&scanner))
            .map_err(StartError::Thread)?;
        if inner.config.warm_up {
            inner.warm_up();
        }
        Ok(Some(PodRuntime { inner }))
    }
}

/// The runner's own namespace when neither the service account nor the
/// kubeconfig context names one (compat §4.2).
pub(crate) const DEFAULT_RUNNER_NAMESPACE: &str = "porch-system";

impl Evaluator for PodRuntime {
    fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error> {
        let started = Instant::now();
        let result = self.inner.evaluate(request, ctx);
        evaluated(Runs::Pod, &result, started);
        result
    }
}

impl Runtime for PodRuntime {
    fn name(&self) -> &'static str {
        "pod"
    }

    /// Ready once the pod watch has listed the pods and the warm-up has
    /// ended (each bounded: [`WATCH_SYNC_BOUND`], [`warmup::WARM_UP_BOUND`]
    /// from the start).
    fn wait_ready(&self, timeout: Duration) -> bool {
        let inner = &self.inner;
        if inner.shut_down.load(Ordering::SeqCst) {
            return false;
        }
        let until = Instant::now() + timeout;
        inner.wait_synced(until) && inner.wait_warmed_up(until)
    }

    /// Stops the watch and the background threads; later calls fail
    /// UNAVAILABLE. Pods are left for the next runner (or the GC).
    fn shutdown(&self, _deadline: Instant) {
        let inner = &self.inner;
        inner.shut_down.store(true, Ordering::SeqCst);
        inner.watch.stop();
        inner.upkeep.stop();
        let (flag, wake) = &inner.scan_wake;
        *lock(flag) = true;
        wake.notify_all();
    }
}

impl Inner {
    fn store(&self) -> &Arc<Store> {
        self.watch.store()
    }

    /// Whether the watch has listed the pods by `until`; past
    /// [`WATCH_SYNC_BOUND`] from the start, yes anyway (with a warning).
    fn wait_synced(&self, until: Instant) -> bool {
        let bound = self.started_at + WATCH_SYNC_BOUND;
        if self.store().wait_synced(until.min(bound)) {
            return true;
        }
        if Instant::now() >= bound {
            if !self.sync_warned.swap(true, Ordering::SeqCst) {
                crate::warn!(
                    "the pod watch has not listed the pods of {} after {WATCH_SYNC_BOUND:?} ({}): \
                     reporting ready for the exec runtime; pod calls fail until it does",
                    self.config.namespace,
                    self.store()
                        .last_error()
                        .unwrap_or_else(|| "no error yet".to_owned())
                );
            }
            return true;
        }
        false
    }

    /// Whether the warm-up has ended by `until`; past
    /// [`warmup::WARM_UP_BOUND`] from the start, yes anyway (logged).
    fn wait_warmed_up(&self, until: Instant) -> bool {
        let bound = self.started_at + warmup::WARM_UP_BOUND;
        if self.warming.wait(until.min(bound)) {
            return true;
        }
        if Instant::now() >= bound {
            crate::warn!(
                "the pod warm-up has not ended after {:?}: reporting ready; the pods still \
                 starting join when they are ready",
                warmup::WARM_UP_BOUND
            );
            return true;
        }
        false
    }

    /// The TTL of `image`'s pods: its `--pod-cache-config` entry, else
    /// `--pod-ttl`.
    fn ttl_for(&self, image: &str) -> Duration {
        self.per_image
            .for_image(image)
            .map_or(self.config.ttl, |e| e.ttl)
    }

    /// The parallel-pod limits of `image`.
    fn limits_for(&self, image: &str) -> Limits {
        self.per_image
            .for_image(image)
            .map_or(self.config.limits, |e| e.limits)
    }

    /// Starts a pod for every image of `--pod-cache-config` at once, each
    /// on a thread of its own (warmup.rs).
    fn warm_up(self: &Arc<Self>) {
        let entries = self.per_image.entries().to_vec();
        if entries.is_empty() {
            return;
        }
        crate::info!("warming up {} function pod(s)", entries.len());
        self.warming.add(entries.len());
        for entry in entries {
            let inner = Arc::clone(self);
            let image = entry.image.clone();
            let spawned = std::thread::Builder::new()
                .name("pod-warm-up".to_owned())
                .spawn(move || {
                    let ready_timeout = inner.config.ready_timeout.min(warmup::WARM_UP_POD_BOUND);
                    if let Some(slot) = inner.cache.prestart(&entry.image, |_| {}) {
                        let result =
                            inner.start_pod(&entry.image, Naming::Fixed, entry.ttl, ready_timeout);
                        inner.cache.finish(&entry.image, slot, result);
                    }
                    inner.warming.done();
                });
            if let Err(e) = spawned {
                crate::warn!("cannot warm up {image}: no thread: {e}");
                self.warming.done();
            }
        }
    }

    fn evaluate(
        self: &Arc<Self>,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(Error::ShutDown);
        }
        let image = request.image.clone();
        let fail = |failure: PodFailure| Error::Pod {
            image: image.clone(),
            failure: Box::new(failure),
        };
        // A pod that vanished under us before the request left is replaced
        // once (compat §4.4: ours).
        let mut tried_new_pod = false;
        loop {
            let lease = self
                .cache
                .acquire(
                    &image,
                    self.limits_for(&image),
                    ctx,
                    |pod| self.usable(pod),
                    |slot| self.spawn_start(&image, slot),
                )
                .map_err(|e| match e {
                    AcquireError::Interrupted(why) => Error::Interrupted(why),
                    AcquireError::StartFailed(error) => fail(failure_of(&error)),
                })?;
            let pod = Arc::clone(lease.pod());
            pod.metrics.call_served(if lease.waited() {
                Start::Cold
            } else {
                Start::Warm
            });
            let _call = self.begin_call(&pod, &image);
            // A pod close to its reclaim-after is refreshed before it is
            // used, so another replica's GC cannot delete it under this
            // call (its delete's precondition fails, or our refresh finds
            // the pod gone and the call moves to a new pod).
            if self.near_reclaim(&pod, &image) {
                match self.refresh_now(&pod, &image, ctx) {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() && !tried_new_pod => {
                        self.cache.remove(&image, lease.slot());
                        tried_new_pod = true;
                        continue;
                    }
                    Err(e) => crate::warn!(
                        "cannot refresh reclaim-after of pod {} before a call: {e}",
                        pod.name
                    ),
                }
            }
            match pod.channel.evaluate(request, ctx) {
                Ok(response) => {
                    if !response.log.is_empty() {
                        // The Go original logs a function's stderr on success.
                        crate::warn!(
                            "evaluating {image} succeeded, but stderr is: {}",
                            String::from_utf8_lossy(&response.log)
                        );
                    }
                    return Ok(response);
                }
                Err(channel::Error::NotSent(status)) if !tried_new_pod => {
                    crate::warn!(
                        "function pod {} for {image} cannot be reached ({status}): trying a new pod",
                        pod.name
                    );
                    self.remember_unreachable(&pod.name);
                    pod.vanished();
                    self.cache.remove(&image, lease.slot());
                    tried_new_pod = true;
                }
                Err(channel::Error::NotSent(status)) => {
                    return Err(fail(PodFailure::Unreachable {
                        pod: pod.name.clone(),
                        source: Box::new(status),
                    }))
                }
                Err(channel::Error::Failed(status)) => {
                    if let Some(why) = ctx.interrupted() {
                        return Err(Error::Interrupted(why));
                    }
                    return Err(match status.code {
                        // Our client's own view of the connection.
                        Code::UNAVAILABLE => fail(PodFailure::Unreachable {
                            pod: pod.name.clone(),
                            source: Box::new(status),
                        }),
                        code => fail(PodFailure::Function {
                            code: code.0,
                            message: status.message,
                        }),
                    });
                }
                Err(channel::Error::BadAnswer(e)) => {
                    return Err(fail(PodFailure::Unreachable {
                        pod: pod.name.clone(),
                        source: Box::new(e),
                    }))
                }
            }
        }
    }

    /// Whether a ready pod may take a call: the watch still shows it
    /// running and ready at the same IP, and its template is current.
    fn usable(&self, pod: &PodHandle) -> bool {
        if self
            .templates
            .known()
            .is_some_and(|v| v != pod.template_version)
        {
            return false;
        }
        let (present, usable) = self.store().inspect(&pod.name, |seen| match seen {
            None => (false, false),
            Some(p) => (
                !p.is_terminating(),
                !p.is_terminating()
                    && p.is_ready()
                    && p.pod_ip().and_then(|ip| ip.parse::<IpAddr>().ok()) == Some(pod.ip),
            ),
        });
        // Gone or going, though our GC let it be (a pod it deletes leaves
        // the cache first): deleted behind our back.
        if !present {
            pod.vanished();
        }
        usable
    }

    /// Hands the start of a pod for `slot` to a thread of its own (called
    /// under the cache's lock: no waiting here).
    fn spawn_start(self: &Arc<Self>, image: &str, slot: SlotId) {
        let busy = self.starting.fetch_add(1, Ordering::SeqCst) >= MAX_STARTING_PODS;
        let inner = Arc::clone(self);
        let for_thread = image.to_owned();
        let spawned = if busy {
            Err(None)
        } else {
            std::thread::Builder::new()
                .name("pod-start".to_owned())
                .spawn(move || {
                    let ttl = inner.ttl_for(&for_thread);
                    let result = inner.start_pod(
                        &for_thread,
                        Naming::Generated,
                        ttl,
                        inner.config.ready_timeout,
                    );
                    inner.starting.fetch_sub(1, Ordering::SeqCst);
                    inner.cache.finish(&for_thread, slot, result);
                })
                .map(drop)
                .map_err(Some)
        };
        if let Err(cause) = spawned {
            self.starting.fetch_sub(1, Ordering::SeqCst);
            let error = match cause {
                None => start::Error::TooManyStarts {
                    limit: MAX_STARTING_PODS,
                },
                Some(e) => start::Error::Thread(e),
            };
            // Reported from another thread: `finish` takes the cache lock
            // this call holds.
            let inner = Arc::clone(self);
            let image = image.to_owned();
            std::thread::spawn(move || inner.cache.finish(&image, slot, Err(error)));
        }
    }

    /// One start (on a starter thread).
    fn start_pod(
        &self,
        image: &str,
        naming: Naming,
        ttl: Duration,
        ready_timeout: Duration,
    ) -> Result<Arc<PodHandle>, start::Error> {
        let template = self
            .templates
            .current(&self.kube, Instant::now() + ready_timeout)?;
        let avoid: Vec<String> = {
            let mut unreachable = lock(&self.unreachable);
            unreachable.retain(|name| self.store().inspect(name, |pod| pod.is_some()));
            unreachable.iter().cloned().collect()
        };
        let starter = Starter {
            kube: &self.kube,
            store: self.store(),
            images: &self.images,
            pull_secret: &self.pull_secret,
            template: &template,
            namespace: &self.config.namespace,
            max_message_bytes: self.config.max_message_bytes,
            ready_timeout,
        };
        let started = starter
            .start(&start::Request {
                image,
                ttl,
                naming,
                avoid: &avoid,
                claims: &self.claims,
            })
            .inspect_err(|e| {
                crate::warn!("no function pod for {image}: {}", crate::log::chain(e))
            })?;
        let handle = Arc::new(PodHandle {
            channel: Channel::new(started.ip, self.config.max_message_bytes),
            name: started.name,
            ip: started.ip,
            pod_id: started.pod_id,
            template_version: started.template_version,
            calls: Mutex::new(Calls::default()),
            metrics: started.metrics,
            gone: AtomicBool::new(false),
            claims: self.claims.clone(),
        });
        crate::info!(
            "function pod {} ({}) ready for {image} at {}",
            handle.name,
            handle.pod_id,
            handle.channel.addr()
        );
        {
            let mut handles = lock(&self.handles);
            handles.retain(|_, h| h.strong_count() > 0);
            handles.insert(handle.name.clone(), Arc::downgrade(&handle));
        }
        if let Some((old, resource_version)) = started.replaced {
            self.retire(&old, resource_version);
        }
        Ok(handle)
    }

    /// Keeps `name` from being reused (see [`Inner::unreachable`]).
    fn remember_unreachable(&self, name: &str) {
        let mut unreachable = lock(&self.unreachable);
        unreachable.retain(|n| n != name);
        if unreachable.len() >= MAX_UNREACHABLE {
            unreachable.pop_front();
        }
        unreachable.push_back(name.to_owned());
    }

    /// Deletes pod `name` (an old template version) once no call of ours
    /// is on it.
    fn retire(&self, name: &str, resource_version: String) {
        let live = lock(&self.handles).get(name).and_then(Weak::upgrade);
        if let Some(pod) = live {
            let mut calls = lock(&pod.calls);
            if calls.in_flight > 0 {
                calls.retired = Some(resource_version);
                return;
            }
        }
        self.upkeep.push(Job::Delete {
            pod: name.to_owned(),
            resource_version,
            why: DeleteReason::Template,
        });
    }

    /// Counts a call on `pod` until the guard drops; asks for a
    /// reclaim-after refresh when one is due.
    fn begin_call<'a>(&'a self, pod: &'a Arc<PodHandle>, image: &str) -> CallOnPod<'a> {
        let now = Instant::now();
        let ttl = self.ttl_for(image);
        let interval = refresh_interval(ttl);
        let refresh = {
            let mut calls = lock(&pod.calls);
            calls.in_flight += 1;
            // A new pod's reclaim-after is fresh: count from its start.
            let last = *calls.last_refresh.get_or_insert(now);
            let due = now.saturating_duration_since(last) >= interval;
            if due {
                calls.last_refresh = Some(now);
            }
            due
        };
        if refresh {
            self.upkeep.push(Job::Refresh {
                pod: pod.name.clone(),
                ttl,
            });
        }
        CallOnPod { inner: self, pod }
    }

    /// Whether `pod`'s reclaim-after (as the watch shows it) is closer than
    /// a refresh interval: it has been idle about a TTL.
    fn near_reclaim(&self, pod: &PodHandle, image: &str) -> bool {
        let margin = refresh_interval(self.ttl_for(image));
        let reclaim_after = self
            .store()
            .inspect(&pod.name, |p| p.and_then(gc::reclaim_after));
        reclaim_after.is_some_and(|at| {
            at.duration_since(SystemTime::now())
                .map_or(true, |left| left < margin)
        })
    }

    /// Refreshes `pod`'s reclaim-after now, within the call's deadline.
    fn refresh_now(
        &self,
        pod: &PodHandle,
        image: &str,
        ctx: &CallContext,
    ) -> Result<(), kube::Error> {
        let value = template::reclaim_after(SystemTime::now(), self.ttl_for(image));
        let patch = serde_json::json!({
            "metadata": { "annotations": { template::RECLAIM_AFTER_ANNOTATION: value } }
        });
        self.kube
            .pods(&self.config.namespace)
            .with_deadline(ctx.deadline)
            .patch_merge(&pod.name, &patch)
            .map(drop)
    }

    /// One garbage collection (gc.rs) over the pods the watch shows.
    fn collect_garbage(&self) {
        if !self.store().is_synced() {
            return;
        }
        let now = SystemTime::now();
        let version = self.templates.known();
        for pod in self.store().list() {
            let name = pod.metadata.name_or_empty().to_owned();
            let image = function_image(&pod);
            let ttl = image
                .as_deref()
                .map_or(self.config.ttl, |i| self.ttl_for(i));
            let facts = gc::Facts {
                now,
                in_use: self.has_calls_on(&name),
                template_version: version.as_deref(),
                refresh_margin: refresh_interval(ttl),
            };
            match gc::judge(&pod, &facts) {
                gc::Action::Keep => {}
                gc::Action::Annotate | gc::Action::Refresh => {
                    self.upkeep.push(Job::Refresh { pod: name, ttl });
                }
                gc::Action::Delete(reason) => {
                    // Taken out of the cache first, under its lock: no
                    // call can take the pod once the delete is decided.
                    if self.cache.release_if_idle(|h| h.name == name) == Held::Busy
                        || self.has_calls_on(&name)
                    {
                        continue;
                    }
                    self.upkeep.push(Job::Delete {
                        pod: name,
                        resource_version: pod.metadata.resource_version.clone().unwrap_or_default(),
                        why: reason,
                    });
                }
            }
        }
    }

    /// Whether a call of this replica is in flight on pod `name`.
    fn has_calls_on(&self, name: &str) -> bool {
        lock(&self.handles)
            .get(name)
            .and_then(Weak::upgrade)
            .is_some_and(|h| lock(&h.calls).in_flight > 0)
    }
}

impl PodCensus for Inner {
    /// The functions whose image resolved (a label from the registry, not
    /// from request text), with their pods and load.
    fn census(&self) -> Vec<FunctionPods> {
        self.cache
            .census()
            .into_iter()
            .filter(|(image, ..)| self.images.known(image).is_some())
            .map(|(image, pods, load)| FunctionPods { image, pods, load })
            .collect()
    }
}

/// A call on a pod, counted while it lives.
struct CallOnPod<'a> {
    inner: &'a Inner,
    pod: &'a Arc<PodHandle>,
}

impl Drop for CallOnPod<'_> {
    fn drop(&mut self) {
        let retired = {
            let mut calls = lock(&self.pod.calls);
            calls.in_flight -= 1;
            if calls.in_flight == 0 {
                calls.retired.take()
            } else {
                None
            }
        };
        if let Some(resource_version) = retired {
            self.inner.upkeep.push(Job::Delete {
                pod: self.pod.name.clone(),
                resource_version,
                why: DeleteReason::Template,
            });
        }
    }
}

/// The template pods are made from, and the version last seen.
struct Templates {
    source: TemplateSource,
    runner_namespace: String,
    /// The ConfigMap's template as last read (inline: fixed).
    current: Mutex<Option<Arc<Template>>>,
}

impl Templates {
    fn new(source: &TemplateSource, runner_namespace: String) -> Templates {
        let current = match source {
            TemplateSource::Inline {
                wrapper_server_image,
            } => Some(Arc::new(Template::inline(wrapper_server_image))),
            TemplateSource::ConfigMap { .. } => None,
        };
        Templates {
            source: source.clone(),
            runner_namespace,
            current: Mutex::new(current),
        }
    }

    fn describe(&self) -> String {
        match &self.source {
            TemplateSource::Inline { .. } => "inline".to_owned(),
            TemplateSource::ConfigMap { name } => {
                format!("ConfigMap {}/{name}", self.runner_namespace)
            }
        }
    }

    /// The version pods must carry to be used (the inline one, or the
    /// ConfigMap's last read; `None` before the first read).
    fn known(&self) -> Option<String> {
        lock(&self.current).as_ref().map(|t| t.version().to_owned())
    }

    /// The current template: the inline one, or the ConfigMap read now
    /// (the Go original reads it for every pod it makes).
    fn current(
        &self,
        kube: &kube::Client,
        deadline: Instant,
    ) -> Result<Arc<Template>, start::Error> {
        let TemplateSource::ConfigMap { name } = &self.source else {
            if let Some(t) = lock(&self.current).as_ref() {
                return Ok(Arc::clone(t));
            }
            unreachable!("the inline template is set at construction");
        };
        let qualified = format!("{}/{name}", self.runner_namespace);
        let map = kube
            .config_maps(&self.runner_namespace)
            .with_deadline(Some(deadline))
            .get(name)
            .map_err(|source| start::Error::Kubernetes {
                doing: format!("cannot read the function pod template ConfigMap {qualified}"),
                source,
            })?;
        let version = map.metadata.resource_version.clone().unwrap_or_default();
        let mut current = lock(&self.current);
        if let Some(t) = current.as_ref().filter(|t| t.version() == version) {
            return Ok(Arc::clone(t));
        }
        let template = Arc::new(
            Template::from_config_map(&qualified, &map.data, &version)
                .map_err(start::Error::Template)?,
        );
        let before = current.replace(Arc::clone(&template));
        match before {
            Some(old) => crate::info!(
                "function pod template {qualified} changed (version {} -> {version}): new pods \
                 use it, pods of the old version are replaced",
                old.version()
            ),
            None => crate::info!("function pod template {qualified} read (version {version})"),
        }
        Ok(template)
    }
}

/// Every `--scan-interval`: the template is read again (so that a changed
/// ConfigMap retires the pods of the old version without an API call per
/// evaluation), then the garbage collection (gc.rs). Ends when the runtime
/// is shut down or dropped.
fn scan_loop(inner: &Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let interval = strong.config.scan_interval;
        if let TemplateSource::ConfigMap { .. } = strong.templates.source {
            let deadline = Instant::now() + interval.min(Duration::from_secs(30));
            if let Err(e) = strong.templates.current(&strong.kube, deadline) {
                crate::warn!("{}", crate::log::chain(&e));
            }
        }
        strong.collect_garbage();
        let (flag, wake) = &strong.scan_wake;
        let stopped = lock(flag);
        let (stopped, _) = wake
            .wait_timeout_while(stopped, interval, |stopped| !*stopped)
            .unwrap_or_else(|p| p.into_inner());
        if *stopped {
            return;
        }
    }
}

/// How often a pod in use has its reclaim-after refreshed: every
/// [`REFRESH_INTERVAL`], or every third of a shorter TTL.
fn refresh_interval(ttl: Duration) -> Duration {
    REFRESH_INTERVAL.min(ttl / 3)
}

/// The image of a pod's `function` container.
fn function_image(pod: &kube::Pod) -> Option<String> {
    pod.spec
        .get("containers")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(|n| n.as_str()) == Some(FUNCTION_CONTAINER))?
        .get("image")?
        .as_str()
        .map(str::to_owned)
}

/// The `--pod-cache-config` file with the flags' defaults; a file that
/// cannot be used is a warning (the runner starts without it).
fn load_cache_config(config: &Config) -> CacheConfig {
    let defaults = Defaults {
        ttl: config.ttl,
        limits: config.limits,
    };
    match CacheConfig::load(&config.cache_config, defaults) {
        Ok(loaded) => {
            for warning in loaded.warnings() {
                if config.warm_up {
                    crate::warn!("{warning}");
                } else {
                    crate::v!(2, "{warning}");
                }
            }
            loaded
        }
        Err(e) => {
            crate::warn!(
                "{}: no per-image settings, no warm-up",
                crate::log::chain(&e)
            );
            CacheConfig::default()
        }
    }
}

/// How a failed start reaches the caller (shared by every waiter).
fn failure_of(error: &Arc<start::Error>) -> PodFailure {
    match &**error {
        start::Error::CannotStart { pod, failure } => PodFailure::Failed {
            pod: pod.clone(),
            reason: failure.reason.clone(),
            message: start::failure_message(failure),
        },
        start::Error::TooManyStarts { limit } => PodFailure::Busy {
            waiting: *limit,
            limit: *limit,
        },
        start::Error::Image(_) => PodFailure::Image {
            source: Arc::clone(error) as Arc<dyn std::error::Error + Send + Sync>,
        },
        _ => PodFailure::NoPod {
            source: Arc::clone(error) as Arc<dyn std::error::Error + Send + Sync>,
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
