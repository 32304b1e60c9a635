//! Turning metrics on and off as Porch's Deployment does (issue 16):
//! the OTEL_* variables, other exporters, `-metrics-address` on
//! `wrapper-server`.

use std::process::Command;

use super::{client, evaluate, metrics_addr, sample, scrape, serve_cmd};
use crate::support::exec::{function, RunnerProcess};
use crate::support::process::fn_runner_bin;

#[test]
fn otel_variables_turn_the_endpoint_on() {
    let server = RunnerProcess::spawn(serve_cmd(
        &[],
        &[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "0"),
        ],
    ));
    let addr = metrics_addr(server.log_lines())
        .unwrap_or_else(|| panic!("no metrics line:\n{}", server.log()));
    assert!(addr.ip().is_loopback(), "{addr}");
    evaluate(&client(&server), "example.com/fn/cat:v1").expect("cat");
    let text = scrape(addr);
    assert_eq!(
        sample(
            &text,
            "fn_runner_evaluations_total{runtime=\"exec\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn other_exporters_are_one_warning_and_the_runner_serves() {
    for exporter in ["otlp", "none"] {
        let server = RunnerProcess::spawn(serve_cmd(&[], &[("OTEL_METRICS_EXPORTER", exporter)]));
        evaluate(&client(&server), "example.com/fn/cat:v1").expect("serves");
        let warnings: Vec<_> = server
            .log_lines()
            .lines()
            .into_iter()
            .filter(|l| l.text.contains("only the prometheus exporter is supported"))
            .collect();
        assert_eq!(warnings.len(), 1, "{}", server.log());
        assert!(
            warnings[0].text.starts_with('W'),
            "a warning: {:?}",
            warnings[0]
        );
        assert!(warnings[0].text.contains(exporter), "{:?}", warnings[0]);
        assert_eq!(metrics_addr(server.log_lines()), None, "{}", server.log());
    }
}

#[test]
fn metrics_are_off_without_flag_or_variables() {
    let server = RunnerProcess::spawn(serve_cmd(&[], &[]));
    evaluate(&client(&server), "example.com/fn/cat:v1").expect("serves");
    assert_eq!(metrics_addr(server.log_lines()), None, "{}", server.log());
    assert!(!server.log().contains("Prometheus"), "{}", server.log());
}

#[test]
fn wrapper_server_exports_its_evaluations() {
    let mut cmd = Command::new(fn_runner_bin());
    cmd.args([
        "wrapper-server",
        "--port",
        "0",
        "--metrics-address",
        "127.0.0.1:0",
        "--",
    ])
    .arg(function("cat"));
    let wrapper = RunnerProcess::spawn(cmd);
    let addr = metrics_addr(wrapper.log_lines())
        .unwrap_or_else(|| panic!("no metrics line:\n{}", wrapper.log()));
    evaluate(&client(&wrapper), "example.com/fn/cat:v1").expect("cat");
    let text = scrape(addr);
    assert_eq!(
        sample(
            &text,
            "fn_runner_evaluations_total{runtime=\"wrapper\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|v| v > 0.0));
}
