//! The client side of `h2::io`: one connection ([`ClientConnection`])
//! carrying many calls, each read through its [`ClientStream`].
//!
//! The reader thread puts each stream's events in the stream's inbox; the
//! caller's thread waits on the inbox for the next event, its deadline or
//! its cancel token, whichever comes first (a cancel hook wakes it: no
//! polling).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{spawn_connection, Inner, Shared, Side};
use crate::call::{CallContext, CancelHook, Interrupt};
use crate::h2::conn::{Event, Field, HeaderList, Initiator, Role, SendError};
use crate::h2::frame::{ErrorCode, StreamId};
use crate::h2::limits::Limits;

/// What a client call receives on its stream.
#[derive(Debug)]
pub enum StreamEvent {
    Headers {
        fields: HeaderList,
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
    shared: Arc<Shared<ClientSide>>,
}

/// A stream opened by [`ClientConnection::start`]: read the response from it.
pub struct ClientStream {
    shared: Arc<Shared<ClientSide>>,
    stream_id: StreamId,
    inbox: Arc<Inbox>,
    /// Wakes [`ClientStream::recv`] when the call is cancelled.
    _cancel_hook: CancelHook,
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
                        spawn_connection(socket, limits, ClientSide).map_err(|source| {
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

    /// Opens a stream with `fields` and sends `body` with END_STREAM. The
    /// stream's [`ClientStream::recv`] wakes when `ctx` is cancelled.
    pub fn start(
        &self,
        fields: &[Field<'_>],
        body: Vec<u8>,
        ctx: &CallContext,
    ) -> Result<ClientStream, SendError> {
        self.shared.wait_send_room(&ctx.cancel, ctx.deadline);
        let inbox = Arc::new(Inbox::default());
        // Registered before any lock is taken: it runs at once when the
        // token is already cancelled.
        let hooked = Arc::clone(&inbox);
        let cancel_hook = ctx.cancel.on_cancel(Arc::new(move || hooked.wake()));
        let stream_id = {
            let mut inner = self.shared.lock();
            if inner.closed {
                return Err(SendError::GoingAway);
            }
            let id = inner.conn.open_stream(fields, false)?;
            inner.streams.insert(id, Arc::clone(&inbox));
            if let Err(e) = inner.conn.send_data(id, body, true) {
                inner.streams.remove(&id);
                return Err(e);
            }
            self.shared.wake_writer(&inner);
            id
        };
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
    /// The call's deadline passed or it was cancelled.
    Interrupted(Interrupt),
    /// The stream already ended.
    Finished,
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
            events = match ctx.deadline {
                None => self
                    .inbox
                    .ready
                    .wait(events)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    match self.inbox.ready.wait_timeout(events, left) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    }
                }
            };
        };
        drop(events);
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
            inner.streams.remove(&id);
            inner.conn.send_reset(id, ErrorCode::CANCEL);
            self.shared.wake_writer(&inner);
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

    /// Wakes the waiter so it re-checks its context. Taking the lock
    /// orders this after a waiter's check of the token: no lost wake-up.
    fn wake(&self) {
        let _events = self.lock();
        self.ready.notify_one();
    }
}

/// The client side of a connection: responses go to the waiting streams.
pub(crate) struct ClientSide;

impl Side for ClientSide {
    const ROLE: Role = Role::Client;
    type Streams = HashMap<StreamId, Arc<Inbox>>;
    type Handoff = ();

    fn route(
        _shared: &Arc<Shared<Self>>,
        inner: &mut Inner<Self>,
        events: Vec<Event>,
        _handoff: &mut (),
    ) {
        for event in events {
            match event {
                Event::Headers {
                    stream_id,
                    fields,
                    end_stream,
                } => {
                    deliver(
                        inner,
                        stream_id,
                        StreamEvent::Headers { fields, end_stream },
                        end_stream,
                    );
                }
                Event::Data {
                    stream_id,
                    end_stream,
                } => {
                    let data = inner.conn.take_data(stream_id);
                    deliver(
                        inner,
                        stream_id,
                        StreamEvent::Data { data, end_stream },
                        end_stream,
                    );
                }
                Event::Reset {
                    stream_id,
                    code,
                    initiator,
                } => {
                    deliver(
                        inner,
                        stream_id,
                        StreamEvent::Reset { code, initiator },
                        true,
                    );
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
        for (_, inbox) in streams {
            inbox.push(StreamEvent::ConnectionLost);
        }
    }
}

fn deliver(inner: &mut Inner<ClientSide>, stream_id: StreamId, event: StreamEvent, last: bool) {
    let inbox = if last {
        inner.streams.remove(&stream_id)
    } else {
        inner.streams.get(&stream_id).cloned()
    };
    if let Some(inbox) = inbox {
        inbox.push(event);
    }
}
