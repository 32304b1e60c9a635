//! The server's signals (issue 14): functions start with the default
//! dispositions and an empty mask; SIGTERM is never lost during start-up
//! (a config read that blocks); a second SIGTERM ends the drain at once.

use std::process::Command;
use std::time::Duration;

use fn_runner::grpc::Code;

use super::{serve, serve_args};
use crate::support::exec::{is_gone, wait_for, TempDir};
use crate::support::loglines::spawn_logged;
use crate::support::pods::evaluate::{connect, evaluate};
use crate::support::process::{descendants, fn_runner_bin, kill_tree, signal, wait_exit};

/// How long a server may take to exit or to log what a test waits for.
const WAIT: Duration = Duration::from_secs(30);

/// `mask` of a `SigBlk:`/`SigIgn:` line of `status`.
fn mask(status: &str, name: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {status:?}"));
    u64::from_str_radix(line.trim(), 16).expect("a hex mask")
}

/// The server is started with SIGINT, SIGQUIT and SIGHUP ignored (what a
/// shell's background job or nohup gives it) and blocks SIGTERM, SIGINT
/// and SIGCHLD itself: its functions get none of that.
#[test]
fn a_function_starts_with_default_dispositions_and_an_empty_mask() {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("trap '' INT QUIT HUP; exec \"$0\" \"$@\"")
        .arg(fn_runner_bin())
        .args(serve_args(&[]));
    let server = crate::support::exec::RunnerProcess::spawn(cmd);
    let server_status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
    assert_ne!(
        mask(&server_status, "SigBlk:"),
        0,
        "the server blocks signals"
    );
    let client = connect(&server.addr);
    let out = evaluate(&client, "example.com/fn/signals:v1", b"x\n", Some(WAIT))
        .expect("the signals function answers");
    let status = String::from_utf8_lossy(&out.resource_list).into_owned();
    assert_eq!(mask(&status, "SigBlk:"), 0, "blocked signals: {status}");
    // Signals 1-31. glibc's posix_spawn leaves its two internal real-time
    // signals (32, 33) ignored in the child; glibc programs take them back.
    assert_eq!(
        mask(&status, "SigIgn:") & 0x7fff_ffff,
        0,
        "ignored signals: {status}"
    );
    assert!(
        server
            .log()
            .contains("back to their defaults for the functions: SIGHUP, SIGINT, SIGQUIT"),
        "{}",
        server.log()
    );
}

#[test]
fn sigterm_during_a_blocked_config_read_exits() {
    let dir = TempDir::new("fifo-config");
    let fifo = dir.path().join("config.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let (mut child, log) = spawn_logged(
        Command::new(fn_runner_bin())
            .args(["serve", "--port", "0", "--disable-runtimes=pod", "--config"])
            .arg(&fifo),
    );
    // Opening a FIFO no one writes to blocks for ever.
    let started = log.wait_for(WAIT, |l| l.contains("serve starting"));
    signal(child.id(), "TERM");
    let status = wait_exit(&mut child, WAIT);
    if status.is_none() {
        kill_tree(&mut child);
    }
    assert!(started.is_some(), "{}", log.text());
    let status = status.unwrap_or_else(|| panic!("deaf to SIGTERM:\n{}", log.text()));
    assert_eq!(status.code(), Some(0), "{}", log.text());
    assert!(
        log.wait_for(WAIT, |l| l
            .contains("received SIGTERM during start-up: exiting"))
            .is_some(),
        "{}",
        log.text()
    );
}

#[test]
fn a_second_sigterm_ends_the_drain_at_once() {
    let mut server = serve(&[]);
    let addr = server.addr.clone();
    // A call whose function runs until it is killed: the drain would wait
    // SHUTDOWN_GRACE (25 s) for it.
    let call = std::thread::spawn(move || {
        evaluate(&connect(&addr), "example.com/fn/sleep:v1", b"x\n", None)
    });
    let mut function = Vec::new();
    assert!(
        wait_for(WAIT, || {
            function = descendants(server.pid());
            !function.is_empty()
        }),
        "the function never started"
    );
    signal(server.pid(), "TERM");
    assert!(
        server
            .log_lines()
            .wait_for(WAIT, |l| l.contains("received SIGTERM, shutting down"))
            .is_some(),
        "{}",
        server.log()
    );
    signal(server.pid(), "TERM");
    let status = server
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("still draining:\n{}", server.log()));
    // Exit 1 is the second signal's; a drain that ran out would exit 0.
    assert_eq!(status.code(), Some(1), "{}", server.log());
    assert!(
        server
            .log()
            .contains("received SIGTERM again while shutting down"),
        "{}",
        server.log()
    );
    for pid in function {
        assert!(
            wait_for(WAIT, || is_gone(pid)),
            "function {pid} outlived the server"
        );
    }
    let status = call.join().expect("call thread").expect_err("cut off");
    assert_ne!(status.code, Code::OK);
}
