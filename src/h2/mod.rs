//! HTTP/2 (RFC 9113) for h2c with prior knowledge, shared by the gRPC server
//! and client: frames, HPACK (RFC 7541), stream and connection state, flow
//! control, and the threads that drive sockets (`io`).

pub mod hpack;
