//! Manifest and index decoding (media type from the document or its shape),
//! and the entrypoint of the same bytes read as an image config.
#![no_main]
use fn_runner::registry::manifest::{entrypoint, Manifest, Verified};
use fn_runner::registry::Digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = Manifest::decode(None, bytes);
    let digest = Digest::sha256(bytes);
    let _ = Verified::check(&digest, bytes).map(|config| entrypoint(&config));
});
