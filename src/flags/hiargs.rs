//! Step three of three: [`LowArgs`] -> the typed settings of each mode.
//! Each occurrence is applied in order, starting from the defaults, so an
//! invalid value is an error even if a later one overrides it (Go's `flag`
//! calls `Set` for each). Range checks that Go left to the program (port,
//! positive intervals, non-negative TTLs) happen here, naming the flag.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ValueError;
use super::lowargs::{LowArgs, Occurrence, Raw};
use super::spec::Flag;
use super::{strconv, Error};
use super::{
    ConnectionSettings, EvalSettings, InspectSettings, PreflightSettings, ProbeSettings,
    RegistrySettings, Runtimes, ServeSettings, WrapperSettings,
};
use crate::duration;
use crate::registry;

/// Largest `--max-request-body-size`: the gRPC length prefix is a u32.
const MAX_MESSAGE_BYTES_LIMIT: i64 = u32::MAX as i64;
/// Largest count for waitlists and pods per function: far beyond any real use.
const MAX_COUNT: i64 = u32::MAX as i64;

/// `serve`: compat §1's flags, no positional arguments.
pub(crate) fn serve(low: LowArgs) -> Result<ServeSettings, Error> {
    let mut s = ServeSettings::default();
    for occ in &low.flags {
        apply_serve(&mut s, occ)?;
    }
    no_positionals(&low.positionals)?;
    Ok(s)
}

/// `preflight` (issue 13): serve's flags (checked as serve reads them)
/// and `--show-pod IMAGE`; no positional arguments.
pub(crate) fn preflight(low: LowArgs) -> Result<PreflightSettings, Error> {
    let mut s = PreflightSettings::default();
    for occ in &low.flags {
        match occ.spec.flag {
            Flag::ShowPod => s.show_pod = Some(text(occ)?).filter(|t| !t.is_empty()),
            _ => apply_serve(&mut s.serve, occ)?,
        }
    }
    no_positionals(&low.positionals)?;
    Ok(s)
}

/// Applies one of serve's flags (its own, the registry's, klog's).
fn apply_serve(s: &mut ServeSettings, occ: &Occurrence) -> Result<(), Error> {
    if apply_registry(&mut s.registry, occ)? || apply_connections(&mut s.connections, occ)? {
        return Ok(());
    }
    match occ.spec.flag {
        Flag::Port => s.port = port(occ)?,
        Flag::BindAddress => s.bind_address = ip(occ)?,
        Flag::MetricsAddress => s.metrics_address = socket_address(occ)?,
        Flag::DisableRuntimes => s.runtimes = runtimes(occ)?,
        Flag::LogLevel => s.log_level = level(occ)?,
        Flag::Functions => s.functions = path(occ),
        Flag::Config => s.config = path(occ),
        Flag::PodCacheConfig => s.pod_cache_config = path(occ),
        Flag::WarmUpPodCache => s.warm_up_pod_cache = boolean(occ)?,
        Flag::PodNamespace => s.pod_namespace = non_empty(occ)?,
        Flag::PodTtl => s.pod_ttl = non_negative(occ)?,
        Flag::ScanInterval => s.scan_interval = positive(occ)?,
        Flag::FunctionPodTemplate => {
            s.function_pod_template = Some(text(occ)?).filter(|t| !t.is_empty());
        }
        Flag::MaxRequestBodySize => s.max_request_body_size = message_bytes(occ)?,
        Flag::MaxWaitlistLength => s.max_waitlist_length = count(occ, 0)?,
        Flag::MaxParallelPodsPerFunction => s.max_parallel_pods_per_function = count(occ, 1)?,
        Flag::PodReadyTimeout => s.pod_ready_timeout = positive(occ)?,
        Flag::Kubeconfig => s.kubeconfig = Some(path(occ)).filter(|p| !p.as_os_str().is_empty()),
        Flag::KlogIgnored => check_kind(occ)?,
        other => unreachable_flag(other),
    }
    Ok(())
}

/// `wrapper-server`: compat §6; the positional arguments are the entrypoint (required).
pub(crate) fn wrapper(low: LowArgs) -> Result<WrapperSettings, Error> {
    let mut s = WrapperSettings::default();
    for occ in &low.flags {
        if apply_connections(&mut s.connections, occ)? {
            continue;
        }
        match occ.spec.flag {
            Flag::Port => s.port = port(occ)?,
            Flag::BindAddress => s.bind_address = ip(occ)?,
            Flag::MetricsAddress => s.metrics_address = socket_address(occ)?,
            Flag::MaxRequestBodySize => s.max_request_body_size = message_bytes(occ)?,
            Flag::Verbosity => s.verbosity = level(occ)?,
            other => unreachable_flag(other),
        }
    }
    if low.positionals.is_empty() {
        return Err(Error::MissingEntrypoint);
    }
    s.entrypoint = low.positionals;
    Ok(s)
}

/// `health-probe`: grpc-health-probe's checks, in its order: `-addr` required, timeouts > 0;
/// its TLS/ALTS/SPIFFE flags are refused when set.
pub(crate) fn probe(low: LowArgs) -> Result<ProbeSettings, Error> {
    let mut s = ProbeSettings::default();
    let mut unsupported = None;
    for occ in &low.flags {
        match occ.spec.flag {
            Flag::Addr => s.addr = text(occ)?,
            Flag::Service => s.service = text(occ)?,
            Flag::ConnectTimeout => s.connect_timeout = positive(occ)?,
            Flag::RpcTimeout => s.rpc_timeout = positive(occ)?,
            Flag::Verbose => s.verbose = boolean(occ)?,
            // Accepted so that probes written for grpc-health-probe keep
            // working; our health check sends neither.
            Flag::UserAgent | Flag::RpcHeader => {
                text(occ)?;
            }
            Flag::Gzip => {
                boolean(occ)?;
            }
            Flag::ProbeUnsupported => {
                let set = match occ.spec.kind {
                    super::spec::Kind::Bool => boolean(occ)?,
                    _ => !text(occ)?.is_empty(),
                };
                if set && unsupported.is_none() {
                    unsupported = Some(occ.spec.name());
                }
            }
            other => unreachable_flag(other),
        }
    }
    no_positionals(&low.positionals)?;
    if s.addr.is_empty() {
        return Err(Error::MissingRequired { name: "addr" });
    }
    if let Some(name) = unsupported {
        return Err(Error::Unsupported {
            name: name.to_owned(),
        });
    }
    Ok(s)
}

/// `eval`: `-image` required; an optional FILE (`-` or none: stdin).
pub(crate) fn eval(low: LowArgs) -> Result<EvalSettings, Error> {
    let mut s = EvalSettings::default();
    for occ in &low.flags {
        match occ.spec.flag {
            Flag::Address => s.address = non_empty(occ)?,
            Flag::Image => s.image = text(occ)?,
            // 0 means no deadline, like grpc-go's zero timeout.
            Flag::Timeout => s.timeout = Some(non_negative(occ)?).filter(|d| !d.is_zero()),
            Flag::ConnectTimeout => s.connect_timeout = positive(occ)?,
            Flag::MaxRequestBodySize => s.max_message_bytes = message_bytes(occ)?,
            other => unreachable_flag(other),
        }
    }
    let mut positionals = low.positionals.into_iter();
    s.input = positionals
        .next()
        .filter(|p| p.as_bytes() != b"-")
        .map(PathBuf::from);
    no_positionals(positionals.as_slice())?;
    if s.image.is_empty() {
        return Err(Error::MissingRequired { name: "image" });
    }
    Ok(s)
}

/// `inspect`: the registry flags and exactly one IMAGE.
pub(crate) fn inspect(low: LowArgs) -> Result<InspectSettings, Error> {
    let mut registry = RegistrySettings::default();
    for occ in &low.flags {
        if !apply_registry(&mut registry, occ)? {
            unreachable_flag(occ.spec.flag);
        }
    }
    let mut positionals = low.positionals.into_iter();
    let image = positionals
        .next()
        .ok_or(Error::MissingArgument { what: "IMAGE" })?;
    let image = image
        .into_string()
        .map_err(|raw| Error::UnexpectedArgument {
            arg: raw.to_string_lossy().into_owned(),
        })?;
    no_positionals(positionals.as_slice())?;
    Ok(InspectSettings { image, registry })
}

/// Applies a registry flag; `Ok(false)` when `occ` is not one.
fn apply_registry(r: &mut RegistrySettings, occ: &Occurrence) -> Result<bool, Error> {
    match occ.spec.flag {
        Flag::EnablePrivateRegistry => r.enable_private_registry = boolean(occ)?,
        Flag::RegistryAuthSecretPath => r.registry_auth_secret_path = Some(path(occ)),
        Flag::RegistryAuthSecretName => r.registry_auth_secret_name = non_empty(occ)?,
        Flag::EnablePrivateRegistryTls => r.enable_private_registry_tls = boolean(occ)?,
        Flag::TlsSecretPath => r.tls_secret_path = path(occ),
        Flag::DefaultImagePrefix => r.default_image_prefix = text(occ)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Applies a connection flag; `Ok(false)` when `occ` is not one.
fn apply_connections(c: &mut ConnectionSettings, occ: &Occurrence) -> Result<bool, Error> {
    match occ.spec.flag {
        Flag::MaxConnections => c.max_connections = count(occ, 1)?,
        Flag::IdleTimeout => c.idle_timeout = Some(non_negative(occ)?).filter(|d| !d.is_zero()),
        Flag::HandshakeTimeout => c.handshake_timeout = positive(occ)?,
        Flag::SendTimeout => c.send_timeout = positive(occ)?,
        Flag::ReadTimeout => c.read_timeout = positive(occ)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The registry client's configuration from the registry flags (compat
/// §5). Without `--registry-auth-secret-path`, private registries use the
/// first of [`DEFAULT_AUTH_FILES`] that exists (logged), else the first.
pub fn registry_config(r: &RegistrySettings) -> registry::Config {
    let auth_file = r.enable_private_registry.then(|| match &r.registry_auth_secret_path {
        Some(path) => path.clone(),
        None => {
            let (path, found) = default_auth_file(&DEFAULT_AUTH_FILES.map(PathBuf::from));
            if found {
                crate::info!(
                    "registry credentials: --registry-auth-secret-path not given, using {} (it exists)",
                    path.display()
                );
            } else {
                crate::warn!(
                    "registry credentials: --registry-auth-secret-path not given and none of {} exists; using {}",
                    DEFAULT_AUTH_FILES.join(", "),
                    path.display()
                );
            }
            path
        }
    });
    registry::Config {
        auth_file,
        ca_dir: r
            .enable_private_registry_tls
            .then(|| r.tls_secret_path.clone()),
        default_image_prefix: r.default_image_prefix.clone(),
    }
}

/// Where the docker config is mounted when `--registry-auth-secret-path`
/// is not given (issue 12): the user guide's path first, then the Go
/// runner's flag default (compat §1 lists both).
pub const DEFAULT_AUTH_FILES: [&str; 2] = [
    "/var/tmp/auth-secret/.dockerconfigjson",
    "/var/tmp/config-secret/.dockerconfigjson",
];

/// The first of `candidates` that exists, and `true`; else the first and
/// `false` (the client reports the missing file when it reads it).
fn default_auth_file(candidates: &[PathBuf]) -> (PathBuf, bool) {
    match candidates.iter().find(|path| path.exists()) {
        Some(path) => (path.clone(), true),
        None => (candidates.first().cloned().unwrap_or_default(), false),
    }
}

/// The spec tables only hand a mode its own flags, so a flag of another
/// mode cannot reach that mode's builder.
fn unreachable_flag(flag: Flag) {
    debug_assert!(false, "flag {flag:?} is not in this mode's table");
}

fn raw(occ: &Occurrence) -> &[u8] {
    match &occ.value {
        Raw::Bare => b"true",
        Raw::Given(value) => value.as_bytes(),
    }
}

fn bad(occ: &Occurrence, reason: ValueError) -> Error {
    Error::BadValue {
        name: occ.name.clone(),
        value: String::from_utf8_lossy(raw(occ)).into_owned(),
        reason,
    }
}

fn text(occ: &Occurrence) -> Result<String, Error> {
    String::from_utf8(raw(occ).to_vec()).map_err(|_| bad(occ, ValueError::NotUtf8))
}

fn non_empty(occ: &Occurrence) -> Result<String, Error> {
    let t = text(occ)?;
    if t.is_empty() {
        return Err(bad(occ, ValueError::Empty));
    }
    Ok(t)
}

/// An IPv4 or IPv6 address literal (`127.0.0.2`, `::1`); no host names:
/// a listener binds one address, and a name could resolve to several.
fn ip(occ: &Occurrence) -> Result<IpAddr, Error> {
    text(occ)?
        .parse()
        .map_err(|_| bad(occ, ValueError::NotAnIp))
}

/// `IP:PORT` (`[::1]:9464` for IPv6), or Go's `:PORT` for all IPv4
/// interfaces; empty: none. No host names, as for `--bind-address`.
fn socket_address(occ: &Occurrence) -> Result<Option<SocketAddr>, Error> {
    let t = text(occ)?;
    if t.is_empty() {
        return Ok(None);
    }
    let parsed = match t.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from((Ipv4Addr::UNSPECIFIED, p))),
        None => t.parse::<SocketAddr>().ok(),
    };
    parsed
        .map(Some)
        .ok_or_else(|| bad(occ, ValueError::NotAnAddress))
}

fn path(occ: &Occurrence) -> PathBuf {
    match &occ.value {
        Raw::Bare => PathBuf::from("true"),
        Raw::Given(value) => PathBuf::from(OsString::from(value)),
    }
}

fn boolean(occ: &Occurrence) -> Result<bool, Error> {
    strconv::parse_bool(raw(occ)).map_err(|_| Error::BadBool {
        name: occ.name.clone(),
        value: String::from_utf8_lossy(raw(occ)).into_owned(),
    })
}

/// Validates an ignored flag's value by its kind, as Go's `Set` would.
fn check_kind(occ: &Occurrence) -> Result<(), Error> {
    match occ.spec.kind {
        super::spec::Kind::Bool => boolean(occ).map(drop),
        _ => Ok(()),
    }
}

fn int_in(occ: &Occurrence, min: i64, max: i64) -> Result<i64, Error> {
    let n = strconv::parse_int(raw(occ)).map_err(|e| bad(occ, ValueError::Int(e)))?;
    if n < min || n > max {
        return Err(bad(occ, ValueError::OutOfRange { min, max }));
    }
    Ok(n)
}

fn port(occ: &Occurrence) -> Result<u16, Error> {
    let n = int_in(occ, 0, i64::from(u16::MAX))?;
    Ok(u16::try_from(n).expect("checked against u16::MAX"))
}

fn level(occ: &Occurrence) -> Result<u8, Error> {
    let n = int_in(occ, 0, i64::from(u8::MAX))?;
    Ok(u8::try_from(n).expect("checked against u8::MAX"))
}

fn message_bytes(occ: &Occurrence) -> Result<usize, Error> {
    let n = int_in(occ, 1, MAX_MESSAGE_BYTES_LIMIT)?;
    usize::try_from(n).map_err(|_| {
        bad(
            occ,
            ValueError::OutOfRange {
                min: 1,
                max: MAX_MESSAGE_BYTES_LIMIT,
            },
        )
    })
}

fn count(occ: &Occurrence, min: i64) -> Result<usize, Error> {
    let n = int_in(occ, min, MAX_COUNT)?;
    usize::try_from(n).map_err(|_| {
        bad(
            occ,
            ValueError::OutOfRange {
                min,
                max: MAX_COUNT,
            },
        )
    })
}

fn go_duration(occ: &Occurrence) -> Result<duration::Nanos, Error> {
    duration::parse(raw(occ)).map_err(|e| bad(occ, ValueError::Duration(e)))
}

fn non_negative(occ: &Occurrence) -> Result<Duration, Error> {
    let nanos = go_duration(occ)?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| bad(occ, ValueError::Negative))
}

fn positive(occ: &Occurrence) -> Result<Duration, Error> {
    let d = go_duration(occ)?;
    if d <= 0 {
        return Err(bad(occ, ValueError::NotPositive));
    }
    non_negative(occ)
}

fn runtimes(occ: &Occurrence) -> Result<Runtimes, Error> {
    let list = text(occ)?;
    let mut r = Runtimes {
        exec: true,
        pod: true,
    };
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item {
            "exec" => r.exec = false,
            "pod" => r.pod = false,
            other => return Err(bad(occ, ValueError::UnknownRuntime(other.to_owned()))),
        }
    }
    Ok(r)
}

fn no_positionals(rest: &[OsString]) -> Result<(), Error> {
    match rest.first() {
        None => Ok(()),
        Some(arg) => Err(Error::UnexpectedArgument {
            arg: arg.to_string_lossy().into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_auth_file_prefers_the_guides_path_then_gos() {
        let dir = std::env::temp_dir().join(format!("fn-runner-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let guide = dir.join("auth-secret/.dockerconfigjson");
        let go = dir.join("config-secret/.dockerconfigjson");
        let candidates = [guide.clone(), go.clone()];
        // Neither exists: the guide's, reported as missing.
        assert_eq!(default_auth_file(&candidates), (guide.clone(), false));
        // Only Go's exists: Go's.
        std::fs::create_dir_all(go.parent().unwrap()).unwrap();
        std::fs::write(&go, "{}").unwrap();
        assert_eq!(default_auth_file(&candidates), (go.clone(), true));
        // Both exist: the guide's wins.
        std::fs::create_dir_all(guide.parent().unwrap()).unwrap();
        std::fs::write(&guide, "{}").unwrap();
        assert_eq!(default_auth_file(&candidates), (guide, true));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn registry_config_follows_the_flags() {
        let off = registry_config(&RegistrySettings::default());
        assert_eq!(off, registry::Config::default());
        let on = registry_config(&RegistrySettings {
            enable_private_registry: true,
            registry_auth_secret_path: Some("/given/.dockerconfigjson".into()),
            enable_private_registry_tls: true,
            tls_secret_path: "/tls/".into(),
            default_image_prefix: "reg.example/fns/".into(),
            ..RegistrySettings::default()
        });
        assert_eq!(
            on,
            registry::Config {
                auth_file: Some("/given/.dockerconfigjson".into()),
                ca_dir: Some("/tls/".into()),
                default_image_prefix: "reg.example/fns/".into(),
            }
        );
        // Not given: one of the two defaults (which one depends on this machine).
        let picked = registry_config(&RegistrySettings {
            enable_private_registry: true,
            ..RegistrySettings::default()
        });
        let auth_file = picked.auth_file.expect("private registries are on");
        assert!(DEFAULT_AUTH_FILES
            .iter()
            .any(|p| auth_file == std::path::Path::new(p)));
    }
}
