//! `WWW-Authenticate` challenges: each line is one header value.
#![no_main]
use fn_runner::registry::auth::Challenge;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|values: &str| {
    let _ = Challenge::parse(values.split('\n'));
});
