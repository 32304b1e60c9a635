//! Items 1 and 4: what we owe a peer that does not take it.
//!
//! Item 1: a client that never reads grew the server without bound (the
//! writer blocked in `write_all` while the reader kept queuing answers:
//! 2.6 MB of requests made 4.2 GB). Now the reader stops reading once
//! `Limits::max_output_bytes` of output is not on the socket, and the
//! writer cuts a peer that takes less than 64 KiB per `--send-timeout`.
//!
//! Item 4: a connection whose flow-control windows stay (nearly) closed
//! pinned every worker: past 64 MiB pending, responders waited forever,
//! and a 1-byte WINDOW_UPDATE every 20 s kept the stall guard quiet. Now a
//! responder waits at most `--send-timeout` for room, and the stall guard
//! wants 64 KiB of progress per `--send-timeout`.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fn_runner::proto::{EvaluateFunctionRequest, Message};

use super::{framed, Target, CAT_IMAGE, EVALUATE, MODES, WATCHDOG};
use crate::support::h2raw::*;

/// How much more than at rest the server may hold while a peer does not
/// read: the output bound (1 MiB), a read's worth of answers, thread
/// stacks touched, with room for allocator slack. It grew by GBs before.
const NEVER_READ_RSS_BOUND_KIB: u64 = 32 * 1024;

#[test]
fn a_client_that_never_reads_is_bounded_and_cut_off() {
    for mode in MODES {
        let target = Target::start(mode, &["--send-timeout", "2s"]);
        let rss = target.watch_rss();
        let mark = target.process.log_lines().len();
        let mut s = TcpStream::connect(target.addr()).expect("connect");
        s.set_write_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(&[]));
        // The first request puts a 3 KB :path of 0xFF bytes (each echoed
        // as `%EF%BF%BD`) in the HPACK table; the others refer to it with
        // one byte each: every request asks for an UNIMPLEMENTED answer.
        let path = [0xffu8; 3000];
        let mut first = Vec::new();
        for (n, v) in [
            (&b":method"[..], &b"POST"[..]),
            (b":scheme", b"http"),
            (b":authority", b"test"),
            (b"content-type", b"application/grpc"),
        ] {
            literal(0x40, n, v, &mut first);
        }
        literal(0x40, b":path", &path, &mut first);
        hello.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &first));
        s.write_all(&hello).expect("hello");
        // Indexed: the five fields just added (the newest is 62), in
        // request order. A 300-byte body keeps the streams of one read of
        // the server (64 KiB) under its 256 concurrent streams.
        let again: Vec<u8> = [66u8, 65, 64, 62, 63].iter().map(|i| 0x80 | i).collect();
        let body = [0u8; 300];
        let mut id = 3u32;
        let mut sent = 0usize;
        let started = Instant::now();
        // Until the server stops reading (our writes time out), or 64 MB.
        while sent < 64 << 20 && started.elapsed() < WATCHDOG {
            let batch: Vec<u8> = (0..1000)
                .flat_map(|i| {
                    let mut v = frame(HEADERS, END_HEADERS, id + 2 * i, &again);
                    v.extend(frame(DATA, END_STREAM, id + 2 * i, &body));
                    v
                })
                .collect();
            id += 2000;
            match s.write_all(&batch) {
                Ok(()) => sent += batch.len(),
                Err(_) => break,
            }
        }
        let stopped = Instant::now();
        eprintln!("{mode:?}: the attacker wrote {sent} bytes before the server stopped reading");
        // The server gives up on it (no GOAWAY: it would not be read).
        let cut = target
            .process
            .log_lines()
            .wait_for_from(mark, WATCHDOG, |l| l.contains("it does not read"));
        assert!(
            cut.is_some(),
            "{mode:?}: never cut off:\n{}",
            target.process.log()
        );
        eprintln!(
            "{mode:?}: cut off {:?} after our writes stalled (--send-timeout 2s)",
            stopped.elapsed()
        );
        rss.assert_peak_within(&target, NEVER_READ_RSS_BOUND_KIB, "while not read");
        // The connection is closed: what the server wrote, then the end.
        let mut c = RawConn::from_stream(s);
        assert!(c.wait_peer_close(), "{mode:?}: closed");
        target.assert_log_lacks("sent GOAWAY");
        target.assert_others_served();
    }
}

/// What the server may hold for the stalled connection: the 80 MB of
/// answers (64 MiB pending, the rest in responders that wait, then give
/// up) and the requests being echoed, with room for allocator slack.
const STALLED_RSS_BOUND_KIB: u64 = 192 * 1024;

/// A valid ResourceList of `len` bytes (a comment fills it): `cat` echoes
/// it, and the wrapper-server accepts what `cat` writes.
fn resource_list(len: usize) -> Vec<u8> {
    let mut v = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n# ".to_vec();
    v.resize(len, b'x');
    v
}

/// Calls whose answers fill the pending-output bound (40 x 2 MB > 64 MiB),
/// then more than the 128 workers in small calls, on a connection whose
/// windows let 64 KiB through in all and then open a byte at a time.
#[test]
fn a_stalled_connection_pins_no_worker_for_long() {
    for mode in MODES {
        let target = Target::start(mode, &["--send-timeout", "2s"]);
        let rss = target.watch_rss();
        let mut c = RawConn::handshake(target.addr());
        let block = grpc_request_block(EVALUATE);
        let call = |input: Vec<u8>| {
            framed(
                &EvaluateFunctionRequest {
                    resource_list: input,
                    image: CAT_IMAGE.to_owned(),
                }
                .encode_to_vec(),
            )
        };
        let big = call(resource_list(2_000_000));
        let small = call(resource_list(100));
        let mut id = 1u32;
        for i in 0..40 + 140 {
            let body = if i < 40 { &big } else { &small };
            let mut v = frame(HEADERS, END_HEADERS, id, &block);
            for (n, chunk) in body.chunks(16_384).enumerate() {
                let last = (n + 1) * 16_384 >= body.len();
                v.extend(frame(DATA, if last { END_STREAM } else { 0 }, id, chunk));
            }
            c.send(&v);
            id += 2;
        }
        // Token progress: a 1-byte WINDOW_UPDATE now and then, on the
        // connection and on the first stream.
        let sent = Instant::now();
        let deadline = sent + WATCHDOG;
        let mut cut = None;
        while Instant::now() < deadline {
            c.send(&window_update(0, 1));
            c.send(&window_update(1, 1));
            // Frames until a GOAWAY, 200 ms at most per read.
            if let Some(g) = c.read_goaway_within(Duration::from_millis(500)) {
                cut = Some(g);
                break;
            }
        }
        let g = cut.unwrap_or_else(|| panic!("{mode:?}: never cut off:\n{}", target.process.log()));
        eprintln!(
            "{mode:?}: GOAWAY {:?} after the calls were sent (--send-timeout 2s)",
            sent.elapsed()
        );
        assert_eq!(g.code, ENHANCE_YOUR_CALM, "{mode:?}: {g:?}");
        assert!(g.debug.contains("stalled"), "{mode:?}: {g:?}");
        rss.assert_peak_within(&target, STALLED_RSS_BOUND_KIB, "while stalled");
        // The workers are free again: other clients are served.
        target.assert_others_served();
    }
}
