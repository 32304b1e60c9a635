//! Hostile and broken peers against `serve` and `wrapper-server` as
//! processes, our binary (issue 11): one test per attack, each asserting
//! the bound (the server's RSS from /proc/PID/status, or counted bytes and
//! lines), how the attacker is cut off (GOAWAY code and debug data, or the
//! closed socket), and that other clients are still served: a fresh health
//! Check and an EvaluateFunction with the sample `cat` function. Timeouts
//! are lowered through the servers' own flags, so each test takes seconds;
//! waits have generous watchdogs and nothing asserts how fast.

mod alloc;
mod conformance;
mod connections;
mod held;
mod output;
mod resets;
mod settings;
mod watch;

use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::grpc::{Client, ClientConfig};
use fn_runner::proto::{
    EvaluateFunctionRequest, EvaluateFunctionResponse, HealthCheckRequest, HealthCheckResponse,
    Message, ServingStatus,
};

use crate::support::exec::{function, testdata, RunnerProcess};

pub const EVALUATE: &str = "/evaluator.FunctionEvaluator/EvaluateFunction";
pub const CHECK: &str = "/grpc.health.v1.Health/Check";
/// The image `serve` runs `testdata/functions/cat` for (testdata/config.yaml);
/// `wrapper-server` runs its entrypoint whatever the image.
pub const CAT_IMAGE: &str = "example.com/fn/cat:v1";
/// `--max-request-body-size`'s default.
pub const MAX_MESSAGE: usize = 6_291_456;

/// Generous bound on every wait for the server (machines are loaded).
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Which mode of our binary a test attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Wrapper,
}

/// Both modes, for tests that apply to both.
pub const MODES: [Mode; 2] = [Mode::Serve, Mode::Wrapper];

/// Our binary serving on 127.0.0.1, killed on drop.
pub struct Target {
    pub mode: Mode,
    pub process: RunnerProcess,
}

impl Target {
    /// Starts `mode` with `flags` (the transport flags a test lowers).
    pub fn start(mode: Mode, flags: &[&str]) -> Target {
        Target {
            mode,
            process: RunnerProcess::start(&Target::args(mode, flags)),
        }
    }

    /// [`start`](Self::start) with the process's address space limited to
    /// `kib` (`ulimit -v`, RLIMIT_AS): an allocation it cannot make fails.
    pub fn start_with_address_space(mode: Mode, flags: &[&str], kib: u64) -> Target {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
            .arg(crate::support::process::fn_runner_bin())
            .args(Target::args(mode, flags));
        Target {
            mode,
            process: RunnerProcess::spawn(cmd),
        }
    }

    /// The arguments of our binary in `mode` with `flags`.
    fn args(mode: Mode, flags: &[&str]) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        match mode {
            Mode::Serve => {
                args.extend(["serve", "--disable-runtimes=pod"].map(Into::into));
                args.push("--config".into());
                args.push(testdata().join("config.yaml").into());
                args.push("--functions".into());
                args.push(testdata().join("functions").into());
            }
            Mode::Wrapper => args.push("wrapper-server".into()),
        }
        args.extend(["--port", "0", "--bind-address", "127.0.0.1"].map(Into::into));
        args.extend(flags.iter().map(Into::into));
        if mode == Mode::Wrapper {
            args.push("--".into());
            args.push(function("cat").into());
        }
        args
    }

    pub fn addr(&self) -> &str {
        &self.process.addr
    }

    /// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
    pub fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.pid()))
            .expect("server alive");
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc status"))
    }

    /// The server's resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS")
    }

    /// Notes the server's RSS at rest and resets its peak (VmHWM, proc(5)
    /// clear_refs 5): what an attack adds is measured from here.
    pub fn watch_rss(&self) -> RssWatch {
        let at_rest_kib = self.rss_kib();
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.process.pid()), "5");
        RssWatch { at_rest_kib }
    }

    /// CPU time the server has used (user + system), from /proc/PID/stat.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.pid()))
            .expect("server alive");
        // "pid (comm) S ppid ...": fields after ')' start at field 3; utime
        // and stime are fields 14 and 15, in clock ticks (USER_HZ, 100).
        let after = stat.rsplit_once(')').expect("comm").1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        Duration::from_millis(ticks * 10)
    }

    /// A health Check on a connection of its own.
    pub fn check_fresh(&self) -> Result<(), String> {
        let client = Client::connect(self.addr(), config()).map_err(|e| e.to_string())?;
        let request = HealthCheckRequest {
            service: String::new(),
        }
        .encode_to_vec();
        let response = client
            .call(CHECK, &request, &ctx())
            .map_err(|e| e.to_string())?;
        let status = HealthCheckResponse::decode(&response)
            .map_err(|e| e.to_string())?
            .status;
        (status == ServingStatus::SERVING)
            .then_some(())
            .ok_or_else(|| format!("health {status:?}"))
    }

    /// An EvaluateFunction of the `cat` function on a connection of its own.
    pub fn evaluate_fresh(&self) -> Result<(), String> {
        let client = Client::connect(self.addr(), config()).map_err(|e| e.to_string())?;
        let input = std::fs::read(testdata().join("resourcelist.yaml")).expect("sample");
        let request = EvaluateFunctionRequest {
            resource_list: input.clone(),
            image: CAT_IMAGE.to_owned(),
        }
        .encode_to_vec();
        let response = client
            .call(EVALUATE, &request, &ctx())
            .map_err(|e| e.to_string())?;
        let response = EvaluateFunctionResponse::decode(&response).map_err(|e| e.to_string())?;
        (response.resource_list == input)
            .then_some(())
            .ok_or_else(|| "cat changed its input".to_owned())
    }

    /// Other clients are served: a fresh health Check and a fresh
    /// EvaluateFunction both succeed, tried until the watchdog (a worker
    /// may still be busy with the attacker's last call).
    pub fn assert_others_served(&self) {
        let deadline = std::time::Instant::now() + WATCHDOG;
        let mut last = String::new();
        while std::time::Instant::now() < deadline {
            match self.check_fresh().and_then(|()| self.evaluate_fresh()) {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{:?}: other clients not served: {last}\n{}",
            self.mode,
            self.process.log()
        );
    }

    /// The server's log has no line containing `needle`.
    pub fn assert_log_lacks(&self, needle: &str) {
        let log = self.process.log();
        assert!(
            !log.contains(needle),
            "{:?}: log has {needle:?}:\n{log}",
            self.mode
        );
    }
}

/// The server's RSS at rest ([`Target::watch_rss`]).
pub struct RssWatch {
    at_rest_kib: u64,
}

impl RssWatch {
    /// The server's peak RSS since the watch started: printed (`during`
    /// the attack), and asserted below its RSS at rest + `bound_kib`.
    pub fn assert_peak_within(&self, target: &Target, bound_kib: u64, during: &str) {
        let (at_rest, peak) = (self.at_rest_kib, target.status_kib("VmHWM"));
        eprintln!(
            "{:?}: server RSS {at_rest} KiB at rest, {peak} KiB at most {during}",
            target.mode
        );
        assert!(
            peak < at_rest + bound_kib,
            "{:?}: {peak} KiB {during} (at rest {at_rest} KiB)",
            target.mode
        );
    }
}

fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

fn ctx() -> CallContext {
    CallContext::with_timeout(Duration::from_secs(30))
}

/// A gRPC-framed message (uncompressed).
pub fn framed(message: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    v.extend_from_slice(message);
    v
}
