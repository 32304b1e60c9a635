//! Threads and sockets for HTTP/2: the only h2 file that touches a
//! `TcpStream` (style.md §1). design.md "Threads, not async".
//!
//! Per connection: a reader thread that reads the socket and feeds the
//! [`Connection`] state machine, and a writer thread that writes whatever
//! output has accumulated, in one `write` per batch.
//!
//! Why a lock and not one owner thread: the reader blocks in `read`, and
//! `std` has no way to wait on a socket and a channel at once. Handlers on
//! worker threads therefore take the connection's mutex for the short,
//! in-memory state change of sending a response; no I/O ever happens under
//! it (the writer swaps the output buffer out and writes unlocked), so the
//! reader is never blocked by a slow peer.
//!
//! Server: [`start_server`] runs an acceptor thread; each request's headers
//! and body (bounded by `max_body_bytes`) go to a [`Service`] on the
//! reader thread, with a [`Responder`] to answer from any thread.
//! Client: [`ClientConnection::connect`] and [`ClientConnection::start`]
//! open one stream per call, many in parallel on one connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::conn::{Connection, Event, Field, Initiator, Role, SendError};
use super::frame::{ErrorCode, StreamId};
use super::limits::Limits;
use crate::call::CancelToken;

/// Bytes read from the socket per `read` call.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// How long we keep reading (and discarding) after a connection error.
const DRAIN_AFTER_ERROR: Duration = Duration::from_secs(1);
/// How much we read (and discard) after a connection error at most.
const DRAIN_MAX_BYTES: usize = 16 << 20;
/// Our own output waiting for the peer's flow-control windows above which
/// senders wait (bounded memory when a peer stops reading).
const MAX_PENDING_SEND_BYTES: usize = 64 << 20;

/// A request as the server's reader thread assembled it.
#[derive(Debug)]
pub struct Request {
    /// Request header fields, pseudo-headers first.
    pub fields: Vec<Field>,
    /// The body, or how large it grew before we stopped collecting it.
    pub body: Result<Vec<u8>, BodyTooLarge>,
}

/// A request body went past the service's `max_body_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge {
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
}

/// Answers one request, from any thread. Dropping it unfinished resets the
/// stream, so a peer is never left waiting.
pub struct Responder {
    shared: Arc<Shared>,
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
    pub fn send_headers(&mut self, fields: &[Field], end_stream: bool) -> Result<(), SendError> {
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
        self.shared.wait_send_room(&self.cancel);
        let r = self
            .shared
            .with_conn(|c| c.send_data(self.stream_id, data, end_stream));
        if end_stream {
            self.finish();
        }
        r
    }

    /// Sends headers, an optional body and trailers in one step (one lock,
    /// one wake-up of the writer): a whole unary response.
    pub fn send_response(
        &mut self,
        head: &[Field],
        body: Option<Vec<u8>>,
        trailers: &[Field],
    ) -> Result<(), SendError> {
        self.shared.wait_send_room(&self.cancel);
        let id = self.stream_id;
        let r = self.shared.with_conn(|c| {
            c.send_headers(id, head, false)?;
            if let Some(body) = body {
                c.send_data(id, body, false)?;
            }
            c.send_headers(id, trailers, true)
        });
        self.finish();
        r
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.shared.lock().server_streams.remove(&self.stream_id);
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
            self.shared.lock().server_streams.remove(&id);
        }
    }
}

/// A request being collected by the reader thread.
struct ServerStream {
    fields: Vec<Field>,
    body: Vec<u8>,
    cancel: CancelToken,
    /// Handed to the service; later DATA is ignored.
    dispatched: bool,
}

/// What a client call receives on its stream.
#[derive(Debug)]
pub enum StreamEvent {
    Headers {
        fields: Vec<Field>,
        end_stream: bool,
    },
    Data {
        data: Vec<u8>,
        end_stream: bool,
    },
    /// The stream was reset (or refused by GOAWAY).
    Reset {
        code: ErrorCode,
        initiator: Initiator,
    },
    /// The connection closed before the stream ended.
    ConnectionLost,
}

struct Inner {
    conn: Connection,
    server_streams: HashMap<StreamId, ServerStream>,
    client_streams: HashMap<StreamId, mpsc::Sender<StreamEvent>>,
    /// The socket is gone (read error, EOF, or connection error).
    closed: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the writer (output ready or closed) and senders waiting for room.
    wake: Condvar,
    socket: TcpStream,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut inner = self.lock();
        let r = f(&mut inner.conn);
        if inner.conn.has_output() {
            self.wake.notify_all();
        }
        r
    }

    fn wait_send_room(&self, cancel: &CancelToken) {
        let mut inner = self.lock();
        while !inner.closed
            && !cancel.is_cancelled()
            && inner.conn.pending_send_bytes() > MAX_PENDING_SEND_BYTES
        {
            inner = match self.wake.wait_timeout(inner, Duration::from_millis(100)) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Marks the connection dead: every stream is told, the writer stops.
    fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.conn.close();
        let events = inner.conn.take_events();
        let cancels: Vec<CancelToken> = inner
            .server_streams
            .drain()
            .map(|(_, s)| s.cancel)
            .collect();
        let clients: Vec<mpsc::Sender<StreamEvent>> =
            inner.client_streams.drain().map(|(_, s)| s).collect();
        drop(events);
        self.wake.notify_all();
        drop(inner);
        for c in cancels {
            c.cancel();
        }
        for tx in clients {
            let _ = tx.send(StreamEvent::ConnectionLost);
        }
    }
}

fn spawn_connection(
    socket: TcpStream,
    role: Role,
    limits: Limits,
    service: Option<Arc<dyn Service>>,
) -> io::Result<Arc<Shared>> {
    socket.set_nodelay(true)?;
    let read_half = socket.try_clone()?;
    let write_half = socket.try_clone()?;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            conn: Connection::new(role, limits),
            server_streams: HashMap::new(),
            client_streams: HashMap::new(),
            closed: false,
        }),
        wake: Condvar::new(),
        socket,
    });
    let w = Arc::clone(&shared);
    thread::Builder::new()
        .name("h2-writer".to_owned())
        .spawn(move || writer_loop(&w, write_half))?;
    let r = Arc::clone(&shared);
    thread::Builder::new()
        .name("h2-reader".to_owned())
        .spawn(move || reader_loop(&r, read_half, service.as_deref()))?;
    Ok(shared)
}

fn writer_loop(shared: &Shared, mut socket: TcpStream) {
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        {
            let mut inner = shared.lock();
            loop {
                if inner.conn.has_output() {
                    inner.conn.drain_output_into(&mut batch);
                    break;
                }
                // Done: closed, or going away with every stream finished.
                if inner.closed || (inner.conn.is_going_away() && inner.conn.active_streams() == 0)
                {
                    drop(inner);
                    // FIN after the last frame (a GOAWAY); the reader closes
                    // the read side once the peer is done.
                    let _ = socket.flush();
                    let _ = socket.shutdown(Shutdown::Write);
                    return;
                }
                inner = shared.wake.wait(inner).unwrap_or_else(|p| p.into_inner());
            }
        }
        shared.wake.notify_all();
        if socket.write_all(&batch).is_err() {
            shared.close();
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
        batch.clear();
        if batch.capacity() > 1 << 20 {
            batch.shrink_to(64 * 1024);
        }
    }
}

fn reader_loop(shared: &Arc<Shared>, mut socket: TcpStream, service: Option<&dyn Service>) {
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let n = match socket.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut dispatch = Vec::new();
        let failed;
        {
            let mut inner = shared.lock();
            failed = inner.conn.recv(buf.get(..n).unwrap_or_default()).is_err();
            let events = inner.conn.take_events();
            route_events(shared, &mut inner, events, service, &mut dispatch);
            if inner.conn.has_output() || failed {
                shared.wake.notify_all();
            }
        }
        if let Some(service) = service {
            for (request, responder) in dispatch {
                service.handle(request, responder);
            }
        }
        if failed {
            // The GOAWAY is queued; the writer flushes it, then closes.
            let mut inner = shared.lock();
            inner.closed = true;
            shared.wake.notify_all();
            drop(inner);
            drain(&mut socket, &mut buf);
            break;
        }
    }
    shared.close();
    let _ = socket.shutdown(Shutdown::Both);
}

/// After a connection error: read and discard what the peer still sends,
/// briefly, so that closing with unread data does not turn into a TCP RST
/// that would destroy our GOAWAY before the peer reads it.
fn drain(socket: &mut TcpStream, buf: &mut [u8]) {
    let deadline = Instant::now() + DRAIN_AFTER_ERROR;
    let mut budget = DRAIN_MAX_BYTES;
    let _ = socket.set_read_timeout(Some(DRAIN_AFTER_ERROR));
    while Instant::now() < deadline && budget > 0 {
        match socket.read(buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}

fn route_events(
    shared: &Arc<Shared>,
    inner: &mut Inner,
    events: Vec<Event>,
    service: Option<&dyn Service>,
    dispatch: &mut Vec<(Request, Responder)>,
) {
    for event in events {
        match (service, event) {
            (
                Some(_),
                Event::Headers {
                    stream_id,
                    fields,
                    end_stream,
                },
            ) => {
                if let Some(s) = inner.server_streams.get_mut(&stream_id) {
                    // Request trailers: only END_STREAM matters to us.
                    if end_stream && !s.dispatched {
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
                };
                if end_stream {
                    s.dispatched = true;
                    dispatch.push(take_request(shared, stream_id, &mut s, Ok(())));
                }
                inner.server_streams.insert(stream_id, s);
            }
            (
                Some(service),
                Event::Data {
                    stream_id,
                    data,
                    end_stream,
                },
            ) => {
                let Some(s) = inner.server_streams.get_mut(&stream_id) else {
                    continue;
                };
                if s.dispatched {
                    continue;
                }
                let limit = service.max_body_bytes();
                if s.body.len().saturating_add(data.len()) > limit {
                    s.dispatched = true;
                    s.body = Vec::new();
                    dispatch.push(take_request(
                        shared,
                        stream_id,
                        s,
                        Err(BodyTooLarge { limit_bytes: limit }),
                    ));
                    continue;
                }
                if s.body.is_empty() && end_stream {
                    s.body = data;
                } else {
                    s.body.extend_from_slice(&data);
                }
                if end_stream {
                    s.dispatched = true;
                    dispatch.push(take_request(shared, stream_id, s, Ok(())));
                }
            }
            (Some(_), Event::Reset { stream_id, .. }) => {
                if let Some(s) = inner.server_streams.remove(&stream_id) {
                    s.cancel.cancel();
                }
            }
            (
                None,
                Event::Headers {
                    stream_id,
                    fields,
                    end_stream,
                },
            ) => {
                send_client(
                    inner,
                    stream_id,
                    StreamEvent::Headers { fields, end_stream },
                    end_stream,
                );
            }
            (
                None,
                Event::Data {
                    stream_id,
                    data,
                    end_stream,
                },
            ) => {
                send_client(
                    inner,
                    stream_id,
                    StreamEvent::Data { data, end_stream },
                    end_stream,
                );
            }
            (
                None,
                Event::Reset {
                    stream_id,
                    code,
                    initiator,
                },
            ) => {
                send_client(
                    inner,
                    stream_id,
                    StreamEvent::Reset { code, initiator },
                    true,
                );
            }
            // GOAWAY: the connection refuses new streams (see
            // Connection::is_going_away); refused streams came as Reset.
            (_, Event::GoAway { .. }) => {}
            // We send no PINGs of our own yet.
            (_, Event::PingAck { .. }) => {}
        }
    }
}

fn take_request(
    shared: &Arc<Shared>,
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

fn send_client(inner: &mut Inner, stream_id: StreamId, event: StreamEvent, last: bool) {
    let tx = if last {
        inner.client_streams.remove(&stream_id)
    } else {
        inner.client_streams.get(&stream_id).cloned()
    };
    if let Some(tx) = tx {
        let _ = tx.send(event);
    }
}

/// A running server: the acceptor and its connections.
pub struct ServerHandle {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<Weak<Shared>>>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

/// Accepts connections on `listener` until [`ServerHandle::shutdown`].
pub fn start_server(
    listener: TcpListener,
    service: Arc<dyn Service>,
    limits: Limits,
) -> io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let stopping = Arc::new(AtomicBool::new(false));
    let conns: Arc<Mutex<Vec<Weak<Shared>>>> = Arc::new(Mutex::new(Vec::new()));
    let (s, c) = (Arc::clone(&stopping), Arc::clone(&conns));
    let acceptor = thread::Builder::new()
        .name("h2-acceptor".to_owned())
        .spawn(move || {
            for socket in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(socket) = socket else {
                    // EMFILE and friends: back off instead of spinning.
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                if let Ok(shared) = spawn_connection(
                    socket,
                    Role::Server,
                    limits.clone(),
                    Some(Arc::clone(&service)),
                ) {
                    let mut list = c.lock().unwrap_or_else(|p| p.into_inner());
                    list.retain(|w| w.strong_count() > 0);
                    list.push(Arc::downgrade(&shared));
                }
            }
            // The listener is dropped here: new connections are refused.
        })?;
    Ok(ServerHandle {
        local_addr,
        stopping,
        conns,
        acceptor: Some(acceptor),
    })
}

impl ServerHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Closes the listener (it is gone when this returns) and sends GOAWAY
    /// to every connection; in-flight streams continue.
    pub fn begin_shutdown(&mut self) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            // Wake the acceptor out of accept(2): it sees the flag and drops
            // the listener.
            let mut wake = self.local_addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for shared in self.live_connections() {
            shared.with_conn(|c| c.go_away(ErrorCode::NO_ERROR, b"server shutting down"));
        }
    }

    /// Waits up to `grace` for in-flight streams to finish, then closes every
    /// connection. True when all finished in time.
    pub fn finish_shutdown(&mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut clean = true;
        for shared in self.live_connections() {
            let mut inner = shared.lock();
            while !inner.closed && inner.conn.active_streams() > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    clean = false;
                    break;
                }
                inner = match shared
                    .wake
                    .wait_timeout(inner, left.min(Duration::from_millis(50)))
                {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
            }
            drop(inner);
            // Let the writer flush what is queued, then the socket closes.
            let flush_deadline = Instant::now() + Duration::from_millis(500);
            loop {
                let inner = shared.lock();
                if !inner.conn.has_output() || inner.closed || Instant::now() >= flush_deadline {
                    break;
                }
                drop(inner);
                thread::sleep(Duration::from_millis(5));
            }
            let _ = shared.socket.shutdown(Shutdown::Both);
        }
        clean
    }

    /// Closes the listener, GOAWAY, waits up to `grace`, closes the rest.
    pub fn shutdown(mut self, grace: Duration) -> bool {
        self.begin_shutdown();
        self.finish_shutdown(grace)
    }

    fn live_connections(&self) -> Vec<Arc<Shared>> {
        let list = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        list.iter().filter_map(Weak::upgrade).collect()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.begin_shutdown();
            self.finish_shutdown(Duration::ZERO);
        }
    }
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

/// One client connection (h2c, prior knowledge); many streams at once.
#[derive(Clone)]
pub struct ClientConnection {
    shared: Arc<Shared>,
}

/// A stream opened by [`ClientConnection::start`]: read the response from it.
pub struct ClientStream {
    shared: Arc<Shared>,
    stream_id: StreamId,
    rx: mpsc::Receiver<StreamEvent>,
    done: bool,
}

impl ClientConnection {
    /// Connects to `addr` (HOST:PORT) within `connect_timeout`.
    pub fn connect(
        addr: &str,
        connect_timeout: Duration,
        limits: Limits,
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
                    let shared =
                        spawn_connection(socket, Role::Client, limits, None).map_err(|source| {
                            ConnectError::Connect {
                                addr: addr.to_owned(),
                                source,
                            }
                        })?;
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

    /// Opens a stream with `fields` and sends `body` with END_STREAM.
    pub fn start(&self, fields: &[Field], body: Vec<u8>) -> Result<ClientStream, SendError> {
        let (tx, rx) = mpsc::channel();
        self.shared.wait_send_room(&CancelToken::new());
        let stream_id = {
            let mut inner = self.shared.lock();
            if inner.closed {
                return Err(SendError::GoingAway);
            }
            let id = inner.conn.open_stream(fields, false)?;
            inner.client_streams.insert(id, tx);
            if let Err(e) = inner.conn.send_data(id, body, true) {
                inner.client_streams.remove(&id);
                return Err(e);
            }
            self.shared.wake.notify_all();
            id
        };
        Ok(ClientStream {
            shared: Arc::clone(&self.shared),
            stream_id,
            rx,
            done: false,
        })
    }

    /// Sends GOAWAY: no new streams; the socket closes once in-flight
    /// streams have finished.
    pub fn close_when_idle(&self) {
        self.shared
            .with_conn(|c| c.go_away(ErrorCode::NO_ERROR, b""));
    }

    /// Whether both handles are the same connection.
    pub fn same_as(&self, other: &ClientConnection) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Closes the connection now.
    pub fn close(&self) {
        let _ = self.shared.socket.shutdown(Shutdown::Both);
    }
}

/// Waiting on a [`ClientStream`] ended without an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The deadline passed.
    Timeout,
    /// The stream already ended.
    Finished,
}

impl ClientStream {
    /// The next event, waiting until `deadline` at most.
    pub fn recv(&mut self, deadline: Option<Instant>) -> Result<StreamEvent, RecvError> {
        if self.done {
            return Err(RecvError::Finished);
        }
        let event = match deadline {
            None => self.rx.recv().map_err(|_| RecvError::Finished)?,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(e) => e,
                    Err(mpsc::RecvTimeoutError::Timeout) => return Err(RecvError::Timeout),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Err(RecvError::Finished),
                }
            }
        };
        let last = match &event {
            StreamEvent::Headers { end_stream, .. } | StreamEvent::Data { end_stream, .. } => {
                *end_stream
            }
            StreamEvent::Reset { .. } | StreamEvent::ConnectionLost => true,
        };
        if last {
            self.done = true;
        }
        Ok(event)
    }

    /// Resets the stream with CANCEL (deadline passed, caller gave up).
    pub fn cancel(&mut self) {
        if !self.done {
            self.done = true;
            let id = self.stream_id;
            let mut inner = self.shared.lock();
            inner.client_streams.remove(&id);
            inner.conn.send_reset(id, ErrorCode::CANCEL);
            self.shared.wake.notify_all();
        }
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        self.cancel();
    }
}
