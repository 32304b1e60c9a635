//! Metrics (issue 16): a real Prometheus scraping `serve`, the endpoint
//! under attack while gRPC keeps serving, the OTEL_* configuration, and
//! the README's metric list against what the binary exports.

mod config;
mod endpoint;
mod prometheus;
mod readme;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::grpc::{Client, ClientConfig, Status};
use fn_runner::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse, Message, EVALUATE_PATH};

use crate::support::exec::{testdata, LogLines, RunnerProcess};
use crate::support::http1;
use crate::support::process::fn_runner_bin;

/// `fn-runner serve` with the exec runtime on `testdata/` and `env` set
/// (besides the caller's `args`).
fn serve_cmd(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(fn_runner_bin());
    cmd.arg("serve")
        .args(["--port", "0", "--disable-runtimes=pod"])
        .arg("--config")
        .arg(testdata().join("config.yaml"))
        .arg("--functions")
        .arg(testdata().join("functions"))
        .args(args);
    // The caller's environment must not turn metrics on or off for us.
    for name in [
        "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_PROMETHEUS_HOST",
        "OTEL_EXPORTER_PROMETHEUS_PORT",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// `serve` with its metrics endpoint on a free loopback port, and that
/// endpoint's address.
fn serve_with_metrics() -> (RunnerProcess, SocketAddr) {
    let server = RunnerProcess::spawn(serve_cmd(&["--metrics-address=127.0.0.1:0"], &[]));
    let metrics = metrics_addr(server.log_lines())
        .unwrap_or_else(|| panic!("no metrics line:\n{}", server.log()));
    (server, metrics)
}

/// The address of the runner's "serving Prometheus metrics on
/// http://ADDR/metrics" line (logged before "serving gRPC on").
fn metrics_addr(log: &LogLines) -> Option<SocketAddr> {
    log.lines().iter().find_map(|line| {
        let (_, rest) = line
            .text
            .split_once("serving Prometheus metrics on http://")?;
        rest.strip_suffix("/metrics")?.parse().ok()
    })
}

/// One EvaluateFunction call through our client.
fn evaluate(client: &Client, image: &str) -> Result<EvaluateFunctionResponse, Status> {
    let request = EvaluateFunctionRequest {
        resource_list: std::fs::read(testdata().join("resourcelist.yaml")).expect("sample"),
        image: image.to_owned(),
    };
    let ctx = CallContext::with_timeout(Duration::from_secs(30));
    let answer = client.call(EVALUATE_PATH, &request.encode_to_vec(), &ctx)?;
    Ok(EvaluateFunctionResponse::decode(&answer).expect("an EvaluateFunctionResponse"))
}

fn client(server: &RunnerProcess) -> Client {
    Client::new(&server.addr, ClientConfig::default())
}

/// A scrape of `addr`'s `/metrics`, which must answer 200.
fn scrape(addr: SocketAddr) -> String {
    let answer = http1::get(addr, "/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// The value of the sample `series` (name and labels as written) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
