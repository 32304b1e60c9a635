//! `fn-runner health-probe` / `grpc-health-probe` (compat §1): one health
//! Check, with grpc-health-probe's messages and exit codes.

use std::time::Duration;

use crate::call::CallContext;
use crate::flags::ProbeSettings;
use crate::grpc::health::CHECK_PATH;
use crate::grpc::{Client, ClientConfig, Code};
use crate::proto::{HealthCheckRequest, HealthCheckResponse, Message, ServingStatus};

/// Exit code: SERVING.
pub const EXIT_SERVING: u8 = 0;
/// Exit code: bad arguments (the flag parser's).
pub const EXIT_BAD_ARGUMENTS: u8 = 1;
/// Exit code: the connection could not be made.
pub const EXIT_CONNECTION_FAILURE: u8 = 2;
/// Exit code: the RPC failed.
pub const EXIT_RPC_FAILURE: u8 = 3;
/// Exit code: the service answered, but not SERVING.
pub const EXIT_UNHEALTHY: u8 = 4;

/// Probes once; returns the exit code of compat §1 (0 SERVING, 1 bad
/// arguments, 2 connection failure, 3 RPC failure, 4 not SERVING).
pub fn run(settings: &ProbeSettings) -> u8 {
    let (code, line) = probe(settings);
    if code == EXIT_SERVING {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
    code
}

/// The exit code and the line grpc-health-probe would print.
pub fn probe(settings: &ProbeSettings) -> (u8, String) {
    let config = ClientConfig {
        max_message_bytes: 4 << 20,
        connect_timeout: settings.connect_timeout,
        ..ClientConfig::default()
    };
    if settings.verbose {
        eprintln!("establishing connection");
    }
    let started = std::time::Instant::now();
    let client = match Client::connect(&loopback_literal(&settings.addr), config) {
        Ok(c) => c,
        Err(status) => {
            return (
                EXIT_CONNECTION_FAILURE,
                format!(
                    "error: failed to connect service at {:?}: {}",
                    settings.addr, status.message
                ),
            )
        }
    };
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
                format!(
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                    status.message
                ),
            )
        }
        Err(status) if status.code == Code::DEADLINE_EXCEEDED => {
            return (
                EXIT_RPC_FAILURE,
                format!("timeout: health rpc did not complete within {}", go_duration(settings.rpc_timeout)),
            )
        }
        Err(status) => return (EXIT_RPC_FAILURE, format!("error: health rpc failed: {status}")),
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
            format!("service unhealthy (responded with {:?})", status.name()),
        );
    }
    (EXIT_SERVING, "status: SERVING".to_owned())
}

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

/// A duration as Go prints it for whole seconds and milliseconds (`1s`, `500ms`).
fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
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
