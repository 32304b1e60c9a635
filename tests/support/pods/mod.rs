//! [`PodEnv`]: the environment the pod runtime's end-to-end tests stand on
//! (issues 12 and 13, "Prove it"), built from the real peers and fakes the
//! other tests use:
//!
//! ```text
//!   test --EvaluateFunction--> fn-runner serve (a process: Runner)
//!                                 | HTTPS, token file          | HTTPS, test CA, basic auth
//!                                 v                            v
//!                       fake core/v1 API (FakeKube)     docker-registry (FnRegistry)
//!                                 | pod events                 ^ "pulls": image known? pull secret right?
//!                                 v                            |
//!                       kubelet simulator + Node policy -------+
//!                                 | per pod: fn-runner as /wrapper-server-tools/wrapper-server
//!                                 v          --bind-address 127.a.b.c <the pod's args>
//!                       wrapper server on 127.a.b.c:9446, running testdata/functions/*
//! ```
//!
//! - `registry` / `images` ([`images`]): function images on a TLS registry
//!   with basic auth; the docker `config.json` for it and a TLS secret dir
//!   holding `ca.crt` are written as the user guide mounts them
//!   ([`PodEnv::auth_file`], [`PodEnv::tls_dir`]).
//! - `kube`: the fake API; namespaces `porch-fn-system` (pods) and
//!   `porch-system` (the runner's own, also its kubeconfig context's) exist,
//!   writes elsewhere are 404. Its Role is the runner's documented one
//!   (`fn_runner::kube::PERMISSIONS`, each rule in its namespace): any
//!   other request is a 403, as in a cluster set up from docs/kube.md.
//!   Its request log counts API calls (`env.kube.count("POST", PODS_PATH)`,
//!   `mark`/`count_since` for a window).
//! - `kubelet` + `node` ([`node`]): each new pod is checked (init container,
//!   volume, wrapper command), "pulled" (the image must exist and the pod's
//!   `imagePullSecrets` must carry the registry's credentials), then run as
//!   OUR binary in wrapper-server mode on its own loopback IP (leased, so
//!   concurrent test processes never share one), with its stderr captured:
//!   [`PodEnv::wrapper_calls`] reads which calls it served and when. Per
//!   image a test can choose a pull failure, CrashLoopBackOff, a start
//!   delay or a start held until it releases it instead
//!   ([`PodEnv::behave`], [`PodEnv::release`]).
//! - [`PodEnv::serve`] starts `fn-runner serve` as a process with the
//!   fake's kubeconfig, `WRAPPER_SERVER_IMAGE`, `--pod-namespace` and the
//!   private-registry flags, plus the test's own flags (later ones win);
//!   its log can be searched and waited on ([`Runner::wait_for_log`]).
//! - [`PodEnv::public_registry`]: a second registry, without auth, for
//!   images under `--default-image-prefix` (started only when asked for).
//!
//! ```ignore
//! let env = PodEnv::start();
//! let runner = env.serve(&["--pod-ttl=5s"]);
//! let out = runner.eval(&env.images.set_namespace, &sample_resource_list(), Some(WAIT))?;
//! assert_eq!(env.kube.count("POST", PODS_PATH), 1);
//! let pod = &env.pods()[0];
//! assert_eq!(pod.labels[IMAGE_LABEL], pod_id(&env.images.set_namespace, &digest));
//! env.behave(&env.images.slow, Behaviour::Held); // ContainerCreating until...
//! env.release(&env.images.slow);                // ...the test says so
//! ```
//!
//! Dropping the env stops every wrapper server (with the functions they
//! run), the fake API and, with the last env of the process, the registry;
//! a [`Runner`] stops on its own drop. Nothing is left running.
//!
//! Left out: image pulls of `$WRAPPER_SERVER_IMAGE` (taken as present on
//! the node), readiness probes run as exec (ready = port 9446 accepts).

pub mod call_log;
pub mod evaluate;
pub mod images;
pub mod manifest;
pub mod node;
pub mod pod;
pub mod runner;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fn_runner::grpc::Status;
use fn_runner::kube::Scope;
use fn_runner::proto::EvaluateFunctionResponse;
use serde_json::{json, Value};

pub use call_log::WrapperCall;
pub use evaluate::sample_resource_list;
pub use images::{results_failure_prefix, FnRegistry, Images, PublicRegistry, PASSWORD, USER};
pub use manifest::{
    compat_pod, pod_id, strings, template_config_map, template_pod_yaml, PodInput, IMAGE_LABEL,
};
pub use node::{Behaviour, Node, PodRecord};
pub use pod::Pod;
pub use runner::Runner;

use crate::support::fakekube::kubelet::Kubelet;
use crate::support::fakekube::rbac::Rule;
use crate::support::fakekube::{FakeKube, Options};
use crate::support::loglines::LogLines;
use crate::support::process::fn_runner_bin;
use crate::support::tempdir::TempDir;

/// Where function pods go (`--pod-namespace`).
pub const POD_NAMESPACE: &str = "porch-fn-system";
/// The runner's own namespace (its kubeconfig context's).
pub const RUNNER_NAMESPACE: &str = "porch-system";
/// The pods collection of [`POD_NAMESPACE`], for request counts.
pub const PODS_PATH: &str = "/api/v1/namespaces/porch-fn-system/pods";
/// The Secrets collection of [`POD_NAMESPACE`].
pub const SECRETS_PATH: &str = "/api/v1/namespaces/porch-fn-system/secrets";
/// `--registry-auth-secret-name` (the default).
pub const PULL_SECRET: &str = "auth-secret";
/// `$WRAPPER_SERVER_IMAGE` of every runner; the node takes it as present.
pub const WRAPPER_SERVER_IMAGE: &str = "fn-runner.test/wrapper-server:harness";
/// `--max-request-body-size` (the default).
pub const MAX_REQUEST_BODY_SIZE: usize = 6_291_456;
/// A generous bound for waits on pods, logs and calls (machines are shared
/// and noisy; a test that passes never waits this long).
pub const WAIT: Duration = Duration::from_secs(30);

/// The whole environment; see the module doc.
pub struct PodEnv {
    // Dropped in this order: pods' processes, then the API, then the registry.
    pub kubelet: Kubelet,
    pub node: Arc<Node>,
    pub kube: FakeKube,
    /// Started by [`public_registry`](Self::public_registry) only.
    public: OnceLock<PublicRegistry>,
    pub registry: Arc<FnRegistry>,
    /// The images' references (`env.images.set_namespace`, ...).
    pub images: Images,
    kubeconfig: PathBuf,
    dir: TempDir,
}

impl PodEnv {
    /// Starts (or joins) the registry, a fake API and its kubelet.
    pub fn start() -> PodEnv {
        PodEnv::with_options(Options::default())
    }

    /// Like [`start`](Self::start), with the fake API's options (event
    /// window, pod deletion delay, bookmarks).
    pub fn with_options(options: Options) -> PodEnv {
        PodEnv::with_wrapper_image(options, WRAPPER_SERVER_IMAGE)
    }

    /// Like [`with_options`](Self::with_options), with the node taking
    /// `wrapper_image` as `$WRAPPER_SERVER_IMAGE` (the init container's
    /// image it requires) instead of [`WRAPPER_SERVER_IMAGE`]: for a
    /// runner started with another (the swap guide's image).
    pub fn with_wrapper_image(options: Options, wrapper_image: &str) -> PodEnv {
        let registry = FnRegistry::shared();
        let kube = FakeKube::with_options(options);
        kube.restrict_namespaces(&[POD_NAMESPACE, RUNNER_NAMESPACE]);
        kube.grant_only(runner_role());
        let node = Arc::new(Node::new(
            Arc::clone(kube.shared()),
            &registry,
            wrapper_image,
        ));
        let decide = Arc::clone(&node);
        let kubelet = Kubelet::start(&kube, Duration::ZERO, move |pod| decide.decide(pod));
        let dir = TempDir::new("pod-env");
        // The two Secrets, mounted as the user guide mounts them.
        let auth = dir.path().join("auth-secret");
        std::fs::create_dir_all(&auth).expect("auth secret dir");
        std::fs::write(
            auth.join(".dockerconfigjson"),
            docker_config(&registry.host()),
        )
        .expect("write docker config");
        let tls = dir.path().join("tls-secret");
        std::fs::create_dir_all(&tls).expect("tls secret dir");
        std::fs::copy(registry.pki.ca_crt(), tls.join("ca.crt")).expect("copy CA");
        // The runner's working directory: no ./config.yaml, no ./functions.
        std::fs::create_dir_all(dir.path().join("cwd")).expect("runner cwd");
        // A token file, so that rotation shows; the context's namespace is
        // the runner's own.
        let kubeconfig = kube.write_kubeconfig_in(
            "kubeconfig",
            &format!("tokenFile: {}", kube.token_path().display()),
            RUNNER_NAMESPACE,
        );
        let images = registry.images.clone();
        PodEnv {
            kubelet,
            node,
            kube,
            public: OnceLock::new(),
            registry,
            images,
            kubeconfig,
            dir,
        }
    }

    /// A registry without auth on the same test CA (started on first use,
    /// stopped with the env), whose image the node pulls without
    /// credentials: for images under `--default-image-prefix`.
    pub fn public_registry(&self) -> &PublicRegistry {
        self.public.get_or_init(|| {
            let public = PublicRegistry::start(&self.registry.pki);
            self.node.add_public_image(public.pushed.clone());
            public
        })
    }

    /// A scratch directory that lives as long as the env.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The docker `config.json` (`--registry-auth-secret-path`).
    pub fn auth_file(&self) -> PathBuf {
        self.dir.path().join("auth-secret/.dockerconfigjson")
    }

    /// Its bytes: what the replicated Secret must hold, byte for byte.
    pub fn auth_file_bytes(&self) -> Vec<u8> {
        std::fs::read(self.auth_file()).expect("read docker config")
    }

    /// The TLS secret directory holding the registry CA as `ca.crt`
    /// (`--tls-secret-path`).
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls-secret")
    }

    /// The runners' kubeconfig for the fake (token file, so rotation
    /// shows; context namespace `porch-system`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The flags every runner gets before the test's own.
    pub fn serve_flags(&self) -> Vec<String> {
        [
            "serve",
            "--port=0",
            "--bind-address=127.0.0.1",
            &format!("--kubeconfig={}", self.kubeconfig().display()),
            &format!("--pod-namespace={POD_NAMESPACE}"),
            "--enable-private-registry=true",
            &format!("--registry-auth-secret-path={}", self.auth_file().display()),
            &format!("--registry-auth-secret-name={PULL_SECRET}"),
            "--enable-private-registry-tls=true",
            &format!("--tls-secret-path={}", self.tls_dir().display()),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// Starts `fn-runner serve` with the env's flags, then `extra` (later
    /// flags win, so `--enable-private-registry=false` turns one off).
    pub fn serve(&self, extra: &[&str]) -> Runner {
        self.serve_with(extra, &[])
    }

    /// Like [`serve`](Self::serve), with environment changes on top of
    /// `WRAPPER_SERVER_IMAGE` (`None` removes a variable).
    pub fn serve_with(&self, extra: &[&str], env: &[(&str, Option<&str>)]) -> Runner {
        Runner::start(self.serve_command(extra, env))
    }

    /// The command [`serve_with`](Self::serve_with) runs, not started (for
    /// a runner that must fail to start).
    pub fn serve_command(&self, extra: &[&str], env: &[(&str, Option<&str>)]) -> Command {
        let mut cmd = Command::new(fn_runner_bin());
        cmd.args(self.serve_flags())
            .args(extra)
            .current_dir(self.dir.path().join("cwd"))
            .env("WRAPPER_SERVER_IMAGE", WRAPPER_SERVER_IMAGE)
            // Only the kubeconfig flag says where the API is.
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT");
        for (name, value) in env {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        cmd
    }

    /// EvaluateFunction sent straight to `pod`'s wrapper server (a new
    /// connection per call), as the runner would send it.
    pub fn eval_pod(
        &self,
        pod: &Pod,
        image: &str,
        resource_list: &[u8],
        deadline: Option<Duration>,
    ) -> Result<EvaluateFunctionResponse, Status> {
        let addr = pod
            .addr()
            .unwrap_or_else(|| panic!("pod {} has no IP yet", pod.name));
        evaluate::evaluate(&evaluate::connect(&addr), image, resource_list, deadline)
    }

    /// From now on pods of `image` do what `behaviour` says.
    pub fn behave(&self, image: &str, behaviour: Behaviour) {
        self.node.set_behaviour(image, behaviour);
    }

    /// Pods of `image` held by [`Behaviour::Held`] run now (and later
    /// ones at once).
    pub fn release(&self, image: &str) {
        self.node.release(image);
    }

    /// The pods in `porch-fn-system`, read from the store (no request
    /// logged), by name.
    pub fn pods(&self) -> Vec<Pod> {
        self.kube
            .objects("pods", POD_NAMESPACE)
            .iter()
            .map(Pod::from_object)
            .collect()
    }

    /// Waits up to [`WAIT`] until `done` holds for the pods; panics with
    /// them when it does not.
    pub fn wait_for_pods(&self, what: &str, done: impl Fn(&[Pod]) -> bool) -> Vec<Pod> {
        let got = self.kube.wait_for(WAIT, |store| {
            let pods: Vec<Pod> = store
                .list(
                    "pods",
                    Some(POD_NAMESPACE),
                    &Default::default(),
                    &Default::default(),
                )
                .iter()
                .map(Pod::from_object)
                .collect();
            done(&pods).then_some(pods)
        });
        got.unwrap_or_else(|| panic!("pods never {what} within {WAIT:?}: {:#?}", self.pods()))
    }

    /// Waits up to [`WAIT`] until pod `name` exists and `done` holds for it.
    pub fn wait_for_pod(&self, name: &str, what: &str, done: impl Fn(&Pod) -> bool) -> Pod {
        let pods = self.wait_for_pods(&format!("had {name} {what}"), |pods| {
            pods.iter().any(|p| p.name == name && done(p))
        });
        pods.into_iter()
            .find(|p| p.name == name)
            .expect("the pod waited for")
    }

    /// What the node saw and did for pod `name`.
    pub fn record(&self, name: &str) -> PodRecord {
        self.node
            .record(name)
            .unwrap_or_else(|| panic!("the node never took up pod {name}"))
    }

    /// Pod `name`'s wrapper-server stderr (panics if it never ran).
    pub fn wrapper_log(&self, name: &str) -> Arc<LogLines> {
        self.record(name)
            .log
            .unwrap_or_else(|| panic!("pod {name} never ran a wrapper server"))
    }

    /// The calls pod `name`'s wrapper server served, so far.
    pub fn wrapper_calls(&self, name: &str) -> Vec<WrapperCall> {
        call_log::calls(&self.wrapper_log(name))
    }

    /// Waits up to [`WAIT`] until `done` holds for the calls pod `name`'s
    /// wrapper server logged (a call's end line may come after its answer
    /// reached the caller); panics with the log when it does not.
    pub fn wait_for_wrapper_calls(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&[WrapperCall]) -> bool,
    ) -> Vec<WrapperCall> {
        let log = self.wrapper_log(name);
        if !log.wait_until(WAIT, |lines| done(&call_log::calls_in(lines))) {
            panic!(
                "pod {name}'s wrapper never {what} within {WAIT:?}:\n{}",
                log.text()
            );
        }
        call_log::calls(&log)
    }

    /// The pid of pod `name`'s wrapper server, while it runs.
    pub fn wrapper_pid(&self, name: &str) -> Option<u32> {
        self.kubelet.pid_of(POD_NAMESPACE, name)
    }

    /// `fn-runner inspect IMAGE` with the env's registry flags: the JSON
    /// object it prints (digest, entrypoint, transport, ...).
    pub fn inspect(&self, image: &str) -> Value {
        let stdout = crate::support::registry::run(
            Command::new(fn_runner_bin())
                .arg("inspect")
                .arg("--enable-private-registry")
                .arg(format!(
                    "--registry-auth-secret-path={}",
                    self.auth_file().display()
                ))
                .arg("--enable-private-registry-tls")
                .arg(format!("--tls-secret-path={}", self.tls_dir().display()))
                .arg(image),
        );
        serde_json::from_slice(&stdout).expect("inspect prints one JSON object")
    }

    /// The pod compat §4.2 describes for `image` with the default flags
    /// (digest and entrypoint as `inspect` resolves them, the pull secret).
    pub fn compat_pod(&self, image: &str) -> Value {
        let info = self.inspect(image);
        let digest = info["digest"].as_str().expect("digest");
        let entrypoint: Vec<String> = info["entrypoint"]
            .as_array()
            .expect("entrypoint")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        compat_pod(&PodInput {
            image,
            digest,
            entrypoint: &entrypoint,
            namespace: POD_NAMESPACE,
            wrapper_image: WRAPPER_SERVER_IMAGE,
            max_request_body_size: MAX_REQUEST_BODY_SIZE,
            pull_secret: Some(PULL_SECRET),
            ttl: Duration::from_secs(30 * 60),
        })
    }

    /// Creates [`pull_secret`](Self::pull_secret) in the pod namespace,
    /// as the runner would, for pods a test makes by hand.
    pub fn replicate_pull_secret(&self) {
        self.kube
            .create("secrets", POD_NAMESPACE, self.pull_secret())
            .expect("create the pull secret");
    }

    /// The Secret compat §5.3 replicates into the pod namespace: type
    /// `kubernetes.io/dockerconfigjson`, `.dockerconfigjson` = the auth
    /// file's bytes.
    pub fn pull_secret(&self) -> Value {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(self.auth_file_bytes());
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": PULL_SECRET, "namespace": POD_NAMESPACE},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": data},
        })
    }
}

impl Drop for PodEnv {
    fn drop(&mut self) {
        // Pods still in a start delay start nothing; the fields' own drops
        // then stop the pods' processes, the API and (last env) the registry.
        self.node.shut_down();
    }
}

/// The runner's Roles (docs/kube.md) as the fake's rules: each permission
/// in the namespace its scope names.
pub fn runner_role() -> Vec<Rule> {
    fn_runner::kube::PERMISSIONS
        .iter()
        .map(|p| Rule {
            verb: p.verb.as_str().to_owned(),
            resource: p.resource.to_owned(),
            namespace: match p.scope {
                Scope::PodNamespace => POD_NAMESPACE,
                Scope::RunnerNamespace => RUNNER_NAMESPACE,
            }
            .to_owned(),
        })
        .collect()
}

/// A docker `config.json` with the test user for `host` (as the user
/// guide's example writes it: `auth` = base64 `user:password`).
fn docker_config(host: &str) -> Vec<u8> {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let config = json!({"auths": {host: {"auth": auth}}});
    serde_json::to_vec_pretty(&config).expect("JSON")
}
