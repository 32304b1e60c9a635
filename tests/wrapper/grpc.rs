//! `fn-runner wrapper-server -- <entrypoint>` over gRPC: the real grpcio
//! client, our own client (as the pod runtime calls it), health and
//! `grpc-health-probe` by its multi-call name (issue 6 "Prove it").

use std::net::TcpListener;
use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::grpc::{Client, ClientConfig, Code};
use fn_runner::proto::{
    EvaluateFunctionRequest, EvaluateFunctionResponse, HealthCheckRequest, HealthCheckResponse,
    Message, ServingStatus,
};

use crate::support::exec::{function, RunnerProcess};
use crate::support::grpc_py::{run_client, Call, CallResult};
use crate::support::multicall::MultiCallDir;

const EVALUATE: &str = "/evaluator.FunctionEvaluator/EvaluateFunction";
const CHECK: &str = "/grpc.health.v1.Health/Check";
const IMAGE: &str = "example.com/fn/results:v1";

const FAIL_MESSAGE: &str = "failed to evaluate function \"example.com/fn/results:v1\" with \
     structured results: [error] apps/v1/Deployment/prod/app spec.replicas: replicas must be \
     positive\n\n[info]: checked 1 object and stderr: results: mode fail\n";
const GARBAGE_PREFIX: &str = "failed to parse the output of function \
     \"example.com/fn/results:v1\" with stderr 'it went wrong\n': failed to parse input bytes: ";

fn wrapper(entrypoint: &str) -> RunnerProcess {
    let entrypoint = function(entrypoint);
    RunnerProcess::start(&[
        "wrapper-server".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--".as_ref(),
        entrypoint.as_os_str(),
    ])
}

fn request(mode: &str) -> Vec<u8> {
    EvaluateFunctionRequest {
        resource_list: format!("{mode}\n").into_bytes(),
        image: IMAGE.to_owned(),
    }
    .encode_to_vec()
}

fn response(result: &CallResult) -> EvaluateFunctionResponse {
    assert_eq!(result.code, "OK", "{}", result.details);
    EvaluateFunctionResponse::decode(&result.responses[0]).expect("an EvaluateFunctionResponse")
}

#[test]
fn grpcio_structured_results_messages_and_health() {
    let server = wrapper("results");
    let results = run_client(
        &server.addr,
        &[
            Call::unary(EVALUATE, &request("ok")),
            Call::unary(EVALUATE, &request("fail")),
            Call::unary(EVALUATE, &request("garbage")),
            Call::unary(EVALUATE, &request("ok-error")),
            Call::unary(
                CHECK,
                &HealthCheckRequest {
                    service: String::new(),
                }
                .encode_to_vec(),
            ),
        ],
    );
    let ok = response(&results[0]);
    assert!(String::from_utf8_lossy(&ok.resource_list).contains("replicas must be positive"));
    assert_eq!(ok.log, b"results: mode ok\n");

    assert_eq!(results[1].code, "INTERNAL");
    assert_eq!(results[1].details, FAIL_MESSAGE);

    assert_eq!(results[2].code, "INTERNAL");
    assert!(
        results[2].details.starts_with(GARBAGE_PREFIX),
        "{}",
        results[2].details
    );

    let with_error = response(&results[3]);
    assert!(String::from_utf8_lossy(&with_error.resource_list).contains("severity: error"));
    // The line is written before the answer, but read from the server's
    // stderr by another thread: wait for it.
    assert!(
        server
            .log_lines()
            .wait_for(Duration::from_secs(10), |l| l
                .contains("returned structured results with severity error"))
            .is_some(),
        "{}",
        server.log()
    );

    assert_eq!(results[4].code, "OK");
    let health = HealthCheckResponse::decode(&results[4].responses[0]).expect("health");
    assert_eq!(health.status, ServingStatus::SERVING);
}

#[test]
fn grpcio_deadline_kills_the_function() {
    let server = wrapper("sleep");
    let mut call = Call::unary(EVALUATE, &request("x"));
    call.timeout_secs = 0.5;
    let results = run_client(&server.addr, &[call.clone(), call]);
    assert_eq!(results[0].code, "DEADLINE_EXCEEDED", "{:?}", results[0]);
    assert_eq!(results[1].code, "DEADLINE_EXCEEDED", "{:?}", results[1]);
}

#[test]
fn our_client_as_the_pod_runtime_calls_it() {
    let server = wrapper("results");
    let client = Client::connect(&server.addr, ClientConfig::default()).expect("connect");
    let call = |mode: &str, ctx: &CallContext| client.call(EVALUATE, &request(mode), ctx);
    let bg = CallContext::background();

    let ok = EvaluateFunctionResponse::decode(&call("ok", &bg).expect("ok")).expect("response");
    assert_eq!(ok.log, b"results: mode ok\n");

    let status = call("fail", &bg).expect_err("fails");
    assert_eq!(status.code, Code::INTERNAL);
    assert_eq!(status.message, FAIL_MESSAGE);

    let status = call("garbage", &bg).expect_err("fails");
    assert_eq!(status.code, Code::INTERNAL);
    assert!(
        status.message.starts_with(GARBAGE_PREFIX),
        "{}",
        status.message
    );

    assert!(call("ok-error", &bg).is_ok());

    let sleeper = wrapper("sleep");
    let client = Client::connect(&sleeper.addr, ClientConfig::default()).expect("connect");
    let status = client
        .call(
            EVALUATE,
            &request("x"),
            &CallContext::with_timeout(Duration::from_millis(500)),
        )
        .expect_err("deadline");
    assert_eq!(status.code, Code::DEADLINE_EXCEEDED);
}

#[test]
fn grpc_health_probe_by_its_multi_call_name() {
    let server = wrapper("results");
    let dir = MultiCallDir::new();
    let probe = |addr: &str| {
        std::process::Command::new(dir.path("grpc-health-probe"))
            .args(["-addr", addr])
            .output()
            .expect("run grpc-health-probe")
    };
    let out = probe(&server.addr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("status: SERVING"));

    // A port nobody listens on: bind, note it, close.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    assert_eq!(probe(&closed).status.code(), Some(2));
}

#[test]
fn wrapper_server_by_its_multi_call_name_serves() {
    let dir = MultiCallDir::new();
    let script = function("results");
    let mut child = KillOnDrop(
        std::process::Command::new(dir.path("wrapper-server"))
            .args(["--port", "0", "--"])
            .arg(&script)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start wrapper-server"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, addr)) = line.split_once("serving gRPC on ") {
                let _ = tx.send(
                    addr.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let result = rx.recv_timeout(Duration::from_secs(30)).map(|a| {
        let port = a
            .rsplit_once(':')
            .map(|(_, p)| p.to_owned())
            .unwrap_or_default();
        run_client(
            &format!("127.0.0.1:{port}"),
            &[Call::unary(EVALUATE, &request("ok"))],
        )
    });
    drop(child);
    let results = result.expect("wrapper-server (argv[0] form) never served");
    assert_eq!(results[0].code, "OK", "{:?}", results[0]);
}

/// A child process killed and reaped on drop, even when the test panics.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
