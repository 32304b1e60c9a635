//! HPACK header compression (RFC 7541) for our HTTP/2 stack: `Decoder` turns
//! a header block into fields and `Encoder` turns fields into a block, each
//! with its own dynamic table. No I/O and no state beyond the tables: the
//! HTTP/2 layer joins HEADERS + CONTINUATION payloads, applies SETTINGS, and
//! maps `Error` to COMPRESSION_ERROR (or, for `HeaderListTooLarge`, to a
//! stream refusal).
//!
//! Files: `huffman` (Appendix B code, table-driven decoder), `static_table`
//! (Appendix A), `table` (the dynamic table, §4), `decoder`, `encoder` (and
//! its indexing policy), `limits` (every bound, with its origin), `error`.
//! `docs/hpack.md` summarizes the limits and the indexing policy.

mod decoder;
mod encoder;
mod error;
mod huffman;
pub mod limits;
mod static_table;
mod table;

pub use decoder::Decoder;
pub use encoder::Encoder;
pub use error::Error;
