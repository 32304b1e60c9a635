//! HPACK round trip: fields taken from the input are encoded by our
//! `Encoder` and decoded by our `Decoder`, block after block and with the
//! table size changing in between; every block must decode to exactly the
//! fields that went in, and both dynamic tables must stay the same size.
//!
//! Input: blocks separated by `0xff`; in a block, lines (`\n`) are fields
//! `name:value`, except a line `0xfe n`, which sets both sides' table size
//! to `n * 32` bytes (our SETTINGS_HEADER_TABLE_SIZE, acknowledged).
#![no_main]
use fn_runner::h2::hpack::{limits, Decoder, Encoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new(limits::DEFAULT_HEADER_TABLE_BYTES);
    for block in data.split(|&b| b == 0xff) {
        let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
        for line in block.split(|&b| b == b'\n') {
            if let Some((0xfe, rest)) = line.split_first() {
                let size = usize::from(rest.first().copied().unwrap_or(0)) * 32;
                decoder.set_max_table_size(size);
                encoder.set_max_table_size(size);
                continue;
            }
            let cut = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            let (name, value) = line.split_at(cut);
            fields.push((name, value.get(1..).unwrap_or(&[])));
        }
        let mut wire = Vec::new();
        encoder.encode(fields.iter().copied(), &mut wire);
        let mut decoded: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        decoder
            .decode(&wire, usize::MAX, |n, v| {
                decoded.push((n.to_vec(), v.to_vec()))
            })
            .expect("a block of our encoder decodes");
        assert!(
            decoded
                .iter()
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .eq(fields.iter().copied()),
            "round trip changed the fields"
        );
        assert_eq!(encoder.table_size(), decoder.table_size());
    }
});
