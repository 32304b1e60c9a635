//! The binary's command line, run for real: help, usage errors and their
//! exit codes (Go's 2; the health probe's 1), and multi-call dispatch by
//! argv[0] through symlinks named `server`, `grpc-health-probe` and
//! `wrapper-server`.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::multicall::MultiCallDir;
use crate::support::process::fn_runner_bin;

/// Runs `program` with `args`, stdin closed, and returns what it did.
fn run<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fn-runner")
}

fn fn_runner(args: &[&str]) -> Output {
    run(&fn_runner_bin(), args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_help_exits_0_and_lists_every_flag() {
    for flag in ["--help", "-h", "-help"] {
        let out = fn_runner(&["serve", flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        let text = stdout(&out);
        for needle in [
            "-port int",
            "(default 9445)",
            "-disable-runtimes string",
            "-log-level, -v int",
            "-functions string",
            "-config string",
            "-pod-cache-config string",
            "-warm-up-pod-cache",
            "-pod-namespace string",
            "-pod-ttl duration",
            "(default 30m0s)",
            "-scan-interval duration",
            "-function-pod-template string",
            "-max-request-body-size int",
            "(default 6291456)",
            "-enable-private-registry, -enable-private-registries",
            "-registry-auth-secret-path string",
            "-registry-auth-secret-name string",
            "-enable-private-registry-tls, -enable-private-registries-tls, -enable-tls-registry",
            "-tls-secret-path string",
            "-default-image-prefix string",
            "-max-waitlist-length int",
            "-max-parallel-pods-per-function int",
            "-pod-ready-timeout duration",
            "-kubeconfig string",
        ] {
            assert!(text.contains(needle), "{flag}: no {needle:?} in\n{text}");
        }
    }
}

#[test]
fn every_mode_has_help() {
    for (mode, needle) in [
        ("wrapper-server", "-verbosity, -v int"),
        ("health-probe", "-connect-timeout duration"),
        ("eval", "-image string"),
        ("inspect", "-enable-tls-registry"),
        ("preflight", "-show-pod string"),
    ] {
        let out = fn_runner(&[mode, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{mode}");
        assert!(stdout(&out).contains(needle), "{mode}: {}", stdout(&out));
    }
}

#[test]
fn unknown_flag_exits_2_with_usage_on_stderr() {
    let out = fn_runner(&["serve", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("flag provided but not defined: -no-such-flag\n"),
        "{err}"
    );
    assert!(err.contains("Usage: fn-runner serve"), "{err}");
    assert!(err.contains("-pod-namespace string"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_duration_exits_2_naming_the_flag() {
    let out = fn_runner(&["serve", "--pod-ttl", "5 minutes"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(r#"invalid value "5 minutes" for flag -pod-ttl: time: unknown unit"#),
        "{err}"
    );
    let out = fn_runner(&["serve", "-scan-interval=0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("for flag -scan-interval: must be greater than zero"));
}

#[test]
fn bad_port_and_bool_exit_2() {
    let out = fn_runner(&["serve", "--port=70000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(r#"invalid value "70000" for flag -port"#));
    let out = fn_runner(&["serve", "--enable-tls-registry=yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(r#"invalid boolean value "yes" for -enable-tls-registry"#));
    // `--x false` leaves `false` as an argument, which serve refuses.
    let out = fn_runner(&["serve", "--warm-up-pod-cache", "false"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(r#"unexpected argument "false""#));
}

#[test]
fn health_probe_without_addr_exits_1() {
    let out = fn_runner(&["health-probe"]);
    assert_eq!(out.status.code(), Some(1));
    // grpc-health-probe's wording, without usage.
    assert_eq!(stderr(&out), "error: -addr not specified\n");
}

#[test]
fn health_probe_bad_arguments_exit_1() {
    for args in [
        &["health-probe", "-addr=localhost:1", "-nope"][..],
        &["health-probe", "-addr=localhost:1", "-connect-timeout=x"],
        &["health-probe", "-addr=localhost:1", "-rpc-timeout=0"],
        &["health-probe", "-addr=localhost:1", "-tls"],
    ] {
        let out = fn_runner(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    }
    let out = fn_runner(&["health-probe", "-addr=localhost:1", "-tls-ca-cert=/ca.pem"]);
    assert!(
        stderr(&out).contains("-tls-ca-cert is not supported"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_mode_exits_2_and_lists_modes() {
    let out = fn_runner(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for mode in [
        "serve",
        "wrapper-server",
        "health-probe",
        "eval",
        "inspect",
        "preflight",
    ] {
        assert!(err.contains(mode), "{err}");
    }
    let out = fn_runner(&["bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("unknown mode \"bogus\""));
}

#[test]
fn preflight_usage_errors_exit_2() {
    let out = fn_runner(&["preflight", "--pod-ttl=-1s"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Usage: fn-runner preflight"));
    let out = fn_runner(&["preflight", "image"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("unexpected argument \"image\""));
}

#[test]
fn help_and_version_exit_0() {
    let out = fn_runner(&["help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("health-probe"));
    let out = fn_runner(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("fn-runner "));
}

#[test]
fn wrapper_server_without_entrypoint_exits_2() {
    let out = fn_runner(&["wrapper-server", "--port", "9446"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing the function's entrypoint"));
}

#[test]
fn multi_call_names_dispatch_by_argv0() {
    let dir = MultiCallDir::new();

    let out = run(&dir.path("server"), &["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Usage: server [flags]"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("-pod-namespace string"));
    let out = run(&dir.path("server"), &["serve"]);
    assert_eq!(out.status.code(), Some(2), "server takes no subcommand");

    let out = run::<&str>(&dir.path("grpc-health-probe"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("-addr not specified"));
    let out = run(&dir.path("grpc-health-probe"), &["-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("-addr string"));

    let out = run(&dir.path("wrapper-server"), &["--port", "9446"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing the function's entrypoint"));
    let out = run(&dir.path("wrapper-server"), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("Usage: wrapper-server [flags] -- ENTRYPOINT"));
    assert!(dir.dir().exists());
}

#[test]
fn closed_stderr_is_no_panic() {
    // `2>&-` closes fd 2; a panic would exit 101 instead of the usage code.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" serve --no-such-flag 2>&-"#)
        .arg(fn_runner_bin())
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" health-probe 2>&-"#)
        .arg(fn_runner_bin())
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bind_address_must_be_an_ip_address() {
    for args in [
        &["serve", "--bind-address", "localhost"][..],
        &["wrapper-server", "-bind-address=localhost", "--", "/fn"],
    ] {
        let out = fn_runner(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with(
                "invalid value \"localhost\" for flag -bind-address: not an IP address"
            ),
            "{err}"
        );
        assert!(err.contains("-bind-address string"), "usage follows: {err}");
    }
    for mode in ["serve", "wrapper-server"] {
        let out = fn_runner(&[mode, "--help"]);
        assert!(
            stdout(&out).contains("-bind-address string\n"),
            "{}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("(default \"0.0.0.0\")"));
    }
}

/// With `--bind-address 127.0.0.N` a server answers there and not on
/// 127.0.0.1 (issue 12: simulated pods each serve 9446 on their own IP).
#[test]
fn bind_address_limits_the_listener_to_that_ip() {
    use fn_runner::call::CallContext;
    use fn_runner::grpc::{Client, ClientConfig};
    use fn_runner::proto::{HealthCheckRequest, HealthCheckResponse, Message, ServingStatus};

    // Any 127/8 address is local on Linux; this one is rarely used.
    let ip = format!(
        "127.0.{}.{}",
        100 + std::process::id() % 100,
        2 + std::process::id() % 250
    );
    let cat = crate::support::exec::function("cat");
    for args in [
        vec![
            "serve",
            "--port=0",
            "--config=/dev/null",
            "--disable-runtimes=exec,pod",
        ],
        vec![
            "wrapper-server",
            "--port=0",
            "--",
            cat.to_str().expect("UTF-8 path"),
        ],
    ] {
        let mut args = args;
        args.insert(1, "--bind-address");
        args.insert(2, &ip);
        let server = crate::support::exec::RunnerProcess::start(&args);
        let (host, port) = server.addr.rsplit_once(':').expect("IP:PORT");
        assert_eq!(host, ip, "{}", server.log());
        let client = Client::connect(&server.addr, ClientConfig::default()).expect("connect");
        let request = HealthCheckRequest {
            service: String::new(),
        }
        .encode_to_vec();
        let answer = client
            .call(
                "/grpc.health.v1.Health/Check",
                &request,
                &CallContext::with_timeout(std::time::Duration::from_secs(10)),
            )
            .expect("health on the bound IP");
        let health = HealthCheckResponse::decode(&answer).expect("health response");
        assert_eq!(health.status, ServingStatus::SERVING);
        let other = std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port")));
        assert!(other.is_err(), "{args:?}: answered on 127.0.0.1:{port} too");
    }
}
