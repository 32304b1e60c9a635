//! Header block decoding (RFC 7541 §3, §6): turns one complete header block
//! into `(name, value)` callbacks and keeps the decoder's dynamic table.
//!
//! ```text
//!   first byte     representation (§6)                      table
//!   1xxxxxxx       indexed field, 7-bit index               -
//!   01xxxxxx       literal, incremental indexing, 6-bit     insert
//!   001xxxxx       dynamic table size update, 5-bit size    resize (only before the first field)
//!   0001xxxx       literal, never indexed, 4-bit            -
//!   0000xxxx       literal, without indexing, 4-bit         -
//! ```
//!
//! Fields are emitted as borrowed slices: from the static table, the dynamic
//! table, the block itself, or (for Huffman strings) two scratch buffers the
//! decoder keeps between blocks, so a steady connection decodes without
//! allocating. Header list size accounting (RFC 9113 §6.5.2) and the refusal
//! of an over-large list without losing table sync are described on
//! `Decoder::decode`. Field validation (lowercase names, pseudo-header order,
//! forbidden connection headers) is the HTTP/2 layer's job, not ours.

use std::fmt;

use super::error::Error;
use super::huffman;
use super::limits::{
    ENTRY_OVERHEAD_BYTES, MAX_INTEGER, MAX_INTEGER_CONTINUATION_BYTES, MAX_STRING_BYTES,
};
use super::static_table;
use super::table::Table;

/// The receiving half of HPACK for one connection. Its `Debug` shows sizes
/// only, never header bytes.
pub struct Decoder {
    table: Table,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the largest size a peer's dynamic
    /// table size update may set.
    max_table_size: usize,
    /// We lowered `max_table_size` below the table's current maximum: the
    /// next block must start with a size update (RFC 7541 §4.2).
    size_update_required: bool,
    /// Scratch for Huffman-decoded names, and for names copied out of the
    /// dynamic table before an insertion may evict them (§4.4).
    name_buf: Vec<u8>,
    /// Scratch for Huffman-decoded values.
    value_buf: Vec<u8>,
}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size_bytes`, our
    /// SETTINGS_HEADER_TABLE_SIZE (4096 by default, RFC 9113 §6.5.2). The
    /// table starts at that size, as the peer's encoder assumes until it
    /// sends a size update.
    pub fn new(max_table_size_bytes: usize) -> Self {
        Decoder {
            table: Table::new(max_table_size_bytes),
            max_table_size: max_table_size_bytes,
            size_update_required: false,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE of ours, once the peer has
    /// acknowledged it. When it is below the peer's current table size, the
    /// next block must begin with a size update to at most this value.
    pub fn set_max_table_size(&mut self, max_table_size_bytes: usize) {
        self.max_table_size = max_table_size_bytes;
        if self.table.max_size() > max_table_size_bytes {
            self.size_update_required = true;
        }
    }

    /// Current size of the dynamic table in bytes (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION payloads
    /// already joined), calling `emit(name, value)` per field in order.
    ///
    /// The header list size is counted as RFC 9113 §6.5.2 says (name, value
    /// and 32 bytes per field). When it exceeds `max_header_list_bytes`, the decoder
    /// still decodes the whole block (so the dynamic table stays in sync and
    /// the connection can continue), stops calling `emit`, and returns
    /// `Error::HeaderListTooLarge` at the end. Any other error is a
    /// COMPRESSION_ERROR for the connection; `emit` may have been called for
    /// the fields before it.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_header_list_bytes: usize,
        mut emit: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), Error> {
        let Decoder {
            table,
            max_table_size,
            size_update_required,
            name_buf,
            value_buf,
        } = self;
        let mut cur = Cursor { buf: block, pos: 0 };
        let mut list_bytes: usize = 0;
        let mut seen_field = false;
        while let Some(first) = cur.peek() {
            let offset = cur.pos;
            if first & 0xe0 == 0x20 {
                // §4.2: size updates only at the beginning of a block.
                if seen_field {
                    return Err(Error::SizeUpdateNotFirst { offset });
                }
                let size = cur.integer(5)?;
                // §6.3: above the limit we set is a decoding error.
                if size > *max_table_size {
                    return Err(Error::SizeUpdateTooLarge {
                        requested_bytes: size,
                        max_bytes: *max_table_size,
                    });
                }
                table.set_max_size(size);
                *size_update_required = false;
                continue;
            }
            if !seen_field {
                if *size_update_required {
                    return Err(Error::SizeUpdateMissing {
                        table_bytes: table.max_size(),
                        max_bytes: *max_table_size,
                    });
                }
                seen_field = true;
            }
            if first & 0x80 != 0 {
                // §6.1: indexed header field.
                let index = cur.integer(7)?;
                let (name, value) = lookup(table, index, offset)?;
                if count(&mut list_bytes, name, value, max_header_list_bytes) {
                    emit(name, value);
                }
                continue;
            }
            // §6.2: literals. 01 = incremental indexing (6-bit index);
            // 0001 = never indexed and 0000 = without indexing (4-bit).
            let incremental = first & 0x40 != 0;
            let index = cur.integer(if incremental { 6 } else { 4 })?;
            let name: &[u8] = if index == 0 {
                read_string(&mut cur, name_buf)?
            } else if let Some((name, _)) = static_table::get(index) {
                name
            } else {
                // Copied so that the insertion below may evict the entry the
                // name came from (§4.4).
                let name = lookup(table, index, offset)?.0;
                name_buf.clear();
                name_buf.extend_from_slice(name);
                name_buf
            };
            let value = read_string(&mut cur, value_buf)?;
            if count(&mut list_bytes, name, value, max_header_list_bytes) {
                emit(name, value);
            }
            if incremental {
                table.insert(name, value);
            }
        }
        if list_bytes > max_header_list_bytes {
            return Err(Error::HeaderListTooLarge {
                size_bytes: list_bytes,
                limit_bytes: max_header_list_bytes,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("table", &self.table)
            .field("max_table_size", &self.max_table_size)
            .field("size_update_required", &self.size_update_required)
            .finish_non_exhaustive()
    }
}

/// Adds one field to the header list size (RFC 9113 §6.5.2) and says whether
/// the list is still within `limit`, i.e. whether to emit the field.
fn count(list_bytes: &mut usize, name: &[u8], value: &[u8], limit: usize) -> bool {
    *list_bytes = list_bytes
        .saturating_add(name.len())
        .saturating_add(value.len())
        .saturating_add(ENTRY_OVERHEAD_BYTES);
    *list_bytes <= limit
}

/// The field at HPACK `index` (§2.3.3): 1..=61 static, then dynamic, newest
/// first.
fn lookup(table: &Table, index: usize, offset: usize) -> Result<(&[u8], &[u8]), Error> {
    if index == 0 {
        return Err(Error::ZeroIndex { offset });
    }
    if let Some(field) = static_table::get(index) {
        return Ok(field);
    }
    table
        .get(index - static_table::LEN - 1)
        .ok_or(Error::InvalidIndex {
            index,
            max_index: static_table::LEN + table.len(),
        })
}

/// Reads a string literal (§5.2): the raw bytes borrowed from the block, or
/// the Huffman decoding in `buf`.
fn read_string<'b: 'o, 'o>(cur: &mut Cursor<'b>, buf: &'o mut Vec<u8>) -> Result<&'o [u8], Error> {
    let is_huffman = cur.peek().is_some_and(|b| b & 0x80 != 0);
    let declared = cur.integer(7)?;
    let offset = cur.pos;
    let remaining = cur.remaining();
    // Checked before anything is allocated: a length can never exceed what
    // the block still holds, nor our limit.
    let data = cur.take(declared).ok_or(Error::StringTruncated {
        declared_bytes: declared,
        remaining_bytes: remaining,
    })?;
    if declared > MAX_STRING_BYTES {
        return Err(Error::StringTooLong {
            length_bytes: declared,
            limit_bytes: MAX_STRING_BYTES,
        });
    }
    if !is_huffman {
        return Ok(data);
    }
    buf.clear();
    huffman::decode(data, buf).map_err(|invalid| match invalid {
        huffman::Invalid::Eos => Error::HuffmanEos { offset },
        huffman::Invalid::PaddingTooLong { padding_bits } => Error::HuffmanPaddingTooLong {
            offset,
            padding_bits,
        },
        huffman::Invalid::PaddingNotOnes => Error::HuffmanPaddingNotOnes { offset },
    })?;
    if buf.len() > MAX_STRING_BYTES {
        return Err(Error::StringTooLong {
            length_bytes: buf.len(),
            limit_bytes: MAX_STRING_BYTES,
        });
    }
    Ok(buf)
}

/// A read position in a header block; every read is bounds-checked.
struct Cursor<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// The next `n` bytes, or None (and nothing consumed) if fewer are left.
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let data = self.buf.get(self.pos..)?.get(..n)?;
        self.pos += n;
        Some(data)
    }

    /// An integer with an N-bit prefix (§5.1), N in 1..=8; the bits above
    /// the prefix in the first byte are ignored (they are the caller's).
    fn integer(&mut self, prefix_bits: u32) -> Result<usize, Error> {
        debug_assert!((1..=8).contains(&prefix_bits));
        let offset = self.pos;
        let first = self.byte().ok_or(Error::IntegerTruncated { offset })?;
        let max_prefix = (1u16 << prefix_bits) - 1;
        let mut value = u64::from(first) & u64::from(max_prefix);
        if value < u64::from(max_prefix) {
            return Ok(value as usize);
        }
        for i in 0..MAX_INTEGER_CONTINUATION_BYTES {
            let b = self.byte().ok_or(Error::IntegerTruncated { offset })?;
            // At most 5 * 7 = 35 bits are shifted in: no u64 overflow.
            value += u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if value > MAX_INTEGER {
                    return Err(Error::IntegerOverflow { offset });
                }
                return usize::try_from(value).map_err(|_| Error::IntegerOverflow { offset });
            }
        }
        Err(Error::IntegerOverflow { offset })
    }
}

#[cfg(test)]
pub(crate) mod tests;
