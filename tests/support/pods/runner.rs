//! `fn-runner serve` started as a process for pod-runtime tests: with the
//! environment's kubeconfig, `WRAPPER_SERVER_IMAGE`, pod namespace and
//! private-registry flags (built by `PodEnv::serve`), on a free port
//! (`--port 0 --bind-address 127.0.0.1`, the port read from its "serving
//! gRPC on" line). Its stderr is captured and searchable; it is stopped
//! with SIGTERM (then SIGKILL after [`STOP_GRACE`]) on drop.

use std::process::ExitStatus;
use std::time::Duration;

use fn_runner::grpc::{Client, Status};
use fn_runner::proto::{EvaluateFunctionResponse, ServingStatus};

use super::evaluate;
use crate::support::exec::RunnerProcess;
use crate::support::loglines::{Line, LogLines};

/// How long a runner may take to exit after SIGTERM when a test drops it
/// (our choice: shorter than serve's 25 s grace for calls in flight, so a
/// test that ends with a call hanging is not held up; then SIGKILL).
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running `fn-runner serve` and one gRPC connection to it (shared by
/// every call, like porch-server's).
pub struct Runner {
    process: RunnerProcess,
    client: Client,
}

impl Runner {
    /// Starts `cmd` (our binary, `serve` and its flags) and connects.
    pub fn start(cmd: std::process::Command) -> Runner {
        let process = RunnerProcess::spawn(cmd);
        let client = evaluate::connect(&process.addr);
        Runner { process, client }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.process.addr
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The client connection the `eval` calls share.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// EvaluateFunction for `image` on `resource_list`, with an optional
    /// deadline, on the shared connection.
    pub fn eval(
        &self,
        image: &str,
        resource_list: &[u8],
        deadline: Option<Duration>,
    ) -> Result<EvaluateFunctionResponse, Status> {
        evaluate::evaluate(&self.client, image, resource_list, deadline)
    }

    /// The server's health (`""`).
    pub fn health(&self) -> Result<ServingStatus, Status> {
        evaluate::health(&self.client, "")
    }

    /// Waits (on a health Watch) until the server says SERVING: the pod
    /// runtime is NOT_SERVING until its watch has listed the pods.
    pub fn wait_serving(&self) -> ServingStatus {
        evaluate::wait_serving(&self.client, super::WAIT).unwrap_or_else(|e| {
            panic!(
                "health watch: {e}
{}",
                self.log().text()
            )
        })
    }

    /// Its stderr, to read, search or wait on.
    pub fn log(&self) -> &LogLines {
        self.process.log_lines()
    }

    /// Waits up to `timeout` for a log line containing `needle` (one
    /// already written counts); panics with the whole log when none comes.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Line {
        self.wait_for_log_matching(timeout, |l| l.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "no log line with {needle:?} within {timeout:?}:\n{}",
                    self.log().text()
                )
            })
    }

    /// Waits up to `timeout` for a log line `matches` accepts; `None` when
    /// none came (or the runner exited).
    pub fn wait_for_log_matching(
        &self,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<Line> {
        self.log().wait_for(timeout, matches)
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`]; the exit status when it
    /// exited on its own.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.process.stop(STOP_GRACE)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.process.stop(STOP_GRACE);
    }
}
