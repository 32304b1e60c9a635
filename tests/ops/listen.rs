//! Where the server listens (issue 14): both IP families on `[::]` by
//! default, as Go's `:PORT` does (IPv6-only clusters exist); IPv4 only on
//! `--bind-address 0.0.0.0`; and it stops on SIGTERM where loopback is
//! down (no connection to itself to wake its acceptor).

use std::process::Command;
use std::time::Duration;

use fn_runner::proto::ServingStatus;

use super::{serve, serve_args};
use crate::support::exec::RunnerProcess;
use crate::support::pods::evaluate::{connect, evaluate, health};
use crate::support::process::fn_runner_bin;

const WAIT: Duration = Duration::from_secs(30);

/// The port in the server's "serving gRPC on ADDR" line, and that line.
fn serving_line(server: &RunnerProcess) -> String {
    server
        .log_lines()
        .wait_for(WAIT, |l| l.contains("serving gRPC on "))
        .expect("a serving line")
        .text
}

fn port(server: &RunnerProcess) -> u16 {
    server
        .addr
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("a port")
}

#[test]
fn grpc_over_ipv6_loopback_and_ipv4_by_default() {
    let server = serve(&[]);
    let line = serving_line(&server);
    assert!(line.contains("serving gRPC on [::]:"), "{line}");
    assert!(line.ends_with("(IPv4 and IPv6)"), "{line}");
    let port = port(&server);
    for addr in [format!("[::1]:{port}"), format!("127.0.0.1:{port}")] {
        let client = connect(&addr);
        assert_eq!(
            health(&client, "").expect("health"),
            ServingStatus::SERVING,
            "{addr}"
        );
        let out = evaluate(&client, "example.com/fn/cat:v1", b"over IP\n", Some(WAIT))
            .unwrap_or_else(|s| panic!("{addr}: {s}"));
        assert_eq!(out.resource_list, b"over IP\n", "{addr}");
    }
}

#[test]
fn the_wrapper_server_listens_on_both_families_too() {
    let server = super::wrapper_server("results");
    let line = serving_line(&server);
    assert!(line.ends_with("(IPv4 and IPv6)"), "{line}");
    let client = connect(&format!("[::1]:{}", port(&server)));
    assert_eq!(health(&client, "").expect("health"), ServingStatus::SERVING);
}

#[test]
fn bind_address_0_0_0_0_is_ipv4_only() {
    let server = serve(&["--bind-address", "0.0.0.0"]);
    let line = serving_line(&server);
    assert!(
        line.contains("serving gRPC on 0.0.0.0:") && line.ends_with("(IPv4 only)"),
        "{line}"
    );
    let refused = std::net::TcpStream::connect(("::1", port(&server)));
    assert!(refused.is_err(), "IPv6 reached an IPv4-only listener");
    let client = connect(&server.addr);
    assert_eq!(health(&client, "").expect("health"), ServingStatus::SERVING);
}

/// In a network namespace of its own, loopback is down: the server
/// cannot connect to itself, which is how its acceptor used to be woken.
#[test]
fn serve_exits_on_sigterm_with_loopback_down() {
    let mut cmd = Command::new("unshare");
    // `unshare` execs the server: same pid, so the signal reaches it.
    cmd.args(["--net", "--"])
        .arg(fn_runner_bin())
        .args(serve_args(&[]));
    let mut server = RunnerProcess::spawn(cmd);
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(
        server.log().contains("all calls finished; exiting"),
        "{}",
        server.log()
    );
}
