//! Starting and stopping processes that tests need (our binary, peers).

use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use fn_runner::sys::PollFd;

/// Path of the `fn-runner` binary cargo built for this test run.
pub fn fn_runner_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fn-runner"))
}

/// The Python interpreter of the venv that `tests/run.sh` prepared, with
/// grpcio installed. Fails (never skips) when it is missing.
pub fn python() -> PathBuf {
    let path = std::env::var_os("FN_RUNNER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python")));
    assert!(
        path.exists(),
        "no Python with grpcio at {}: run the tests through tests/run.sh",
        path.display()
    );
    path
}

/// Waits up to `timeout` for `child` to exit (on its pidfd, no polling)
/// and reaps it; `None` when it still runs.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Ok(fd) = fn_runner::sys::pidfd_open(child.id()) {
        let mut fds = [PollFd::readable(fd.as_fd())];
        let _ = fn_runner::sys::poll(&mut fds, Some(timeout));
    }
    child.try_wait().ok().flatten()
}

/// Runs `cmd` with `stdin` written to it (`None`: stdin closed) and
/// returns its exit status, stdout and stderr.
pub fn output_with_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> std::process::Output {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    if let Some(bytes) = stdin {
        use std::io::Write as _;
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(bytes).expect("write stdin");
    }
    child.wait_with_output().expect("wait for the output")
}

/// Sends `SIGname` to `pid` with kill(1) (tests hold no `unsafe`).
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    /// R, S, D, Z, T, ...
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
}

/// /proc/PID/stat of `pid`, `None` when gone.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid pgrp ...": comm may hold spaces, so split after ')'.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcStat { state, ppid, pgrp })
}

/// Every process on the machine with its /proc/PID/stat.
pub fn processes() -> Vec<(u32, ProcStat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter_map(|pid| proc_stat(pid).map(|stat| (pid, stat)))
        .collect()
}

/// Every live descendant of `pid` (children, their children, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let parent_of: Vec<(u32, u32)> = processes()
        .into_iter()
        .map(|(p, stat)| (p, stat.ppid))
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Kills `child` and everything it started, as a container runtime kills
/// a container's cgroup: stopped first (so it starts nothing new), then
/// SIGKILL to its group and to the group of each descendant (our
/// wrapper-server runs each function in a group of its own), then reaped.
pub fn kill_tree(child: &mut Child) {
    let pid = child.id();
    if matches!(child.try_wait(), Ok(None)) {
        signal(pid, "STOP");
        let mut groups = vec![pid];
        for d in descendants(pid) {
            if let Some(stat) = proc_stat(d) {
                groups.push(stat.pgrp);
            }
            signal(d, "STOP");
        }
        groups.sort_unstable();
        groups.dedup();
        for group in groups {
            // Never our own group: a descendant left in it would take us along.
            if group != own_group() {
                let _ = fn_runner::sys::kill_process_group(group);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn own_group() -> u32 {
    proc_stat(std::process::id()).map_or(0, |s| s.pgrp)
}
