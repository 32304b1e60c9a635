//! The typed settings of each mode: what the rest of the crate reads. Built
//! by `hiargs` from the low-level arguments; the defaults are compat §1/§6.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::buffers;
use crate::evaluator::pod::{self, TemplateSource};
use crate::evaluator::{self, ExecConfig, MissingConfig};
use crate::h2::limits::Limits;

/// Default of `--max-request-body-size` (compat §1): the gRPC layer's own
/// default, written there once.
pub use crate::grpc::DEFAULT_MAX_MESSAGE_BYTES;

/// Default `--bind-address` of `serve` and `wrapper-server`: every
/// interface, IPv4 and IPv6, what the Go runner's `:PORT` listens on
/// (`serve::listen`).
pub const DEFAULT_BIND_ADDRESS: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// What the binary was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per process; boxing would only add noise at the call site"
)]
pub enum Command {
    /// `serve` (or called as `server`): the function runner.
    Serve(ServeSettings),
    /// `wrapper-server` (or called so): the gRPC front inside a function pod.
    WrapperServer(WrapperSettings),
    /// `health-probe` (or called as `grpc-health-probe`).
    HealthProbe(ProbeSettings),
    /// `eval`: a test client that sends one EvaluateFunction call.
    Eval(EvalSettings),
    /// `inspect`: resolves an image's digest and entrypoint from its registry.
    Inspect(InspectSettings),
    /// `preflight`: checks serve's setup and prints a checklist.
    Preflight(PreflightSettings),
}

/// Which evaluators run (compat §1 `--disable-runtimes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runtimes {
    pub exec: bool,
    pub pod: bool,
}

/// Private-registry settings, shared by `serve` and `inspect` (compat §1, §5);
/// [`registry_config`](super::registry_config) turns them into the
/// registry client's `Config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// `--enable-private-registry` (alias `--enable-private-registries`). Default false.
    pub enable_private_registry: bool,
    /// `--registry-auth-secret-path`; `None` when not given, and then
    /// [`registry_config`](super::registry_config) picks the guide's or the
    /// Go runner's default path, whichever exists.
    pub registry_auth_secret_path: Option<PathBuf>,
    /// `--registry-auth-secret-name`. Default `auth-secret`.
    pub registry_auth_secret_name: String,
    /// `--enable-private-registry-tls` (aliases `--enable-private-registries-tls`,
    /// `--enable-tls-registry`). Default false.
    pub enable_private_registry_tls: bool,
    /// `--tls-secret-path`. Default `/var/tmp/tls-secret/`.
    pub tls_secret_path: PathBuf,
    /// `--default-image-prefix`. Default `gcr.io/kpt-fn/`.
    pub default_image_prefix: String,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            enable_private_registry: false,
            registry_auth_secret_path: None,
            registry_auth_secret_name: "auth-secret".to_owned(),
            enable_private_registry_tls: false,
            tls_secret_path: PathBuf::from("/var/tmp/tls-secret/"),
            default_image_prefix: crate::registry::KPT_FN_PREFIX.to_owned(),
        }
    }
}

/// `serve` settings: every flag of compat §1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    /// `--port`, default 9445.
    pub port: u16,
    /// `--bind-address` (ours), default [`DEFAULT_BIND_ADDRESS`].
    pub bind_address: IpAddr,
    /// `--metrics-address` (ours), default none: the `OTEL_*` variables
    /// decide (`crate::exporter`).
    pub metrics_address: Option<SocketAddr>,
    /// `--disable-runtimes`, default none disabled.
    pub runtimes: Runtimes,
    /// `--log-level` (alias klog's `-v`), verbosity 0-5, default 2.
    pub log_level: u8,
    /// `--functions`, default `./functions`.
    pub functions: PathBuf,
    /// `--config`, default `./config.yaml`.
    pub config: PathBuf,
    /// `--pod-cache-config`, default `/pod-cache-config/pod-cache-config.yaml`.
    pub pod_cache_config: PathBuf,
    /// `--warm-up-pod-cache`, default true.
    pub warm_up_pod_cache: bool,
    /// `--pod-namespace`, default `porch-fn-system`.
    pub pod_namespace: String,
    /// `--pod-ttl`, default 30m.
    pub pod_ttl: Duration,
    /// `--scan-interval`, default 1m.
    pub scan_interval: Duration,
    /// `--function-pod-template`, default none.
    pub function_pod_template: Option<String>,
    /// `--max-request-body-size` in bytes, default 6291456.
    pub max_request_body_size: usize,
    /// `--max-waitlist-length`, default 2.
    pub max_waitlist_length: usize,
    /// `--max-parallel-pods-per-function`, default 1.
    pub max_parallel_pods_per_function: usize,
    /// `--pod-ready-timeout` (ours), default 60s.
    pub pod_ready_timeout: Duration,
    /// `--kubeconfig`, default none (in-cluster, then `KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The private-registry flags.
    pub registry: RegistrySettings,
    /// The connection flags.
    pub connections: ConnectionSettings,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            port: 9445,
            bind_address: DEFAULT_BIND_ADDRESS,
            metrics_address: None,
            runtimes: Runtimes {
                exec: true,
                pod: true,
            },
            log_level: 2,
            functions: PathBuf::from("./functions"),
            config: PathBuf::from("./config.yaml"),
            pod_cache_config: PathBuf::from("/pod-cache-config/pod-cache-config.yaml"),
            warm_up_pod_cache: true,
            pod_namespace: "porch-fn-system".to_owned(),
            pod_ttl: Duration::from_secs(30 * 60),
            scan_interval: Duration::from_secs(60),
            function_pod_template: None,
            max_request_body_size: DEFAULT_MAX_MESSAGE_BYTES,
            max_waitlist_length: 2,
            max_parallel_pods_per_function: 1,
            pod_ready_timeout: Duration::from_secs(60),
            kubeconfig: None,
            registry: RegistrySettings::default(),
            connections: ConnectionSettings::default(),
        }
    }
}

impl ServeSettings {
    /// The runtimes these settings ask for (compat §2): exec unless
    /// `--disable-runtimes` lists it, then pod unless it lists that. A
    /// missing `--config` file turns the exec runtime off with a warning,
    /// worded for the default path or a named one (see [`MissingConfig`]).
    /// The runtimes' calls share `buffers` with the server.
    ///
    /// `wrapper_server_image` is `$WRAPPER_SERVER_IMAGE` (compat §1; the
    /// mode reads the environment), needed by the inline pod template.
    pub fn runtimes_config(
        &self,
        buffers: buffers::Pool,
        wrapper_server_image: Option<String>,
    ) -> evaluator::Config {
        let default_config = ServeSettings::default().config;
        let exec = ExecConfig {
            config: self.config.clone(),
            functions: self.functions.clone(),
            output_limit_bytes: self.max_request_body_size,
            missing_config: if self.config == default_config {
                MissingConfig::Default
            } else {
                MissingConfig::Named
            },
        };
        let template = match &self.function_pod_template {
            Some(name) => TemplateSource::ConfigMap { name: name.clone() },
            None => TemplateSource::Inline {
                wrapper_server_image: wrapper_server_image.unwrap_or_default(),
            },
        };
        let pod = pod::Config {
            namespace: self.pod_namespace.clone(),
            ttl: self.pod_ttl,
            scan_interval: self.scan_interval,
            template,
            max_message_bytes: self.max_request_body_size,
            limits: pod::cache::Limits {
                max_pods: self.max_parallel_pods_per_function,
                max_waitlist: self.max_waitlist_length,
            },
            ready_timeout: self.pod_ready_timeout,
            kubeconfig: self.kubeconfig.clone(),
            registry: super::hiargs::registry_config(&self.registry),
            pull_secret: self.registry.registry_auth_secret_name.clone(),
            cache_config: self.pod_cache_config.clone(),
            warm_up: self.warm_up_pod_cache,
        };
        evaluator::Config {
            exec: self.runtimes.exec.then_some(exec),
            pod: self.runtimes.pod.then_some(pod),
            buffers,
        }
    }
}

/// The connection flags of `serve` and `wrapper-server` (ours, issue 11):
/// the bounds a server keeps on its peers. The defaults are
/// `h2::limits::Limits`'s, written there once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `--max-connections`, default 1024.
    pub max_connections: usize,
    /// `--idle-timeout` (`0`: never), default 5m.
    pub idle_timeout: Option<Duration>,
    /// `--handshake-timeout`, default 10s.
    pub handshake_timeout: Duration,
    /// `--send-timeout`, default 30s.
    pub send_timeout: Duration,
    /// `--read-timeout`, default 1m.
    pub read_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            max_connections: limits.max_connections,
            idle_timeout: limits.idle_timeout,
            handshake_timeout: limits.handshake_timeout,
            send_timeout: limits.send_timeout,
            read_timeout: limits.read_timeout,
        }
    }
}

impl ConnectionSettings {
    /// `base` with these bounds.
    pub fn limits(&self, base: Limits) -> Limits {
        Limits {
            max_connections: self.max_connections,
            idle_timeout: self.idle_timeout,
            handshake_timeout: self.handshake_timeout,
            send_timeout: self.send_timeout,
            read_timeout: self.read_timeout,
            ..base
        }
    }
}

/// `wrapper-server` settings (compat §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperSettings {
    /// `--port`, default 9446.
    pub port: u16,
    /// `--bind-address` (ours), default [`DEFAULT_BIND_ADDRESS`].
    pub bind_address: IpAddr,
    /// `--metrics-address` (ours), default none: as `serve`'s.
    pub metrics_address: Option<SocketAddr>,
    /// `--max-request-body-size`, default 6291456.
    pub max_request_body_size: usize,
    /// `--verbosity` (alias `-v`), default 2.
    pub verbosity: u8,
    /// The connection flags.
    pub connections: ConnectionSettings,
    /// Everything after `--`: the function's entrypoint (never empty).
    pub entrypoint: Vec<OsString>,
}

impl Default for WrapperSettings {
    /// Before any flag: no entrypoint yet.
    fn default() -> Self {
        Self {
            port: 9446,
            bind_address: DEFAULT_BIND_ADDRESS,
            metrics_address: None,
            max_request_body_size: DEFAULT_MAX_MESSAGE_BYTES,
            verbosity: 2,
            connections: ConnectionSettings::default(),
            entrypoint: Vec::new(),
        }
    }
}

/// `health-probe` settings (compat §1, grpc-health-probe's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    /// `-addr HOST:PORT` (required, never empty).
    pub addr: String,
    /// `-service`, default "".
    pub service: String,
    /// `-connect-timeout`, default 1s.
    pub connect_timeout: Duration,
    /// `-rpc-timeout`, default 1s.
    pub rpc_timeout: Duration,
    /// `-v`: verbose. `main` sets the log verbosity to 1 with it, 0 without.
    pub verbose: bool,
}

impl Default for ProbeSettings {
    /// Before any flag: no `-addr` yet.
    fn default() -> Self {
        Self {
            addr: String::new(),
            service: String::new(),
            connect_timeout: Duration::from_secs(1),
            rpc_timeout: Duration::from_secs(1),
            verbose: false,
        }
    }
}

/// `eval` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalSettings {
    /// `--address HOST:PORT`, default `localhost:9445`.
    pub address: String,
    /// `--image IMAGE` (required).
    pub image: String,
    /// The ResourceList file; `None` (or `-`) reads stdin.
    pub input: Option<PathBuf>,
    /// `--timeout`, the call's deadline; default (and `0`) none.
    pub timeout: Option<Duration>,
    /// `--connect-timeout` (> 0), default 5s: the gRPC client's own bound.
    pub connect_timeout: Duration,
    /// `--max-request-body-size`, default 6291456.
    pub max_message_bytes: usize,
}

impl Default for EvalSettings {
    /// Before any flag: no `--image` yet.
    fn default() -> Self {
        Self {
            address: "localhost:9445".to_owned(),
            image: String::new(),
            input: None,
            timeout: None,
            connect_timeout: crate::grpc::client::CONNECT_TIMEOUT,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// `inspect` settings: the same registry flags as `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectSettings {
    /// The image reference to resolve.
    pub image: String,
    /// The private-registry flags.
    pub registry: RegistrySettings,
}

/// `preflight` settings (issue 13): serve's, checked as serve would use
/// them, and what else to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreflightSettings {
    /// Every flag of `serve`.
    pub serve: ServeSettings,
    /// `--show-pod IMAGE`: also print the pod the runner would create for
    /// IMAGE, as YAML. Default none.
    pub show_pod: Option<String>,
}
