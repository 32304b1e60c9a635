//! The one error type of HPACK decoding. Every variant except
//! `HeaderListTooLarge` is a COMPRESSION_ERROR for the whole connection
//! (RFC 9113 §4.3): the dynamic table can no longer be trusted.

use std::error::Error as StdError;
use std::fmt;

/// What went wrong while decoding a header block. Offsets are byte offsets in
/// the block; sizes are bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The block ends inside an integer (RFC 7541 §5.1) that starts at `offset`.
    IntegerTruncated { offset: usize },
    /// An integer starting at `offset` has more continuation bytes than
    /// `MAX_INTEGER_CONTINUATION_BYTES` or a value above `MAX_INTEGER`.
    IntegerOverflow { offset: usize },
    /// A string literal declares `declared_bytes` but only `remaining_bytes`
    /// are left in the block.
    StringTruncated {
        declared_bytes: usize,
        remaining_bytes: usize,
    },
    /// A string literal is longer (declared or after Huffman decoding) than
    /// `MAX_STRING_BYTES`.
    StringTooLong {
        length_bytes: usize,
        limit_bytes: usize,
    },
    /// The Huffman data of the string at `offset` contains the EOS symbol
    /// (RFC 7541 §5.2: MUST be treated as a decoding error).
    HuffmanEos { offset: usize },
    /// The Huffman padding of the string at `offset` is longer than 7 bits
    /// (RFC 7541 §5.2).
    HuffmanPaddingTooLong { offset: usize, padding_bits: u8 },
    /// The Huffman padding of the string at `offset` is not a prefix of EOS,
    /// i.e. not all ones (RFC 7541 §5.2).
    HuffmanPaddingNotOnes { offset: usize },
    /// Index 0 used in an indexed header field (RFC 7541 §6.1).
    ZeroIndex { offset: usize },
    /// An index past the static and dynamic tables (RFC 7541 §2.3.3).
    InvalidIndex { index: usize, max_index: usize },
    /// A dynamic table size update after the first field of the block
    /// (RFC 7541 §4.2: it MUST occur at the beginning of a header block).
    SizeUpdateNotFirst { offset: usize },
    /// A dynamic table size update above our SETTINGS_HEADER_TABLE_SIZE
    /// (RFC 7541 §6.3).
    SizeUpdateTooLarge {
        requested_bytes: usize,
        max_bytes: usize,
    },
    /// We lowered SETTINGS_HEADER_TABLE_SIZE below the peer's table size but
    /// the next block does not start with a size update to at most the new
    /// limit (RFC 7541 §4.2).
    SizeUpdateMissing {
        table_bytes: usize,
        max_bytes: usize,
    },
    /// The decoded header list (RFC 9113 §6.5.2 counting) is larger than the
    /// caller's limit. Not a compression error: the block was fully decoded,
    /// the table is in sync, and only the stream has to be refused.
    HeaderListTooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
}

impl Error {
    /// True for the one error that leaves the connection usable: the stream
    /// gets a 431-like refusal (RST_STREAM or a gRPC status), not GOAWAY.
    pub(crate) fn is_header_list_too_large(&self) -> bool {
        matches!(self, Error::HeaderListTooLarge { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::IntegerTruncated { offset } => {
                write!(f, "hpack: block ends inside the integer at offset {offset}")
            }
            Error::IntegerOverflow { offset } => write!(
                f,
                "hpack: integer at offset {offset} exceeds {} continuation bytes or value {}",
                super::limits::MAX_INTEGER_CONTINUATION_BYTES,
                super::limits::MAX_INTEGER
            ),
            Error::StringTruncated {
                declared_bytes,
                remaining_bytes,
            } => write!(
                f,
                "hpack: string literal of {declared_bytes} bytes but only {remaining_bytes} left in the block"
            ),
            Error::StringTooLong {
                length_bytes,
                limit_bytes,
            } => write!(
                f,
                "hpack: string literal {length_bytes} bytes > limit {limit_bytes}"
            ),
            Error::HuffmanEos { offset } => {
                write!(f, "hpack: Huffman string at offset {offset} contains EOS")
            }
            Error::HuffmanPaddingTooLong {
                offset,
                padding_bits,
            } => write!(
                f,
                "hpack: Huffman string at offset {offset} has {padding_bits} bits of padding > 7"
            ),
            Error::HuffmanPaddingNotOnes { offset } => write!(
                f,
                "hpack: Huffman string at offset {offset} has padding that is not all ones"
            ),
            Error::ZeroIndex { offset } => {
                write!(f, "hpack: indexed field with index 0 at offset {offset}")
            }
            Error::InvalidIndex { index, max_index } => write!(
                f,
                "hpack: index {index} beyond the tables (largest valid index {max_index})"
            ),
            Error::SizeUpdateNotFirst { offset } => write!(
                f,
                "hpack: dynamic table size update at offset {offset} after a header field"
            ),
            Error::SizeUpdateTooLarge {
                requested_bytes,
                max_bytes,
            } => write!(
                f,
                "hpack: dynamic table size update to {requested_bytes} bytes > SETTINGS_HEADER_TABLE_SIZE {max_bytes}"
            ),
            Error::SizeUpdateMissing {
                table_bytes,
                max_bytes,
            } => write!(
                f,
                "hpack: expected a dynamic table size update from {table_bytes} to at most {max_bytes} bytes at the start of the block"
            ),
            Error::HeaderListTooLarge {
                size_bytes,
                limit_bytes,
            } => write!(
                f,
                "hpack: header list {size_bytes} bytes > limit {limit_bytes}"
            ),
        }
    }
}

impl StdError for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 24);
    }

    #[test]
    fn only_header_list_too_large_is_recoverable() {
        let big = Error::HeaderListTooLarge {
            size_bytes: 70000,
            limit_bytes: 65536,
        };
        assert!(big.is_header_list_too_large());
        assert_eq!(
            big.to_string(),
            "hpack: header list 70000 bytes > limit 65536"
        );
        assert!(!Error::ZeroIndex { offset: 0 }.is_header_list_too_large());
    }
}
