//! A connection's writer thread: takes the accumulated output under the
//! lock and writes it unlocked, one `write` per batch. It is also the
//! connection's clock: it sleeps until there is output or the nearest
//! deadline, and closes the connection when the peer stops taking what we
//! send (`Limits::send_timeout`, at the socket and at the peer's
//! flow-control windows) or has been idle for `Limits::idle_timeout`.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Shared, Side};
use crate::call::wait_until;
use crate::h2::conn::{Connection, Error as ConnError};
use crate::h2::limits::MIN_SEND_PROGRESS_BYTES;

/// The writer thread's body; marks the writer done when it returns.
pub(super) fn run<S: Side>(shared: &Arc<Shared<S>>, socket: TcpStream) {
    write_until_done(shared, socket);
    let mut inner = shared.lock();
    inner.writer_done = true;
    inner.unwritten = 0;
    shared.changed.notify_all();
}

/// Writes batches of output until the connection is closed, or going away
/// with every stream finished (then the last bytes are followed by FIN).
fn write_until_done<S: Side>(shared: &Arc<Shared<S>>, mut socket: TcpStream) {
    let bounds = shared.bounds;
    // Each write blocks at most this long: a peer that does not read is
    // noticed (write_batch), however long the batch.
    let _ = socket.set_write_timeout(Some(bounds.send_timeout));
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut stall = Stall::new(bounds.send_timeout);
    loop {
        {
            let mut inner = shared.lock();
            // The last batch is on the socket: a reader waiting for output
            // room, or senders waiting for room, go on.
            inner.unwritten = 0;
            if inner.watchers > 0 {
                shared.changed.notify_all();
            }
            loop {
                inner.conn.fill_output();
                if inner.conn.has_output() {
                    inner.conn.swap_output(&mut batch);
                    inner.unwritten = batch.len();
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
                let now = Instant::now();
                let Ok(stall_deadline) = stall.check(&inner.conn, now) else {
                    crate::warn!(
                        "HTTP/2 connection with {}: the peer's flow-control windows let less than {MIN_SEND_PROGRESS_BYTES} bytes of our DATA through in {:?}; closing",
                        shared.peer,
                        stall.timeout
                    );
                    inner.conn.abort(&ConnError::SendStalled {
                        after: stall.timeout,
                    });
                    inner.closed = true;
                    inner.shutdown_both = true;
                    continue;
                };
                let idle_deadline = bounds
                    .idle_timeout
                    .zip(inner.idle_since)
                    .and_then(|(timeout, since)| since.checked_add(timeout));
                if idle_deadline.is_some_and(|d| now >= d) {
                    crate::v!(
                        3,
                        "HTTP/2 connection with {}: no stream for {:?}; closing",
                        shared.peer,
                        bounds.idle_timeout.unwrap_or_default()
                    );
                    inner.close_gracefully(b"idle");
                    continue;
                }
                let requests_deadline = S::expire(shared, &mut inner, now);
                if inner.conn.has_output() {
                    // Resets of requests cut at their deadline.
                    continue;
                }
                let deadline = [stall_deadline, idle_deadline, requests_deadline]
                    .into_iter()
                    .flatten()
                    .min();
                inner.writer_waiting = true;
                inner = wait_until(&shared.wake, inner, deadline);
                inner.writer_waiting = false;
            }
            // Output was taken: senders waiting for room may go on.
            if inner.watchers > 0 {
                shared.changed.notify_all();
            }
        }
        match write_batch(&mut socket, &batch, bounds.send_timeout) {
            Ok(()) => {}
            Err(WriteError::Stalled) => {
                // No GOAWAY: the peer reads nothing, it would not arrive.
                crate::warn!(
                    "HTTP/2 connection with {}: the peer took less than {MIN_SEND_PROGRESS_BYTES} bytes of our output in {:?} (it does not read); closing",
                    shared.peer,
                    bounds.send_timeout
                );
                shared.close();
                let _ = socket.shutdown(Shutdown::Both);
                return;
            }
            Err(WriteError::Io) => {
                shared.close();
                let _ = socket.shutdown(Shutdown::Both);
                return;
            }
        }
        batch.clear();
        if batch.capacity() > 1 << 20 {
            batch.shrink_to(64 * 1024);
        }
    }
}

/// Why a batch was not written.
enum WriteError {
    /// The peer took less than [`MIN_SEND_PROGRESS_BYTES`] in `timeout`.
    Stalled,
    /// The socket failed (reset, closed).
    Io,
}

/// Writes `batch`. The socket's write timeout is `timeout`, so each write
/// returns within it; the peer must take at least
/// [`MIN_SEND_PROGRESS_BYTES`] (or the rest of the batch) every `timeout`,
/// so that a trickle of reads does not keep a stalled connection alive.
fn write_batch(socket: &mut TcpStream, batch: &[u8], timeout: Duration) -> Result<(), WriteError> {
    let mut rest = batch;
    let mut window_start = Instant::now();
    let mut moved = 0usize;
    while !rest.is_empty() {
        match socket.write(rest) {
            Ok(0) => return Err(WriteError::Io),
            Ok(n) => {
                rest = rest.get(n..).unwrap_or_default();
                moved = moved.saturating_add(n);
                if moved >= MIN_SEND_PROGRESS_BYTES {
                    moved = 0;
                    window_start = Instant::now();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Err(WriteError::Io),
        }
        if !rest.is_empty() && window_start.elapsed() >= timeout {
            return Err(WriteError::Stalled);
        }
    }
    Ok(())
}

/// Watches our DATA waiting on the peer's flow-control windows: while some
/// waits, the peer must let [`MIN_SEND_PROGRESS_BYTES`] of it through every
/// `timeout` (a 1-byte WINDOW_UPDATE now and then is no progress).
struct Stall {
    timeout: Duration,
    /// The DATA counter when the current window started.
    window_sent: u64,
    since: Instant,
}

impl Stall {
    fn new(timeout: Duration) -> Stall {
        Stall {
            timeout,
            window_sent: 0,
            since: Instant::now(),
        }
    }

    /// `Err` when the peer is stalled; else when to check again (`None`:
    /// nothing waits).
    fn check(&mut self, conn: &Connection, now: Instant) -> Result<Option<Instant>, ()> {
        let sent = conn.data_bytes_sent();
        let progress = usize::try_from(sent.wrapping_sub(self.window_sent)).unwrap_or(usize::MAX);
        let pending = conn.pending_send_bytes();
        if pending == 0 || progress >= MIN_SEND_PROGRESS_BYTES {
            self.window_sent = sent;
            self.since = now;
        }
        if pending == 0 {
            return Ok(None);
        }
        if now.saturating_duration_since(self.since) >= self.timeout {
            return Err(());
        }
        Ok(self.since.checked_add(self.timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::conn::{Role, PREFACE};
    use crate::h2::frame::{self, SettingId, Settings, StreamId, WindowUpdate};
    use crate::h2::limits::Limits;

    /// A server connection whose peer allows 10 bytes per stream, with 25
    /// bytes of DATA for stream 1 waiting (10 went out).
    fn waiting_on_the_peer() -> Connection {
        let mut c = Connection::new(Role::Server, Limits::default());
        let mut hello = PREFACE.to_vec();
        Settings {
            ack: false,
            params: vec![(SettingId::INITIAL_WINDOW_SIZE, 10)],
        }
        .encode(&mut hello);
        let mut block = Vec::new();
        crate::h2::hpack::Encoder::new().encode(
            [(&b":method"[..], &b"POST"[..]), (b":path", b"/x")],
            &mut block,
        );
        frame::encode_header_block(StreamId::new(1), &block, true, 16_384, &mut hello);
        c.recv(&hello).expect("valid");
        let id = StreamId::new(1);
        c.send_headers(id, &[(&b":status"[..], &b"200"[..])], false)
            .expect("headers");
        c.send_data(id, vec![1; 35], false).expect("data");
        c.take_output();
        c
    }

    #[test]
    fn a_byte_at_a_time_is_no_progress() {
        let mut c = waiting_on_the_peer();
        let timeout = Duration::from_secs(30);
        let mut stall = Stall::new(timeout);
        let start = stall.since;
        assert_eq!(
            stall.check(&c, start),
            Ok(Some(start + timeout)),
            "data waits: check again at the window's end"
        );
        // The peer opens its window a byte at a time.
        for _ in 0..5 {
            let mut wu = Vec::new();
            WindowUpdate {
                stream_id: StreamId::new(1),
                increment: 1,
            }
            .encode(&mut wu);
            c.recv(&wu).expect("window update");
            c.take_output();
        }
        assert!(c.pending_send_bytes() > 0);
        assert!(stall.check(&c, start + timeout / 2).is_ok());
        assert_eq!(stall.check(&c, start + timeout), Err(()));
    }

    #[test]
    fn nothing_waiting_is_never_stalled() {
        let c = Connection::new(Role::Server, Limits::default());
        let mut stall = Stall::new(Duration::from_secs(1));
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(stall.check(&c, later), Ok(None));
    }
}
