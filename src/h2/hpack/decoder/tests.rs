//! Decoder tests: RFC 7541 Appendix C vectors, truncations, limits at n and
//! n + 1, and each rejected input.

use super::*;
use crate::h2::hpack::encoder::encode_integer;
use crate::h2::hpack::limits::MAX_STRING_BYTES;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn decode_limited(d: &mut Decoder, block: &[u8], limit: usize) -> Result<Fields, Error> {
    let mut out = Vec::new();
    d.decode(block, limit, |n, v| out.push((n.to_vec(), v.to_vec())))?;
    Ok(out)
}

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Fields, Error> {
    decode_limited(d, block, usize::MAX)
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn table(d: &Decoder) -> Fields {
    d.table
        .iter()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect()
}

fn integer(bytes: &[u8], prefix_bits: u32) -> Result<usize, Error> {
    let mut cur = Cursor { buf: bytes, pos: 0 };
    let value = cur.integer(prefix_bits)?;
    assert_eq!(cur.pos, bytes.len(), "integer consumed the whole input");
    Ok(value)
}

// ---- C.1 integers ----

#[test]
fn decodes_rfc7541_c_1_1_ten_with_5_bit_prefix() {
    // The 3 bits above the prefix belong to the representation: ignored.
    assert_eq!(integer(&[0x0a], 5), Ok(10));
    assert_eq!(integer(&[0xea], 5), Ok(10));
}

#[test]
fn decodes_rfc7541_c_1_2_1337_with_5_bit_prefix() {
    assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 5), Ok(1337));
}

#[test]
fn decodes_rfc7541_c_1_3_42_at_octet_boundary() {
    assert_eq!(integer(&[0x2a], 8), Ok(42));
}

#[test]
fn integer_limits_at_n_and_n_plus_1() {
    let mut max = Vec::new();
    encode_integer(MAX_INTEGER as usize, 7, 0, &mut max);
    assert_eq!(integer(&max, 7), Ok(MAX_INTEGER as usize));
    let mut over = Vec::new();
    encode_integer(MAX_INTEGER as usize + 1, 7, 0, &mut over);
    assert_eq!(integer(&over, 7), Err(Error::IntegerOverflow { offset: 0 }));
    // MAX_INTEGER_CONTINUATION_BYTES of padding-style zeros is accepted, one
    // more is not.
    let mut padded = vec![0x7f];
    padded.extend(std::iter::repeat_n(
        0x80,
        MAX_INTEGER_CONTINUATION_BYTES - 1,
    ));
    padded.push(0x00);
    assert_eq!(integer(&padded, 7), Ok(127));
    let mut too_long = vec![0x7f];
    too_long.extend(std::iter::repeat_n(0x80, MAX_INTEGER_CONTINUATION_BYTES));
    too_long.push(0x00);
    let mut cur = Cursor {
        buf: &too_long,
        pos: 0,
    };
    assert_eq!(cur.integer(7), Err(Error::IntegerOverflow { offset: 0 }));
}

#[test]
fn rejects_integer_overflow_in_a_block() {
    // Indexed field whose index runs 10 continuation bytes of 0xff.
    let mut block = vec![0xff];
    block.extend([0xff; 10]);
    block.push(0x01);
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &block),
        Err(Error::IntegerOverflow { offset: 0 })
    );
}

#[test]
fn rejects_truncated_integer() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &[0xff]),
        Err(Error::IntegerTruncated { offset: 0 })
    );
    assert_eq!(
        decode(&mut d, &[0x82, 0xff, 0x80]),
        Err(Error::IntegerTruncated { offset: 1 })
    );
}

// ---- C.2 header field representations ----

#[test]
fn decodes_rfc7541_c_2_1_literal_with_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[("custom-key", "custom-header")])
    );
    assert_eq!(table(&d), fields(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_size(), 55);
}

#[test]
fn decodes_rfc7541_c_2_2_literal_without_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[(":path", "/sample/path")])
    );
    assert_eq!(d.table_size(), 0);
}

#[test]
fn decodes_rfc7541_c_2_3_literal_never_indexed() {
    let mut d = Decoder::new(4096);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        fields(&[("password", "secret")])
    );
    assert_eq!(d.table_size(), 0);
}

#[test]
fn decodes_rfc7541_c_2_4_indexed() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &[0x82]).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(d.table_size(), 0);
}

// ---- C.3 to C.6: sequences sharing one decoder ----

/// One block of an Appendix C sequence: wire bytes, fields, table afterwards
/// (newest first), table size afterwards.
pub(crate) struct Step {
    pub(crate) block: &'static str,
    pub(crate) fields: &'static [(&'static str, &'static str)],
    pub(crate) table: &'static [(&'static str, &'static str)],
    pub(crate) size: usize,
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQ_T2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQ_T3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

pub(crate) const C3: [Step; 3] = [
    Step {
        block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        fields: REQ1,
        table: REQ_T1,
        size: 57,
    },
    Step {
        block: "8286 84be 5808 6e6f 2d63 6163 6865",
        fields: REQ2,
        table: REQ_T2,
        size: 110,
    },
    Step {
        block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        fields: REQ3,
        table: REQ_T3,
        size: 164,
    },
];

pub(crate) const C4: [Step; 3] = [
    Step {
        block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        fields: REQ1,
        table: REQ_T1,
        size: 57,
    },
    Step {
        block: "8286 84be 5886 a8eb 1064 9cbf",
        fields: REQ2,
        table: REQ_T2,
        size: 110,
    },
    Step {
        block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        fields: REQ3,
        table: REQ_T3,
        size: 164,
    },
];

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];
const RESP_T1: &[(&str, &str)] = &[
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
    (":status", "302"),
];
const RESP_T2: &[(&str, &str)] = &[
    (":status", "307"),
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
];
const RESP_T3: &[(&str, &str)] = &[
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
    ("content-encoding", "gzip"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
];

pub(crate) const C5: [Step; 3] = [
    Step {
        block: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
                6c65 2e63 6f6d",
        fields: RESP1,
        table: RESP_T1,
        size: 222,
    },
    Step {
        block: "4803 3330 37c1 c0bf",
        fields: RESP2,
        table: RESP_T2,
        size: 222,
    },
    Step {
        block: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
                3d31",
        fields: RESP3,
        table: RESP_T3,
        size: 215,
    },
];

pub(crate) const C6: [Step; 3] = [
    Step {
        block: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        fields: RESP1,
        table: RESP_T1,
        size: 222,
    },
    Step {
        block: "4883 640e ffc1 c0bf",
        fields: RESP2,
        table: RESP_T2,
        size: 222,
    },
    Step {
        block: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
                9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        fields: RESP3,
        table: RESP_T3,
        size: 215,
    },
];

fn check_sequence(table_bytes: usize, steps: &[Step]) {
    let mut d = Decoder::new(table_bytes);
    for (i, step) in steps.iter().enumerate() {
        let got = decode(&mut d, &hex(step.block)).unwrap();
        assert_eq!(got, fields(step.fields), "block {i}");
        assert_eq!(table(&d), fields(step.table), "table after block {i}");
        assert_eq!(d.table_size(), step.size, "table size after block {i}");
    }
}

#[test]
fn decodes_rfc7541_c_3_requests_without_huffman() {
    check_sequence(4096, &C3);
}

#[test]
fn decodes_rfc7541_c_4_requests_with_huffman() {
    check_sequence(4096, &C4);
}

#[test]
fn decodes_rfc7541_c_5_responses_without_huffman_with_eviction() {
    check_sequence(256, &C5);
}

#[test]
fn decodes_rfc7541_c_6_responses_with_huffman_with_eviction() {
    check_sequence(256, &C6);
}

/// Every proper prefix of every block of a sequence: never a panic; an error
/// unless the prefix ends on a field boundary, where it yields exactly the
/// fields before it.
fn check_prefixes(table_bytes: usize, steps: &[Step]) {
    for (i, step) in steps.iter().enumerate() {
        let block = hex(step.block);
        let want = fields(step.fields);
        let mut ok_prefixes = 0;
        for len in 0..block.len() {
            let mut d = Decoder::new(table_bytes);
            for earlier in &steps[..i] {
                decode(&mut d, &hex(earlier.block)).unwrap();
            }
            if let Ok(got) = decode(&mut d, &block[..len]) {
                assert_eq!(got[..], want[..got.len()], "block {i} prefix {len}");
                ok_prefixes += 1;
            }
        }
        // The boundaries: before each field (the last field ends at the full
        // block, which is not a proper prefix).
        assert_eq!(ok_prefixes, want.len(), "block {i}");
    }
}

#[test]
fn every_prefix_of_the_rfc_vectors_errors_or_ends_on_a_field() {
    check_prefixes(4096, &C3);
    check_prefixes(4096, &C4);
    check_prefixes(256, &C5);
    check_prefixes(256, &C6);
}

// ---- indices ----

#[test]
fn rejects_index_zero() {
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &[0x80]), Err(Error::ZeroIndex { offset: 0 }));
}

#[test]
fn rejects_index_past_the_tables() {
    let mut d = Decoder::new(4096);
    // 62 with an empty dynamic table.
    assert_eq!(
        decode(&mut d, &[0xbe]),
        Err(Error::InvalidIndex {
            index: 62,
            max_index: 61
        })
    );
    // A literal whose name index is out of range.
    assert_eq!(
        decode(&mut d, &hex("7f00 0161")),
        Err(Error::InvalidIndex {
            index: 63,
            max_index: 61
        })
    );
    // One entry: 62 is valid, 63 is not.
    decode(&mut d, &hex("4001 6101 62")).unwrap();
    assert_eq!(decode(&mut d, &[0xbe]).unwrap(), fields(&[("a", "b")]));
    assert_eq!(
        decode(&mut d, &[0xbf]),
        Err(Error::InvalidIndex {
            index: 63,
            max_index: 62
        })
    );
}

#[test]
fn literal_may_name_an_entry_its_insertion_evicts() {
    // Table of 40 bytes: "abcd"/"efgh" (40) fills it; a literal with
    // incremental indexing named by index 62 evicts that very entry.
    let mut d = Decoder::new(40);
    decode(&mut d, &hex("4004 6162 6364 0465 6667 68")).unwrap();
    assert_eq!(
        decode(&mut d, &hex("7e04 7778 797a")).unwrap(),
        fields(&[("abcd", "wxyz")])
    );
    assert_eq!(table(&d), fields(&[("abcd", "wxyz")]));
}

// ---- strings and Huffman ----

#[test]
fn rejects_string_past_the_end_of_the_block() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &hex("0005 6162")),
        Err(Error::StringTruncated {
            declared_bytes: 5,
            remaining_bytes: 2
        })
    );
    // A huge declared length allocates nothing and fails the same way.
    let mut block = vec![0x00, 0x7f];
    block.extend([0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(
        decode(&mut d, &block),
        Err(Error::StringTruncated { .. })
    ));
}

fn literal_block(name: &[u8], value_len: usize) -> Vec<u8> {
    let mut block = vec![0x00];
    encode_integer(name.len(), 7, 0, &mut block);
    block.extend_from_slice(name);
    encode_integer(value_len, 7, 0, &mut block);
    block.extend(std::iter::repeat_n(b'v', value_len));
    block
}

#[test]
fn string_length_limit_at_n_and_n_plus_1() {
    let mut d = Decoder::new(4096);
    let ok = literal_block(b"x", MAX_STRING_BYTES);
    let got = decode(&mut d, &ok).unwrap();
    assert_eq!(got[0].1.len(), MAX_STRING_BYTES);
    let over = literal_block(b"x", MAX_STRING_BYTES + 1);
    assert_eq!(
        decode(&mut d, &over),
        Err(Error::StringTooLong {
            length_bytes: MAX_STRING_BYTES + 1,
            limit_bytes: MAX_STRING_BYTES
        })
    );
}

#[test]
fn huffman_output_is_held_to_the_string_limit() {
    // 5-bit codes: MAX_STRING_BYTES input bytes decode to 1.6 times as many.
    // A multiple of 5 bytes is a whole number of symbols: no padding.
    let input_len = MAX_STRING_BYTES - MAX_STRING_BYTES % 5;
    let mut block = vec![0x00, 0x01, b'x'];
    encode_integer(input_len, 7, 0x80, &mut block);
    block.extend(std::iter::repeat_n(0u8, input_len)); // '0' = 00000
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &block),
        Err(Error::StringTooLong {
            length_bytes: input_len * 8 / 5,
            limit_bytes: MAX_STRING_BYTES
        })
    );
}

#[test]
fn rejects_huffman_eos() {
    let mut d = Decoder::new(4096);
    // Name "a", value = Huffman of 4 bytes of ones: EOS + 2 padding bits.
    assert_eq!(
        decode(&mut d, &hex("0001 61 84 ffff ffff")),
        Err(Error::HuffmanEos { offset: 4 })
    );
}

#[test]
fn rejects_huffman_padding_longer_than_7_bits() {
    let mut d = Decoder::new(4096);
    // '0' (00000) then 11 bits of ones.
    assert_eq!(
        decode(&mut d, &hex("0001 61 82 07ff")),
        Err(Error::HuffmanPaddingTooLong {
            offset: 4,
            padding_bits: 11
        })
    );
}

#[test]
fn rejects_huffman_padding_not_all_ones() {
    let mut d = Decoder::new(4096);
    // '0' (00000) then padding 110.
    assert_eq!(
        decode(&mut d, &hex("0001 61 81 06")),
        Err(Error::HuffmanPaddingNotOnes { offset: 4 })
    );
}

#[test]
fn decodes_huffman_name() {
    // C.4.3's custom-key/custom-value as a literal without indexing.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(
            &mut d,
            &hex("0088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")
        )
        .unwrap(),
        fields(&[("custom-key", "custom-value")])
    );
}

// ---- dynamic table size updates ----

#[test]
fn size_update_limit_at_n_and_n_plus_1() {
    let mut d = Decoder::new(4096);
    decode(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    )
    .unwrap();
    // To 0 empties the table; back to 4096 (3fe11f) is allowed.
    assert_eq!(
        decode(&mut d, &hex("20 82")).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(d.table_size(), 0);
    assert_eq!(decode(&mut d, &hex("3fe11f 82")).unwrap().len(), 1);
    assert_eq!(d.table.max_size(), 4096);
    // 4097 (3fe21f) is above our setting.
    assert_eq!(
        decode(&mut d, &hex("3fe21f")),
        Err(Error::SizeUpdateTooLarge {
            requested_bytes: 4097,
            max_bytes: 4096
        })
    );
}

#[test]
fn rejects_size_update_after_a_field() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &hex("82 20")),
        Err(Error::SizeUpdateNotFirst { offset: 1 })
    );
}

#[test]
fn accepts_two_size_updates_at_the_start() {
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &hex("20 3f45 82")).unwrap().len(), 1);
    assert_eq!(d.table.max_size(), 100);
}

#[test]
fn requires_size_update_after_we_lower_the_setting() {
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    assert_eq!(
        decode(&mut d, &[0x82]),
        Err(Error::SizeUpdateMissing {
            table_bytes: 4096,
            max_bytes: 100
        })
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    // An empty block defers the requirement; an update fulfills it.
    assert_eq!(decode(&mut d, &[]).unwrap().len(), 0);
    assert_eq!(decode(&mut d, &hex("3f45 82")).unwrap().len(), 1);
    assert_eq!(decode(&mut d, &[0x82]).unwrap().len(), 1);
    // Raising the setting requires nothing.
    d.set_max_table_size(8192);
    assert_eq!(decode(&mut d, &[0x82]).unwrap().len(), 1);
}

// ---- header list size ----

#[test]
fn header_list_limit_at_n_and_n_plus_1() {
    // ":method: GET" counts 7 + 3 + 32 = 42; ":path: /" 5 + 1 + 32 = 38.
    let block = hex("82 84");
    let mut d = Decoder::new(4096);
    assert_eq!(decode_limited(&mut d, &block, 80).unwrap().len(), 2);
    let mut emitted = 0;
    let err = d.decode(&block, 79, |_, _| emitted += 1).unwrap_err();
    assert_eq!(
        err,
        Error::HeaderListTooLarge {
            size_bytes: 80,
            limit_bytes: 79
        }
    );
    assert!(err.is_header_list_too_large());
    assert_eq!(emitted, 1, "fields past the limit are not emitted");
}

#[test]
fn too_large_header_list_keeps_the_table_in_sync() {
    let mut d = Decoder::new(4096);
    // Two literals with incremental indexing, over a 40-byte limit.
    let block = hex("4001 6101 62 4001 6301 64");
    let err = decode_limited(&mut d, &block, 40).unwrap_err();
    assert!(err.is_header_list_too_large());
    // Both entries went in, so the next block's indices resolve.
    assert_eq!(
        decode(&mut d, &hex("be bf")).unwrap(),
        fields(&[("c", "d"), ("a", "b")])
    );
}

#[test]
fn header_list_size_saturates() {
    let mut d = Decoder::new(4096);
    assert!(decode_limited(&mut d, &[0x82], 0)
        .unwrap_err()
        .is_header_list_too_large());
}

// ---- regressions found by fuzzing go below ----
