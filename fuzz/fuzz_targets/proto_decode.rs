//! Protobuf decoding of arbitrary bytes as each of our messages.
#![no_main]
use fn_runner::proto::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = EvaluateFunctionRequest::decode(data);
    let _ = EvaluateFunctionResponse::decode(data);
    let _ = HealthCheckRequest::decode(data);
    let _ = HealthCheckResponse::decode(data);
    let _ = HealthListRequest::decode(data);
    let _ = HealthListResponse::decode(data);
});
