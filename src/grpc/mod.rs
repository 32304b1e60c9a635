//! gRPC over our HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md): server, client,
//! status codes, message framing, deadlines, and the health service.
//!
//! `grpc` never names a frame type: it sees requests, responders and client
//! streams from `h2::io`.
//!
//! Serving (see also `crate::serve::serve_evaluator`):
//! ```no_run
//! # use fn_runner::grpc::{Server, ServerConfig, Handler, Status};
//! # use std::sync::Arc;
//! let mut server = Server::new(ServerConfig::default());
//! server.route("/pkg.Svc/Echo", Handler::Unary(Arc::new(|req: &[u8], _ctx: &_| -> Result<Vec<u8>, Status> { Ok(req.to_vec()) })));
//! let handle = server.serve(std::net::TcpListener::bind("127.0.0.1:0")?)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//! Calling: `Client::new(addr, ClientConfig::default()).call(path, bytes, &ctx)`
//! (connects on the first call); `call_owned` moves large messages in and
//! out without copies.

pub mod client;
pub mod health;
pub mod message;
pub mod metrics;
pub mod percent;
pub mod pool;
pub mod server;
pub mod status;
pub mod timeout;

/// The message limit when none is configured, both directions, server and
/// client: 6 MiB, the Go runner's `--max-request-body-size` default
/// (compat §1), which `flags` shows and uses too.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 6_291_456;

pub use client::{Client, ClientConfig};
pub use health::Health;
pub use message::OwnedMessage;
pub use server::{Handler, MessageSink, Server, ServerConfig, ServerHandle};
pub use status::{Code, Status};
