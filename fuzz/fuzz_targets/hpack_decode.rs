//! HPACK decoding of arbitrary blocks; the block is decoded twice with one
//! decoder so that the second pass runs against the table the first built.
#![no_main]
use fn_runner::h2::hpack::{limits, Decoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|block: &[u8]| {
    let mut decoder = Decoder::new(limits::DEFAULT_HEADER_TABLE_BYTES);
    for _ in 0..2 {
        let _ = decoder.decode(block, limits::DEFAULT_MAX_HEADER_LIST_BYTES, |_, _| {});
    }
});
