//! The exec runtime through `fn-runner serve` on `testdata/`, called by the
//! real grpcio client (issue 3 "Prove it") and by `fn-runner eval`.

use std::time::Duration;

use fn_runner::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse, Message};

use crate::support::exec::{
    is_gone, open_fds_of, read_pids, testdata, wait_for, zombie_children_of, RunnerProcess, TempDir,
};
use crate::support::grpc_py::{run_client, Call, CallResult};
use crate::support::process::fn_runner_bin;

const EVALUATE: &str = "/evaluator.FunctionEvaluator/EvaluateFunction";

fn serve() -> RunnerProcess {
    let config = testdata().join("config.yaml");
    let functions = testdata().join("functions");
    RunnerProcess::start(&[
        "serve".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--functions".as_ref(),
        functions.as_os_str(),
    ])
}

fn eval_call(image: &str, input: &[u8]) -> Call {
    let request = EvaluateFunctionRequest {
        resource_list: input.to_vec(),
        image: image.to_owned(),
    };
    Call::unary(EVALUATE, &request.encode_to_vec())
}

fn response(result: &CallResult) -> EvaluateFunctionResponse {
    assert_eq!(result.code, "OK", "{}", result.details);
    EvaluateFunctionResponse::decode(&result.responses[0]).expect("an EvaluateFunctionResponse")
}

fn sample() -> Vec<u8> {
    std::fs::read(testdata().join("resourcelist.yaml")).expect("sample ResourceList")
}

fn big_input(len: usize) -> Vec<u8> {
    let mut input =
        b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n# ".to_vec();
    input.resize(len, b'x');
    input
}

#[test]
fn round_trip_edit_log_failure_and_unknown_image() {
    let server = serve();
    let results = run_client(
        &server.addr,
        &[
            eval_call("example.com/fn/cat:v1", &sample()),
            eval_call("gcr.io/kpt-fn/set-namespace:v0.4.1", &sample()),
            eval_call("example.com/fn/stderr-first:v1", &sample()),
            eval_call("example.com/fn/fail:v1", &sample()),
            eval_call("gcr.io/kpt-fn/unknown:v1", &sample()),
            eval_call("example.com/fn/ignore-stdin:v1", &big_input(1_000_000)),
        ],
    );
    let echoed = response(&results[0]);
    assert_eq!(echoed.resource_list, sample());
    assert!(echoed.log.is_empty());

    let edited = String::from_utf8(response(&results[1]).resource_list).expect("utf-8");
    let (items, _) = edited
        .split_once("functionConfig:")
        .expect("functionConfig");
    assert_eq!(
        items.matches("    namespace: production\n").count(),
        2,
        "{edited}"
    );

    let logged = response(&results[2]);
    assert_eq!(logged.log.len(), 1_048_576);
    assert_eq!(logged.resource_list, sample());

    assert_eq!(results[3].code, "INTERNAL");
    assert_eq!(
        results[3].details,
        "Failed to execute function \"example.com/fn/fail:v1\": exit status 1 \
         (set-nothing: the function failed on purpose\n)"
    );
    assert_eq!(results[4].code, "NOT_FOUND", "{:?}", results[4]);
    assert_eq!(results[5].code, "OK", "{:?}", results[5].details);
}

#[test]
fn hundred_concurrent_evaluations_on_one_channel() {
    let server = serve();
    let mut input = sample();
    input.resize(1024, b'\n');
    let mut call = eval_call("example.com/fn/cat:v1", &input);
    call.repeat = 100;
    call.concurrent = 100;
    let results = run_client(&server.addr, &[call]);
    assert_eq!(results[0].count("OK"), 100, "{:?}", results[0].codes);
    assert_eq!(response(&results[0]).resource_list, input);
}

#[test]
fn six_million_bytes_pass_and_seven_million_are_resource_exhausted() {
    let server = serve();
    let six = big_input(6_000_000);
    let results = run_client(
        &server.addr,
        &[
            eval_call("example.com/fn/cat:v1", &six),
            eval_call("example.com/fn/cat:v1", &big_input(7_000_000)),
            eval_call("example.com/fn/cat:v1", &sample()),
        ],
    );
    assert!(response(&results[0]).resource_list == six, "6 MB changed");
    assert_eq!(results[1].code, "RESOURCE_EXHAUSTED", "{:?}", results[1]);
    // The connection and server are fine afterwards.
    assert_eq!(results[2].code, "OK", "{:?}", results[2]);
}

#[test]
fn deadline_kills_the_function_and_its_grandchild() {
    let server = serve();
    let dir = TempDir::new("grpc-deadline");
    let pidfile = dir.path().join("pids");
    let mut call = eval_call(
        "example.com/fn/fork-sleep:v1",
        format!("{}\n", pidfile.display()).as_bytes(),
    );
    call.timeout_secs = 0.5;
    let results = run_client(&server.addr, &[call]);
    assert_eq!(results[0].code, "DEADLINE_EXCEEDED", "{:?}", results[0]);
    let (child, grandchild) = read_pids(&pidfile);
    assert!(
        wait_for(Duration::from_secs(2), || is_gone(child)
            && is_gone(grandchild)),
        "child {child} or grandchild {grandchild} outlived the deadline"
    );
}

#[test]
fn cancelled_call_kills_the_function() {
    let server = serve();
    let dir = TempDir::new("grpc-cancel");
    let pidfile = dir.path().join("pids");
    let mut call = eval_call(
        "example.com/fn/fork-sleep:v1",
        format!("{}\n", pidfile.display()).as_bytes(),
    );
    call.cancel_when_file = Some(pidfile.display().to_string());
    let results = run_client(&server.addr, &[call]);
    assert_eq!(results[0].code, "CANCELLED", "{:?}", results[0]);
    let (child, grandchild) = read_pids(&pidfile);
    assert!(
        wait_for(Duration::from_secs(2), || is_gone(child)
            && is_gone(grandchild)),
        "child {child} or grandchild {grandchild} outlived the cancel"
    );
}

#[test]
fn a_burst_leaves_no_zombies_and_no_leaked_fds() {
    let server = serve();
    // Warm up: the first calls may open fds the server keeps (pool threads).
    run_client(
        &server.addr,
        &[eval_call("example.com/fn/cat:v1", &sample())],
    );
    let settle = |before: usize| {
        wait_for(Duration::from_secs(10), || {
            open_fds_of(server.pid()) <= before
        })
    };
    let before = open_fds_of(server.pid());
    let mut calls = Vec::new();
    for (image, input) in [
        ("example.com/fn/cat:v1", sample()),
        ("example.com/fn/fail:v1", sample()),
        ("example.com/fn/ignore-stdin:v1", big_input(100_000)),
        ("example.com/fn/stderr-first:v1", sample()),
    ] {
        let mut call = eval_call(image, &input);
        call.repeat = 50;
        call.concurrent = 16;
        calls.push(call);
    }
    let mut deadline = eval_call("example.com/fn/sleep:v1", b"");
    deadline.timeout_secs = 0.2;
    deadline.repeat = 10;
    deadline.concurrent = 10;
    calls.push(deadline);
    let results = run_client(&server.addr, &calls);
    assert_eq!(results[0].count("OK"), 50);
    assert_eq!(results[1].count("INTERNAL"), 50);
    assert_eq!(results[4].count("DEADLINE_EXCEEDED"), 10);
    assert!(
        settle(before),
        "server fds: {} before the burst, {} after",
        before,
        open_fds_of(server.pid())
    );
    assert!(
        wait_for(Duration::from_secs(5), || zombie_children_of(server.pid())
            .is_empty()),
        "zombies: {:?}",
        zombie_children_of(server.pid())
    );
}

#[test]
fn sigterm_during_an_evaluation_lets_it_complete_and_exits_zero() {
    let mut server = serve();
    let dir = TempDir::new("sigterm");
    let marker = dir.path().join("running");
    let addr = server.addr.clone();
    let input = format!("{}\n", marker.display());
    let caller = std::thread::spawn(move || {
        run_client(
            &addr,
            &[eval_call("example.com/fn/slow:v1", input.as_bytes())],
        )
    });
    assert!(
        wait_for(Duration::from_secs(20), || marker.exists()),
        "the slow function never started"
    );
    let status = server.terminate();
    let results = caller.join().expect("caller thread");
    assert_eq!(results[0].code, "OK", "{:?}", results[0]);
    assert!(status.success(), "exit {status:?}; log:\n{}", server.log());
}

#[test]
fn serve_says_once_that_the_pod_runtime_is_off() {
    let server = serve();
    run_client(
        &server.addr,
        &[eval_call("example.com/fn/cat:v1", &sample())],
    );
    let log = server.log();
    assert_eq!(
        log.matches("no Kubernetes configuration found").count(),
        1,
        "{log}"
    );
}

#[test]
fn serve_refuses_a_config_entry_escaping_functions() {
    let dir = TempDir::new("serve-escape");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "functions:\n  - function: ../../bin/sh\n    images: [x]\n",
    )
    .expect("write config");
    let out = std::process::Command::new(fn_runner_bin())
        .args(["serve", "--port", "0", "--config"])
        .arg(&config)
        .arg("--functions")
        .arg(testdata().join("functions"))
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("functions[0].function \"../../bin/sh\""),
        "{stderr}"
    );
}

fn eval(args: &[&std::ffi::OsStr], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(fn_runner_bin())
        .arg("eval")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fn-runner eval");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("eval output")
}

#[test]
fn fn_runner_eval_success_and_failure() {
    let server = serve();
    let file = testdata().join("resourcelist.yaml");
    let addr = server.addr.as_str();

    let out = eval(
        &[
            "--address".as_ref(),
            addr.as_ref(),
            "--image".as_ref(),
            "gcr.io/kpt-fn/set-namespace:v0.4.1".as_ref(),
            file.as_os_str(),
        ],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("kind: ResourceList"), "{stdout}");
    assert!(stdout.contains("    namespace: production\n"), "{stdout}");

    // stdin ("-"), and the function's log on stderr.
    let out = eval(
        &[
            "--address".as_ref(),
            addr.as_ref(),
            "--image".as_ref(),
            "example.com/fn/stderr-first:v1".as_ref(),
            "-".as_ref(),
        ],
        &sample(),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, sample());
    assert!(out.stderr.starts_with(b"eeee"));

    let out = eval(
        &[
            "--address".as_ref(),
            addr.as_ref(),
            "--image".as_ref(),
            "example.com/fn/fail:v1".as_ref(),
            file.as_os_str(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "rpc error: code = INTERNAL desc = Failed to execute function \"example.com/fn/fail:v1\": exit status 1"
        ),
        "{stderr}"
    );

    let out = eval(
        &[
            "--address".as_ref(),
            addr.as_ref(),
            "--image".as_ref(),
            "gcr.io/kpt-fn/unknown:v1".as_ref(),
            file.as_os_str(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("rpc error: code = NOT_FOUND"));
}
