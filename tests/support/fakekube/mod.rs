//! A faithful fake of the core/v1 Kubernetes API over HTTPS, and a kubelet
//! simulator (`kubelet.rs`), for the kube client and pod runtime tests.
//!
//! What it does like the real API server: bearer-token auth against a token
//! file re-read per request (rotate with [`FakeKube::rotate_token`]) or a
//! client certificate from the test CA; `Status` errors with the real codes,
//! reasons and messages; a global resourceVersion; uid, creationTimestamp,
//! generateName with a random 5-char suffix; label selectors; merge patch;
//! server-side apply (simplified merge, see `merge.rs`); update with
//! conflict detection; graceful pod delete; list + watch with bookmarks and
//! 410 (an ERROR event) for a resourceVersion older than the kept window;
//! discovery for kubectl. Plus fault injection and a request log.
//!
//! Resources (`resources.rs`): core/v1 pods, secrets, configmaps (what the
//! kube client uses), and services, serviceaccounts, apps/v1 deployments,
//! rbac.authorization.k8s.io/v1 roles and rolebindings (what `deploy/`
//! holds), checked on create and update as the real server would reject
//! them (`validate.rs`); writes honour `dryRun=All`.
//!
//! One Role (`rbac.rs`) for the token's service account: everything allowed
//! until a test grants only some rules ([`FakeKube::grant_only`]) or what
//! the stored RoleBindings grant ([`FakeKube::grant_bound`]), or denies a
//! verb on a resource ([`FakeKube::deny`]); requests it does not allow get
//! 403 and SelfSubjectAccessReview says so. A client-certificate caller is
//! the cluster admin (`O=system:masters`), never checked.
//!
//! Not done: strategic merge and JSON patch (415), OpenAPI (404), Table
//! output (plain lists), other resources and API groups, cluster-scoped
//! resources, Roles per subject other than the one service account
//! (RoleBindings to other subjects are stored, not enforced), pagination (`limit`/`continue`
//! ignored).

pub mod api;
pub mod certs;
pub mod http;
pub mod kubelet;
pub mod merge;
pub mod pod_ip;
pub mod rbac;
pub mod resources;
pub mod selector;
mod server;
pub mod store;
pub mod validate;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub use store::{ApiError, Event, Store};

pub use crate::support::tempdir::TempDir;

/// What an injected fault does to a matching request.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with this code and a matching `Status` (429 gets Retry-After).
    Status { code: u16, retry_after: Option<u64> },
    /// Wait, then serve normally.
    Latency(Duration),
    /// Read the request, then close the connection without an answer.
    Drop,
    /// Serve the request (it takes effect), then answer with this code
    /// instead of its result: an answer lost after the write (a proxy's
    /// 500, an etcd timeout after the commit). Watches are served as usual.
    LostAnswer { code: u16 },
}

/// A fault for the next `times` requests with `method` whose path starts
/// with `path_prefix`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: String,
    pub path_prefix: String,
    pub times: u32,
    pub action: FaultAction,
    /// Only requests with (`watch=1`) or without a watch flag; `None`: any.
    pub watch: Option<bool>,
}

impl Fault {
    pub fn status(method: &str, path_prefix: &str, code: u16) -> Fault {
        Fault {
            method: method.to_owned(),
            path_prefix: path_prefix.to_owned(),
            times: 1,
            action: FaultAction::Status {
                code,
                retry_after: None,
            },
            watch: None,
        }
    }

    pub fn too_many_requests(method: &str, path_prefix: &str, retry_after_secs: u64) -> Fault {
        let mut f = Fault::status(method, path_prefix, 429);
        f.action = FaultAction::Status {
            code: 429,
            retry_after: Some(retry_after_secs),
        };
        f
    }

    pub fn drop_connection(method: &str, path_prefix: &str) -> Fault {
        let mut f = Fault::status(method, path_prefix, 0);
        f.action = FaultAction::Drop;
        f
    }

    /// The request takes effect, the client gets `code` (see
    /// [`FaultAction::LostAnswer`]).
    pub fn lost_answer(method: &str, path_prefix: &str, code: u16) -> Fault {
        let mut f = Fault::status(method, path_prefix, code);
        f.action = FaultAction::LostAnswer { code };
        f
    }

    pub fn latency(method: &str, path_prefix: &str, delay: Duration) -> Fault {
        let mut f = Fault::status(method, path_prefix, 0);
        f.action = FaultAction::Latency(delay);
        f
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.times = n;
        self
    }

    pub fn only_watch(mut self, watch: bool) -> Fault {
        self.watch = Some(watch);
        self
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// When its head was read (wall clock: compared with the klog times
    /// of the runner's and the wrappers' logs).
    pub at: SystemTime,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Status answered (0: connection dropped or still streaming).
    pub code: u16,
    pub content_type: String,
    pub accept: String,
}

/// A position in the fake's request log ([`FakeKube::mark`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestMark(usize);

fn count_matching(requests: &[LoggedRequest], method: &str, path_prefix: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method == method && r.path.starts_with(path_prefix))
        .count()
}

impl LoggedRequest {
    pub fn is_watch(&self) -> bool {
        self.query
            .split('&')
            .any(|p| p == "watch=1" || p == "watch=true")
    }
}

/// State shared by the fake's threads.
pub struct Shared {
    store: Mutex<Store>,
    changed: Condvar,
    token_file: PathBuf,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<LoggedRequest>>,
    shutdown: AtomicBool,
    watch_epoch: AtomicU64,
    conns: Mutex<Vec<TcpStream>>,
    bookmark_interval: Duration,
    subscribers: Mutex<Vec<mpsc::Sender<Event>>>,
    /// When set, only these namespaces exist (writes elsewhere: 404).
    namespaces: Mutex<Option<Vec<String>>>,
    /// What the client may do.
    role: Mutex<rbac::Role>,
    addr: SocketAddr,
}

impl Shared {
    fn lock<'a, T>(&self, m: &'a Mutex<T>) -> MutexGuard<'a, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.lock(&self.store)
    }

    /// Runs a store mutation, then wakes watches and tells subscribers.
    pub fn mutate<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut store = self.lock_store();
        let before = store.resource_version();
        let out = f(&mut store);
        let events = store.events_since(before).unwrap_or_default();
        drop(store);
        if !events.is_empty() {
            self.changed.notify_all();
            let mut subs = self.lock(&self.subscribers);
            subs.retain(|tx| events.iter().all(|e| tx.send(e.clone()).is_ok()));
        }
        out
    }

    /// 404 `namespaces "x" not found` when namespaces are restricted and
    /// `ns` is not one of them (the real server refuses writes there).
    pub fn check_namespace(&self, ns: &str) -> Result<(), ApiError> {
        match &*self.lock(&self.namespaces) {
            Some(known) if !known.iter().any(|k| k == ns) => {
                Err(ApiError::not_found("namespaces", ns))
            }
            _ => Ok(()),
        }
    }

    /// The Role now (with [`FakeKube::grant_bound`], the stored
    /// bindings' rules as they are now).
    pub fn role(&self) -> rbac::Role {
        let role = self.lock(&self.role).clone();
        if role.is_bound() {
            let rules = rbac::bound_rules(&self.lock_store());
            return role.resolve(rules);
        }
        role
    }

    fn take_fault(&self, req: &http::Request) -> Option<FaultAction> {
        let mut faults = self.lock(&self.faults);
        let is_watch = req.flag("watch");
        let i = faults.iter().position(|f| {
            f.times > 0
                && f.method == req.method
                && req.path.starts_with(&f.path_prefix)
                && f.watch.is_none_or(|w| w == is_watch)
        })?;
        faults[i].times -= 1;
        let action = faults[i].action.clone();
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(action)
    }

    fn log_request(&self, r: LoggedRequest) -> usize {
        let mut log = self.lock(&self.log);
        log.push(r);
        let index = log.len() - 1;
        drop(log);
        // Waiters on a request (`wait_for` checking `requests()`) wake too;
        // taking the store lock first means none is between its check and
        // its wait, so the wake-up cannot be lost.
        drop(self.lock_store());
        self.changed.notify_all();
        index
    }

    fn set_code(&self, i: usize, code: u16) {
        if let Some(r) = self.lock(&self.log).get_mut(i) {
            r.code = code;
        }
    }
}

/// Settings of a [`FakeKube`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Events kept for watches (older resourceVersions get 410).
    pub window: usize,
    /// How long a graceful pod delete takes before the pod is gone.
    pub pod_deletion_delay: Duration,
    /// How often a watch with allowWatchBookmarks gets a BOOKMARK.
    pub bookmark_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            window: 10_000,
            pod_deletion_delay: Duration::from_millis(100),
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// A running fake API server on 127.0.0.1 (HTTPS). Stops on drop.
pub struct FakeKube {
    shared: Arc<Shared>,
    dir: TempDir,
    acceptor: Option<JoinHandle<()>>,
    reaper: Option<JoinHandle<()>>,
}

/// The namespace written to the in-cluster `namespace` file.
pub const SA_NAMESPACE: &str = "porch-system";

impl FakeKube {
    pub fn start() -> FakeKube {
        FakeKube::with_options(Options::default())
    }

    pub fn with_options(options: Options) -> FakeKube {
        let certs = certs::certs();
        let dir = TempDir::new("fakekube");
        let sa = dir.path().join("serviceaccount");
        std::fs::create_dir_all(&sa).expect("sa dir");
        std::fs::copy(&certs.ca_crt, sa.join("ca.crt")).expect("copy ca");
        std::fs::write(sa.join("namespace"), SA_NAMESPACE).expect("namespace file");
        let token_file = sa.join("token");
        std::fs::write(&token_file, random_token()).expect("token file");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake kube");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(options.window, options.pod_deletion_delay)),
            changed: Condvar::new(),
            token_file,
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
            watch_epoch: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
            bookmark_interval: options.bookmark_interval,
            subscribers: Mutex::new(Vec::new()),
            namespaces: Mutex::new(None),
            role: Mutex::default(),
            addr,
        });
        let tls = certs::server_config();
        let s = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || server::accept_loop(s, listener, tls));
        let s = Arc::clone(&shared);
        let reaper = std::thread::spawn(move || reap_loop(&s));
        FakeKube {
            shared,
            dir,
            acceptor: Some(acceptor),
            reaper: Some(reaper),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.shared.addr)
    }

    pub fn ca_path(&self) -> PathBuf {
        certs::certs().ca_crt.clone()
    }

    /// A service-account directory (`token`, `ca.crt`, `namespace`) whose
    /// token is the one the fake accepts.
    pub fn service_account_dir(&self) -> PathBuf {
        self.dir.path().join("serviceaccount")
    }

    pub fn token_path(&self) -> PathBuf {
        self.shared.token_file.clone()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(&self.shared.token_file)
            .expect("token file")
            .trim()
            .to_owned()
    }

    /// Writes a new token: the old one is rejected from now on.
    pub fn rotate_token(&self) -> String {
        let t = random_token();
        // Write + rename, like the kubelet's atomic writer.
        let tmp = self.shared.token_file.with_extension("tmp");
        std::fs::write(&tmp, &t).expect("write token");
        std::fs::rename(&tmp, &self.shared.token_file).expect("rename token");
        t
    }

    /// A scratch directory that lives as long as the fake.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a kubeconfig pointing at the fake with `user` (YAML mapping
    /// body of `users[0].user`), returns its path.
    pub fn write_kubeconfig(&self, name: &str, user_yaml: &str) -> PathBuf {
        self.write_kubeconfig_in(name, user_yaml, "default")
    }

    /// Like [`write_kubeconfig`](Self::write_kubeconfig), with `namespace`
    /// as the context's namespace.
    pub fn write_kubeconfig_in(&self, name: &str, user_yaml: &str, namespace: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\npreferences: {{}}\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-user\n    namespace: {}\nusers:\n- name: fake-user\n  user:\n{}\n",
            self.url(),
            self.ca_path().display(),
            namespace,
            user_yaml
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// A kubeconfig with the current token inline.
    pub fn kubeconfig_with_token(&self) -> PathBuf {
        self.write_kubeconfig("kubeconfig-token", &format!("token: {}", self.token()))
    }

    /// A kubeconfig with the client certificate (`O=system:masters`: the
    /// cluster admin, whom the Role never checks) as files.
    pub fn kubeconfig_with_client_cert(&self) -> PathBuf {
        let c = certs::certs();
        self.write_kubeconfig(
            "kubeconfig-cert",
            &format!(
                "client-certificate: {}\nclient-key: {}",
                c.client_crt.display(),
                c.client_key.display()
            ),
        )
    }

    /// One HTTPS request to the fake with the current token (ureq, the
    /// test CA), for what a typed client never sends or would reshape:
    /// the status code and the JSON answer (a string when not JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let ca = std::fs::read(self.ca_path()).expect("ca");
        let ca = Certificate::from_pem(&ca).expect("ca pem").to_owned();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::new_with_certs(&[ca]))
                    .build(),
            )
            .build()
            .into();
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url()))
            .header("authorization", format!("Bearer {}", self.token()))
            .header("content-type", content_type)
            .body(body.as_bytes().to_vec())
            .expect("request");
        let resp = agent.run(req).expect("answer");
        let code = resp.status().as_u16();
        let text = resp.into_body().read_to_string().expect("body");
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// From now on only `namespaces` exist: creating in another one is a
    /// 404, as on a real cluster. (By default every namespace exists.)
    pub fn restrict_namespaces(&self, namespaces: &[&str]) {
        *self.shared.lock(&self.shared.namespaces) =
            Some(namespaces.iter().map(|n| (*n).to_owned()).collect());
    }

    /// From now on the client may not `verb` (`get`, `list`, `watch`,
    /// `create`, `update`, `patch`, `delete`) `resource` (`pods`, ...):
    /// 403, and SelfSubjectAccessReview answers `allowed: false`.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.shared.lock(&self.shared.role).deny(verb, resource);
    }

    /// From now on the client may do only what `rules` grant (`verb`,
    /// `resource`, `namespace`), less what is denied.
    pub fn grant_only(&self, rules: Vec<rbac::Rule>) {
        self.shared.lock(&self.shared.role).grant_only(rules);
    }

    /// From now on the client may do what the stored RoleBindings bind to
    /// its service account (`rbac::SA_NAMESPACE`/`rbac::SA_NAME`: deploy/'s
    /// `porch-fn-runner`) with the stored Roles, read at each request, less
    /// what is denied: the Role `kubectl apply -k deploy/` made is the one
    /// the runner meets.
    pub fn grant_bound(&self) {
        self.shared.lock(&self.shared.role).grant_bound();
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.lock(&self.shared.faults).push(fault);
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock(&self.shared.log).clone()
    }

    /// Forgets the request log (and invalidates every [`RequestMark`]).
    pub fn clear_requests(&self) {
        self.shared.lock(&self.shared.log).clear();
    }

    /// Requests with `method` whose path starts with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        count_matching(&self.requests(), method, path_prefix)
    }

    /// The end of the request log now: the start of a window that
    /// [`requests_since`](Self::requests_since) reads.
    pub fn mark(&self) -> RequestMark {
        RequestMark(self.shared.lock(&self.shared.log).len())
    }

    /// Requests received after `mark` was taken.
    pub fn requests_since(&self, mark: RequestMark) -> Vec<LoggedRequest> {
        let log = self.shared.lock(&self.shared.log);
        log.get(mark.0..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Like [`count`](Self::count), over the requests after `mark`.
    pub fn count_since(&self, mark: RequestMark, method: &str, path_prefix: &str) -> usize {
        count_matching(&self.requests_since(mark), method, path_prefix)
    }

    /// Forgets the event history: watches from older rvs get 410.
    pub fn compact(&self) {
        self.shared.lock_store().compact();
    }

    /// Cuts every open watch stream (like a lost connection).
    pub fn drop_watches(&self) {
        self.shared.watch_epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.changed.notify_all();
    }

    pub fn resource_version(&self) -> u64 {
        self.shared.lock_store().resource_version()
    }

    /// TCP connections accepted so far (keep-alive checks).
    pub fn connections(&self) -> usize {
        self.shared.lock(&self.shared.conns).len()
    }

    /// Creates an object and forgets all history in one step: every open
    /// watch then gets an ERROR 410 event (its rv is older than the window).
    pub fn create_and_compact(&self, resource: &str, ns: &str, obj: Value) -> Value {
        self.shared.mutate(|s| {
            let v = s.create(resource, ns, obj).expect("create");
            s.compact();
            v
        })
    }

    /// Reads an object directly (no request logged).
    pub fn object(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.shared.lock_store().get(resource, ns, name).ok()
    }

    /// Lists objects directly.
    pub fn objects(&self, resource: &str, ns: &str) -> Vec<Value> {
        self.shared.lock_store().list(
            resource,
            Some(ns),
            &selector::Selector::default(),
            &selector::FieldSelector::default(),
        )
    }

    /// Creates an object directly (as another client would).
    pub fn create(&self, resource: &str, ns: &str, obj: Value) -> Result<Value, ApiError> {
        self.shared.mutate(|s| s.create(resource, ns, obj))
    }

    /// Merge-patches an object directly.
    pub fn patch(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        patch: Value,
    ) -> Result<Value, ApiError> {
        self.shared
            .mutate(|s| s.patch_merge(resource, ns, name, &patch))
    }

    /// Deletes directly (graceful for pods).
    pub fn delete(&self, resource: &str, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.shared
            .mutate(|s| s.delete(resource, ns, name, None, None, None))
    }

    pub fn set_pod_status(&self, ns: &str, name: &str, status: Value) -> Option<Value> {
        self.shared.mutate(|s| s.set_pod_status(ns, name, status))
    }

    /// Removes a pod now (the kubelet's final delete).
    pub fn finalize_pod(&self, ns: &str, name: &str) {
        self.shared.mutate(|s| {
            s.remove(&("pods".to_owned(), ns.to_owned(), name.to_owned()));
        });
    }

    /// Events from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        self.shared.lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// Waits until `check` on the store returns `Some`.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Store) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut store = self.shared.lock_store();
        loop {
            if let Some(v) = check(&store) {
                return Some(v);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            store = self
                .shared
                .changed
                .wait_timeout(store, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        for c in self.shared.lock(&self.shared.conns).drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        // Wake the acceptor.
        let _ = TcpStream::connect(self.shared.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        if let Some(t) = self.reaper.take() {
            let _ = t.join();
        }
    }
}

fn reap_loop(shared: &Shared) {
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let next = shared.mutate(|s| s.reap(Instant::now()));
        let wait = next
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(500))
            .clamp(Duration::from_millis(5), Duration::from_millis(500));
        let store = shared.lock_store();
        drop(
            shared
                .changed
                .wait_timeout(store, wait)
                .unwrap_or_else(|p| p.into_inner()),
        );
    }
}

fn random_token() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut b).expect("rng");
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("fake-token-{hex}")
}
