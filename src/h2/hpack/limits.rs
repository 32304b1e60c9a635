//! The bounds HPACK decoding and encoding keep (style.md §6). Each constant
//! says where its value comes from.

/// The initial dynamic table size of both peers: the default of
/// SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2), and what an encoder may
/// assume before it has seen the peer's SETTINGS (RFC 7541 §4.2).
pub const DEFAULT_HEADER_TABLE_BYTES: usize = 4096;

/// The largest dynamic table our encoder uses, however large a table the peer
/// allows. Our own choice: a gRPC connection's repeated fields (path,
/// authority, content-type, te, user-agent, grpc-status) fit in a few hundred
/// bytes, and a peer advertising 4 GiB must not make us hold 4 GiB of
/// header copies per connection.
pub(crate) const MAX_ENCODER_TABLE_BYTES: usize = 4096;

/// The header list size (RFC 9113 §6.5.2 counting: name + value + 32 per
/// field) we suggest advertising as SETTINGS_MAX_HEADER_LIST_SIZE and passing
/// to `Decoder::decode`. Our own choice: far above any gRPC call's metadata,
/// far below grpc-go's 16 MiB default, which would let one stream pin 16 MiB.
pub const DEFAULT_MAX_HEADER_LIST_BYTES: usize = 64 * 1024;

/// The longest string literal (RFC 7541 §5.2) we decode, in bytes, both as
/// declared on the wire and after Huffman decoding. Our own choice: four times
/// the default header list limit, so that an over-long but well-formed field
/// still ends as a per-stream `HeaderListTooLarge` and not a connection error;
/// the declared length is also never trusted beyond what is left of the block.
pub(crate) const MAX_STRING_BYTES: usize = 256 * 1024;

/// The most continuation bytes an integer (RFC 7541 §5.1) may have after its
/// prefix. Five carry 35 bits, enough for any 32-bit value; more are only
/// padding (`0x80` bytes) a peer could use to make us spin.
pub(crate) const MAX_INTEGER_CONTINUATION_BYTES: usize = 5;

/// The largest integer value we accept. Our own choice: every HPACK integer is
/// an index, a length or a table size, and those fit in 32 bits (HTTP/2
/// settings are 32-bit); larger values are an error, never a wrap.
pub(crate) const MAX_INTEGER: u64 = u32::MAX as u64;

/// The per-entry overhead of RFC 7541 §4.1 (also used for the header list size
/// of RFC 9113 §6.5.2).
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 32;
