//! The static Huffman code of RFC 7541 Appendix B, used for string literals
//! (§5.2): encoding, and a table-driven decoder.
//!
//! The code is canonical: codes of one length are consecutive and assigned in
//! symbol order, shorter lengths first. So the table below only stores the
//! code length of each symbol (0..=255, and 256 = EOS), and the codes are
//! computed from it at compile time (a unit test checks them against the RFC's
//! hex column).
//!
//! Decoding runs a 4-bit state machine, also built at compile time: a state
//! is an internal node of the code tree (256 of them, the root is 0), and
//! `DECODE[state][nibble]` gives the next state, at most one decoded symbol
//! (every code is at least 5 bits long, so 4 bits complete at most one), and
//! whether the string may end there. It may end at the root, or on a node
//! reached only by 1 bits at depth 7 or less: that is the padding rule of
//! §5.2 (a prefix of EOS, shorter than 8 bits).

/// Code length in bits of each symbol, RFC 7541 Appendix B; index 256 is EOS.
const CODE_BITS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// The EOS symbol (RFC 7541 Appendix B), never valid inside a string.
const EOS: u16 = 256;

/// `(code, length in bits)` per symbol, the code aligned to the least
/// significant bit, as in the RFC's hex column.
static CODES: [(u32, u8); 257] = canonical_codes();

/// Assigns canonical codes: walk symbols ordered by (length, symbol) and hand
/// out consecutive numbers, shifting left whenever the length grows.
const fn canonical_codes() -> [(u32, u8); 257] {
    let mut out = [(0u32, 0u8); 257];
    let mut next: u32 = 0;
    let mut current_bits: u8 = 0;
    let mut bits: u8 = 1;
    while bits <= 30 {
        let mut sym = 0;
        while sym < 257 {
            if CODE_BITS[sym] == bits {
                if current_bits != 0 {
                    next <<= bits - current_bits;
                }
                current_bits = bits;
                out[sym] = (next, bits);
                next += 1;
            }
            sym += 1;
        }
        bits += 1;
    }
    out
}

/// Number of bytes `src` takes once Huffman encoded (padding included).
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src` to `dst`, padded with the most
/// significant bits of EOS (all ones), RFC 7541 §5.2.
pub(crate) fn encode(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(src));
    // Invariant: fewer than 32 pending bits in the low bits of `acc` between
    // symbols, so adding a code of at most 30 bits never needs more than 62;
    // full 32-bit words are flushed at once.
    let mut acc: u64 = 0;
    let mut pending: u32 = 0;
    for &b in src {
        let (code, bits) = CODES[usize::from(b)];
        acc = (acc << bits) | u64::from(code);
        pending += u32::from(bits);
        if pending >= 32 {
            pending -= 32;
            dst.extend_from_slice(&((acc >> pending) as u32).to_be_bytes());
        }
    }
    while pending >= 8 {
        pending -= 8;
        dst.push((acc >> pending) as u8);
    }
    if pending > 0 {
        dst.push(((acc << (8 - pending)) as u8) | (0xff >> pending));
    }
}

/// Why a Huffman string was rejected (RFC 7541 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// The data contains the EOS symbol.
    Eos,
    /// The string ends with more than 7 bits of an incomplete code.
    PaddingTooLong { padding_bits: u8 },
    /// The string ends with bits that are not a prefix of EOS.
    PaddingNotOnes,
}

/// Appends the decoding of the Huffman string `src` to `dst`. On error `dst`
/// may hold a partial result. Output is at most `src.len() * 8 / 5` bytes.
pub(crate) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), Invalid> {
    dst.reserve(src.len() * 8 / 5);
    let mut state: u8 = 0;
    let mut flags = ACCEPT;
    for &b in src {
        for nibble in [b >> 4, b & 0x0f] {
            let step = DECODE[usize::from(state)][usize::from(nibble)];
            flags = step.flags;
            if flags & FAIL != 0 {
                return Err(Invalid::Eos);
            }
            if flags & EMIT != 0 {
                dst.push(step.sym);
            }
            state = step.next;
        }
    }
    if flags & ACCEPT != 0 {
        return Ok(());
    }
    let node = NODES.info[usize::from(state)];
    if node.all_ones {
        Err(Invalid::PaddingTooLong {
            padding_bits: node.depth,
        })
    } else {
        Err(Invalid::PaddingNotOnes)
    }
}

/// One transition of the decoding state machine.
#[derive(Clone, Copy)]
struct Step {
    /// The state (internal tree node) after the nibble.
    next: u8,
    /// The decoded symbol, valid when `flags & EMIT`.
    sym: u8,
    flags: u8,
}

/// The nibble completed a symbol, `Step::sym`.
const EMIT: u8 = 1;
/// The nibble completed EOS: the string is invalid.
const FAIL: u8 = 2;
/// The string may end after this nibble (valid padding or a symbol boundary).
const ACCEPT: u8 = 4;

/// Marks a child of the tree as a leaf; the low bits are the symbol.
const LEAF: u16 = 0x8000;

/// Depth and "reached by 1 bits only" of an internal node.
#[derive(Clone, Copy)]
struct NodeInfo {
    depth: u8,
    all_ones: bool,
}

/// The code tree: 257 leaves need exactly 256 internal nodes; node 0 is the
/// root. A child is an internal node index, or `LEAF | symbol`.
struct Tree {
    children: [[u16; 2]; 256],
    info: [NodeInfo; 256],
}

static NODES: Tree = build_tree();

static DECODE: [[Step; 16]; 256] = build_decode_table();

const fn build_tree() -> Tree {
    let mut tree = Tree {
        children: [[0u16; 2]; 256],
        info: [NodeInfo {
            depth: 0,
            all_ones: true,
        }; 256],
    };
    let mut used: usize = 1;
    let mut sym = 0;
    while sym < 257 {
        let (code, bits) = CODES[sym];
        let mut node = 0usize;
        let mut i = bits;
        while i > 0 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if i == 0 {
                tree.children[node][bit] = LEAF | sym as u16;
            } else {
                if tree.children[node][bit] == 0 {
                    tree.children[node][bit] = used as u16;
                    tree.info[used] = NodeInfo {
                        depth: tree.info[node].depth + 1,
                        all_ones: tree.info[node].all_ones && bit == 1,
                    };
                    used += 1;
                }
                node = tree.children[node][bit] as usize;
            }
        }
        sym += 1;
    }
    assert!(
        used == 256,
        "a complete code with 257 leaves has 256 internal nodes"
    );
    tree
}

const fn build_decode_table() -> [[Step; 16]; 256] {
    let mut table = [[Step {
        next: 0,
        sym: 0,
        flags: 0,
    }; 16]; 256];
    let mut state = 0;
    while state < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut flags = 0u8;
            let mut sym = 0u8;
            let mut i = 4;
            while i > 0 {
                i -= 1;
                let bit = (nibble >> i) & 1;
                let child = NODES.children[node][bit];
                if child & LEAF != 0 {
                    let s = child & !LEAF;
                    if s == EOS {
                        flags |= FAIL;
                        break;
                    }
                    sym = s as u8;
                    flags |= EMIT;
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            let info = NODES.info[node];
            if flags & FAIL == 0 && (node == 0 || (info.all_ones && info.depth <= 7)) {
                flags |= ACCEPT;
            }
            table[state][nibble] = Step {
                next: node as u8,
                sym,
                flags,
            };
            nibble += 1;
        }
        state += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(src: &[u8]) -> Result<Vec<u8>, Invalid> {
        let mut out = Vec::new();
        decode(src, &mut out).map(|()| out)
    }

    fn encoded(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(src, &mut out);
        assert_eq!(out.len(), encoded_len(src));
        out
    }

    #[test]
    fn canonical_codes_match_rfc7541_appendix_b() {
        // Spot checks against the RFC's "code as hex" column, spread over
        // every code length.
        let expect: &[(usize, u32, u8)] = &[
            (0, 0x1ff8, 13),
            (1, 0x7fffd8, 23),
            (2, 0xfffffe2, 28),
            (9, 0xffffea, 24),
            (10, 0x3ffffffc, 30),
            (22, 0x3ffffffe, 30),
            (32, 0x14, 6),
            (b'0' as usize, 0x0, 5),
            (b'a' as usize, 0x3, 5),
            (b't' as usize, 0x9, 5),
            (b':' as usize, 0x5c, 7),
            (b'&' as usize, 0xf8, 8),
            (b'!' as usize, 0x3f8, 10),
            (b'\'' as usize, 0x7fa, 11),
            (b'#' as usize, 0xffa, 12),
            (b'^' as usize, 0x3ffc, 14),
            (b'<' as usize, 0x7ffc, 15),
            (b'\\' as usize, 0x7fff0, 19),
            (128, 0xfffe6, 20),
            (153, 0x1fffdc, 21),
            (129, 0x3fffd2, 22),
            (199, 0x1ffffec, 25),
            (192, 0x3ffffe0, 26),
            (203, 0x7ffffde, 27),
            (220, 0xffffffd, 28),
            (254, 0x7fffff0, 27),
            (255, 0x3ffffee, 26),
            (256, 0x3fffffff, 30),
        ];
        for &(sym, code, bits) in expect {
            assert_eq!(CODES[sym], (code, bits), "symbol {sym}");
        }
    }

    #[test]
    fn code_is_complete_and_prefix_free() {
        // Kraft sum of exactly 1: the code fills the tree (build_tree's
        // assertion checks there are no collisions).
        let sum: u64 = CODE_BITS.iter().map(|&b| 1u64 << (30 - b)).sum();
        assert_eq!(sum, 1u64 << 30);
    }

    #[test]
    fn round_trips_every_byte_value() {
        for b in 0..=255u8 {
            let src = [b];
            assert_eq!(decoded(&encoded(&src)).unwrap(), src, "byte {b}");
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decoded(&encoded(&all)).unwrap(), all);
    }

    #[test]
    fn round_trips_random_strings() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..300 {
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Mix in printable-heavy strings, like real headers.
                    if seed & 1 == 0 {
                        b'a' + (seed >> 8) as u8 % 26
                    } else {
                        (seed >> 16) as u8
                    }
                })
                .collect();
            assert_eq!(decoded(&encoded(&s)).unwrap(), s);
        }
    }

    #[test]
    fn encodes_rfc7541_c_4_1_www_example_com() {
        let want = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(encoded(b"www.example.com"), want);
        assert_eq!(decoded(&want).unwrap(), b"www.example.com");
    }

    #[test]
    fn decodes_empty_string() {
        assert_eq!(decoded(&[]).unwrap(), b"");
    }

    #[test]
    fn rejects_eos_in_data() {
        // EOS (30 ones) followed by 2 bits of padding.
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(Invalid::Eos));
        // 'a' (00011) then EOS.
        let mut bits: u64 = 0b00011;
        bits = (bits << 30) | 0x3fff_ffff;
        bits = (bits << 5) | 0x1f; // pad to 40 bits
        let bytes = bits.to_be_bytes();
        assert_eq!(decoded(&bytes[3..]), Err(Invalid::Eos));
    }

    #[test]
    fn rejects_padding_longer_than_7_bits() {
        // '0' (00000) + 11 ones of padding = 16 bits.
        assert_eq!(
            decoded(&[0x07, 0xff]),
            Err(Invalid::PaddingTooLong { padding_bits: 11 })
        );
        // A whole byte of ones: 8 bits of padding.
        assert_eq!(
            decoded(&[0xff]),
            Err(Invalid::PaddingTooLong { padding_bits: 8 })
        );
    }

    #[test]
    fn accepts_padding_of_exactly_7_bits() {
        // '&' is 11111000 (8 bits), then 'a' 00011 and 3 ones: 16 bits.
        assert_eq!(decoded(&[0xf8, 0x1f]).unwrap(), b"&a");
        // '0' (5 bits) + 3 ones, and three '0' (15 bits) + 1 one.
        assert_eq!(decoded(&[0x07]).unwrap(), b"0");
        assert_eq!(decoded(&[0x00, 0x01]).unwrap(), b"000");
        // ':' is 7 bits (1011100) + 1 one.
        assert_eq!(decoded(&[0xb9]).unwrap(), b":");
        // Five '0' (25 bits) + 7 ones.
        assert_eq!(decoded(&[0x00, 0x00, 0x00, 0x7f]).unwrap(), b"00000");
    }

    #[test]
    fn rejects_padding_not_all_ones() {
        // '0' (00000) + padding 110.
        assert_eq!(decoded(&[0x06]), Err(Invalid::PaddingNotOnes));
        // '0' (00000) + padding 000: a truncated code, not EOS's prefix.
        assert_eq!(decoded(&[0x00]), Err(Invalid::PaddingNotOnes));
    }
}
