//! Threads and sockets for HTTP/2: `io` is the only part of h2 that touches
//! a `TcpStream` (style.md §1). design.md "Threads, not async".
//!
//! Per connection: a reader thread (`io/reader.rs`) that reads the socket
//! and feeds the [`Connection`] state machine, and a writer thread
//! (`io/writer.rs`) that writes whatever output has accumulated, in one
//! `write` per batch. What the reader does with the connection's events
//! depends on the connection's [`Side`], a type:
//!
//! ```text
//!               reader --events--> Side::route (under the lock)
//!                                   |  server (io/server.rs): collect requests,
//!                                   |     hand them to a Service (io/listener.rs accepts)
//!                                   |  client (io/client.rs): deliver responses
//!                                   v     to the waiting ClientStream
//!               writer <--output-- Connection <--send_*-- Responder / ClientStream
//! ```
//!
//! Why a lock and not one owner thread: the reader blocks in `read`, and
//! `std` has no way to wait on a socket and a channel at once. Handlers on
//! worker threads therefore take the connection's mutex for the short,
//! in-memory state change of sending a response; no I/O ever happens under
//! it (the writer swaps the output buffer out and writes unlocked), so the
//! reader is never blocked by a slow peer.
//!
//! Bounds (issue 11, docs/transport.md "Hostile and broken peers"): the
//! reader stops reading while `Limits::max_output_bytes` of our output is
//! not on the socket (a peer that does not read cannot make us queue
//! more); the writer is the connection's clock, sleeping until there is
//! output or its nearest deadline: the peer's progress at the socket and
//! its windows (`send_timeout`), idleness, requests that must be whole
//! (`Side::expire`); stream handles wait for send room within
//! `send_timeout`. What a server's unfinished requests hold is counted in
//! `io/held.rs` (`io/server_streams.rs` keeps the books); log lines a peer
//! can cause are rate-limited (`io/log_budget.rs`).
//!
//! Server: [`start_server`] runs an acceptor thread; each request's headers
//! and body (bounded by `max_body_bytes`) go to a [`Service`] on the
//! reader thread, with a [`Responder`] to answer from any thread.
//! Client: [`ClientConnection::connect`] and [`ClientConnection::start`]
//! open one stream per call, many in parallel on one connection.

use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::conn::{Connection, Event, Initiator, Role};
use super::frame::{ErrorCode, StreamId};
use super::limits::Limits;
use crate::call::{wait_until, CancelToken};

mod client;
mod held;
mod listener;
mod log_budget;
mod reader;
mod reset;
mod server;
mod server_streams;
mod writer;

pub use client::{
    ClientConnection, ClientStream, ConnectError, Receive, RecvError, ResponseBody, StartError,
    StreamEvent,
};
pub use listener::{start_server, ServerHandle};
pub(crate) use log_budget::{not_logged, LogBudget};
pub use reset::{ResetKind, StreamReset};
pub use server::{BodyTooLarge, Request, Responder, Service};

/// The bounds the threads and stream handles of a connection apply, from
/// its `Limits` (each documented there).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) handshake_timeout: Duration,
    pub(crate) send_timeout: Duration,
    /// Without one, idleness is not tracked.
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_output_bytes: usize,
    pub(crate) max_pending_send_bytes: usize,
}

impl Bounds {
    fn new(limits: &Limits) -> Bounds {
        Bounds {
            handshake_timeout: limits.handshake_timeout,
            send_timeout: limits.send_timeout,
            idle_timeout: limits.idle_timeout,
            max_output_bytes: limits.max_output_bytes,
            max_pending_send_bytes: limits.max_pending_send_bytes,
        }
    }
}

/// What the reader does next ([`Shared::next_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextRead {
    /// The connection is closed.
    Stop,
    /// The last batch stopped early (it decoded enough header lists): the
    /// rest of what was read goes first.
    Held,
    /// Read the socket.
    Socket,
}

/// One end of a connection, as a type: what the reader does with the
/// connection's events, and what open streams are told when it closes.
pub(crate) trait Side: Send + Sync + Sized + 'static {
    /// The role the connection state machine plays.
    const ROLE: Role;
    /// Per-stream routing state, kept behind the connection lock.
    type Streams: Send;
    /// What one batch of events leaves for the reader to do once it has
    /// released the lock (run handlers, fire cancel tokens).
    type Handoff: Default;

    /// A connection's routing state before its first stream.
    fn new_streams(&self) -> Self::Streams;

    /// Routes one batch of events, under the connection lock.
    fn route(
        shared: &Arc<Shared<Self>>,
        inner: &mut Inner<Self>,
        events: Vec<Event>,
        handoff: &mut Self::Handoff,
    );

    /// Cuts what is overdue at `now` (under the lock, on the writer
    /// thread, the connection's clock); returns when to look again.
    fn expire(shared: &Arc<Shared<Self>>, inner: &mut Inner<Self>, now: Instant)
        -> Option<Instant>;

    /// Does what [`Side::route`] left, unlocked, on the reader thread.
    fn hand_off(&self, handoff: Self::Handoff);

    /// The connection is gone: every stream still routed is told (unlocked).
    fn connection_lost(streams: Self::Streams);
}

/// A connection's state behind its lock.
pub(crate) struct Inner<S: Side> {
    /// The connection state machine (no I/O).
    pub(crate) conn: Connection,
    /// The side's routing state of the open streams.
    pub(crate) streams: S::Streams,
    /// The socket is gone (read error, EOF, or connection error).
    pub(crate) closed: bool,
    /// When the writer is done, close both directions, not only ours: set
    /// for closes the peer did not ask for (idle, making room at the
    /// connection limit, a stall), so that a reader blocked on a silent
    /// peer wakes.
    shutdown_both: bool,
    /// The writer thread has written its last bytes and exited.
    pub(crate) writer_done: bool,
    /// The reader thread has exited.
    pub(crate) reader_done: bool,
    /// Since when no stream is open (`None` while one is): the writer
    /// closes the connection after `Limits::idle_timeout` of it.
    idle_since: Option<Instant>,
    /// The writer sleeps on [`Shared::wake`].
    writer_waiting: bool,
    /// Threads sleeping on [`Shared::changed`].
    watchers: usize,
    /// Stream resets logged and left out (rate-limited).
    reset_log: log_budget::ResetLog,
    /// Bytes the writer took from the output and has not written yet.
    unwritten: usize,
}

impl<S: Side> Inner<S> {
    /// Logs a stream reset (rate-limited): see [`log_budget::ResetLog`].
    pub(crate) fn log_reset(
        &mut self,
        peer: &str,
        stream_id: StreamId,
        code: ErrorCode,
        initiator: Initiator,
    ) {
        self.reset_log
            .reset(&self.conn, peer, stream_id, code, initiator);
    }

    /// Our output not yet on the socket: encoded frames, and the batch the
    /// writer is writing.
    fn output_bytes(&self) -> usize {
        self.conn.output_bytes().saturating_add(self.unwritten)
    }

    /// [`Shared::close_gracefully`] under the lock already held (the
    /// caller wakes the writer, unless it is the writer).
    fn close_gracefully(&mut self, why: &[u8]) {
        if self.closed {
            return;
        }
        self.conn.go_away(ErrorCode::NO_ERROR, why);
        self.closed = true;
        self.shutdown_both = true;
    }
}

/// What the reader, the writer and every stream handle share.
pub(crate) struct Shared<S: Side> {
    inner: Mutex<Inner<S>>,
    /// Wakes the writer (output ready, or closed). Notified only when the
    /// writer waits: a futex wake per response would cost a syscall each.
    wake: Condvar,
    /// Wakes those waiting for a change: senders waiting for room, the
    /// shutdown waiting for the writer to finish.
    changed: Condvar,
    /// The socket (the reader and writer hold clones): shut down to end
    /// the connection at once.
    pub(crate) socket: TcpStream,
    /// The side's own data (the server's service, the client's body limit).
    pub(crate) side: S,
    /// The peer's address, for log lines.
    pub(crate) peer: String,
    pub(crate) bounds: Bounds,
}

impl<S: Side> Shared<S> {
    /// The connection's state; never held across I/O.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection state, then wakes the writer if `f` left
    /// output.
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut inner = self.lock();
        let r = f(&mut inner.conn);
        self.wake_writer(&mut inner);
        r
    }

    /// Wakes the writer if it sleeps and there is something to write, or
    /// the last stream just ended (it then times the idle close). Keeps
    /// [`Inner::idle_since`] in step with the open streams.
    pub(crate) fn wake_writer(&self, inner: &mut Inner<S>) {
        let now_idle = if self.bounds.idle_timeout.is_none() {
            false
        } else if inner.conn.active_streams() > 0 {
            inner.idle_since = None;
            false
        } else if inner.idle_since.is_none() {
            inner.idle_since = Some(Instant::now());
            true
        } else {
            false
        };
        if inner.writer_waiting && (inner.conn.has_output() || now_idle) {
            self.wake.notify_one();
        }
    }

    /// Waits on [`Shared::changed`] until notified or `deadline` (`None`:
    /// no deadline) has passed. Callers re-check what they wait for.
    pub(crate) fn wait_changed<'a>(
        &self,
        mut inner: MutexGuard<'a, Inner<S>>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, Inner<S>> {
        inner.watchers += 1;
        let mut inner = wait_until(&self.changed, inner, deadline);
        inner.watchers -= 1;
        inner
    }

    /// Waits while more than `Limits::max_pending_send_bytes` of our output
    /// waits on the peer's windows: until the writer has taken some of it,
    /// the connection closes, `cancel` fires, or `deadline` (the call's)
    /// or `Limits::send_timeout` from now passes. The caller then sends (or
    /// finds the stream gone) as usual; `Err` with the pending bytes when
    /// there was still no room at the end (the peer does not read: the
    /// caller gives up on the stream, never waits forever).
    pub(crate) fn wait_send_room(
        self: &Arc<Self>,
        cancel: &CancelToken,
        deadline: Option<Instant>,
    ) -> Result<(), usize> {
        let max = self.bounds.max_pending_send_bytes;
        let short_of_room = |inner: &Inner<S>| {
            let pending = inner.conn.pending_send_bytes();
            (!inner.closed && pending > max).then_some(pending)
        };
        if short_of_room(&self.lock()).is_none() {
            return Ok(());
        }
        let deadline = [
            deadline,
            Instant::now().checked_add(self.bounds.send_timeout),
        ]
        .into_iter()
        .flatten()
        .min();
        // Registered before locking: a hook runs at once when the token is
        // already cancelled, and it takes the lock to wake us.
        let weak = Arc::downgrade(self);
        let _hook = cancel.on_cancel(Arc::new(move || {
            if let Some(shared) = weak.upgrade() {
                let _inner = shared.lock();
                shared.changed.notify_all();
            }
        }));
        let mut inner = self.lock();
        loop {
            let Some(pending) = short_of_room(&inner) else {
                return Ok(());
            };
            if cancel.is_cancelled() {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(pending);
            }
            inner = self.wait_changed(inner, deadline);
        }
    }

    /// What the reader does next. It waits first while more than
    /// `Limits::max_output_bytes` of our output is not on the socket yet:
    /// a peer that does not read cannot make us queue more.
    pub(crate) fn next_read(&self) -> NextRead {
        let mut inner = self.lock();
        while !inner.closed && inner.output_bytes() > self.bounds.max_output_bytes {
            inner = self.wait_changed(inner, None);
        }
        if inner.closed {
            NextRead::Stop
        } else if inner.conn.has_input_held() {
            NextRead::Held
        } else {
            NextRead::Socket
        }
    }

    /// Closes the connection from our side although the peer did nothing
    /// wrong (idle, or making room at the connection limit): GOAWAY
    /// NO_ERROR with `why` as debug data, then both directions close once
    /// the writer has flushed it.
    pub(crate) fn close_gracefully(&self, why: &[u8]) {
        let mut inner = self.lock();
        inner.close_gracefully(why);
        self.wake.notify_all();
    }

    /// Marks the connection dead: every stream is told, the writer stops.
    pub(crate) fn close(&self) {
        let streams = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.conn.close();
            drop(inner.conn.take_events());
            self.wake.notify_all();
            self.changed.notify_all();
            std::mem::replace(&mut inner.streams, self.side.new_streams())
        };
        S::connection_lost(streams);
    }
}

/// Starts the reader and writer threads of a connection on `socket`.
pub(crate) fn spawn_connection<S: Side>(
    socket: TcpStream,
    limits: Limits,
    side: S,
) -> io::Result<Arc<Shared<S>>> {
    socket.set_nodelay(true)?;
    let bounds = Bounds::new(&limits);
    let read_half = socket.try_clone()?;
    let write_half = socket.try_clone()?;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            conn: Connection::new(S::ROLE, limits),
            streams: side.new_streams(),
            closed: false,
            shutdown_both: false,
            writer_done: false,
            reader_done: false,
            idle_since: bounds.idle_timeout.map(|_| Instant::now()),
            writer_waiting: false,
            watchers: 0,
            reset_log: log_budget::ResetLog::new(),
            unwritten: 0,
        }),
        wake: Condvar::new(),
        changed: Condvar::new(),
        peer: peer(&socket),
        socket,
        side,
        bounds,
    });
    let w = Arc::clone(&shared);
    thread::Builder::new()
        .name("h2-writer".to_owned())
        .spawn(move || writer::run(&w, write_half))?;
    let r = Arc::clone(&shared);
    let reader = thread::Builder::new()
        .name("h2-reader".to_owned())
        .spawn(move || reader::run(&r, read_half));
    if let Err(e) = reader {
        // The writer runs already: it must not wait forever.
        shared.close();
        return Err(e);
    }
    Ok(shared)
}

fn peer(socket: &TcpStream) -> String {
    socket
        .peer_addr()
        .map_or_else(|_| "an unknown peer".to_owned(), |a| a.to_string())
}
