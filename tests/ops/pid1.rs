//! The server's duties as PID 1 and child subreaper (issue 14): every
//! child is reaped, its own or adopted, and a process a function left
//! running (one that escaped its process group with setsid too) is killed
//! when its call ends, once no call that may own it still runs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fn_runner::grpc::{Client, Code};

use super::{serve, serve_args};
use crate::support::exec::{is_gone, wait_for, zombie_children_of, RunnerProcess, TempDir};
use crate::support::pods::evaluate::{connect, evaluate};
use crate::support::process::{descendants, fn_runner_bin, signal};

const ORPHANS: &str = "example.com/fn/orphans:v1";
const FORK_SLEEP: &str = "example.com/fn/fork-sleep:v1";
const SLEEP: &str = "example.com/fn/sleep:v1";
const CAT: &str = "example.com/fn/cat:v1";
/// How long a process may take to be seen gone or reaped.
const WAIT: Duration = Duration::from_secs(20);

/// Calls `orphans`, which leaves a setsid'd sleeper behind; its pid as
/// the function wrote it (in the server's PID namespace).
fn call_orphans(client: &Client, dir: &Path, name: &str) -> u32 {
    let pidfile = dir.join(name);
    let input = format!("{}\n", pidfile.display());
    evaluate(client, ORPHANS, input.as_bytes(), Some(WAIT)).expect("orphans answers");
    std::fs::read_to_string(&pidfile)
        .expect("the function wrote the pid")
        .trim()
        .parse()
        .expect("a pid")
}

#[test]
fn a_setsid_grandchild_is_gone_when_its_call_ends() {
    let server = serve(&[]);
    let client = connect(&server.addr);
    let dir = TempDir::new("orphans");
    for i in 0..3 {
        let escaped = call_orphans(&client, dir.path(), &format!("pid{i}"));
        assert!(
            wait_for(WAIT, || is_gone(escaped)),
            "the setsid'd process {escaped} outlived its call"
        );
    }
    assert!(
        wait_for(WAIT, || zombie_children_of(server.pid()).is_empty()
            && descendants(server.pid()).is_empty()),
        "zombies {:?} or processes {:?} left under the server",
        zombie_children_of(server.pid()),
        descendants(server.pid())
    );
}

#[test]
fn an_escaped_process_lives_while_a_call_it_may_belong_to_runs() {
    let server = serve(&[]);
    let client = connect(&server.addr);
    let dir = TempDir::new("orphans-concurrent");
    // A call that runs until its deadline: while it runs, a process the
    // server adopts may be its own (a daemon it talks to).
    let addr = server.addr.clone();
    let long = std::thread::spawn(move || {
        evaluate(&connect(&addr), SLEEP, b"x\n", Some(Duration::from_secs(3)))
    });
    assert!(
        wait_for(WAIT, || !descendants(server.pid()).is_empty()),
        "the long call never started its function"
    );
    let escaped = call_orphans(&client, dir.path(), "pid");
    assert!(!is_gone(escaped), "killed while the long call could own it");
    let status = long.join().expect("long call").expect_err("deadline");
    assert_eq!(status.code, Code::DEADLINE_EXCEEDED);
    assert!(
        wait_for(WAIT, || is_gone(escaped)),
        "{escaped} outlived every call that could own it"
    );
}

/// `serve` as PID 1 of a new PID namespace (`unshare --pid --fork`), as in
/// the image: after deadline-killed calls whose functions forked and calls
/// that leave escaped helpers, no zombie and no process is left.
#[test]
fn as_pid_1_no_zombie_and_no_helper_survives() {
    let dir = TempDir::new("pid1");
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--"]).arg(fn_runner_bin());
    cmd.args(serve_args(&[]));
    let mut server = RunnerProcess::spawn(cmd);
    let unshare = server.pid();
    let pid1 = single_child(unshare);
    let client = connect(&server.addr);
    for i in 0..5 {
        let pidfile = dir.path().join(format!("fork{i}"));
        let status = evaluate(
            &client,
            FORK_SLEEP,
            format!("{}\n", pidfile.display()).as_bytes(),
            Some(Duration::from_millis(300)),
        )
        .expect_err("killed at its deadline");
        assert_eq!(status.code, Code::DEADLINE_EXCEEDED);
        call_orphans(&client, dir.path(), &format!("orphans{i}"));
        evaluate(&client, CAT, b"x\n", Some(WAIT)).expect("cat");
    }
    assert!(
        wait_for(WAIT, || zombie_children_of(pid1).is_empty()
            && descendants(pid1).is_empty()),
        "under PID 1: zombies {:?}, processes {:?}\n{}",
        zombie_children_of(pid1),
        descendants(pid1),
        server.log()
    );
    // PID 1 takes SIGTERM (blocked and waited for: not ignored as a
    // namespace's init ignores signals it has no handler for).
    signal(pid1, "TERM");
    let status = server.wait_exit(WAIT).expect("PID 1 exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

/// The one child of `pid` (the server `unshare --fork` started).
fn single_child(pid: u32) -> u32 {
    let mut children = Vec::new();
    assert!(
        wait_for(WAIT, || {
            children = crate::support::process::processes()
                .into_iter()
                .filter(|(_, s)| s.ppid == pid)
                .map(|(p, _)| p)
                .collect();
            children.len() == 1
        }),
        "unshare {pid} has children {children:?}"
    );
    children[0]
}
