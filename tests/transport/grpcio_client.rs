//! The real grpcio Python client against our server.

use fn_runner::proto::{
    EvaluateFunctionRequest, HealthCheckRequest, HealthCheckResponse, HealthListResponse, Message,
    ServingStatus,
};

use super::TestServer;
use crate::support::grpc_py::{run_client, Call};

const CHECK: &str = "/grpc.health.v1.Health/Check";

fn check_req(service: &str) -> Vec<u8> {
    HealthCheckRequest {
        service: service.to_owned(),
    }
    .encode_to_vec()
}

#[test]
fn health_check_known_unknown_watch_and_list() {
    let server = TestServer::start();
    let mut watch = Call::unary("/grpc.health.v1.Health/Watch", &check_req(""));
    watch.stream = true;
    let results = run_client(
        &server.addr,
        &[
            Call::unary(CHECK, &check_req("")),
            Call::unary(CHECK, &check_req("evaluator.FunctionEvaluator")),
            Call::unary(CHECK, &check_req("no.such.Service")),
            watch,
            Call::unary("/grpc.health.v1.Health/List", &[]),
        ],
    );
    for r in &results[..2] {
        assert_eq!(r.code, "OK", "{r:?}");
        let resp = HealthCheckResponse::decode(&r.responses[0]).expect("response");
        assert_eq!(resp.status, ServingStatus::SERVING);
    }
    assert_eq!(results[2].code, "NOT_FOUND");
    assert_eq!(results[3].code, "OK", "{:?}", results[3]);
    assert_eq!(
        HealthCheckResponse::decode(&results[3].responses[0])
            .expect("watch message")
            .status,
        ServingStatus::SERVING
    );
    let list = HealthListResponse::decode(&results[4].responses[0]).expect("list");
    assert_eq!(list.statuses.len(), 2);
    assert!(list.statuses.contains_key("evaluator.FunctionEvaluator"));
}

#[test]
fn thousand_sequential_and_hundred_concurrent_calls_on_one_channel() {
    let server = TestServer::start();
    let mut seq = Call::unary(CHECK, &check_req(""));
    seq.repeat = 1000;
    let mut par = Call::unary(CHECK, &check_req(""));
    par.repeat = 100;
    par.concurrent = 100;
    let eval = EvaluateFunctionRequest {
        resource_list: b"kind: ResourceList".to_vec(),
        image: "gcr.io/kpt-fn/none:v1".to_owned(),
    };
    let mut evals = Call::unary(
        "/evaluator.FunctionEvaluator/EvaluateFunction",
        &eval.encode_to_vec(),
    );
    evals.repeat = 100;
    evals.concurrent = 100;
    let results = run_client(&server.addr, &[seq, par, evals]);
    assert_eq!(results[0].count("OK"), 1000, "{:?}", results[0]);
    assert_eq!(results[1].count("OK"), 100, "{:?}", results[1]);
    // No evaluator yet: every image is unknown.
    assert_eq!(results[2].count("NOT_FOUND"), 100, "{:?}", results[2]);
}

#[test]
fn unknown_method_garbage_protobuf_and_gzip() {
    let server = TestServer::start();
    let mut gz = Call::unary(CHECK, &check_req(""));
    gz.gzip = true;
    let results = run_client(
        &server.addr,
        &[
            Call::unary("/no.Such/Method", b""),
            Call::unary(
                "/evaluator.FunctionEvaluator/EvaluateFunction",
                b"\xff\xff\xff\xff",
            ),
            Call::unary(CHECK, &check_req("")),
            gz,
            Call::unary(CHECK, &check_req("")),
        ],
    );
    assert_eq!(results[0].code, "UNIMPLEMENTED", "{:?}", results[0]);
    assert_eq!(results[1].code, "INTERNAL", "{:?}", results[1]);
    assert_eq!(results[2].code, "OK", "{:?}", results[2]);
    // A compressed request gets an answer (we advertise identity only).
    assert_eq!(results[3].code, "UNIMPLEMENTED", "{:?}", results[3]);
    assert_eq!(results[4].code, "OK", "{:?}", results[4]);
}
