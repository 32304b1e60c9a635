//! HTTP/2 (RFC 9113) for h2c with prior knowledge, shared by the gRPC server
//! and client: frames, HPACK (RFC 7541), stream and connection state, flow
//! control, and the threads that drive sockets (`io`).
//!
//! Layers, each using only those above it: `frame` (bytes <-> typed frames)
//! -> `hpack` -> `stream`, `flow`, `limits` -> `conn` (the connection state
//! machine, no I/O) -> `io` (threads and sockets).

pub mod conn;
pub mod fields;
pub mod flow;
pub mod frame;
pub mod hpack;
pub mod io;
pub mod limits;
pub mod stream;
