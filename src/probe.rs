//! `fn-runner health-probe` / `grpc-health-probe` (compat §1): one health
//! Check, with grpc-health-probe's messages and exit codes. Like it, every
//! line goes to stderr (its `log.Printf`), `status: SERVING` too, and
//! statuses are spelt as grpc-go's enum `String()` spells them.

use std::time::Duration;

use crate::call::CallContext;
use crate::flags::ProbeSettings;
use crate::grpc::health::CHECK_PATH;
use crate::grpc::{Client, ClientConfig, Code};
use crate::proto::{HealthCheckRequest, HealthCheckResponse, Message, ServingStatus};

/// Exit code: SERVING.
pub(crate) const EXIT_SERVING: u8 = 0;
/// Exit code: bad arguments (the flag parser's).
pub const EXIT_BAD_ARGUMENTS: u8 = 1;
/// Exit code: the connection could not be made.
pub(crate) const EXIT_CONNECTION_FAILURE: u8 = 2;
/// Exit code: the RPC failed.
pub(crate) const EXIT_RPC_FAILURE: u8 = 3;
/// Exit code: the service answered, but not SERVING.
pub(crate) const EXIT_UNHEALTHY: u8 = 4;

/// Probes once; returns the exit code of compat §1 (0 SERVING, 1 bad
/// arguments, 2 connection failure, 3 RPC failure, 4 not SERVING).
pub fn run(settings: &ProbeSettings) -> u8 {
    let (code, line) = probe(settings);
    eprintln!("{line}");
    code
}

/// The exit code and the line grpc-health-probe would print.
pub fn probe(settings: &ProbeSettings) -> (u8, String) {
    let config = ClientConfig {
        max_message_bytes: 4 << 20,
        connect_timeout: settings.connect_timeout + CONNECT_SLACK,
        ..ClientConfig::default()
    };
    if settings.verbose {
        eprintln!("parsed options:");
        eprintln!(
            "> addr={} conn_timeout={} rpc_timeout={}",
            settings.addr,
            go_duration(settings.connect_timeout),
            go_duration(settings.rpc_timeout)
        );
        eprintln!("> tls=false");
        eprintln!("establishing connection");
    }
    let started = std::time::Instant::now();
    let client = Client::new(&loopback_literal(&settings.addr), config);
    // The wait ends at -connect-timeout (grpc-go's dial context); the TCP
    // connect's own bound is a little longer, so a timeout is ours to name.
    let connecting = CallContext::with_timeout(settings.connect_timeout);
    match client.connected(&connecting) {
        Ok(()) => {}
        Err(status) if status.code == Code::DEADLINE_EXCEEDED => {
            return (
                EXIT_CONNECTION_FAILURE,
                format!(
                    "timeout: failed to connect service {:?} within {}",
                    settings.addr,
                    go_duration(settings.connect_timeout)
                ),
            )
        }
        Err(status) => {
            return (
                EXIT_CONNECTION_FAILURE,
                format!(
                    "error: failed to connect service at {:?}: {}",
                    settings.addr, status.message
                ),
            )
        }
    }
    let connected = std::time::Instant::now();
    if settings.verbose {
        eprintln!("connection established (took {:?})", connected - started);
    }
    let request = HealthCheckRequest {
        service: settings.service.clone(),
    }
    .encode_to_vec();
    let ctx = CallContext::with_timeout(settings.rpc_timeout);
    let response = match client.call(CHECK_PATH, &request, &ctx) {
        Ok(r) => r,
        Err(status) if status.code == Code::UNIMPLEMENTED => {
            return (
                EXIT_RPC_FAILURE,
                "error: this server does not implement the grpc health protocol \
                 (grpc.health.v1.Health)"
                    .to_owned(),
            )
        }
        Err(status) if status.code == Code::DEADLINE_EXCEEDED => {
            return (
                EXIT_RPC_FAILURE,
                format!(
                    "timeout: health rpc did not complete within {}",
                    go_duration(settings.rpc_timeout)
                ),
            )
        }
        Err(status) => {
            return (
                EXIT_RPC_FAILURE,
                format!("error: health rpc failed: {status}"),
            )
        }
    };
    if settings.verbose {
        eprintln!(
            "time elapsed: connect={:?} rpc={:?}",
            connected - started,
            connected.elapsed()
        );
    }
    let status = match HealthCheckResponse::decode(&response) {
        Ok(r) => r.status,
        Err(e) => {
            return (
                EXIT_RPC_FAILURE,
                format!("error: health rpc failed: bad response: {e}"),
            )
        }
    };
    if status != ServingStatus::SERVING {
        return (
            EXIT_UNHEALTHY,
            format!(
                "service unhealthy (responded with {:?})",
                status.to_string()
            ),
        );
    }
    (EXIT_SERVING, format!("status: {status}"))
}

/// How much longer the client's own TCP connect may take than the wait
/// for it (`-connect-timeout`), so that a timeout is reported as ours.
const CONNECT_SLACK: Duration = Duration::from_secs(1);

/// `localhost:PORT` as `127.0.0.1:PORT`, any other address unchanged.
///
/// The probe always targets a server in its own pod (`-addr
/// localhost:9445` in the Deployment, `localhost:9446` in function pods),
/// and those listen on 0.0.0.0. Resolving `localhost` through the C
/// library would need `/etc/hosts` (and, with glibc, its NSS modules) in
/// the container: a function image built `FROM scratch` or a run without
/// them would then fail every probe. RFC 6761 §6.3 lets applications
/// answer `localhost` themselves.
fn loopback_literal(addr: &str) -> std::borrow::Cow<'_, str> {
    match addr.rsplit_once(':') {
        Some((host, port)) if host.trim_end_matches('.').eq_ignore_ascii_case("localhost") => {
            std::borrow::Cow::Owned(format!("127.0.0.1:{port}"))
        }
        _ => std::borrow::Cow::Borrowed(addr),
    }
}

/// A duration as Go prints it for whole seconds and milliseconds (`1s`,
/// `500ms`); finer ones as Rust does (`1.5µs`).
fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos() % 1_000_000 == 0 && d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{d:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_needs_no_resolver() {
        assert_eq!(loopback_literal("localhost:9445"), "127.0.0.1:9445");
        assert_eq!(loopback_literal("LocalHost.:9446"), "127.0.0.1:9446");
        for unchanged in [
            "127.0.0.1:9445",
            "[::1]:9445",
            "my-localhost:1",
            "localhost",
            "example.com:80",
        ] {
            assert_eq!(loopback_literal(unchanged), unchanged);
        }
    }
}
