//! The `grpc-timeout` header value and the percent-decoding of
//! `grpc-message`, both from a peer's HEADERS.
#![no_main]
use fn_runner::grpc::{percent, timeout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &[u8]| {
    let _ = timeout::decode(value);
    let _ = percent::decode(value);
});
