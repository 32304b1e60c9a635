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
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces, so split after ')'.
    let rest = text.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
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

/// Our binary running as a server (`serve` or `wrapper-server`) on an
/// ephemeral port; its stderr is collected. Killed on drop.
pub struct RunnerProcess {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RunnerProcess {
    /// Starts `fn-runner ARGS...` (ARGS must ask for `--port 0`) and waits
    /// up to 30 s for its "serving gRPC on" log line.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> RunnerProcess {
        let mut cmd = std::process::Command::new(super::process::fn_runner_bin());
        cmd.args(args);
        RunnerProcess::start_command(cmd)
    }

    /// Like [`start`](Self::start), for a command prepared by the caller
    /// (another program name, `chroot`, a cleared environment).
    pub fn start_command(mut cmd: std::process::Command) -> RunnerProcess {
        use std::io::BufRead;
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start fn-runner");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, addr)) = line.split_once("serving gRPC on ") {
                    let port = addr
                        .split_whitespace()
                        .next()
                        .and_then(|a| a.rsplit_once(':'))
                        .map(|(_, p)| p.to_owned());
                    let _ = tx.send(port);
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(port)) => port,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{cmd:?} never served:\n{}",
                    log.lock().expect("log lock").join("\n")
                );
            }
        };
        RunnerProcess {
            child,
            addr: format!("127.0.0.1:{port}"),
            log,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Sends SIGTERM and waits up to 30 s for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let mut exit = None;
        assert!(
            wait_for(Duration::from_secs(30), || {
                exit = self.child.try_wait().expect("try_wait");
                exit.is_some()
            }),
            "fn-runner did not exit after SIGTERM"
        );
        exit.expect("exit status")
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file descriptors `pid` has open.
pub fn open_fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Children of `pid` that are zombies.
pub fn zombie_children_of(pid: u32) -> Vec<u32> {
    let mut zombies = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return zombies;
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(('Z', ppid)) = stat(child) {
            if ppid == pid {
                zombies.push(child);
            }
        }
    }
    zombies
}
