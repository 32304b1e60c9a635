//! The flag tables: every flag of every mode, with all its spellings, its
//! value kind, its default as shown in `--help` and its help line. One
//! place defines each flag; `REGISTRY` is shared by `serve` and `inspect`.
//!
//! The first name of a spec is the canonical one; the others are aliases
//! that old and new Porch releases used (compat §1), folded into the same
//! logical [`Flag`] by the low-level parser.

use super::Mode;

/// One logical flag, whatever spelling selected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {
    // serve
    Port,
    /// `--bind-address` of `serve` and `wrapper-server` (ours, issue 12).
    BindAddress,
    /// `--metrics-address` of `serve` and `wrapper-server` (ours, issue 16).
    MetricsAddress,
    DisableRuntimes,
    LogLevel,
    Functions,
    Config,
    PodCacheConfig,
    WarmUpPodCache,
    PodNamespace,
    PodTtl,
    ScanInterval,
    FunctionPodTemplate,
    MaxRequestBodySize,
    MaxWaitlistLength,
    MaxParallelPodsPerFunction,
    PodReadyTimeout,
    Kubeconfig,
    // registry (serve, inspect)
    EnablePrivateRegistry,
    RegistryAuthSecretPath,
    RegistryAuthSecretName,
    EnablePrivateRegistryTls,
    TlsSecretPath,
    DefaultImagePrefix,
    /// A klog flag that Deployments of the Go runner pass; accepted, ignored:
    /// we always log to stderr with klog's header.
    KlogIgnored,
    // connections (serve, wrapper-server)
    MaxConnections,
    IdleTimeout,
    HandshakeTimeout,
    SendTimeout,
    ReadTimeout,
    // wrapper-server
    Verbosity,
    // health-probe
    Addr,
    Service,
    ConnectTimeout,
    RpcTimeout,
    Verbose,
    UserAgent,
    RpcHeader,
    Gzip,
    /// A grpc-health-probe transport flag we do not implement (TLS, ALTS,
    /// SPIFFE): setting it is an error, not a silent plaintext probe.
    ProbeUnsupported,
    // eval
    Address,
    Image,
    Timeout,
    // preflight
    /// `--show-pod IMAGE`: print the pod the runner would create for it.
    ShowPod,
}

/// What a flag's value looks like; bools take no separate argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int,
    Str,
    Duration,
}

/// One flag's definition.
#[derive(Debug)]
pub(crate) struct Spec {
    pub flag: Flag,
    /// Canonical name first, then aliases; without dashes.
    pub names: &'static [&'static str],
    pub kind: Kind,
    /// The default as `--help` shows it; "" shows none. The mode starts
    /// from its typed default (`settings`); a test parses every one of
    /// these and checks it gives that same value.
    pub default: &'static str,
    pub usage: &'static str,
}

impl Spec {
    /// The canonical spelling, as `--help` lists it first.
    pub fn name(&self) -> &'static str {
        self.names[0]
    }
}

const fn spec(
    flag: Flag,
    names: &'static [&'static str],
    kind: Kind,
    default: &'static str,
    usage: &'static str,
) -> Spec {
    Spec {
        flag,
        names,
        kind,
        default,
        usage,
    }
}

use Kind::{Bool, Duration, Int, Str};

/// `serve`'s own flags (compat §1).
const SERVE: &[Spec] = &[
    spec(
        Flag::Port,
        &["port"],
        Int,
        "9445",
        "gRPC listen port, on -bind-address (0..65535)",
    ),
    BIND_ADDRESS,
    METRICS_ADDRESS,
    spec(
        Flag::DisableRuntimes,
        &["disable-runtimes"],
        Str,
        "",
        "comma-separated runtimes to switch off: exec, pod",
    ),
    spec(
        Flag::LogLevel,
        &["log-level", "v"],
        Int,
        "2",
        "log verbosity 0-5 (klog -v)",
    ),
    spec(
        Flag::Functions,
        &["functions"],
        Str,
        "./functions",
        "directory of cached function binaries (exec runtime)",
    ),
    spec(
        Flag::Config,
        &["config"],
        Str,
        "./config.yaml",
        "exec runtime config: function binaries and the images they serve",
    ),
    spec(
        Flag::PodCacheConfig,
        &["pod-cache-config"],
        Str,
        "/pod-cache-config/pod-cache-config.yaml",
        "warm-up list and per-image TTL and limits (Porch v4 map of image to TTL, or v1.5 list)",
    ),
    spec(
        Flag::WarmUpPodCache,
        &["warm-up-pod-cache"],
        Bool,
        "true",
        "create the pods of the warm-up list at start",
    ),
    spec(
        Flag::PodNamespace,
        &["pod-namespace"],
        Str,
        "porch-fn-system",
        "namespace of the function pods",
    ),
    spec(
        Flag::PodTtl,
        &["pod-ttl"],
        Duration,
        "30m0s",
        "idle time before a function pod is deleted",
    ),
    spec(
        Flag::ScanInterval,
        &["scan-interval"],
        Duration,
        "1m0s",
        "how often idle function pods are garbage-collected (> 0)",
    ),
    spec(
        Flag::FunctionPodTemplate,
        &["function-pod-template"],
        Str,
        "",
        "name of a ConfigMap in the runner's namespace holding a pod template",
    ),
    spec(
        Flag::MaxRequestBodySize,
        &["max-request-body-size"],
        Int,
        "6291456",
        "max gRPC message size in bytes, both directions, server and pod client",
    ),
    spec(
        Flag::MaxWaitlistLength,
        &["max-waitlist-length"],
        Int,
        "2",
        "max requests waiting for one function pod",
    ),
    spec(
        Flag::MaxParallelPodsPerFunction,
        &["max-parallel-pods-per-function"],
        Int,
        "1",
        "max pods serving one function at once (>= 1)",
    ),
    spec(
        Flag::PodReadyTimeout,
        &["pod-ready-timeout"],
        Duration,
        "1m0s",
        "how long to wait for a function pod to become ready (> 0)",
    ),
    spec(
        Flag::Kubeconfig,
        &["kubeconfig"],
        Str,
        "",
        "kubeconfig file; default: in-cluster, then $KUBECONFIG, then ~/.kube/config",
    ),
];

/// The private-registry flags of `serve` and `inspect` (compat §1, §5).
const REGISTRY: &[Spec] = &[
    spec(
        Flag::EnablePrivateRegistry,
        &["enable-private-registry", "enable-private-registries"],
        Bool,
        "false",
        "use the mounted docker config for images outside the default prefix",
    ),
    spec(
        Flag::RegistryAuthSecretPath,
        &["registry-auth-secret-path"],
        Str,
        "/var/tmp/auth-secret/.dockerconfigjson",
        "the mounted docker config.json",
    ),
    spec(
        Flag::RegistryAuthSecretName,
        &["registry-auth-secret-name"],
        Str,
        "auth-secret",
        "name of the Secret replicated into the pod namespace for image pulls",
    ),
    spec(
        Flag::EnablePrivateRegistryTls,
        &[
            "enable-private-registry-tls",
            "enable-private-registries-tls",
            "enable-tls-registry",
        ],
        Bool,
        "false",
        "trust the CA in -tls-secret-path for registries, then public roots, then plain HTTP",
    ),
    spec(
        Flag::TlsSecretPath,
        &["tls-secret-path"],
        Str,
        "/var/tmp/tls-secret/",
        "directory holding the registry CA as ca.crt or ca.pem",
    ),
    spec(
        Flag::DefaultImagePrefix,
        &["default-image-prefix"],
        Str,
        "gcr.io/kpt-fn/",
        "images under this prefix never use private-registry credentials",
    ),
];

/// klog's flags, which the Go runner registered with `klog.InitFlags`;
/// Deployments pass some of them. `-v` is an alias of `-log-level` above.
const KLOG: &[Spec] = &[
    spec(
        Flag::KlogIgnored,
        &["logtostderr"],
        Bool,
        "",
        "klog flag, accepted and ignored (we always log to stderr)",
    ),
    spec(
        Flag::KlogIgnored,
        &["alsologtostderr"],
        Bool,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["stderrthreshold"],
        Str,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["log_dir"],
        Str,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["log_file"],
        Str,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["log_file_max_size"],
        Str,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["vmodule"],
        Str,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["log_backtrace_at"],
        Str,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["add_dir_header"],
        Bool,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["skip_headers"],
        Bool,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["skip_log_headers"],
        Bool,
        "",
        "klog flag, accepted and ignored",
    ),
    spec(
        Flag::KlogIgnored,
        &["one_output"],
        Bool,
        "",
        "klog flag, accepted and ignored",
    ),
];

/// `--max-request-body-size` of the gRPC endpoints that are not `serve`
/// (`wrapper-server` and the `eval` client): one size for both directions.
const MAX_MESSAGE_SIZE: Spec = spec(
    Flag::MaxRequestBodySize,
    &["max-request-body-size"],
    Int,
    "6291456",
    "max gRPC message size in bytes, both directions",
);

/// `--bind-address` of `serve` and `wrapper-server`: ours (issue 12), so
/// that simulated pods in tests each serve 9446 on their own loopback IP.
const BIND_ADDRESS: Spec = spec(
    Flag::BindAddress,
    &["bind-address"],
    Str,
    "::",
    "IP address to listen on; :: every interface, IPv4 and IPv6 (IPv4 only without IPv6); \
     0.0.0.0: every IPv4 interface",
);

/// The connection flags of `serve` and `wrapper-server` (ours, issue 11):
/// the bounds on what a peer can make the server hold, and for how long.
/// The defaults are `h2::limits::Limits`'s (docs/transport.md "Limits").
const CONNECTIONS: &[Spec] = &[
    spec(
        Flag::MaxConnections,
        &["max-connections"],
        Int,
        "1024",
        "connections held at most (>= 1); at the limit the longest-idle one is closed to make room",
    ),
    spec(
        Flag::IdleTimeout,
        &["idle-timeout"],
        Duration,
        "5m0s",
        "a connection without open streams this long is closed (GOAWAY); 0: never",
    ),
    spec(
        Flag::HandshakeTimeout,
        &["handshake-timeout"],
        Duration,
        "10s",
        "time a new connection has to send the HTTP/2 preface and SETTINGS (> 0)",
    ),
    spec(
        Flag::SendTimeout,
        &["send-timeout"],
        Duration,
        "30s",
        "a peer that takes less than 64 KiB of our output in this time is cut off (> 0)",
    ),
    spec(
        Flag::ReadTimeout,
        &["read-timeout"],
        Duration,
        "1m0s",
        "time a request has to arrive whole (headers and body); then it is reset (> 0)",
    ),
];

/// `--metrics-address` of `serve` and `wrapper-server`: ours (issue 16);
/// `OTEL_METRICS_EXPORTER=prometheus` turns the same endpoint on.
const METRICS_ADDRESS: Spec = spec(
    Flag::MetricsAddress,
    &["metrics-address"],
    Str,
    "",
    "HOST:PORT of the Prometheus /metrics endpoint; default: off, or $OTEL_EXPORTER_PROMETHEUS_HOST:$OTEL_EXPORTER_PROMETHEUS_PORT (0.0.0.0:9464) with OTEL_METRICS_EXPORTER=prometheus",
);

/// `wrapper-server` (compat §6).
const WRAPPER: &[Spec] = &[
    spec(
        Flag::Port,
        &["port"],
        Int,
        "9446",
        "gRPC listen port, on -bind-address (0..65535)",
    ),
    BIND_ADDRESS,
    METRICS_ADDRESS,
    MAX_MESSAGE_SIZE,
    spec(
        Flag::Verbosity,
        &["verbosity", "v"],
        Int,
        "2",
        "log verbosity 0-5",
    ),
];

/// `health-probe`: grpc-health-probe's flags (compat §1).
const PROBE: &[Spec] = &[
    spec(
        Flag::Addr,
        &["addr"],
        Str,
        "",
        "(required) tcp host:port to connect",
    ),
    spec(
        Flag::Service,
        &["service"],
        Str,
        "",
        "service name to check (default: \"\")",
    ),
    spec(
        Flag::ConnectTimeout,
        &["connect-timeout"],
        Duration,
        "1s",
        "timeout for establishing connection",
    ),
    spec(
        Flag::RpcTimeout,
        &["rpc-timeout"],
        Duration,
        "1s",
        "timeout for health check rpc",
    ),
    spec(Flag::Verbose, &["v"], Bool, "", "verbose logs"),
    spec(
        Flag::UserAgent,
        &["user-agent"],
        Str,
        "grpc_health_probe",
        "user-agent header value of health check requests (accepted, not sent)",
    ),
    spec(
        Flag::RpcHeader,
        &["rpc-header"],
        Str,
        "",
        "additional RPC headers in 'name: value' format (accepted, not sent)",
    ),
    spec(
        Flag::Gzip,
        &["gzip"],
        Bool,
        "",
        "use gzip compression (accepted, ignored)",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["tls"],
        Bool,
        "",
        "use TLS: not supported",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["tls-no-verify"],
        Bool,
        "",
        "not supported (TLS)",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["tls-ca-cert"],
        Str,
        "",
        "not supported (TLS)",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["tls-client-cert"],
        Str,
        "",
        "not supported (TLS)",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["tls-client-key"],
        Str,
        "",
        "not supported (TLS)",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["tls-server-name"],
        Str,
        "",
        "not supported (TLS)",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["alts"],
        Bool,
        "",
        "use ALTS: not supported",
    ),
    spec(
        Flag::ProbeUnsupported,
        &["spiffe"],
        Bool,
        "",
        "use SPIFFE mTLS: not supported",
    ),
];

/// `eval`: the test client.
const EVAL: &[Spec] = &[
    spec(
        Flag::Address,
        &["address"],
        Str,
        "localhost:9445",
        "host:port of the function runner",
    ),
    spec(
        Flag::Image,
        &["image"],
        Str,
        "",
        "(required) the function image to evaluate",
    ),
    spec(
        Flag::Timeout,
        &["timeout"],
        Duration,
        "",
        "deadline of the call (grpc-timeout); default none",
    ),
    spec(
        Flag::ConnectTimeout,
        &["connect-timeout"],
        Duration,
        "5s",
        "timeout for establishing the connection (> 0)",
    ),
    MAX_MESSAGE_SIZE,
];

/// `preflight`'s own flag; it takes every flag of `serve` as well, so a
/// Deployment's command line can be checked as it is (issue 13).
const PREFLIGHT: &[Spec] = &[spec(
    Flag::ShowPod,
    &["show-pod"],
    Str,
    "",
    "also print, as YAML, the pod the runner would create for this image",
)];

/// The flag tables of a mode, in `--help` order.
pub(crate) fn tables(mode: Mode) -> &'static [&'static [Spec]] {
    match mode {
        Mode::Serve => &[SERVE, CONNECTIONS, REGISTRY, KLOG],
        Mode::WrapperServer => &[WRAPPER, CONNECTIONS],
        Mode::HealthProbe => &[PROBE],
        Mode::Eval => &[EVAL],
        Mode::Inspect => &[REGISTRY],
        Mode::Preflight => &[PREFLIGHT, SERVE, CONNECTIONS, REGISTRY, KLOG],
    }
}

/// The spec that `name` (any spelling, without dashes) selects in `mode`.
pub(crate) fn lookup(mode: Mode, name: &str) -> Option<&'static Spec> {
    tables(mode)
        .iter()
        .flat_map(|table| table.iter())
        .find(|spec| spec.names.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_spelling_is_defined_twice_in_a_mode() {
        for mode in Mode::ALL {
            let mut seen = Vec::new();
            for spec in tables(mode).iter().flat_map(|t| t.iter()) {
                for name in spec.names {
                    assert!(!seen.contains(name), "{mode:?}: -{name} twice");
                    seen.push(*name);
                }
            }
        }
    }

    #[test]
    fn help_flags_stay_free_for_go_help_handling() {
        // Go prints usage for -h/-help only when no flag of that name exists.
        for mode in Mode::ALL {
            assert!(lookup(mode, "h").is_none());
            assert!(lookup(mode, "help").is_none());
        }
    }
}
