//! The listening side of a server: the acceptor thread, the connection
//! limit, and graceful shutdown (GOAWAY, grace period, close).
//!
//! At the connection limit the longest-idle connection is closed to make
//! room (issue 11 item 2: 1,023 idle or slowloris connections locked out
//! every new client, the kubelet's probe and a restarted porch-server
//! included): idle means no call in progress, since the last call started
//! or ended, or since the connection opened (a peer still sending its
//! handshake or a request does no work for anyone).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::held::{at_least_one_body, ServerHeld};
use super::log_budget::{not_logged, LogBudget};
use super::server::ServerSide;
use super::server_streams::Occupancy;
use super::{spawn_connection, Service, Shared};
use crate::h2::frame::ErrorCode;
use crate::h2::limits::{Limits, EVENT_LOG_LINES};

/// The connections of a server (those whose threads still run).
type Connections = Mutex<Vec<Weak<Shared<ServerSide>>>>;

/// A running server: the acceptor and its connections.
pub struct ServerHandle {
    local_addr: SocketAddr,
    /// The listening socket (a second fd for it), to wake the acceptor.
    wake: Option<TcpListener>,
    stopping: Arc<AtomicBool>,
    conns: Arc<Connections>,
    acceptor: Option<thread::JoinHandle<()>>,
}

/// Accepts connections on `listener` until [`ServerHandle::shutdown`].
pub fn start_server(
    listener: TcpListener,
    service: Arc<dyn Service>,
    limits: Limits,
) -> io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let wake = Some(listener.try_clone()?);
    let stopping = Arc::new(AtomicBool::new(false));
    let conns: Arc<Connections> = Arc::new(Mutex::new(Vec::new()));
    let (s, c) = (Arc::clone(&stopping), Arc::clone(&conns));
    let held = Arc::new(ServerHeld::new(at_least_one_body(
        limits.request_bytes_per_server,
        service.max_body_bytes(),
    )));
    let acceptor = thread::Builder::new()
        .name("h2-acceptor".to_owned())
        .spawn(move || {
            let mut log = LogBudget::new(EVENT_LOG_LINES);
            for socket in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(socket) = socket else {
                    // EMFILE and friends: back off instead of spinning.
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                if !make_room(&c, limits.max_connections, &mut log) {
                    drop(socket);
                    continue;
                }
                let side = ServerSide::new(Arc::clone(&service), Arc::clone(&held), &limits);
                let from = super::peer(&socket);
                match spawn_connection(socket, limits.clone(), side) {
                    Ok(shared) => {
                        let mut list = c.lock().unwrap_or_else(|p| p.into_inner());
                        list.push(Arc::downgrade(&shared));
                    }
                    // Out of threads (or memory for their stacks): the
                    // connection cannot be served; say so, once in a while.
                    Err(e) => {
                        if let Some(left_out) = log.admit(|| true) {
                            crate::warn!(
                                "cannot serve the connection from {from}: {e}; closed it{}",
                                not_logged(left_out)
                            );
                        }
                    }
                }
            }
            // The listener is dropped here: new connections are refused.
        })?;
    Ok(ServerHandle {
        local_addr,
        wake,
        stopping,
        conns,
        acceptor: Some(acceptor),
    })
}

/// At the connection limit, closes the longest-idle connection (GOAWAY
/// NO_ERROR; no call of it in progress) so that a new one, a health probe
/// or a restarted client, always gets in; false when every connection has
/// a call in progress and the new one must be refused. Connections
/// already closing do not count.
fn make_room(conns: &Connections, max: usize, log: &mut LogBudget) -> bool {
    let live: Vec<Arc<Shared<ServerSide>>> = {
        let mut list = conns.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        if list.len() < max {
            return true;
        }
        list.iter().filter_map(Weak::upgrade).collect()
    };
    let mut open = 0;
    let mut longest_idle: Option<(Instant, &Arc<Shared<ServerSide>>)> = None;
    for shared in &live {
        match shared.occupancy() {
            Occupancy::Closing => {}
            Occupancy::Busy => open += 1,
            Occupancy::IdleSince(since) => {
                open += 1;
                if longest_idle.is_none_or(|(best, _)| since < best) {
                    longest_idle = Some((since, shared));
                }
            }
        }
    }
    if open < max {
        return true;
    }
    let Some((since, victim)) = longest_idle else {
        if let Some(left_out) = log.admit(|| true) {
            crate::warn!(
                "refusing a connection: all {open} connections have calls in progress (limit {max}){}",
                not_logged(left_out)
            );
        }
        return false;
    };
    victim.close_gracefully(b"connection limit reached: closing the longest-idle connection");
    if let Some(left_out) = log.admit(|| true) {
        crate::warn!(
            "connection limit {max} reached: closed the connection with {}, idle for {:?}, to make room{}",
            victim.peer,
            since.elapsed(),
            not_logged(left_out)
        );
    }
    true
}

impl ServerHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Closes the listener (it is gone when this returns) and sends GOAWAY
    /// to every connection; in-flight streams continue.
    pub(crate) fn begin_shutdown(&mut self) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            // Wake the acceptor out of accept(2): it sees the flag and drops
            // the listener. shutdown(2), not a connection to ourselves:
            // that fails where loopback is down (a network namespace), and
            // the join below would then wait for ever.
            if let Some(wake) = &self.wake {
                if let Err(e) = crate::sys::shutdown_listener(wake.as_fd()) {
                    crate::error!("cannot stop the listener on {}: {e}", self.local_addr);
                }
            }
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.wake = None;
        for shared in self.live_connections() {
            shared.with_conn(|c| c.go_away(ErrorCode::NO_ERROR, b"server shutting down"));
        }
    }

    /// Waits up to `grace` for in-flight streams to finish, then closes every
    /// connection. True when all finished in time.
    pub(crate) fn finish_shutdown(&mut self, grace: Duration) -> bool {
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
