//! A connection's reader thread: reads the socket, feeds the connection
//! state machine, and lets the connection's [`Side`] route what happened.
//! It owns the connection state in the sense of style.md §5: every byte
//! from the peer enters through here.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{NextRead, Shared, Side};

/// Bytes read from the socket per `read` call.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// How long we keep reading (and discarding) after a connection error.
const DRAIN_AFTER_ERROR: Duration = Duration::from_secs(1);
/// How much we read (and discard) after a connection error at most.
const DRAIN_MAX_BYTES: usize = 16 << 20;

/// The reader thread's body; returns when the connection is closed.
pub(super) fn run<S: Side>(shared: &Arc<Shared<S>>, mut socket: TcpStream) {
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    // A peer that connects and never completes the preface and SETTINGS
    // would hold two threads forever: it gets `handshake_timeout` for the
    // whole handshake, however it trickles its bytes (a read timeout alone
    // restarts with every byte).
    let mut handshake_deadline = Instant::now().checked_add(shared.bounds.handshake_timeout);
    loop {
        // A peer that does not read what we owe it gets nothing more read
        // (and answered) until the writer catches up, or closes it.
        let n = match shared.next_read() {
            NextRead::Stop => break,
            NextRead::Held => 0,
            NextRead::Socket => {
                match read_some(shared, &mut socket, &mut buf, &mut handshake_deadline) {
                    Some(n) => n,
                    None => break,
                }
            }
        };
        let mut handoff = S::Handoff::default();
        let failed;
        {
            let mut inner = shared.lock();
            let result = inner.conn.recv(buf.get(..n).unwrap_or_default());
            match &result {
                // Each call on it fails with this text: a line per
                // connection would repeat it in `eval` and the probe.
                Err(e @ crate::h2::conn::Error::NotHttp2 { .. }) => {
                    crate::v!(2, "HTTP/2 connection with {}: {e}", shared.peer);
                }
                Err(e) if e.sent_goaway() => crate::warn!(
                    "HTTP/2 connection with {}: {e}; sent GOAWAY {}",
                    shared.peer,
                    e.code()
                ),
                Err(_) | Ok(()) => {}
            }
            failed = result.is_err();
            if handshake_deadline.is_some() && inner.conn.is_established() {
                handshake_deadline = None;
                let _ = socket.set_read_timeout(None);
            }
            let events = inner.conn.take_events();
            S::route(shared, &mut inner, events, &mut handoff);
            // Streams ended and pending output moved on: senders waiting
            // for room re-check.
            if inner.watchers > 0 {
                shared.changed.notify_all();
            }
            if failed {
                shared.wake.notify_all();
            } else {
                shared.wake_writer(&mut inner);
            }
        }
        shared.side.hand_off(handoff);
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
    let mut inner = shared.lock();
    inner.reset_log.finish(&shared.peer);
    inner.reader_done = true;
    shared.changed.notify_all();
}

/// Reads what the peer sent: `None` when the connection is over (EOF, an
/// error, or the handshake's deadline passed). Until the handshake is
/// done, each read waits at most until `handshake_deadline`.
fn read_some<S: Side>(
    shared: &Shared<S>,
    socket: &mut TcpStream,
    buf: &mut [u8],
    handshake_deadline: &mut Option<Instant>,
) -> Option<usize> {
    loop {
        if let Some(deadline) = *handshake_deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
                crate::v!(
                    2,
                    "HTTP/2 handshake from {} not completed within {:?}; closing",
                    shared.peer,
                    shared.bounds.handshake_timeout
                );
                return None;
            }
        }
        return match socket.read(buf) {
            Ok(0) => None,
            // The handshake's deadline passed in this read: said above.
            Err(e) if handshake_deadline.is_some() && is_timeout(&e) => continue,
            Err(_) => None,
            Ok(n) => Some(n),
        };
    }
}

/// Whether a read failed because its timeout passed.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
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
