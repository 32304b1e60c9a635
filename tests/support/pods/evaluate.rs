//! EvaluateFunction through our own gRPC client, as porch-server calls the
//! runner and the runner calls a pod: one connection per peer, shared by
//! every call (thread safe), an optional deadline (`grpc-timeout`).

use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::grpc::{Client, ClientConfig, Code, Status};
use fn_runner::proto::{
    EvaluateFunctionRequest, EvaluateFunctionResponse, HealthCheckRequest, HealthCheckResponse,
    Message, ServingStatus,
};

/// `:path` of EvaluateFunction.
pub const EVALUATE: &str = "/evaluator.FunctionEvaluator/EvaluateFunction";
/// `:path` of the health check.
pub const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// Our client for `addr` (`IP:PORT`), with the default message limits.
pub fn connect(addr: &str) -> Client {
    Client::connect(addr, ClientConfig::default())
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e:?}"))
}

/// Sends EvaluateFunction for `image` on `resource_list`, with `deadline`
/// (none: no `grpc-timeout`). A reply that is no EvaluateFunctionResponse
/// is an INTERNAL status.
pub fn evaluate(
    client: &Client,
    image: &str,
    resource_list: &[u8],
    deadline: Option<Duration>,
) -> Result<EvaluateFunctionResponse, Status> {
    let request = EvaluateFunctionRequest {
        resource_list: resource_list.to_vec(),
        image: image.to_owned(),
    }
    .encode_to_vec();
    let ctx = deadline.map_or_else(CallContext::background, CallContext::with_timeout);
    let reply = client.call(EVALUATE, &request, &ctx)?;
    EvaluateFunctionResponse::decode(&reply).map_err(|e| {
        Status::new(
            Code::INTERNAL,
            format!("not an EvaluateFunctionResponse: {e}"),
        )
    })
}

/// The health status of `service` ("" for the server).
pub fn health(client: &Client, service: &str) -> Result<ServingStatus, Status> {
    let request = HealthCheckRequest {
        service: service.to_owned(),
    }
    .encode_to_vec();
    let reply = client.call(
        HEALTH_CHECK,
        &request,
        &CallContext::with_timeout(Duration::from_secs(10)),
    )?;
    HealthCheckResponse::decode(&reply)
        .map(|r| r.status)
        .map_err(|e| Status::new(Code::INTERNAL, format!("not a HealthCheckResponse: {e}")))
}

/// Waits, on a health Watch stream (no polling), until the server says
/// SERVING; the last status seen otherwise (within `timeout`).
pub fn wait_serving(client: &Client, timeout: Duration) -> Result<ServingStatus, Status> {
    let request = HealthCheckRequest {
        service: String::new(),
    }
    .encode_to_vec();
    let mut last = ServingStatus::UNKNOWN;
    let watched = client.call_streaming(
        fn_runner::grpc::health::WATCH_PATH,
        &request,
        &CallContext::with_timeout(timeout),
        |message| {
            if let Ok(reply) = HealthCheckResponse::decode(message) {
                last = reply.status;
            }
            last != ServingStatus::SERVING
        },
    );
    match watched {
        Ok(()) => Ok(last),
        Err(_) if last != ServingStatus::UNKNOWN => Ok(last),
        Err(e) => Err(e),
    }
}

/// The sample ResourceList (`testdata/resourcelist.yaml`): two items and a
/// functionConfig asking set-namespace for `production`.
pub fn sample_resource_list() -> Vec<u8> {
    std::fs::read(crate::support::exec::testdata().join("resourcelist.yaml"))
        .expect("testdata/resourcelist.yaml")
}
