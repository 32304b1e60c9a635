//! Threads and sockets for HTTP/2: `io` (this file, `io/server.rs`,
//! `io/client.rs`) is the only part of h2 that touches a `TcpStream`
//! (style.md §1). design.md "Threads, not async".
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
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::conn::{Connection, Event, HeaderList, Role};
use super::frame::{ErrorCode, StreamId};
use super::limits::Limits;
use crate::call::CancelToken;

mod client;
mod server;

pub use client::{ClientConnection, ClientStream, ConnectError, RecvError, StreamEvent};
pub use server::{start_server, BodyTooLarge, Request, Responder, ServerHandle, Service};

/// Bytes read from the socket per `read` call.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// How long we keep reading (and discarding) after a connection error.
const DRAIN_AFTER_ERROR: Duration = Duration::from_secs(1);
/// How much we read (and discard) after a connection error at most.
const DRAIN_MAX_BYTES: usize = 16 << 20;
/// Our own output waiting for the peer's flow-control windows above which
/// senders wait (bounded memory when a peer stops reading).
const MAX_PENDING_SEND_BYTES: usize = 64 << 20;

/// A request being collected by the reader thread.
struct ServerStream {
    fields: HeaderList,
    body: Vec<u8>,
    cancel: CancelToken,
    /// Handed to the service; later DATA is ignored.
    dispatched: bool,
    /// The service's size hint was asked for (once per request).
    size_hinted: bool,
}

struct Inner {
    conn: Connection,
    server_streams: HashMap<StreamId, ServerStream>,
    client_streams: HashMap<StreamId, mpsc::Sender<StreamEvent>>,
    /// The socket is gone (read error, EOF, or connection error).
    closed: bool,
    /// The writer thread has written its last bytes and exited.
    writer_done: bool,
    /// The writer sleeps on [`Shared::wake`].
    writer_waiting: bool,
    /// Threads sleeping on [`Shared::changed`].
    watchers: usize,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the writer (output ready, or closed). Notified only when the
    /// writer waits: a futex wake per response would cost a syscall each.
    wake: Condvar,
    /// Wakes those waiting for a change: senders waiting for room, the
    /// shutdown waiting for the writer to finish.
    changed: Condvar,
    socket: TcpStream,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut inner = self.lock();
        let r = f(&mut inner.conn);
        self.wake_writer(&inner);
        r
    }

    /// Wakes the writer if it sleeps and there is something to write.
    fn wake_writer(&self, inner: &Inner) {
        if inner.writer_waiting && inner.conn.has_output() {
            self.wake.notify_one();
        }
    }

    /// Waits on [`Shared::changed`] for up to `timeout`.
    fn wait_changed<'a>(
        &self,
        mut inner: MutexGuard<'a, Inner>,
        timeout: Duration,
    ) -> MutexGuard<'a, Inner> {
        inner.watchers += 1;
        let mut inner = match self.changed.wait_timeout(inner, timeout) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
        inner.watchers -= 1;
        inner
    }

    fn wait_send_room(&self, cancel: &CancelToken) {
        let mut inner = self.lock();
        while !inner.closed
            && !cancel.is_cancelled()
            && inner.conn.pending_send_bytes() > MAX_PENDING_SEND_BYTES
        {
            inner = self.wait_changed(inner, Duration::from_millis(100));
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
        self.changed.notify_all();
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
    let handshake_timeout = limits.handshake_timeout;
    let stall_timeout = limits.send_stall_timeout;
    let read_half = socket.try_clone()?;
    let write_half = socket.try_clone()?;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            conn: Connection::new(role, limits),
            server_streams: HashMap::new(),
            client_streams: HashMap::new(),
            closed: false,
            writer_done: false,
            writer_waiting: false,
            watchers: 0,
        }),
        wake: Condvar::new(),
        changed: Condvar::new(),
        socket,
    });
    let w = Arc::clone(&shared);
    thread::Builder::new()
        .name("h2-writer".to_owned())
        .spawn(move || writer_loop(&w, write_half, stall_timeout))?;
    let r = Arc::clone(&shared);
    thread::Builder::new()
        .name("h2-reader".to_owned())
        .spawn(move || reader_loop(&r, read_half, service.as_deref(), handshake_timeout))?;
    Ok(shared)
}

fn writer_loop(shared: &Shared, socket: TcpStream, stall_timeout: Duration) {
    write_until_done(shared, socket, stall_timeout);
    let mut inner = shared.lock();
    inner.writer_done = true;
    shared.changed.notify_all();
}

/// Writes batches of output until the connection is closed, or going away
/// with every stream finished (then the last bytes are followed by FIN).
fn write_until_done(shared: &Shared, mut socket: TcpStream, stall_timeout: Duration) {
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut stall = Stall::new(stall_timeout);
    let mut stalled = false;
    loop {
        {
            let mut inner = shared.lock();
            loop {
                if inner.conn.has_output() {
                    inner.conn.swap_output(&mut batch);
                    break;
                }
                // Done: closed, or going away with every stream finished.
                if inner.closed || (inner.conn.is_going_away() && inner.conn.active_streams() == 0)
                {
                    drop(inner);
                    // FIN after the last frame (a GOAWAY); the reader closes
                    // the read side once the peer is done.
                    let _ = socket.flush();
                    let how = if stalled {
                        Shutdown::Both
                    } else {
                        Shutdown::Write
                    };
                    let _ = socket.shutdown(how);
                    return;
                }
                if stall.is_stalled(&inner.conn) {
                    crate::warn!(
                        "HTTP/2 connection with {}: peer kept its flow-control window closed for {:?}; closing",
                        peer(&socket),
                        stall.timeout
                    );
                    inner
                        .conn
                        .abort(ErrorCode::ENHANCE_YOUR_CALM, "flow-control window stalled");
                    inner.closed = true;
                    // The reader may be blocked on a peer that sends nothing.
                    stalled = true;
                    continue;
                }
                inner.writer_waiting = true;
                inner = match shared.wake.wait_timeout(inner, STALL_CHECK) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
                inner.writer_waiting = false;
            }
            // Output was taken: senders waiting for room may go on.
            if inner.watchers > 0 {
                shared.changed.notify_all();
            }
        }
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

fn reader_loop(
    shared: &Arc<Shared>,
    mut socket: TcpStream,
    service: Option<&dyn Service>,
    handshake_timeout: Duration,
) {
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    // A peer that connects and never completes the preface and SETTINGS
    // would hold two threads forever: it gets `handshake_timeout`.
    let mut handshaking = socket.set_read_timeout(Some(handshake_timeout)).is_ok();
    loop {
        let n = match socket.read(&mut buf) {
            Ok(0) => break,
            Err(e) => {
                if handshaking {
                    crate::v!(
                        2,
                        "HTTP/2 handshake from {} not completed: {e}",
                        peer(&socket)
                    );
                }
                break;
            }
            Ok(n) => n,
        };
        let mut dispatch = Vec::new();
        let failed;
        {
            let mut inner = shared.lock();
            let result = inner.conn.recv(buf.get(..n).unwrap_or_default());
            if let Err(e) = &result {
                crate::warn!("HTTP/2 connection with {}: {e}; sent GOAWAY", peer(&socket));
            }
            failed = result.is_err();
            if handshaking && inner.conn.is_established() {
                handshaking = false;
                let _ = socket.set_read_timeout(None);
            }
            let events = inner.conn.take_events();
            route_events(shared, &mut inner, events, service, &mut dispatch);
            if failed {
                shared.wake.notify_all();
            } else {
                shared.wake_writer(&inner);
            }
        }
        if let Some(service) = service {
            for (request, responder) in dispatch {
                // A panicking handler must not take the connection down with
                // its reader thread; its responder resets the stream on drop.
                let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    service.handle(request, responder);
                }));
                if handled.is_err() {
                    crate::error!("a request handler panicked; its stream was reset");
                }
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

/// How often the writer looks for a stalled peer window.
const STALL_CHECK: Duration = Duration::from_millis(250);

/// Watches our pending output: data waiting while the DATA counter does
/// not move for `timeout` is a zero-window stall.
struct Stall {
    timeout: Duration,
    last_sent: u64,
    since: Instant,
}

impl Stall {
    fn new(timeout: Duration) -> Stall {
        Stall {
            timeout,
            last_sent: 0,
            since: Instant::now(),
        }
    }

    fn is_stalled(&mut self, conn: &Connection) -> bool {
        let sent = conn.data_bytes_sent();
        if sent != self.last_sent || conn.pending_send_bytes() == 0 {
            self.last_sent = sent;
            self.since = Instant::now();
            return false;
        }
        self.since.elapsed() >= self.timeout
    }
}

fn peer(socket: &TcpStream) -> String {
    socket
        .peer_addr()
        .map_or_else(|_| "an unknown peer".to_owned(), |a| a.to_string())
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
                inner.server_streams.insert(stream_id, s);
            }
            (
                Some(service),
                Event::Data {
                    stream_id,
                    end_stream,
                },
            ) => {
                let Some(s) = inner.server_streams.get_mut(&stream_id) else {
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
                if buffered.len() > limit {
                    drop(inner.conn.take_data(stream_id));
                    s.dispatched = true;
                    dispatch.push(take_request(
                        shared,
                        stream_id,
                        s,
                        Err(BodyTooLarge { limit_bytes: limit }),
                    ));
                    continue;
                }
                if !s.size_hinted {
                    // The body announces its own size (a gRPC prefix): one
                    // allocation instead of doubling copies of 6 MB.
                    if let Some(total) = service.body_size_hint(buffered) {
                        s.size_hinted = true;
                        let more = total.min(limit).saturating_sub(buffered.len());
                        inner.conn.reserve_data(stream_id, more);
                    }
                }
                if end_stream {
                    s.body = inner.conn.take_data(stream_id);
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
                    end_stream,
                },
            ) => {
                let data = inner.conn.take_data(stream_id);
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
