//! The server side of `h2::io`: collects each request's headers and body
//! on the reader thread ([`ServerSide`]), hands it to the [`Service`] the
//! gRPC router implements, with the [`Responder`] that answers it from any
//! thread. Listening and shutdown are in `io/listener.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::{Inner, Shared, Side};
use crate::call::CancelToken;
use crate::h2::conn::{Event, Field, HeaderList, Initiator, Role, SendError};
use crate::h2::frame::{ErrorCode, StreamId};

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
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Sends response headers (`end_stream` for a headers-only response).
    pub fn send_headers(
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
    pub fn send_data(&mut self, data: Vec<u8>, end_stream: bool) -> Result<(), SendError> {
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
    pub fn send_response(
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

/// The server side of a connection: the service its requests go to.
pub(crate) struct ServerSide {
    /// Gets every request of the connection.
    pub(crate) service: Arc<dyn Service>,
}

/// The server's routing state of one connection: the requests being
/// collected and those handed to the service, and how much work the
/// connection does (to pick the longest-idle one at the connection limit).
pub(crate) struct ServerStreams {
    map: HashMap<StreamId, ServerStream>,
    /// Requests handed to the service and not answered yet.
    calls: usize,
    /// When a call last started or ended; the connection's start before.
    last_call: Instant,
}

impl Default for ServerStreams {
    fn default() -> Self {
        ServerStreams {
            map: HashMap::new(),
            calls: 0,
            last_call: Instant::now(),
        }
    }
}

impl ServerStreams {
    /// A request was handed to the service.
    fn call_started(&mut self) {
        self.calls = self.calls.saturating_add(1);
        self.last_call = Instant::now();
    }

    /// A call's responder finished (or dropped): its stream goes.
    fn call_ended(&mut self, stream_id: StreamId) {
        self.map.remove(&stream_id);
        self.calls = self.calls.saturating_sub(1);
        self.last_call = Instant::now();
    }

    /// Since when the connection is idle, `None` while a call is in
    /// progress: requests still arriving are no work done for the peer.
    fn idle_since(&self) -> Option<Instant> {
        (self.calls == 0).then_some(self.last_call)
    }
}

/// What a connection is to a server making room at its connection limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occupancy {
    /// Closing already: it does not count.
    Closing,
    /// A call in progress: it stays.
    Busy,
    /// No call since then: the longest-idle one is closed.
    IdleSince(Instant),
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

/// A request being collected by the reader thread.
pub(crate) struct ServerStream {
    fields: HeaderList,
    body: Vec<u8>,
    cancel: CancelToken,
    /// Handed to the service; later DATA is ignored.
    dispatched: bool,
    /// The service's size hint was asked for (once per request).
    size_hinted: bool,
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

    fn route(
        shared: &Arc<Shared<Self>>,
        inner: &mut Inner<Self>,
        events: Vec<Event>,
        handoff: &mut ServerHandoff,
    ) {
        let service = &*shared.side.service;
        let dispatch = &mut handoff.dispatch;
        let dispatched_before = dispatch.len();
        let streams = &mut inner.streams.map;
        for event in events {
            match event {
                Event::Headers {
                    stream_id,
                    fields,
                    end_stream,
                } => {
                    if let Some(s) = streams.get_mut(&stream_id) {
                        // Request trailers: only END_STREAM matters to us.
                        if end_stream && !s.dispatched {
                            s.body = inner.conn.take_data(stream_id);
                            s.dispatched = true;
                            dispatch.push(take_request(shared, stream_id, s, Ok(())));
                        }
                        continue;
                    }
                    let mut s = ServerStream {
                        fields,
                        body: Vec::new(),
                        cancel: CancelToken::new(),
                        dispatched: false,
                        size_hinted: false,
                    };
                    if end_stream {
                        s.dispatched = true;
                        dispatch.push(take_request(shared, stream_id, &mut s, Ok(())));
                    }
                    streams.insert(stream_id, s);
                }
                Event::Data {
                    stream_id,
                    end_stream,
                } => {
                    let Some(s) = streams.get_mut(&stream_id) else {
                        // Not ours (any more): drop what was received.
                        drop(inner.conn.take_data(stream_id));
                        continue;
                    };
                    if s.dispatched {
                        drop(inner.conn.take_data(stream_id));
                        continue;
                    }
                    let limit = service.max_body_bytes();
                    let buffered = inner.conn.buffered_data(stream_id);
                    let mut too_large = (buffered.len() > limit).then_some(buffered.len());
                    if too_large.is_none() && !s.size_hinted {
                        // The body announces its own size (a gRPC prefix): one
                        // allocation instead of doubling copies of 6 MB, or an
                        // answer at once when it will not fit (as grpc-go does).
                        if let Some(total) = service.body_size_hint(buffered) {
                            s.size_hinted = true;
                            if total > limit {
                                too_large = Some(total);
                            } else {
                                let more = total.saturating_sub(buffered.len());
                                inner.conn.reserve_data(stream_id, more);
                            }
                        }
                    }
                    if let Some(len_bytes) = too_large {
                        drop(inner.conn.take_data(stream_id));
                        s.dispatched = true;
                        dispatch.push(take_request(
                            shared,
                            stream_id,
                            s,
                            Err(BodyTooLarge {
                                len_bytes,
                                limit_bytes: limit,
                            }),
                        ));
                        continue;
                    }
                    if end_stream {
                        s.body = inner.conn.take_data(stream_id);
                        s.dispatched = true;
                        dispatch.push(take_request(shared, stream_id, s, Ok(())));
                    }
                }
                Event::Reset {
                    stream_id,
                    code,
                    initiator,
                } => {
                    inner
                        .reset_log
                        .reset(&inner.conn, &shared.peer, stream_id, code, initiator);
                    if let Some(s) = streams.remove(&stream_id) {
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
        for _ in dispatched_before..dispatch.len() {
            inner.streams.call_started();
        }
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

    fn connection_lost(streams: Self::Streams) {
        for (_, s) in streams.map {
            s.cancel.cancel();
        }
    }
}

fn take_request(
    shared: &Arc<Shared<ServerSide>>,
    stream_id: StreamId,
    s: &mut ServerStream,
    body: Result<(), BodyTooLarge>,
) -> (Request, Responder) {
    let request = Request {
        fields: std::mem::take(&mut s.fields),
        body: body.map(|()| std::mem::take(&mut s.body)),
    };
    let responder = Responder {
        shared: Arc::clone(shared),
        stream_id,
        cancel: s.cancel.clone(),
        finished: false,
    };
    (request, responder)
}
