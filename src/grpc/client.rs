//! The gRPC client: one HTTP/2 connection per address, shared by every
//! call (thread safe, calls multiplexed); deadlines (`grpc-timeout` plus a
//! local timer), cancellation and message limits both ways.
//!
//! Built for a caller that holds one client per peer and many waiting
//! calls (the pod runtime: one per function pod):
//! - no I/O until the first call, and no lock held across a connect
//!   (`client/slot.rs`): a failed connect is UNAVAILABLE for the calls
//!   that waited on it; a connection closed, going away or idle is
//!   replaced by the next call;
//! - a connection idle for [`ClientConfig::idle_timeout`] closes, so an
//!   idle peer costs no threads;
//! - [`Client::call_owned`] moves the request parts out and the response
//!   buffer back without copying either (`client/response.rs` reads it);
//! - a waiting call wakes on its response, its deadline or its cancel
//!   token, never on a timer.

use std::sync::Arc;
use std::time::Duration;

use super::message::{self, OwnedMessage};
use super::status::{Code, Status};
use super::timeout;
use crate::call::CallContext;
use crate::h2::conn::Field;
use crate::h2::io::{ClientStream, Receive, ResponseBody, StartError};
use crate::h2::limits::Limits;

mod response;
mod slot;

use response::{interrupted, read_streaming, read_unary, Failure};
use slot::{Slot, Target};

/// Our `user-agent`.
const USER_AGENT: &str = concat!("fn-runner/", env!("CARGO_PKG_VERSION"));

/// Bound on establishing the TCP connection (grpc-go's dial timeout in
/// porch-server is of this order; a pod's address answers at once or not
/// at all).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection with no call stays open. The pod runtime keeps a
/// client per function pod, and a pod stays warm up to `--pod-ttl` (30
/// minutes) after its last call: without this bound every idle pod would
/// hold a connection's two threads that long. 60 s spans the gaps between
/// the calls of a render (porch runs a package's functions back to back),
/// and a new connection costs one TCP and HTTP/2 handshake. grpc-go's
/// client default (`WithIdleTimeout`) is 30 minutes; it keeps no threads.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Largest message sent or received (compat §1 `--max-request-body-size`).
    pub max_message_bytes: usize,
    /// Bound on establishing the TCP connection. Defaults to [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// A connection with no call this long is closed. Defaults to
    /// [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_message_bytes: super::DEFAULT_MAX_MESSAGE_BYTES,
            connect_timeout: CONNECT_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// A gRPC client for one address. Cheap to share (`Arc`) across threads.
pub struct Client {
    addr: String,
    max_message_bytes: usize,
    slot: Arc<Slot>,
}

impl Client {
    /// A client for `addr` (HOST:PORT). Does no I/O: the first call
    /// connects.
    pub fn new(addr: &str, config: ClientConfig) -> Client {
        let limits = Limits {
            idle_timeout: Some(config.idle_timeout),
            ..Limits::default()
        };
        let body = ResponseBody {
            max_bytes: config.max_message_bytes.saturating_add(message::PREFIX_LEN),
            size_hint: message::declared_body_len,
        };
        let target = Target {
            addr: addr.to_owned(),
            connect_timeout: config.connect_timeout,
            limits,
            body,
        };
        Client {
            addr: addr.to_owned(),
            max_message_bytes: config.max_message_bytes,
            slot: Arc::new(Slot::new(target)),
        }
    }

    /// A client for `addr`, connected now: fails UNAVAILABLE when the
    /// connection cannot be made within the connect timeout (the health
    /// probe tells a connection failure from an RPC failure).
    pub fn connect(addr: &str, config: ClientConfig) -> Result<Client, Status> {
        let client = Client::new(addr, config);
        client.slot.connection(&CallContext::background())?;
        Ok(client)
    }

    /// Connects now unless a usable connection exists (within the call's
    /// deadline and cancel). A caller that must not lose its request to a
    /// failed connect asks first: `call_owned` consumes the request, and a
    /// peer that cannot be reached had nothing sent to it (the pod
    /// runtime then tries a new pod with the same request).
    pub(crate) fn connected(&self, ctx: &CallContext) -> Result<(), Status> {
        self.slot.connection(ctx).map(drop)
    }

    /// The address this client calls.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one unary call to `path` (`/package.Service/Method`) with the
    /// request message bytes; returns the response message bytes.
    pub fn call(&self, path: &str, request: &[u8], ctx: &CallContext) -> Result<Vec<u8>, Status> {
        self.call_owned(path, vec![request.to_vec()], ctx)
            .map(OwnedMessage::into_vec)
    }

    /// Sends one unary call whose request message is the concatenation of
    /// `request` parts, each sent as it is (no joining copy), and returns
    /// the response message in the buffer it arrived in (sized once, from
    /// the message prefix).
    pub fn call_owned(
        &self,
        path: &str,
        request: Vec<Vec<u8>>,
        ctx: &CallContext,
    ) -> Result<OwnedMessage, Status> {
        let len: usize = request.iter().map(Vec::len).sum();
        if len > self.max_message_bytes {
            return Err(message::too_large("sent", len, self.max_message_bytes));
        }
        if let Some(interrupt) = ctx.interrupted() {
            return Err(interrupted(interrupt));
        }
        let grpc_timeout = ctx.remaining().map(timeout::encode);
        let fields = self.request_fields(path, grpc_timeout.as_deref());
        let mut body = message::encode_parts(request);
        // A stream the server refused (REFUSED_STREAM, or above a GOAWAY's
        // last stream id) was never processed: RFC 9113 §8.7 lets us retry
        // it, once; the refused stream gives the request parts back.
        let mut retried = false;
        loop {
            let mut stream = self.start(&fields, body, ctx, Receive::Whole)?;
            match read_unary(&mut stream, ctx, self.max_message_bytes) {
                Ok(msg) => return Ok(msg),
                Err(Failure::Refused(request)) if !retried => {
                    retried = true;
                    body = request;
                }
                Err(Failure::Refused(_)) => {
                    return Err(Status::new(
                        Code::UNAVAILABLE,
                        "stream refused by the server twice",
                    ))
                }
                // Dropping the stream resets it (CANCEL) if it is open.
                Err(Failure::Status(status)) => return Err(status),
            }
        }
    }

    /// Sends a server-streaming call and hands each response message to
    /// `on_message` until the stream ends or `on_message` returns false.
    pub fn call_streaming(
        &self,
        path: &str,
        request: &[u8],
        ctx: &CallContext,
        mut on_message: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), Status> {
        let grpc_timeout = ctx.remaining().map(timeout::encode);
        let fields = self.request_fields(path, grpc_timeout.as_deref());
        let body = vec![message::encode(request)];
        let mut stream = self.start(&fields, body, ctx, Receive::Incremental)?;
        read_streaming(&mut stream, ctx, self.max_message_bytes, &mut on_message)
    }

    fn request_fields<'a>(
        &'a self,
        path: &'a str,
        grpc_timeout: Option<&'a str>,
    ) -> Vec<Field<'a>> {
        let mut fields: Vec<Field<'a>> = vec![
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.as_bytes()),
            (b":authority", self.addr.as_bytes()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", USER_AGENT.as_bytes()),
        ];
        if let Some(t) = grpc_timeout {
            fields.push((b"grpc-timeout", t.as_bytes()));
        }
        fields
    }

    /// Opens a stream, on a new connection once when the current one takes
    /// no more streams.
    fn start(
        &self,
        fields: &[Field<'_>],
        body: Vec<Vec<u8>>,
        ctx: &CallContext,
        receive: Receive,
    ) -> Result<ClientStream, Status> {
        let conn = self.slot.connection(ctx)?;
        match conn.start(fields, body, ctx, receive) {
            Ok(s) => Ok(s),
            Err(StartError::Unusable { request }) => {
                self.slot.discard(&conn);
                let conn = self.slot.connection(ctx)?;
                conn.start(fields, request, ctx, receive)
                    .map_err(start_error)
            }
            Err(e) => Err(start_error(e)),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.slot.close();
    }
}

fn start_error(e: StartError) -> Status {
    match e {
        StartError::Interrupted(interrupt) => interrupted(interrupt),
        StartError::StreamLimit { .. } => Status::new(Code::RESOURCE_EXHAUSTED, e.to_string()),
        StartError::Unusable { .. }
        | StartError::PeerNotHttp2 { .. }
        | StartError::PeerNotReading { .. } => Status::new(Code::UNAVAILABLE, e.to_string()),
        StartError::Body(_) => Status::new(Code::INTERNAL, e.to_string()),
    }
}
