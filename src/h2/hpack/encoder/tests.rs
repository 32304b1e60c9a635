//! Encoder tests: RFC 7541 Appendix C vectors (with the policy the RFC's
//! examples use), the gRPC indexing policy, size updates, and round trips
//! through our decoder.

use super::*;
use crate::h2::hpack::decoder::tests::{hex, Step, C3, C4, C5, C6};
use crate::h2::hpack::Decoder;

fn encoder(table_bytes: usize, policy: Policy, huffman: HuffmanUse) -> Encoder {
    Encoder {
        table: Table::new(table_bytes),
        pending_update: None,
        policy,
        huffman,
    }
}

fn encode(e: &mut Encoder, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    e.encode(
        fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        &mut out,
    );
    out
}

fn integer(value: usize, prefix_bits: u32) -> Vec<u8> {
    let mut out = Vec::new();
    encode_integer(value, prefix_bits, 0, &mut out);
    out
}

#[test]
fn encodes_rfc7541_c_1_integers() {
    assert_eq!(integer(10, 5), [0x0a]);
    assert_eq!(integer(1337, 5), [0x1f, 0x9a, 0x0a]);
    assert_eq!(integer(42, 8), [0x2a]);
    // The boundary of a prefix: 2^N - 1 needs a continuation byte of 0.
    assert_eq!(integer(30, 5), [0x1e]);
    assert_eq!(integer(31, 5), [0x1f, 0x00]);
}

#[test]
fn encodes_rfc7541_c_2_1_literal_with_indexing() {
    let mut e = encoder(4096, Policy::IndexAll, HuffmanUse::Never);
    assert_eq!(
        encode(&mut e, &[("custom-key", "custom-header")]),
        hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")
    );
    assert_eq!(e.table_size(), 55);
}

#[test]
fn encodes_rfc7541_c_2_3_never_indexed_password() {
    // Our policy treats "password" as sensitive, like the RFC's example.
    let mut e = encoder(4096, Policy::Grpc, HuffmanUse::Never);
    assert_eq!(
        encode(&mut e, &[("password", "secret")]),
        hex("1008 7061 7373 776f 7264 0673 6563 7265 74")
    );
    assert_eq!(e.table_size(), 0);
}

#[test]
fn encodes_rfc7541_c_2_4_indexed() {
    let mut e = Encoder::new();
    assert_eq!(encode(&mut e, &[(":method", "GET")]), [0x82]);
}

fn check_sequence(mut e: Encoder, steps: &[Step]) {
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(encode(&mut e, step.fields), hex(step.block), "block {i}");
        assert_eq!(e.table_size(), step.size, "table size after block {i}");
    }
}

#[test]
fn encodes_rfc7541_c_3_requests_without_huffman() {
    check_sequence(encoder(4096, Policy::IndexAll, HuffmanUse::Never), &C3);
}

#[test]
fn encodes_rfc7541_c_4_requests_with_huffman() {
    // Every string of C.4 is shorter Huffman-coded: our default choice.
    check_sequence(
        encoder(4096, Policy::IndexAll, HuffmanUse::WhenShorter),
        &C4,
    );
}

#[test]
fn encodes_rfc7541_c_5_responses_without_huffman_with_eviction() {
    check_sequence(encoder(256, Policy::IndexAll, HuffmanUse::Never), &C5);
}

#[test]
fn encodes_rfc7541_c_6_responses_with_huffman_with_eviction() {
    // C.6.2 Huffman-codes "307" although that is no shorter (3 bytes), so
    // this vector needs Huffman always on.
    check_sequence(encoder(256, Policy::IndexAll, HuffmanUse::Always), &C6);
}

#[test]
fn huffman_only_when_shorter() {
    let mut e = Encoder::new();
    // "307": Huffman is 3 bytes too, so the raw string is kept.
    assert_eq!(encode(&mut e, &[(":status", "307")]), hex("4803 3330 37"));
    // Bytes with long codes stay raw.
    let mut out = Vec::new();
    e.encode([(&b"x-bin"[..], &b"\x00\x01"[..])], &mut out);
    assert!(out.ends_with(&[0x02, 0x00, 0x01]), "{out:02x?}");
}

fn grpc_request(timeout: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".to_string()),
        (":scheme", "http".to_string()),
        (":path", "/grpc.health.v1.Health/Check".to_string()),
        (":authority", "127.0.0.1:9446".to_string()),
        ("content-type", "application/grpc".to_string()),
        ("user-agent", "grpc-go/1.64.0".to_string()),
        ("te", "trailers".to_string()),
        ("grpc-timeout", timeout.to_string()),
    ]
}

fn encode_owned(e: &mut Encoder, fields: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    e.encode(
        fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        &mut out,
    );
    out
}

#[test]
fn repeated_grpc_calls_become_indices() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let first = encode_owned(&mut e, &grpc_request("999889u"));
    let second = encode_owned(&mut e, &grpc_request("999713u"));
    // Second call: 7 one-byte indices, and grpc-timeout as a literal without
    // indexing with a new name: 1 + (1 + 9 Huffman name) + (1 + 6 value).
    assert_eq!(second.len(), 7 + 1 + 1 + 9 + 1 + 6, "{second:02x?}");
    assert!(second[..7].iter().all(|b| b & 0x80 != 0));
    for block in [first, second] {
        let mut got = Vec::new();
        d.decode(&block, usize::MAX, |n, v| {
            got.push((n.to_vec(), v.to_vec()))
        })
        .unwrap();
        assert_eq!(got.len(), 8);
    }
    assert_eq!(d.table_size(), e.table_size());
}

#[test]
fn sensitive_fields_are_never_indexed() {
    let mut e = Encoder::new();
    let names = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-auth-token",
        "x-api-key",
    ];
    for name in names {
        let block = encode(&mut e, &[(name, "Bearer abc")]);
        assert_eq!(block[0] & 0xf0, 0x10, "{name}: {block:02x?}");
        // Repeating it must not turn into an index either.
        let again = encode(&mut e, &[(name, "Bearer abc")]);
        assert_eq!(again, block, "{name}");
    }
    assert_eq!(e.table_size(), 0);
    // The static table still supplies the name: authorization is 23.
    let block = encode(&mut e, &[("authorization", "x")]);
    assert_eq!(block[..2], [0x1f, 23 - 15]);
}

#[test]
fn varying_fields_are_not_indexed() {
    let mut e = Encoder::new();
    encode(
        &mut e,
        &[
            ("grpc-timeout", "1S"),
            ("grpc-message", "oops"),
            ("content-length", "12"),
            ("x-custom", "v"),
        ],
    );
    assert_eq!(e.table_size(), 0);
}

#[test]
fn large_entries_are_not_indexed() {
    let mut e = Encoder::new();
    let big = "u".repeat(4096 / 2);
    encode_owned(&mut e, &[("user-agent", big)]);
    assert_eq!(e.table_size(), 0);
}

#[test]
fn signals_smallest_then_final_table_size() {
    let mut e = encoder(4096, Policy::IndexAll, HuffmanUse::Never);
    encode(&mut e, &[("custom-key", "custom-header")]);
    e.set_max_table_size(0);
    e.set_max_table_size(100);
    assert_eq!(encode(&mut e, &[(":method", "GET")]), hex("20 3f45 82"));
    assert_eq!(e.table.max_size(), 100);
    assert_eq!(e.table_size(), 0);
    // Only once.
    assert_eq!(encode(&mut e, &[(":method", "GET")]), hex("82"));
}

#[test]
fn clamps_peer_table_size_to_our_cap() {
    let mut e = Encoder::new();
    e.set_max_table_size(100);
    assert_eq!(encode(&mut e, &[]), hex("3f45"));
    e.set_max_table_size(1 << 20);
    assert_eq!(encode(&mut e, &[]), hex("3fe11f"));
    // Unchanged size: nothing to signal.
    e.set_max_table_size(4096);
    assert_eq!(encode(&mut e, &[]), hex(""));
}

#[test]
fn round_trips_with_table_size_changes_and_evictions() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let names = [
        ":path",
        ":authority",
        "user-agent",
        "content-type",
        "grpc-status",
        "grpc-message",
        "authorization",
        "x-trace",
        "te",
    ];
    let sizes = [0, 64, 100, 256, 4096, 1 << 20];
    let mut evicted = false;
    for round in 0..400 {
        if round % 17 == 0 {
            e.set_max_table_size(sizes[(next() % sizes.len() as u64) as usize]);
        }
        let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..(next() % 8))
            .map(|_| {
                let name = names[(next() % names.len() as u64) as usize]
                    .as_bytes()
                    .to_vec();
                let len = (next() % 60) as usize;
                let value: Vec<u8> = (0..len).map(|_| (next() % 256) as u8).collect();
                (name, value)
            })
            .collect();
        let before = e.table.len();
        let mut block = Vec::new();
        e.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])), &mut block);
        evicted |= e.table.len() < before;
        let mut got = Vec::new();
        d.decode(&block, usize::MAX, |n, v| {
            got.push((n.to_vec(), v.to_vec()))
        })
        .unwrap();
        assert_eq!(got, fields, "round {round}");
        assert_eq!(d.table_size(), e.table_size(), "round {round}");
    }
    assert!(evicted, "the test exercised eviction");
}
