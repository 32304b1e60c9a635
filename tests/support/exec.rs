//! Helpers for the exec-runtime and wrapper-server tests: the sample
//! functions in `testdata/`, temporary directories, and checks that a
//! process is gone, that no child is a zombie and how many fds are open.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `testdata/` of this crate.
pub fn testdata() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"))
}

/// A sample function script in `testdata/functions/`.
pub fn function(name: &str) -> PathBuf {
    testdata().join("functions").join(name)
}

pub use super::loglines::LogLines;
use super::process::{kill_tree, signal, wait_exit};
pub use super::tempdir::TempDir;

/// Waits up to `timeout` for `cond`, checking every 10 ms; true when it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The state letter and parent pid of `pid` from /proc, `None` when gone.
fn stat(pid: u32) -> Option<(char, u32)> {
    super::process::proc_stat(pid).map(|s| (s.state, s.ppid))
}

/// Whether `pid` no longer runs: gone, or a zombie waiting for a parent
/// that is not us (an orphan's reaper may be slow in a container).
pub fn is_gone(pid: u32) -> bool {
    match stat(pid) {
        None => true,
        Some((state, _)) => state == 'Z' || state == 'X',
    }
}

/// Our children that are zombies (exited, never reaped).
pub fn zombie_children() -> Vec<u32> {
    zombie_children_of(std::process::id())
}

/// How many file descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Reads "PID GRANDCHILD_PID" that `testdata/functions/fork-sleep` wrote
/// to `path`, waiting up to 10 s for it.
pub fn read_pids(path: &Path) -> (u32, u32) {
    assert!(
        wait_for(Duration::from_secs(10), || path.exists()),
        "fork-sleep never wrote {}",
        path.display()
    );
    let text = std::fs::read_to_string(path).expect("read pid file");
    let mut it = text
        .split_whitespace()
        .map(|s| s.parse::<u32>().expect("a pid"));
    let child = it.next().expect("child pid");
    let grandchild = it.next().expect("grandchild pid");
    (child, grandchild)
}

/// Runs `fn-runner eval ARGS...` with `stdin` as its input; its output.
pub fn run_eval<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(super::process::fn_runner_bin())
        .arg("eval")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fn-runner eval");
    let mut input = child.stdin.take().expect("stdin");
    // An eval that exits before reading all of it (a failed connection)
    // closes the pipe: not the test's concern.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("eval output")
}

/// How long a started server may take to log "serving gRPC on".
const SERVING_TIMEOUT: Duration = Duration::from_secs(30);

/// Our binary running as a server (`serve` or `wrapper-server`) on an
/// ephemeral port; its stderr is captured ([`LogLines`]). Killed on drop,
/// with every process it started ([`kill_tree`]: a SIGKILL to the server
/// alone would leave a function it runs behind).
pub struct RunnerProcess {
    child: std::process::Child,
    /// `IP:PORT` it serves on, from its "serving gRPC on" line; an
    /// unspecified IP (all interfaces) becomes the loopback address.
    pub addr: String,
    log: std::sync::Arc<LogLines>,
}

impl RunnerProcess {
    /// Starts `fn-runner ARGS...` (ARGS must ask for `--port 0`) and waits
    /// up to 30 s for its "serving gRPC on" log line.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> RunnerProcess {
        let mut cmd = std::process::Command::new(super::process::fn_runner_bin());
        cmd.args(args);
        RunnerProcess::spawn(cmd)
    }

    /// Starts `cmd` (our binary with its arguments, environment and
    /// working directory set by the caller) with stdin and stdout on
    /// /dev/null, and waits as [`start`](Self::start) does.
    pub fn spawn(mut cmd: std::process::Command) -> RunnerProcess {
        let (mut child, log) = super::loglines::spawn_logged(&mut cmd);
        let serving = log.wait_for(SERVING_TIMEOUT, |l| l.contains("serving gRPC on "));
        let Some(addr) = serving.as_ref().and_then(|line| served_addr(&line.text)) else {
            kill_tree(&mut child);
            panic!("{cmd:?} never served:\n{}", log.text());
        };
        RunnerProcess {
            child,
            addr: addr.to_string(),
            log,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Its stderr, to search or wait on.
    pub fn log_lines(&self) -> &LogLines {
        &self.log
    }

    /// Waits up to `timeout` for the server to exit (a signal sent by the
    /// test itself); `None` while it runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        wait_exit(&mut self.child, timeout)
    }

    /// How it exited, `None` while it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM and waits up to 30 s for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.pid(), "TERM");
        wait_exit(&mut self.child, Duration::from_secs(30))
            .expect("fn-runner did not exit after SIGTERM")
    }

    /// Sends SIGTERM, waits up to `grace` for the exit, then kills it.
    /// Never panics (used from `Drop`). `None` when it had to be killed.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        signal(self.pid(), "TERM");
        if let Some(status) = wait_exit(&mut self.child, grace) {
            return Some(status);
        }
        kill_tree(&mut self.child);
        None
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        kill_tree(&mut self.child);
    }
}

/// The address in a "serving gRPC on ADDR" line, with an unspecified IP
/// (the server listens on all interfaces: `[::]` takes IPv4 too) replaced
/// by 127.0.0.1.
pub fn served_addr(line: &str) -> Option<std::net::SocketAddr> {
    let (_, rest) = line.split_once("serving gRPC on ")?;
    let mut addr: std::net::SocketAddr = rest.split_whitespace().next()?.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Some(addr)
}

/// The file descriptors `pid` has open.
pub fn open_fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Children of `pid` that are zombies.
pub fn zombie_children_of(pid: u32) -> Vec<u32> {
    super::process::processes()
        .into_iter()
        .filter(|(_, stat)| stat.state == 'Z' && stat.ppid == pid)
        .map(|(child, _)| child)
        .collect()
}
