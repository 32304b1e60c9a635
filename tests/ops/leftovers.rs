//! `tests/leftovers.py`, the check `tests/run.sh` runs `cargo test` under:
//! a command that leaves a process running fails, whatever the process
//! did to detach, and the process is killed.

use std::process::Command;

use crate::support::exec::{is_gone, wait_for};
use crate::support::image::repo;

fn leftovers(script: &str) -> std::process::Output {
    Command::new("python3")
        .arg(repo().join("tests/leftovers.py"))
        .args(["sh", "-c", script])
        .output()
        .expect("run tests/leftovers.py")
}

#[test]
fn a_clean_command_passes_with_its_own_status() {
    let out = leftovers("sleep 0.1 & wait; exit 0");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = leftovers("exit 3");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn reports_and_kills_processes_left_running() {
    // One detached by setsid, one by a double fork (re-parented, not
    // waited for): both must be found.
    let out = leftovers("setsid sleep 300 & (sleep 301 &)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("leftovers: 2 processes still running after sh -c"),
        "{stderr}"
    );
    let pids: Vec<u32> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("leftovers:   "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 2, "{stderr}");
    assert!(stderr.contains("sleep 300"), "{stderr}");
    for pid in pids {
        assert!(
            wait_for(std::time::Duration::from_secs(10), || is_gone(pid)),
            "leftover {pid} was not killed"
        );
    }
}
