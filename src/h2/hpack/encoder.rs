//! Header block encoding (RFC 7541 §6) with our indexing policy.
//!
//! For each field, in order of preference:
//! 1. sensitive names (`authorization`, `proxy-authorization`, `cookie`,
//!    `set-cookie`, and names that mention a token, secret, password or key)
//!    are literals *never indexed* (§6.2.3, §7.1.3), with the name indexed
//!    when a table has it;
//! 2. a full match in the static, then the dynamic table is an indexed field;
//! 3. fields that repeat on a gRPC connection (`:authority`, `:path`,
//!    `:method`, `:scheme`, `:status`, `content-type`, `te`, `user-agent`,
//!    `grpc-encoding`, `grpc-accept-encoding`, `accept-encoding`,
//!    `grpc-status`) are literals *with incremental indexing*, unless the
//!    entry would take more than half the table; so from the second call on,
//!    a unary call's request headers are a handful of one-byte indices;
//! 4. everything else (`grpc-timeout`, `grpc-message`, `content-length`,
//!    `-bin` metadata, custom names) is a literal *without indexing*: values
//!    that change per call would only churn the table.
//!
//! Names use the static table's index when it has the name, else the dynamic
//! table's. Strings are Huffman-coded only when that is shorter (§5.2).

use super::huffman;
use super::limits::{DEFAULT_HEADER_TABLE_BYTES, ENTRY_OVERHEAD_BYTES, MAX_ENCODER_TABLE_BYTES};
use super::static_table::{self, Match};
use super::table::Table;

/// The sending half of HPACK for one connection.
#[derive(Debug)]
pub struct Encoder {
    table: Table,
    /// Table size changes not yet signaled: the smallest and the last size
    /// since the previous block (§4.2 wants the smallest first when the size
    /// went down and up again).
    pending_update: Option<PendingUpdate>,
    policy: Policy,
    huffman: HuffmanUse,
}

#[derive(Debug, Clone, Copy)]
struct PendingUpdate {
    smallest: usize,
    last: usize,
}

/// Which fields go into the dynamic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// The policy of the module doc.
    Grpc,
    /// Every field not fully indexed is added (RFC 7541 Appendix C's choice;
    /// for the spec vectors).
    #[cfg(test)]
    IndexAll,
}

/// Whether string literals may be Huffman-coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HuffmanUse {
    WhenShorter,
    /// For the spec vectors of Appendix C.3 and C.5.
    #[cfg(test)]
    Never,
    /// For the spec vector of Appendix C.6, which codes "307" as 3 bytes.
    #[cfg(test)]
    Always,
}

/// How one literal field is represented (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Incremental,
    Without,
    Never,
}

impl Encoder {
    /// An encoder with the initial table size of RFC 9113 §6.5.2 (4096).
    pub fn new() -> Self {
        Encoder {
            table: Table::new(DEFAULT_HEADER_TABLE_BYTES.min(MAX_ENCODER_TABLE_BYTES)),
            pending_update: None,
            policy: Policy::Grpc,
            huffman: HuffmanUse::WhenShorter,
        }
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE. We use at most
    /// `MAX_ENCODER_TABLE_BYTES`; the next block starts with the size
    /// update(s) RFC 7541 §4.2 requires.
    pub fn set_max_table_size(&mut self, peer_setting_bytes: usize) {
        let size = peer_setting_bytes.min(MAX_ENCODER_TABLE_BYTES);
        let pending = self.pending_update.get_or_insert(PendingUpdate {
            smallest: size,
            last: size,
        });
        pending.smallest = pending.smallest.min(size);
        pending.last = size;
    }

    /// Current size of the dynamic table in bytes (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Appends the encoded block to `dst`. Never fails.
    pub fn encode<'a>(
        &mut self,
        headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        dst: &mut Vec<u8>,
    ) {
        if let Some(PendingUpdate { smallest, last }) = self.pending_update.take() {
            if smallest < last {
                encode_integer(smallest, 5, 0x20, dst);
                self.table.set_max_size(smallest);
            }
            if last != self.table.max_size() {
                encode_integer(last, 5, 0x20, dst);
                self.table.set_max_size(last);
            }
        }
        for (name, value) in headers {
            self.encode_field(name, value, dst);
        }
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], dst: &mut Vec<u8>) {
        let indexing = self.indexing(name);
        let mut name_index = None;
        if indexing != Indexing::Never {
            match static_table::find(name, value) {
                Match::Full(index) => return encode_integer(index, 7, 0x80, dst),
                Match::Name(index) => name_index = Some(index),
                Match::None => {}
            }
        }
        // Newest first, so a repeated name gets the smallest index.
        let mut dynamic_name = None;
        for (i, (n, v)) in self.table.iter().enumerate() {
            if n == name {
                if v == value && indexing != Indexing::Never {
                    return encode_integer(static_table::LEN + 1 + i, 7, 0x80, dst);
                }
                dynamic_name.get_or_insert(static_table::LEN + 1 + i);
            }
        }
        if indexing == Indexing::Never {
            name_index = match static_table::find(name, value) {
                Match::Full(index) | Match::Name(index) => Some(index),
                Match::None => None,
            };
        }
        let name_index = name_index.or(dynamic_name);
        let entry_bytes = name.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        let indexing = match indexing {
            // An entry over half the table would evict most of what is worth
            // keeping; Appendix C's vectors index regardless.
            Indexing::Incremental
                if self.policy == Policy::Grpc && entry_bytes > self.table.max_size() / 2 =>
            {
                Indexing::Without
            }
            other => other,
        };
        let (flags, prefix_bits) = match indexing {
            Indexing::Incremental => (0x40, 6),
            Indexing::Without => (0x00, 4),
            Indexing::Never => (0x10, 4),
        };
        match name_index {
            Some(index) => encode_integer(index, prefix_bits, flags, dst),
            None => {
                dst.push(flags);
                self.encode_string(name, dst);
            }
        }
        self.encode_string(value, dst);
        if indexing == Indexing::Incremental {
            self.table.insert(name, value);
        }
    }

    /// The policy of the module doc for a field named `name`.
    fn indexing(&self, name: &[u8]) -> Indexing {
        #[cfg(test)]
        if self.policy == Policy::IndexAll {
            return Indexing::Incremental;
        }
        match name {
            b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie" => {
                Indexing::Never
            }
            b":authority"
            | b":path"
            | b":method"
            | b":scheme"
            | b":status"
            | b"content-type"
            | b"te"
            | b"user-agent"
            | b"grpc-encoding"
            | b"grpc-accept-encoding"
            | b"accept-encoding"
            | b"grpc-status" => Indexing::Incremental,
            _ if is_sensitive_name(name) => Indexing::Never,
            _ => Indexing::Without,
        }
    }

    /// A string literal (§5.2), Huffman-coded when that is shorter.
    fn encode_string(&self, s: &[u8], dst: &mut Vec<u8>) {
        let huffman_len = huffman::encoded_len(s);
        let use_huffman = match self.huffman {
            HuffmanUse::WhenShorter => huffman_len < s.len(),
            #[cfg(test)]
            HuffmanUse::Never => false,
            #[cfg(test)]
            HuffmanUse::Always => true,
        };
        if use_huffman {
            encode_integer(huffman_len, 7, 0x80, dst);
            huffman::encode(s, dst);
            return;
        }
        encode_integer(s.len(), 7, 0x00, dst);
        dst.extend_from_slice(s);
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// Custom header names that likely carry credentials (`x-auth-token`,
/// `x-api-key`, `x-client-secret`, ...): never indexed, so that a
/// compression oracle (§7.1) cannot probe them.
fn is_sensitive_name(name: &[u8]) -> bool {
    const WORDS: [&[u8]; 5] = [b"token", b"secret", b"password", b"key", b"auth"];
    WORDS
        .iter()
        .any(|w| name.windows(w.len()).any(|window| window == *w))
}

/// Appends an integer with an N-bit prefix (§5.1); `flags` fills the bits of
/// the first byte above the prefix.
pub(crate) fn encode_integer(value: usize, prefix_bits: u32, flags: u8, dst: &mut Vec<u8>) {
    debug_assert!((1..=8).contains(&prefix_bits));
    let max_prefix = (1usize << prefix_bits) - 1;
    if value < max_prefix {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        dst.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

#[cfg(test)]
mod tests;
