//! `fn-runner serve` and `fn-runner health-probe` as processes: graceful
//! SIGTERM, probe exit codes, the argv[0] forms.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::grpc::{Client, ClientConfig};
use fn_runner::proto::ServingStatus;

use super::TestServer;
use crate::support::grpc_py::EchoServer;
use crate::support::multicall::MultiCallDir;
use crate::support::process::fn_runner_bin;

/// A `serve` process whose stderr lines arrive on a channel; killed on drop.
struct ServeProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl ServeProcess {
    fn start(program: &Path, first_arg: Option<&str>) -> ServeProcess {
        let port = free_port();
        let mut cmd = Command::new(program);
        if let Some(a) = first_arg {
            cmd.arg(a);
        }
        // An empty exec config: a server with a runtime (none at all is an
        // error at start) that knows no image, for the transport's tests.
        let mut child = cmd
            .args(["--port", &port.to_string()])
            .args(["--config=/dev/null", "--disable-runtimes=pod"])
            .env(fn_runner::serve::TEST_SLOW_METHOD_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fn-runner serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = ServeProcess { child, lines, port };
        p.wait_for("serving gRPC on");
        p
    }

    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let (tx, rx) = mpsc::channel();
        let pid = self.child.id();
        // Bounded wait: a watchdog kills the process if it never exits.
        std::thread::spawn(move || {
            if rx.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        });
        let status = self.child.wait().expect("wait");
        let _ = tx.send(());
        status
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn probe(program: &Path, first_arg: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    if let Some(a) = first_arg {
        cmd.arg(a);
    }
    cmd.args(args).output().expect("run health-probe")
}

#[test]
fn sigterm_lets_the_slow_call_finish_refuses_new_connections_and_exits_0() {
    let mut server = ServeProcess::start(&fn_runner_bin(), Some("serve"));
    let addr = server.addr();
    let client = Client::connect(&addr, ClientConfig::default()).expect("connect");
    let (tx, rx) = mpsc::channel();
    let call = std::thread::spawn(move || {
        let r = client.call(
            fn_runner::serve::TEST_SLOW_PATH,
            b"1500",
            &CallContext::with_timeout(Duration::from_secs(30)),
        );
        let _ = tx.send(r);
    });
    server.wait_for("test slow method: sleeping 1500 ms");
    server.sigterm();
    server.wait_for("listener closed");
    let refused = TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(5));
    assert!(
        refused.is_err(),
        "a new connection after SIGTERM must be refused"
    );
    let result = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("slow call returned");
    assert_eq!(result.expect("slow call completes"), b"1500");
    call.join().expect("call thread");
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn sigint_also_stops_the_server_with_exit_0() {
    let mut server = ServeProcess::start(&fn_runner_bin(), Some("serve"));
    let ok = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn probe_exit_0_when_serving_through_both_names() {
    let server = ServeProcess::start(&fn_runner_bin(), Some("serve"));
    let out = probe(
        &fn_runner_bin(),
        Some("health-probe"),
        &["-addr", &server.addr()],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // grpc-health-probe's log.Printf: stderr, stdout empty.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "status: SERVING"
    );
    assert!(out.stdout.is_empty());
    let dir = MultiCallDir::new();
    let out = probe(
        &dir.path("grpc-health-probe"),
        None,
        &[
            "-addr",
            &server.addr(),
            "-service",
            "evaluator.FunctionEvaluator",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn server_name_is_serve() {
    let dir = MultiCallDir::new();
    let server = ServeProcess::start(&dir.path("server"), None);
    let out = probe(
        &fn_runner_bin(),
        Some("health-probe"),
        &["-addr", &server.addr()],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn probe_exit_2_on_connection_failure() {
    let addr = format!("127.0.0.1:{}", free_port());
    let out = probe(&fn_runner_bin(), Some("health-probe"), &["-addr", &addr]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed to connect"),
        "{out:?}"
    );
}

#[test]
fn probe_exit_3_on_rpc_failure() {
    // grpcio server without the health service: UNIMPLEMENTED.
    let echo = EchoServer::start();
    let out = probe(
        &fn_runner_bin(),
        Some("health-probe"),
        &["-addr", &echo.addr()],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("does not implement the grpc health protocol"),
        "{out:?}"
    );
    // An unknown service is NOT_FOUND: an RPC failure too.
    let server = TestServer::start();
    let out = probe(
        &fn_runner_bin(),
        Some("health-probe"),
        &["-addr", &server.addr, "-service", "nope"],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn probe_exit_3_on_rpc_timeout() {
    // A TCP listener that never speaks HTTP/2.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let out = probe(
        &fn_runner_bin(),
        Some("health-probe"),
        &["-addr", &addr, "-rpc-timeout", "300ms"],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("timeout: health rpc did not complete within 300ms"),
        "{out:?}"
    );
}

#[test]
fn probe_exit_4_when_not_serving() {
    let server = TestServer::start();
    server.health.set_all(ServingStatus::NOT_SERVING);
    let out = probe(
        &fn_runner_bin(),
        Some("health-probe"),
        &["-addr", &server.addr],
    );
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("service unhealthy (responded with \"NOT_SERVING\")"),
        "{out:?}"
    );
}
