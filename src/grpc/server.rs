//! The gRPC server: routes requests by `:path` to handlers, checks the
//! gRPC request rules, runs handlers inline or on the bounded pool, and
//! writes responses, trailers and trailers-only errors
//! (grpc/doc/PROTOCOL-HTTP2.md).
//!
//! ```text
//! h2::io reader thread --Request--> Router::handle
//!     checks: POST, content-type, route, grpc-encoding, grpc-timeout,
//!             body size, 5-byte framing
//!     Handler::Inline  -> run now (cheap, never blocks: health Check)
//!     Handler::Unary / UnaryOwned -> the worker pool (full: RESOURCE_EXHAUSTED)
//!     Handler::ServerStreaming    -> a pool of its own (full: RESOURCE_EXHAUSTED)
//! ```

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::message::{self, OwnedMessage};
use super::metrics::{Answered, Call};
use super::percent;
use super::pool::{Full, Pool};
use super::status::{Code, Status};
use super::timeout;
use crate::call::CallContext;
use crate::h2::conn::Field;
use crate::h2::io::{self, Request, Responder};
use crate::h2::limits::Limits;

/// A unary method: request message bytes in, response message bytes out.
pub(crate) type UnaryFn = dyn Fn(&[u8], &CallContext) -> Result<Vec<u8>, Status> + Send + Sync;
/// A unary method for large messages: takes the request message with its
/// buffer and answers with the response message in parts, each sent as it
/// is (their concatenation is the message): no copy of either body.
pub(crate) type OwnedUnaryFn =
    dyn Fn(OwnedMessage, &CallContext) -> Result<Vec<Vec<u8>>, Status> + Send + Sync;
/// A server-streaming method: sends any number of messages, then returns.
pub(crate) type StreamingFn =
    dyn Fn(&[u8], &CallContext, &mut MessageSink) -> Result<(), Status> + Send + Sync;

/// How a method runs.
#[derive(Clone)]
pub enum Handler {
    /// Cheap and non-blocking: runs on the connection's reader thread.
    Inline(Arc<UnaryFn>),
    /// May block (an evaluation): runs on the worker pool.
    Unary(Arc<UnaryFn>),
    /// Like `Unary`, with the message buffers moved in and out.
    UnaryOwned(Arc<OwnedUnaryFn>),
    /// Server streaming (health Watch): runs on a pool of its own
    /// ([`ServerConfig::max_streaming_calls`]), never on the workers
    /// evaluations need.
    ServerStreaming(Arc<StreamingFn>),
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest message received or sent (compat §1 `--max-request-body-size`).
    pub max_message_bytes: usize,
    /// Worker threads at most: handlers may block for minutes (a pod
    /// starting), so the pool is sized for blocking work, not for cores.
    pub max_workers: usize,
    /// Server-streaming calls (health Watch) open at most, each holding a
    /// thread of their own pool: a Watch lasts as long as its client
    /// wants, and must never hold a worker evaluations need (issue 11: 128
    /// Watch streams starved every evaluation). 16: a client doing
    /// client-side health checking (grpc-go's `healthCheckConfig`) opens
    /// one per connection; porch-server and the kubelet use Check. More
    /// get RESOURCE_EXHAUSTED at once.
    pub max_streaming_calls: usize,
    /// HTTP/2 limits.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: super::DEFAULT_MAX_MESSAGE_BYTES,
            max_workers: 128,
            max_streaming_calls: 16,
            limits: Limits::default(),
        }
    }
}

/// A gRPC server being configured: add routes, then [`Server::serve`].
pub struct Server {
    config: ServerConfig,
    routes: HashMap<String, Handler>,
}

/// A running server. Dropping it closes everything at once; use
/// [`ServerHandle::shutdown`] for a graceful stop.
pub struct ServerHandle {
    inner: io::ServerHandle,
}

impl Server {
    /// A server without routes.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            config,
            routes: HashMap::new(),
        }
    }

    /// Routes `path` (`/package.Service/Method`) to `handler`.
    pub fn route(&mut self, path: &str, handler: Handler) -> &mut Server {
        self.routes.insert(path.to_owned(), handler);
        self
    }

    /// Starts serving on `listener` (acceptor + connection threads).
    pub fn serve(self, listener: TcpListener) -> std::io::Result<ServerHandle> {
        let limits = self.config.limits.clone();
        let router = Router {
            pool: Pool::new("grpc-worker", self.config.max_workers),
            streaming_pool: Pool::new("grpc-stream", self.config.max_streaming_calls),
            config: self.config,
            routes: self.routes,
        };
        let inner = io::start_server(listener, Arc::new(router), limits)?;
        Ok(ServerHandle { inner })
    }
}

impl ServerHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// Closes the listener at once and sends GOAWAY to every connection.
    pub(crate) fn begin_shutdown(&mut self) {
        self.inner.begin_shutdown();
    }

    /// Lets in-flight calls finish for up to `grace`, then closes
    /// connections. True when every call finished in time.
    pub(crate) fn finish_shutdown(&mut self, grace: Duration) -> bool {
        self.inner.finish_shutdown(grace)
    }

    /// [`begin_shutdown`](Self::begin_shutdown) then [`finish_shutdown`](Self::finish_shutdown).
    pub fn shutdown(mut self, grace: Duration) -> bool {
        self.begin_shutdown();
        self.finish_shutdown(grace)
    }
}

/// Sends the messages of a server-streaming call.
pub struct MessageSink {
    responder: Responder,
    max_message_bytes: usize,
    headers_sent: bool,
    /// Message bytes sent so far (metrics).
    sent_bytes: usize,
}

impl MessageSink {
    /// Sends one message (response headers first if needed).
    pub fn send(&mut self, message: &[u8]) -> Result<(), Status> {
        if message.len() > self.max_message_bytes {
            return Err(message::too_large(
                "sent",
                message.len(),
                self.max_message_bytes,
            ));
        }
        if !self.headers_sent {
            self.headers_sent = true;
            self.responder
                .send_headers(&RESPONSE_HEADERS, false)
                .map_err(|e| Status::new(Code::CANCELLED, e.to_string()))?;
        }
        self.sent_bytes = self.sent_bytes.saturating_add(message.len());
        self.responder
            .send_data(message::encode(message), false)
            .map_err(|e| Status::new(Code::CANCELLED, e.to_string()))
    }

    /// Whether the caller went away.
    pub fn is_cancelled(&self) -> bool {
        self.responder.cancel_token().is_cancelled()
    }

    fn finish(mut self, result: Result<(), Status>) -> Answered {
        let status = result.err().unwrap_or_else(|| Status::new(Code::OK, ""));
        if self.headers_sent {
            let (code, message) = status_values(&status);
            let _ = self
                .responder
                .send_headers(&status_fields(&code, &message), true);
        } else {
            send_trailers_only(&mut self.responder, &status);
        }
        Answered {
            code: status.code,
            sent_bytes: self.sent_bytes,
        }
    }
}

struct Router {
    config: ServerConfig,
    routes: HashMap<String, Handler>,
    pool: Pool,
    /// Runs the server-streaming handlers.
    streaming_pool: Pool,
}

impl io::Service for Router {
    fn max_body_bytes(&self) -> usize {
        self.config
            .max_message_bytes
            .saturating_add(message::PREFIX_LEN)
    }

    fn handle(&self, request: Request, mut responder: Responder) {
        let record = Call::start(&request);
        let call = match self.accept(&request) {
            Ok(call) => call,
            Err(Reject::Status(status)) => {
                return record.finish(send_trailers_only(&mut responder, &status))
            }
            // Not a gRPC call: `record` leaves uncounted.
            Err(Reject::Http(code)) => {
                let _ = responder.send_headers(&[(b":status", code.as_bytes())], true);
                return;
            }
        };
        let body = match request.body {
            Ok(body) => body,
            Err(too_big) => {
                // The message's own size (grpc-go reports the prefix's).
                let status = message::too_large(
                    "received",
                    too_big.len_bytes.saturating_sub(message::PREFIX_LEN),
                    self.config.max_message_bytes,
                );
                return record.finish(send_trailers_only(&mut responder, &status));
            }
        };
        // Exactly one message: it is `body[PREFIX_LEN..]`, which handlers on
        // the pool read in place (the body moves there, no copy).
        if let Err(status) = message::decode_unary(&body, self.config.max_message_bytes) {
            return record.finish(send_trailers_only(&mut responder, &status));
        }
        let ctx = CallContext {
            deadline: call.deadline,
            cancel: responder.cancel_token().clone(),
        };
        let max = self.config.max_message_bytes;
        match call.handler {
            Handler::Inline(f) => {
                let result = f(unary_message(&body), &ctx);
                record.finish(respond_unary(&mut responder, result, max));
            }
            Handler::Unary(f) => {
                let _ = self.pool.execute_or_reject(move |admitted| {
                    let result = match admitted {
                        Ok(()) => f(unary_message(&body), &ctx),
                        Err(full) => Err(busy(full)),
                    };
                    record.finish(respond_unary(&mut responder, result, max));
                });
            }
            Handler::UnaryOwned(f) => {
                let _ = self.pool.execute_or_reject(move |admitted| {
                    let result = match admitted {
                        Ok(()) => f(OwnedMessage::new(body), &ctx),
                        Err(full) => Err(busy(full)),
                    };
                    record.finish(respond_parts(&mut responder, result, max));
                });
            }
            Handler::ServerStreaming(f) => {
                let _ = self.streaming_pool.execute_or_reject(move |admitted| {
                    let mut sink = MessageSink {
                        responder,
                        max_message_bytes: max,
                        headers_sent: false,
                        sent_bytes: 0,
                    };
                    let result = match admitted {
                        Ok(()) => f(unary_message(&body), &ctx, &mut sink),
                        Err(full) => Err(Status::new(
                            Code::RESOURCE_EXHAUSTED,
                            format!(
                                "server busy: {} streaming calls open (the limit)",
                                full.max_threads
                            ),
                        )),
                    };
                    record.finish(sink.finish(result));
                });
            }
        }
    }

    fn body_size_hint(&self, first_bytes: &[u8]) -> Option<usize> {
        message::declared_body_len(first_bytes)
    }
}

/// The message of a body that [`message::decode_unary`] accepted.
fn unary_message(body: &[u8]) -> &[u8] {
    body.get(message::PREFIX_LEN..).unwrap_or_default()
}

enum Reject {
    Status(Status),
    /// Not a gRPC request at all: an HTTP status.
    Http(&'static str),
}

struct Accepted {
    handler: Handler,
    deadline: Option<Instant>,
}

impl Router {
    fn accept(&self, request: &Request) -> Result<Accepted, Reject> {
        let mut method = None;
        let mut path = None;
        let mut content_type = None;
        let mut encoding = None;
        let mut grpc_timeout = None;
        for (name, value) in request.fields.iter() {
            match name {
                b":method" => method = Some(value),
                b":path" => path = Some(value),
                b"content-type" => content_type = Some(value),
                b"grpc-encoding" => encoding = Some(value),
                b"grpc-timeout" => grpc_timeout = Some(value),
                // Other metadata (user-agent, te, custom keys) is not ours to check.
                _ => {}
            }
        }
        if method != Some(b"POST") {
            return Err(Reject::Http("405"));
        }
        // gRPC over HTTP/2: content-type application/grpc, +proto, or ;params.
        let is_grpc = content_type.is_some_and(|ct| {
            ct == b"application/grpc"
                || ct.starts_with(b"application/grpc+")
                || ct.starts_with(b"application/grpc;")
        });
        if !is_grpc {
            return Err(Reject::Http("415"));
        }
        let path = path.unwrap_or_default();
        let handler = self
            .routes
            .get(String::from_utf8_lossy(path).as_ref())
            .cloned()
            .ok_or_else(|| {
                Reject::Status(Status::new(
                    Code::UNIMPLEMENTED,
                    format!("unknown method {}", quoted(path)),
                ))
            })?;
        if let Some(enc) = encoding {
            if enc != b"identity" {
                return Err(Reject::Status(Status::new(
                    Code::UNIMPLEMENTED,
                    format!(
                        "grpc-encoding {} is not supported (grpc-accept-encoding: identity)",
                        quoted(enc)
                    ),
                )));
            }
        }
        let deadline = match grpc_timeout {
            None => None,
            Some(v) => match timeout::decode(v) {
                Some(d) => Instant::now().checked_add(d),
                None => {
                    return Err(Reject::Status(Status::new(
                        Code::INTERNAL,
                        format!("malformed grpc-timeout {:?}", quoted(v)),
                    )))
                }
            },
        };
        Ok(Accepted { handler, deadline })
    }
}

/// A request value quoted in an error message, cut to [`QUOTED_BYTES`]: the
/// message goes back percent-encoded (a 0xFF byte becomes `%EF%BF%BD`), so
/// a 64 KiB `:path` echoed whole made each answer ~7.5 times the request
/// that caused it (issue 11 item 1).
fn quoted(value: &[u8]) -> String {
    match value.get(..QUOTED_BYTES) {
        Some(head) if head.len() < value.len() => {
            format!(
                "{}... ({} bytes)",
                String::from_utf8_lossy(head),
                value.len()
            )
        }
        _ => String::from_utf8_lossy(value).into_owned(),
    }
}

/// Bytes of a request value an error message quotes at most: more than any
/// method path or header value of ours.
const QUOTED_BYTES: usize = 128;

fn busy(full: Full) -> Status {
    Status::new(Code::RESOURCE_EXHAUSTED, format!("server busy: {full}"))
}

/// Sends a unary result: headers + message + trailers, or trailers-only.
fn respond_unary(
    responder: &mut Responder,
    result: Result<Vec<u8>, Status>,
    max: usize,
) -> Answered {
    match result {
        Ok(msg) if msg.len() > max => {
            send_trailers_only(responder, &message::too_large("sent", msg.len(), max))
        }
        Ok(msg) => {
            let _ = responder.send_response(
                &RESPONSE_HEADERS,
                vec![message::encode(&msg)],
                &OK_TRAILERS,
            );
            answered_ok(msg.len())
        }
        Err(status) => send_trailers_only(responder, &status),
    }
}

/// [`respond_unary`] for a message given in parts (sent without copies).
fn respond_parts(
    responder: &mut Responder,
    result: Result<Vec<Vec<u8>>, Status>,
    max: usize,
) -> Answered {
    match result {
        Ok(parts) => {
            let len: usize = parts.iter().map(Vec::len).sum();
            if len > max {
                return send_trailers_only(responder, &message::too_large("sent", len, max));
            }
            let _ = responder.send_response(
                &RESPONSE_HEADERS,
                message::encode_parts(parts),
                &OK_TRAILERS,
            );
            answered_ok(len)
        }
        Err(status) => send_trailers_only(responder, &status),
    }
}

fn answered_ok(sent_bytes: usize) -> Answered {
    Answered {
        code: Code::OK,
        sent_bytes,
    }
}

/// A call that fails before any message: one HEADERS with END_STREAM.
fn send_trailers_only(responder: &mut Responder, status: &Status) -> Answered {
    let (code, message) = status_values(status);
    let mut fields: Vec<Field<'_>> = RESPONSE_HEADERS.to_vec();
    fields.extend(status_fields(&code, &message));
    let _ = responder.send_headers(&fields, true);
    Answered {
        code: status.code,
        sent_bytes: 0,
    }
}

/// Response headers of every gRPC response (static: no allocation).
const RESPONSE_HEADERS: [Field<'static>; 3] = [
    (b":status", b"200"),
    (b"content-type", b"application/grpc"),
    (b"grpc-accept-encoding", b"identity"),
];

/// Trailers of a successful call.
const OK_TRAILERS: [Field<'static>; 1] = [(b"grpc-status", b"0")];

/// The `grpc-status` and percent-encoded `grpc-message` values.
fn status_values(status: &Status) -> (String, Vec<u8>) {
    (status.code.0.to_string(), percent::encode(&status.message))
}

fn status_fields<'a>(code: &'a str, message: &'a [u8]) -> Vec<Field<'a>> {
    let mut t: Vec<Field<'a>> = vec![(b"grpc-status", code.as_bytes())];
    if !message.is_empty() {
        t.push((b"grpc-message", message));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_request_values_cut_to_their_bound() {
        assert_eq!(quoted(b"/pkg.Svc/Method"), "/pkg.Svc/Method");
        let exact = vec![b'a'; QUOTED_BYTES];
        assert_eq!(quoted(&exact), "a".repeat(QUOTED_BYTES));
        let long = vec![b'a'; QUOTED_BYTES + 1];
        assert_eq!(
            quoted(&long),
            format!(
                "{}... ({} bytes)",
                "a".repeat(QUOTED_BYTES),
                QUOTED_BYTES + 1
            )
        );
    }
}
