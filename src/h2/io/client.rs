//! The client side of `h2::io`: one connection ([`ClientConnection`])
//! carrying many calls, each read through its [`ClientStream`].
//!
//! The reader thread routes each stream's events to the stream's inbox
//! ([`ClientSide`]); the caller's thread waits on the inbox for the next
//! event, its deadline or its cancel token, whichever comes first (a
//! cancel hook wakes it: no polling).
//!
//! Bodies both ways are moved, not copied: a request is sent as the
//! caller's parts, and kept until the response starts so that a refused
//! stream gives it back ([`super::ResetKind::Refused`]); a whole response body is
//! collected in one buffer, sized from its first bytes when they announce
//! it ([`ResponseBody::size_hint`]) and bounded by
//! [`ResponseBody::max_bytes`].

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::reset::StreamReset;
use super::{spawn_connection, Inner, Shared, Side};
use crate::call::{wait_until, CallContext, CancelHook, Interrupt};
use crate::h2::conn::{Error as ConnError, Event, Field, HeaderList, Initiator, Role, SendError};
use crate::h2::frame::{ErrorCode, StreamId};
use crate::h2::limits::Limits;

/// What a client call receives on its stream.
#[derive(Debug)]
pub enum StreamEvent {
    /// Response headers; more follows.
    Headers(HeaderList),
    /// More body bytes wait for [`ClientStream::take_data`] (streams
    /// started with [`Receive::Incremental`] only).
    Data,
    /// The stream ended: with trailers (or a trailers-only response), or
    /// `None` when the peer ended it with DATA. `body`: the body bytes not
    /// yet taken (the whole body, for [`Receive::Whole`]).
    End {
        trailers: Option<HeaderList>,
        body: Vec<u8>,
    },
    /// The stream was reset (or refused by GOAWAY).
    Reset(StreamReset),
    /// The response body went past [`ResponseBody::max_bytes`]; we reset
    /// the stream (CANCEL). `len_bytes`: the size it declared or reached.
    BodyTooLarge {
        len_bytes: usize,
        limit_bytes: usize,
    },
    /// The connection closed before the stream ended.
    ConnectionLost,
}

/// How a stream's response body reaches the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// In one piece with the end of the stream (a unary response).
    Whole,
    /// As it arrives (a streaming response): [`StreamEvent::Data`] says
    /// more bytes wait.
    Incremental,
}

/// The bound and framing of the response bodies a connection receives.
#[derive(Debug, Clone, Copy)]
pub struct ResponseBody {
    /// Body bytes collected at most (for [`Receive::Incremental`]: held
    /// and not yet taken).
    pub max_bytes: usize,
    /// The whole body's size, when its first bytes announce it (a gRPC
    /// message prefix): a [`Receive::Whole`] body is then allocated once,
    /// or refused at once when it declares more than `max_bytes`.
    pub size_hint: fn(&[u8]) -> Option<usize>,
}

/// Why a client connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// The address did not resolve.
    Resolve { addr: String, source: io::Error },
    /// No resolved address accepted within the connect timeout.
    Connect { addr: String, source: io::Error },
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Resolve { addr, .. } => write!(f, "cannot resolve {addr}"),
            ConnectError::Connect { addr, .. } => write!(f, "cannot connect to {addr}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Resolve { source, .. } | ConnectError::Connect { source, .. } => {
                Some(source)
            }
        }
    }
}

/// Why [`ClientConnection::start`] opened no stream.
#[derive(Debug)]
pub enum StartError {
    /// The connection takes no new stream (closed, GOAWAY, stream ids used
    /// up): use another. The request parts are given back.
    Unusable { request: Vec<Vec<u8>> },
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached.
    StreamLimit { max: u32 },
    /// The call was cancelled or its deadline passed while it waited for
    /// send room.
    Interrupted(Interrupt),
    /// The connection failed on the peer's first bytes: it does not speak
    /// HTTP/2 (`why` says what it answered). Another connection to it
    /// would fail the same way.
    PeerNotHttp2 { why: String },
    /// The new stream did not take its body (a bug of ours); it was reset.
    Body(SendError),
    /// Our output for the peer stayed over its bound for
    /// `Limits::send_timeout`: the peer does not read (its connection is
    /// about to be closed).
    PeerNotReading { pending_bytes: usize },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Unusable { .. } => f.write_str("connection is closed or going away"),
            StartError::PeerNotHttp2 { why } => f.write_str(why),
            StartError::StreamLimit { max } => {
                write!(f, "peer allows at most {max} concurrent streams")
            }
            StartError::Interrupted(Interrupt::Cancelled) => f.write_str("call cancelled"),
            StartError::Interrupted(Interrupt::DeadlineExceeded) => {
                f.write_str("call deadline passed")
            }
            StartError::Body(e) => write!(f, "the new stream did not take its body: {e}"),
            StartError::PeerNotReading { pending_bytes } => write!(
                f,
                "{}",
                SendError::PeerNotReading {
                    pending_bytes: *pending_bytes
                }
            ),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Body(e) => Some(e),
            _ => None,
        }
    }
}

/// Waiting on a [`ClientStream`] ended without an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The call's deadline passed or it was cancelled.
    Interrupted(Interrupt),
    /// The stream already ended.
    Finished,
}

/// One client connection (h2c, prior knowledge); many streams at once.
#[derive(Clone)]
pub struct ClientConnection {
    shared: Arc<Shared<ClientSide>>,
}

/// A stream opened by [`ClientConnection::start`]: read the response from
/// it. Dropping it before the end resets the stream (CANCEL).
pub struct ClientStream {
    shared: Arc<Shared<ClientSide>>,
    stream_id: StreamId,
    inbox: Arc<Inbox>,
    /// Wakes [`ClientStream::recv`] when the call is cancelled.
    _cancel_hook: CancelHook,
    done: bool,
}

impl ClientConnection {
    /// Connects to `addr` (HOST:PORT) within `connect_timeout`; response
    /// bodies are bounded and sized by `body`.
    pub fn connect(
        addr: &str,
        connect_timeout: Duration,
        limits: Limits,
        body: ResponseBody,
    ) -> Result<ClientConnection, ConnectError> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|source| ConnectError::Resolve {
                addr: addr.to_owned(),
                source,
            })?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, connect_timeout) {
                Ok(socket) => {
                    let shared = spawn_connection(socket, limits, ClientSide { body }).map_err(
                        |source| ConnectError::Connect {
                            addr: addr.to_owned(),
                            source,
                        },
                    )?;
                    return Ok(ClientConnection { shared });
                }
                Err(e) => last = e,
            }
        }
        Err(ConnectError::Connect {
            addr: addr.to_owned(),
            source: last,
        })
    }

    /// Whether new streams can still be opened (not closed, no GOAWAY).
    pub fn is_usable(&self) -> bool {
        let inner = self.shared.lock();
        !inner.closed && !inner.conn.is_going_away()
    }

    /// Opens a stream with `fields` and sends the body given as `request`
    /// parts (their concatenation), each as it is, then END_STREAM. The
    /// stream's [`ClientStream::recv`] wakes when `ctx` is cancelled.
    pub fn start(
        &self,
        fields: &[Field<'_>],
        request: Vec<Vec<u8>>,
        ctx: &CallContext,
        receive: Receive,
    ) -> Result<ClientStream, StartError> {
        let room = self.shared.wait_send_room(&ctx.cancel, ctx.deadline);
        if let Some(interrupt) = ctx.interrupted() {
            return Err(StartError::Interrupted(interrupt));
        }
        if let Err(pending_bytes) = room {
            return Err(StartError::PeerNotReading { pending_bytes });
        }
        let inbox = Arc::new(Inbox::default());
        // Registered before any lock is taken: it runs at once when the
        // token is already cancelled.
        let hooked = Arc::clone(&inbox);
        let cancel_hook = ctx.cancel.on_cancel(Arc::new(move || hooked.wake()));
        let mut inner = self.shared.lock();
        let unusable = |inner: &Inner<ClientSide>, request| match inner.conn.failure() {
            Some(e @ ConnError::NotHttp2 { .. }) => StartError::PeerNotHttp2 { why: e.to_string() },
            _ => StartError::Unusable { request },
        };
        if inner.closed {
            return Err(unusable(&inner, request));
        }
        let stream_id = match inner.conn.open_stream(fields, false) {
            Ok(id) => id,
            Err(SendError::StreamLimit { max }) => return Err(StartError::StreamLimit { max }),
            Err(_) => return Err(unusable(&inner, request)),
        };
        let last = request.len().saturating_sub(1);
        let mut sent = Ok(());
        if request.is_empty() {
            sent = inner.conn.send_data(stream_id, Vec::new(), true);
        }
        for (i, part) in request.into_iter().enumerate() {
            if sent.is_ok() {
                sent = inner.conn.send_data(stream_id, part, i == last);
            }
        }
        if let Err(e) = sent {
            // Not expected: the stream was opened under this same lock.
            debug_assert!(false, "a new stream refused its body: {e}");
            inner.conn.send_reset(stream_id, ErrorCode::INTERNAL_ERROR);
            self.shared.wake_writer(&mut inner);
            return Err(StartError::Body(e));
        }
        let route = Route {
            inbox: Arc::clone(&inbox),
            receive,
            declared: None,
            sized: false,
        };
        inner.streams.insert(stream_id, route);
        self.shared.wake_writer(&mut inner);
        drop(inner);
        Ok(ClientStream {
            shared: Arc::clone(&self.shared),
            stream_id,
            inbox,
            _cancel_hook: cancel_hook,
            done: false,
        })
    }

    /// Sends GOAWAY: no new streams; the socket closes once in-flight
    /// streams have finished.
    pub(crate) fn close_when_idle(&self) {
        self.shared
            .with_conn(|c| c.go_away(ErrorCode::NO_ERROR, b""));
    }

    /// Whether both handles are the same connection.
    pub(crate) fn same_as(&self, other: &ClientConnection) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Closes the connection now.
    pub fn close(&self) {
        let _ = self.shared.socket.shutdown(Shutdown::Both);
    }

    /// Waits until the connection is closed and both its threads have
    /// exited, or `timeout` passes; true when they have.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.shared.lock();
        while !(inner.reader_done && inner.writer_done) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            inner = self.shared.wait_changed(inner, deadline);
        }
        true
    }
}

impl ClientStream {
    /// The next event; waits until one comes, `ctx`'s deadline passes or
    /// its cancel token fires (the token given to `start` wakes the wait).
    pub fn recv(&mut self, ctx: &CallContext) -> Result<StreamEvent, RecvError> {
        if self.done {
            return Err(RecvError::Finished);
        }
        let mut events = self.inbox.lock();
        let event = loop {
            if let Some(event) = events.pop_front() {
                break event;
            }
            if let Some(interrupt) = ctx.interrupted() {
                return Err(RecvError::Interrupted(interrupt));
            }
            events = wait_until(&self.inbox.ready, events, ctx.deadline);
        };
        drop(events);
        if !matches!(event, StreamEvent::Headers(_) | StreamEvent::Data) {
            self.done = true;
        }
        Ok(event)
    }

    /// Takes the body bytes received so far ([`Receive::Incremental`]).
    pub(crate) fn take_data(&mut self) -> Vec<u8> {
        self.shared.lock().conn.take_data(self.stream_id)
    }

    /// Resets the stream with CANCEL (deadline passed, caller gave up).
    pub fn cancel(&mut self) {
        if !self.done {
            self.done = true;
            let id = self.stream_id;
            let mut inner = self.shared.lock();
            inner.streams.remove(&id);
            inner.conn.send_reset(id, ErrorCode::CANCEL);
            drop(inner.conn.take_data(id));
            self.shared.wake_writer(&mut inner);
        }
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Where the reader leaves one stream's events for the caller's thread.
#[derive(Default)]
pub(crate) struct Inbox {
    events: Mutex<VecDeque<StreamEvent>>,
    /// Notified on each event and on cancel.
    ready: Condvar,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<StreamEvent>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, event: StreamEvent) {
        self.lock().push_back(event);
        self.ready.notify_one();
    }

    /// Tells the waiter more data waits, unless it has not yet seen the
    /// last such notice (one is enough: it takes everything).
    fn push_data(&self) {
        let mut events = self.lock();
        if !matches!(events.back(), Some(StreamEvent::Data)) {
            events.push_back(StreamEvent::Data);
            self.ready.notify_one();
        }
    }

    /// Wakes the waiter so it re-checks its context. Taking the lock
    /// orders this after a waiter's check of the token: no lost wake-up.
    fn wake(&self) {
        let _events = self.lock();
        self.ready.notify_one();
    }
}

/// The client side of a connection: responses go to the waiting streams.
pub(crate) struct ClientSide {
    body: ResponseBody,
}

/// How the reader routes one open stream.
pub(crate) struct Route {
    inbox: Arc<Inbox>,
    receive: Receive,
    /// The body's size as its first bytes declared it, once known.
    declared: Option<usize>,
    /// Its buffer was sized for it.
    sized: bool,
}

impl Side for ClientSide {
    const ROLE: Role = Role::Client;
    type Streams = HashMap<StreamId, Route>;
    type Handoff = ();

    fn new_streams(&self) -> Self::Streams {
        HashMap::new()
    }

    /// A client's calls have their own deadlines (`CallContext`).
    fn expire(_: &Arc<Shared<Self>>, _: &mut Inner<Self>, _: Instant) -> Option<Instant> {
        None
    }

    fn route(
        shared: &Arc<Shared<Self>>,
        inner: &mut Inner<Self>,
        events: Vec<Event>,
        _handoff: &mut (),
    ) {
        let body = shared.side.body;
        for event in events {
            match event {
                Event::Headers {
                    stream_id,
                    fields,
                    end_stream: false,
                } => {
                    if let Some(route) = inner.streams.get(&stream_id) {
                        route.inbox.push(StreamEvent::Headers(fields));
                    }
                }
                Event::Headers {
                    stream_id,
                    fields,
                    end_stream: true,
                } => end(inner, stream_id, Some(fields)),
                Event::Data {
                    stream_id,
                    end_stream,
                } => {
                    if collect(inner, stream_id, body) == Collected::Kept {
                        if end_stream {
                            end(inner, stream_id, None);
                        } else if let Some(route) = inner.streams.get(&stream_id) {
                            if route.receive == Receive::Incremental {
                                route.inbox.push_data();
                            }
                        }
                    }
                }
                Event::Reset {
                    stream_id,
                    code,
                    initiator,
                } => {
                    inner.log_reset(&shared.peer, stream_id, code, initiator);
                    let refused = inner.conn.take_refused_request(stream_id);
                    if let Some(route) = inner.streams.remove(&stream_id) {
                        let reset = match inner.conn.failure() {
                            // Not an HTTP/2 peer: say so, not the code.
                            Some(e @ ConnError::NotHttp2 { .. }) => {
                                StreamReset::peer_not_http2(e.to_string())
                            }
                            _ => StreamReset::new(code, initiator, refused),
                        };
                        route.inbox.push(StreamEvent::Reset(reset));
                    }
                }
                // GOAWAY: the connection refuses new streams (see
                // Connection::is_going_away); refused streams came as Reset.
                Event::GoAway { .. } => {}
                // We send no PINGs of our own yet.
                Event::PingAck { .. } => {}
            }
        }
    }

    fn hand_off(&self, (): ()) {}

    fn connection_lost(streams: Self::Streams) {
        for (_, route) in streams {
            route.inbox.push(StreamEvent::ConnectionLost);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Collected {
    /// The bytes wait in the connection for the stream's end or its taker.
    Kept,
    /// Not ours (any more), or over the limit: the stream was told.
    Gone,
}

/// Checks a stream's buffered body against the limit; sizes a whole body's
/// buffer from its first bytes.
fn collect(inner: &mut Inner<ClientSide>, stream_id: StreamId, body: ResponseBody) -> Collected {
    let Some(route) = inner.streams.get_mut(&stream_id) else {
        drop(inner.conn.take_data(stream_id));
        return Collected::Gone;
    };
    let buffered = inner.conn.buffered_data(stream_id);
    let mut len_bytes = buffered.len();
    if route.receive == Receive::Whole && route.declared.is_none() {
        route.declared = (body.size_hint)(buffered);
    }
    if let Some(total) = route.declared {
        len_bytes = len_bytes.max(total);
        if !route.sized && total <= body.max_bytes {
            match inner.conn.reserve_body(stream_id, total) {
                Ok(sized) => route.sized = sized,
                Err(_) => {
                    // Out of memory: this call fails, not the process.
                    if let Some(route) = inner.streams.remove(&stream_id) {
                        inner.conn.send_reset(stream_id, ErrorCode::CANCEL);
                        drop(inner.conn.take_data(stream_id));
                        let reset =
                            StreamReset::new(ErrorCode::ENHANCE_YOUR_CALM, Initiator::Us, None);
                        route.inbox.push(StreamEvent::Reset(reset));
                    }
                    return Collected::Gone;
                }
            }
        }
    }
    if len_bytes <= body.max_bytes {
        return Collected::Kept;
    }
    if let Some(route) = inner.streams.remove(&stream_id) {
        inner.conn.send_reset(stream_id, ErrorCode::CANCEL);
        drop(inner.conn.take_data(stream_id));
        route.inbox.push(StreamEvent::BodyTooLarge {
            len_bytes,
            limit_bytes: body.max_bytes,
        });
    }
    Collected::Gone
}

/// The stream ended: its inbox gets the rest of the body with the trailers.
fn end(inner: &mut Inner<ClientSide>, stream_id: StreamId, trailers: Option<HeaderList>) {
    let body = inner.conn.take_data(stream_id);
    if let Some(route) = inner.streams.remove(&stream_id) {
        route.inbox.push(StreamEvent::End { trailers, body });
    }
}
