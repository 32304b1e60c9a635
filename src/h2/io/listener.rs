//! The listening side of a server: the acceptor thread, the connection
//! cap, and graceful shutdown (GOAWAY, grace period, close).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::server::ServerSide;
use super::{spawn_connection, Service, Shared};
use crate::h2::frame::ErrorCode;
use crate::h2::limits::Limits;

/// A running server: the acceptor and its connections.
pub struct ServerHandle {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<Weak<Shared<ServerSide>>>>>,
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
    let conns: Arc<Mutex<Vec<Weak<Shared<ServerSide>>>>> = Arc::new(Mutex::new(Vec::new()));
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
                let side = ServerSide {
                    service: Arc::clone(&service),
                };
                if let Ok(shared) = spawn_connection(socket, limits.clone(), side) {
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
                if Instant::now() >= deadline {
                    clean = clean && inner.conn.active_streams() == 0;
                    break;
                }
                inner = shared.wait_changed(inner, Some(deadline));
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

    fn live_connections(&self) -> Vec<Arc<Shared<ServerSide>>> {
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
