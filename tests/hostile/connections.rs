//! Item 2: connections. 1,023 idle or slowloris connections used to lock
//! out every new client: no idle timeout after the handshake, a handshake
//! timeout that restarted with every byte, and connections over the limit
//! closed at accept. Now the longest-idle connection is closed to make
//! room, the handshake has one deadline, and idle connections close.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Target, CHECK, MODES};
use crate::support::h2raw::*;

/// The connection limit the tests run with (`--max-connections`): the
/// same logic as 1024, at a size a test opens quickly.
const LIMIT: usize = 16;

#[test]
fn idle_and_slowloris_connections_never_lock_out_a_fresh_client() {
    for mode in MODES {
        let target = Target::start(mode, &["--max-connections", "16"]);
        // Half the limit idle after the handshake, half stuck in it.
        let mut idle: Vec<RawConn> = (0..LIMIT / 2)
            .map(|_| RawConn::handshake(target.addr()))
            .collect();
        for c in &mut idle {
            assert!(c.answers_ping(), "{mode:?}: within the limit");
        }
        let slow: Vec<TcpStream> = (0..LIMIT / 2)
            .map(|_| {
                let mut s = TcpStream::connect(target.addr()).expect("connect");
                s.write_all(&PREFACE[..3]).expect("3 bytes of the preface");
                s
            })
            .collect();
        // More fresh health checks than the limit, each a new connection:
        // every one gets in, each making room by closing an idle one.
        for i in 0..2 * LIMIT {
            target
                .check_fresh()
                .unwrap_or_else(|e| panic!("{mode:?}: fresh check {i} locked out: {e}"));
        }
        // The first check found the limit reached: the longest-idle
        // connection, the first one opened, was closed, and told why.
        let g = idle[0].read_goaway().expect("GOAWAY");
        assert_eq!(g.code, 0, "{mode:?}: NO_ERROR: {g:?}");
        assert!(g.debug.contains("connection limit"), "{mode:?}: {g:?}");
        assert!(idle[0].wait_peer_close(), "{mode:?}: and closed");
        assert!(
            target
                .process
                .log_lines()
                .wait_for(super::WATCHDOG, |l| l
                    .contains("connection limit 16 reached"))
                .is_some(),
            "{mode:?}: the room made is logged"
        );
        drop(slow);
        target.assert_others_served();
    }
}

#[test]
fn a_handshake_trickled_byte_by_byte_is_cut_at_its_deadline() {
    for mode in MODES {
        let target = Target::start(mode, &["--handshake-timeout", "1s"]);
        let mut s = TcpStream::connect(target.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(400)))
            .expect("timeout");
        // One byte every 400 ms: the whole preface and SETTINGS would take
        // 13 s, each byte well within any per-read timeout.
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(&[]));
        let mut cut_after = None;
        for (i, byte) in hello.iter().enumerate() {
            if s.write_all(&[*byte]).is_err() {
                cut_after = Some(i);
                break;
            }
            // Waits up to 400 ms for the server's bytes (its SETTINGS, and
            // then the end of the connection).
            if closed_by_peer(&mut s) {
                cut_after = Some(i + 1);
                break;
            }
        }
        let cut_after = cut_after.unwrap_or_else(|| {
            panic!(
                "{mode:?}: a {}-byte handshake trickled in and was never cut",
                hello.len()
            )
        });
        assert!(cut_after < hello.len(), "{mode:?}");
        target.assert_others_served();
    }
}

/// Reads what the server sent within the read timeout: true at its end of
/// the connection (EOF or reset).
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    for mode in MODES {
        let target = Target::start(mode, &["--idle-timeout", "1s"]);
        let mut c = RawConn::handshake(target.addr());
        c.send(&frame(HEADERS, END_HEADERS, 1, &grpc_request_block(CHECK)));
        c.send(&frame(DATA, END_STREAM, 1, &[0; 5]));
        assert!(
            matches!(c.read_stream_end(1), Some(Err(_))),
            "{mode:?}: the call is answered"
        );
        // Then nothing: the server says goodbye and closes.
        let g = c.read_goaway().expect("GOAWAY");
        assert_eq!(g.code, 0, "{mode:?}: NO_ERROR: {g:?}");
        assert_eq!(g.debug, "idle", "{mode:?}");
        assert!(c.wait_peer_close(), "{mode:?}: closed after the GOAWAY");
        target.assert_others_served();
    }
}
