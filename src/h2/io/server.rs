//! The server side of `h2::io`: the acceptor, the [`Service`] trait the
//! gRPC router implements, and the [`Responder`] that answers one request.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::{spawn_connection, Shared};
use crate::call::CancelToken;
use crate::h2::conn::{Field, HeaderList, Role, SendError};
use crate::h2::frame::{ErrorCode, StreamId};
use crate::h2::limits::Limits;

/// A request as the server's reader thread assembled it.
#[derive(Debug)]
pub struct Request {
    /// Request header fields, pseudo-headers first.
    pub fields: HeaderList,
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

    /// The whole body's size, when its first bytes announce it (a gRPC
    /// message prefix); used to allocate the body once. `None`: unknown.
    fn body_size_hint(&self, first_bytes: &[u8]) -> Option<usize> {
        let _ = first_bytes;
        None
    }
}

/// Answers one request, from any thread. Dropping it unfinished resets the
/// stream, so a peer is never left waiting.
pub struct Responder {
    pub(super) shared: Arc<Shared>,
    pub(super) stream_id: StreamId,
    pub(super) cancel: CancelToken,
    pub(super) finished: bool,
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
        head: &[Field<'_>],
        body: Option<Vec<u8>>,
        trailers: &[Field<'_>],
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
                let live = {
                    let mut list = c.lock().unwrap_or_else(|p| p.into_inner());
                    list.retain(|w| w.strong_count() > 0);
                    list.len()
                };
                if live >= limits.max_connections {
                    crate::warn!(
                        "refusing a connection: {live} connections open (limit {})",
                        limits.max_connections
                    );
                    drop(socket);
                    continue;
                }
                if let Ok(shared) = spawn_connection(
                    socket,
                    Role::Server,
                    limits.clone(),
                    Some(Arc::clone(&service)),
                ) {
                    let mut list = c.lock().unwrap_or_else(|p| p.into_inner());
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
            // After GOAWAY the writer finishes by itself once every stream
            // has ended: it writes the last response, then FIN. Wait for
            // that (bounded by the grace period), then close both ways.
            let mut inner = shared.lock();
            while !inner.writer_done {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    clean = clean && inner.conn.active_streams() == 0;
                    break;
                }
                inner = shared.wait_changed(inner, left.min(Duration::from_millis(50)));
            }
            drop(inner);
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
