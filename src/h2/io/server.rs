//! The server side of `h2::io`: collects each request's headers and body
//! on the reader thread ([`ServerSide`]), hands it to the [`Service`] the
//! gRPC router implements, with the [`Responder`] that answers it from any
//! thread. Listening and shutdown are in `io/listener.rs`.

use std::collections::TryReserveError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::held::{at_least_one_body, ServerHeld};
use super::server_streams::{Occupancy, ServerStreams};
use super::{Inner, Shared, Side};
use crate::call::CancelToken;
use crate::h2::conn::{Event, Field, HeaderList, Initiator, Role, SendError};
use crate::h2::frame::{ErrorCode, StreamId};
use crate::h2::limits::{Limits, RequestBytes};

/// A request as the server's reader thread assembled it.
#[derive(Debug)]
pub struct Request {
    /// Request header fields, pseudo-headers first.
    pub fields: HeaderList,
    /// The body, or how large it grew before we stopped collecting it.
    pub body: Result<Vec<u8>, BodyTooLarge>,
}

/// A request body went past the service's `max_body_bytes`, or its first
/// bytes announced that it will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge {
    /// The body's size as announced by its first bytes, else the bytes
    /// received when it went past the limit.
    pub len_bytes: usize,
    pub limit_bytes: usize,
}

/// The application side of an HTTP/2 server.
pub trait Service: Send + Sync + 'static {
    /// Request bodies larger than this are not collected; the request is
    /// handed over at once with `body: Err(BodyTooLarge)`.
    fn max_body_bytes(&self) -> usize;

    /// Called on the connection's reader thread once a request is complete
    /// (or its body too large). Must not block: hand long work to a pool.
    fn handle(&self, request: Request, responder: Responder);

    /// The whole body's size, when its first bytes announce it (a gRPC
    /// message prefix); used to allocate the body once, and over
    /// `max_body_bytes` to refuse the request at once, without waiting for
    /// the rest. `None`: unknown.
    fn body_size_hint(&self, first_bytes: &[u8]) -> Option<usize> {
        let _ = first_bytes;
        None
    }
}

/// Answers one request, from any thread. Dropping it unfinished resets the
/// stream, so a peer is never left waiting.
pub struct Responder {
    shared: Arc<Shared<ServerSide>>,
    stream_id: StreamId,
    cancel: CancelToken,
    finished: bool,
}

impl Responder {
    /// Set when the peer resets the stream or the connection is lost.
    pub(crate) fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Sends response headers (`end_stream` for a headers-only response).
    pub(crate) fn send_headers(
        &mut self,
        fields: &[Field<'_>],
        end_stream: bool,
    ) -> Result<(), SendError> {
        let r = self
            .shared
            .with_conn(|c| c.send_headers(self.stream_id, fields, end_stream));
        if end_stream {
            self.finish();
        }
        r
    }

    /// Sends body bytes; waits while too much of our output is pending on
    /// the peer's windows.
    pub(crate) fn send_data(&mut self, data: Vec<u8>, end_stream: bool) -> Result<(), SendError> {
        self.wait_send_room()?;
        let r = self
            .shared
            .with_conn(|c| c.send_data(self.stream_id, data, end_stream));
        if end_stream {
            self.finish();
        }
        r
    }

    /// Sends headers, a body and trailers in one step (one lock, one
    /// wake-up of the writer): a whole unary response. The body is the
    /// concatenation of `body_parts`, each sent as it is (no joining copy).
    pub(crate) fn send_response(
        &mut self,
        head: &[Field<'_>],
        body_parts: Vec<Vec<u8>>,
        trailers: &[Field<'_>],
    ) -> Result<(), SendError> {
        self.wait_send_room()?;
        let id = self.stream_id;
        let r = self.shared.with_conn(|c| {
            c.send_headers(id, head, false)?;
            for part in body_parts.into_iter().filter(|p| !p.is_empty()) {
                c.send_data(id, part, false)?;
            }
            c.send_headers(id, trailers, true)
        });
        self.finish();
        r
    }

    /// Waits for room for our output (bounded: `Limits::send_timeout`);
    /// without room then, the peer does not read: the stream is reset
    /// (ENHANCE_YOUR_CALM) and the worker goes on (issue 11 item 4).
    fn wait_send_room(&mut self) -> Result<(), SendError> {
        let Err(pending_bytes) = self.shared.wait_send_room(&self.cancel, None) else {
            return Ok(());
        };
        let id = self.stream_id;
        {
            let mut inner = self.shared.lock();
            inner.conn.send_reset(id, ErrorCode::ENHANCE_YOUR_CALM);
            let inner = &mut *inner;
            inner.reset_log.reset(
                &inner.conn,
                &self.shared.peer,
                id,
                ErrorCode::ENHANCE_YOUR_CALM,
                Initiator::Us,
            );
            self.shared.wake_writer(inner);
        }
        self.finish();
        Err(SendError::PeerNotReading { pending_bytes })
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.shared.lock().streams.call_ended(self.stream_id);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            let id = self.stream_id;
            self.shared
                .with_conn(|c| c.send_reset(id, ErrorCode::INTERNAL_ERROR));
            self.shared.lock().streams.call_ended(id);
        }
    }
}

/// The server side of a connection: the service its requests go to, and
/// the bounds on the requests it collects.
pub(crate) struct ServerSide {
    /// Gets every request of the connection.
    service: Arc<dyn Service>,
    /// What all connections of the server hold for requests.
    server_held: Arc<ServerHeld>,
    /// This connection's bound on what its requests hold.
    request_bytes: RequestBytes,
    /// `Limits::read_timeout`.
    read_timeout: Duration,
}

impl ServerSide {
    /// A connection of the server whose requests go to `service` and hold
    /// what `limits` and `server_held` allow.
    pub(crate) fn new(
        service: Arc<dyn Service>,
        server_held: Arc<ServerHeld>,
        limits: &Limits,
    ) -> ServerSide {
        let request_bytes = at_least_one_body(
            limits.request_bytes_per_connection,
            service.max_body_bytes(),
        );
        ServerSide {
            service,
            server_held,
            request_bytes,
            read_timeout: limits.read_timeout,
        }
    }
}

impl Shared<ServerSide> {
    /// The connection's [`Occupancy`].
    pub(crate) fn occupancy(&self) -> Occupancy {
        let inner = self.lock();
        if inner.closed {
            return Occupancy::Closing;
        }
        inner
            .streams
            .idle_since()
            .map_or(Occupancy::Busy, Occupancy::IdleSince)
    }
}

/// What the reader does once unlocked: run the service on each complete
/// request, and fire the cancel tokens of reset streams (their hooks may
/// take locks of their own; never under the connection lock).
#[derive(Default)]
pub(crate) struct ServerHandoff {
    dispatch: Vec<(Request, Responder)>,
    cancels: Vec<CancelToken>,
}

impl Side for ServerSide {
    const ROLE: Role = Role::Server;
    type Streams = ServerStreams;
    type Handoff = ServerHandoff;

    fn new_streams(&self) -> ServerStreams {
        ServerStreams::new(
            self.request_bytes,
            Arc::clone(&self.server_held),
            self.read_timeout,
        )
    }

    fn route(
        shared: &Arc<Shared<Self>>,
        inner: &mut Inner<Self>,
        events: Vec<Event>,
        handoff: &mut ServerHandoff,
    ) {
        let service = &*shared.side.service;
        let dispatch = &mut handoff.dispatch;
        // One clock read per batch: the requests' read deadlines count
        // from it.
        let now = Instant::now();
        for event in events {
            match event {
                Event::Headers {
                    stream_id,
                    fields,
                    end_stream,
                } => {
                    if inner.streams.get_mut(stream_id).is_some() {
                        // Request trailers: only END_STREAM matters to us.
                        if end_stream {
                            let body = inner.conn.take_data(stream_id);
                            dispatch.extend(take_request(shared, inner, stream_id, Ok(body)));
                        }
                        continue;
                    }
                    if let Err(over) = inner.streams.open(stream_id, fields, now) {
                        // Not processed: the client may retry it.
                        refuse(shared, inner, stream_id, ErrorCode::REFUSED_STREAM, &over);
                        continue;
                    }
                    if end_stream {
                        dispatch.extend(take_request(shared, inner, stream_id, Ok(Vec::new())));
                    }
                }
                Event::Data {
                    stream_id,
                    end_stream,
                } => {
                    let Some(s) = inner.streams.get_mut(stream_id).filter(|s| !s.dispatched) else {
                        // Not ours (any more), or handed over: drop what
                        // was received.
                        drop(inner.conn.take_data(stream_id));
                        continue;
                    };
                    let limit = service.max_body_bytes();
                    let buffered = inner.conn.buffered_data(stream_id);
                    let mut too_large = (buffered.len() > limit).then_some(buffered.len());
                    if too_large.is_none() && s.declared.is_none() {
                        // The body announces its own size (a gRPC prefix):
                        // an answer at once when it will not fit (as grpc-go
                        // does), else its buffer is sized for it once enough
                        // of it has arrived.
                        match service.body_size_hint(buffered) {
                            Some(total) if total > limit => too_large = Some(total),
                            declared => s.declared = declared,
                        }
                    }
                    if let Some(len_bytes) = too_large {
                        drop(inner.conn.take_data(stream_id));
                        let too_large = BodyTooLarge {
                            len_bytes,
                            limit_bytes: limit,
                        };
                        dispatch.extend(take_request(shared, inner, stream_id, Err(too_large)));
                        continue;
                    }
                    if let Some(total) = s.declared.filter(|_| !s.sized) {
                        match inner.conn.reserve_body(stream_id, total) {
                            Ok(sized) => s.sized = sized,
                            Err(e) => {
                                drop(inner.conn.take_data(stream_id));
                                let why = OutOfMemory {
                                    bytes: total,
                                    source: e,
                                };
                                refuse(
                                    shared,
                                    inner,
                                    stream_id,
                                    ErrorCode::ENHANCE_YOUR_CALM,
                                    &why,
                                );
                                continue;
                            }
                        }
                    }
                    let capacity = inner.conn.buffered_capacity(stream_id);
                    if let Err(over) = inner.streams.hold_body(stream_id, capacity) {
                        drop(inner.conn.take_data(stream_id));
                        // gRPC clients read ENHANCE_YOUR_CALM as RESOURCE_EXHAUSTED.
                        refuse(
                            shared,
                            inner,
                            stream_id,
                            ErrorCode::ENHANCE_YOUR_CALM,
                            &over,
                        );
                        continue;
                    }
                    if end_stream {
                        let body = inner.conn.take_data(stream_id);
                        dispatch.extend(take_request(shared, inner, stream_id, Ok(body)));
                    }
                }
                Event::Reset {
                    stream_id,
                    code,
                    initiator,
                } => {
                    inner.log_reset(&shared.peer, stream_id, code, initiator);
                    if let Some(s) = inner.streams.remove(stream_id) {
                        handoff.cancels.push(s.cancel);
                    }
                }
                // GOAWAY: the connection refuses new streams (see
                // Connection::is_going_away). A server opens no streams of
                // its own for a GOAWAY to refuse.
                Event::GoAway { .. } => {}
                // We send no PINGs of our own yet.
                Event::PingAck { .. } => {}
            }
        }
    }

    fn expire(
        shared: &Arc<Shared<Self>>,
        inner: &mut Inner<Self>,
        now: Instant,
    ) -> Option<Instant> {
        let (cut, next) = inner.streams.expire(now);
        for (stream_id, cancel) in cut {
            // Not processed, and never will be: the request was too slow.
            inner.conn.send_reset(stream_id, ErrorCode::CANCEL);
            inner.reset_log.reset(
                &inner.conn,
                &shared.peer,
                stream_id,
                ErrorCode::CANCEL,
                Initiator::Us,
            );
            // Not handed over: nothing waits on it but the bookkeeping.
            cancel.cancel();
        }
        next
    }

    fn hand_off(&self, handoff: ServerHandoff) {
        for cancel in handoff.cancels {
            cancel.cancel();
        }
        for (request, responder) in handoff.dispatch {
            // A panicking handler must not take the connection down with
            // its reader thread; its responder resets the stream on drop.
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.service.handle(request, responder);
            }));
            if handled.is_err() {
                crate::error!("a request handler panicked; its stream was reset");
            }
        }
    }

    fn connection_lost(mut streams: Self::Streams) {
        for s in streams.drain() {
            s.cancel.cancel();
        }
    }
}

/// Hands the request on `stream_id` to the service, with `body`: its
/// header list and the [`Responder`]. `None` when it was handed over
/// already (or is gone).
fn take_request(
    shared: &Arc<Shared<ServerSide>>,
    inner: &mut Inner<ServerSide>,
    stream_id: StreamId,
    body: Result<Vec<u8>, BodyTooLarge>,
) -> Option<(Request, Responder)> {
    let (fields, cancel) = inner.streams.dispatch(stream_id)?;
    let request = Request { fields, body };
    let responder = Responder {
        shared: Arc::clone(shared),
        stream_id,
        cancel,
        finished: false,
    };
    Some((request, responder))
}

/// Refuses a request we cannot hold (`why`: over a bound of what requests
/// may hold, or out of memory): RST_STREAM with `code`, what it held
/// given back.
fn refuse(
    shared: &Arc<Shared<ServerSide>>,
    inner: &mut Inner<ServerSide>,
    stream_id: StreamId,
    code: ErrorCode,
    why: &dyn fmt::Display,
) {
    inner.streams.remove(stream_id);
    inner.conn.send_reset(stream_id, code);
    inner
        .reset_log
        .reset_because(&inner.conn, &shared.peer, stream_id, code, why);
}

/// A body buffer could not be allocated.
#[derive(Debug)]
struct OutOfMemory {
    bytes: usize,
    source: TryReserveError,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot allocate {} bytes for its body: {}",
            self.bytes, self.source
        )
    }
}
