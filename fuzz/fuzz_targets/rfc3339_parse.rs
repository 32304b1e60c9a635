//! RFC 3339 times as the Kubernetes API writes them (pod timestamps,
//! exec-credential expiry).
#![no_main]
use fn_runner::kube::time::parse_rfc3339;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = parse_rfc3339(text);
});
