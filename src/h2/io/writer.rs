//! A connection's writer thread: takes the accumulated output under the
//! lock and writes it unlocked, one `write` per batch; watches for a peer
//! that keeps its flow-control window closed, and closes a connection
//! idle for `Limits::idle_timeout`.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::{Shared, Side};
use crate::h2::conn::{Connection, Error as ConnError};

/// How often the writer looks for a stalled peer window.
const STALL_CHECK: Duration = Duration::from_millis(250);

/// The writer's time bounds (from `Limits`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// `Limits::send_stall_timeout`.
    pub(super) stall: Duration,
    /// `Limits::idle_timeout`.
    pub(super) idle: Option<Duration>,
}

/// The writer thread's body; marks the writer done when it returns.
pub(super) fn run<S: Side>(shared: &Shared<S>, socket: TcpStream, timeouts: Timeouts) {
    write_until_done(shared, socket, timeouts);
    let mut inner = shared.lock();
    inner.writer_done = true;
    shared.changed.notify_all();
}

/// Writes batches of output until the connection is closed, or going away
/// with every stream finished (then the last bytes are followed by FIN).
fn write_until_done<S: Side>(shared: &Shared<S>, mut socket: TcpStream, timeouts: Timeouts) {
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut stall = Stall::new(timeouts.stall);
    loop {
        {
            let mut inner = shared.lock();
            loop {
                inner.conn.fill_output();
                if inner.conn.has_output() {
                    inner.conn.swap_output(&mut batch);
                    break;
                }
                // Done: closed, or going away with every stream finished.
                if inner.closed || (inner.conn.is_going_away() && inner.conn.active_streams() == 0)
                {
                    // FIN after the last frame (a GOAWAY); the reader closes
                    // the read side once the peer is done.
                    let _ = socket.flush();
                    let how = if inner.shutdown_both {
                        Shutdown::Both
                    } else {
                        Shutdown::Write
                    };
                    drop(inner);
                    let _ = socket.shutdown(how);
                    return;
                }
                if stall.is_stalled(&inner.conn) {
                    crate::warn!(
                        "HTTP/2 connection with {}: peer kept its flow-control window closed for {:?}; closing",
                        shared.peer,
                        stall.timeout
                    );
                    inner.conn.abort(&ConnError::SendStalled {
                        after: stall.timeout,
                    });
                    inner.closed = true;
                    inner.shutdown_both = true;
                    continue;
                }
                let idle_deadline = timeouts
                    .idle
                    .zip(inner.idle_since)
                    .and_then(|(timeout, since)| since.checked_add(timeout));
                let now = Instant::now();
                if idle_deadline.is_some_and(|d| now >= d) {
                    crate::v!(
                        3,
                        "HTTP/2 connection with {}: no stream for {:?}; closing",
                        shared.peer,
                        timeouts.idle.unwrap_or_default()
                    );
                    inner.close_gracefully(b"idle");
                    continue;
                }
                let wait = idle_deadline.map_or(STALL_CHECK, |d| {
                    d.saturating_duration_since(now).min(STALL_CHECK)
                });
                inner.writer_waiting = true;
                inner = match shared.wake.wait_timeout(inner, wait) {
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
