//! Items 5 and 6: what unfinished requests hold. Each open stream kept its
//! decoded header list (up to 64 KiB, for ~150 wire bytes with HPACK
//! indexing) and its body (up to 6 MiB) until the request ended, with no
//! bound per connection or server and no timeout: 8.3 MB sent pinned
//! 3.26 GB; 1.5 GiB of bodies per connection. Now what requests not yet
//! handed to the service hold is counted per connection and per server
//! (over the bound: REFUSED_STREAM for a header list, ENHANCE_YOUR_CALM for
//! a body), and a request not whole after `--read-timeout` is reset.

use fn_runner::proto::{EvaluateFunctionRequest, Message};

use super::{framed, Target, CAT_IMAGE, CHECK, EVALUATE, MODES, WATCHDOG};
use crate::support::h2raw::*;

const REFUSED_STREAM: u32 = 0x7;

/// The RST_STREAMs a connection got, by code.
#[derive(Debug, Default, Clone, Copy)]
struct Resets {
    refused: usize,
    calm: usize,
    cancel: usize,
}

impl Resets {
    fn total(&self) -> usize {
        self.refused + self.calm + self.cancel
    }

    /// Counts the RST_STREAMs of `c` until a PING ACK (sent after the
    /// attack: the server has read all of it).
    fn read_until_ping_ack(&mut self, c: &mut RawConn) {
        self.read(c, |_, f| f.kind == PING && f.flags & ACK != 0);
    }

    /// Counts the RST_STREAMs of `c` until `streams` streams ended.
    fn read_until_ended(&mut self, c: &mut RawConn, streams: usize) {
        if self.total() < streams {
            self.read(c, |r, _| r.total() >= streams);
        }
    }

    fn read(&mut self, c: &mut RawConn, done: impl Fn(&Resets, &RawFrame) -> bool) {
        let deadline = std::time::Instant::now() + WATCHDOG;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "waited in vain: {self:?}"
            );
            let Some(f) = c.read_frame() else { continue };
            if f.kind == RST_STREAM {
                match u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]]) {
                    REFUSED_STREAM => self.refused += 1,
                    ENHANCE_YOUR_CALM => self.calm += 1,
                    CANCEL => self.cancel += 1,
                    other => panic!("reset with {other:#x}"),
                }
            }
            if done(self, &f) {
                return;
            }
        }
    }
}

/// Connections of the header attack, each with 256 streams (our limit).
const HEADER_CONNECTIONS: usize = 8;
/// The server's bound on header lists (32 MiB), its connections' (1 MiB
/// each) and the lists' own overhead, with room for allocator slack.
/// Before: 8 x 256 lists of ~60 KB stayed resident (over 120 MB).
const HEADER_RSS_BOUND_KIB: u64 = 48 * 1024;

#[test]
fn header_lists_of_unfinished_requests_are_bounded_and_cut() {
    for mode in MODES {
        let target = Target::start(mode, &["--read-timeout", "3s"]);
        let rss = target.watch_rss();
        let mut conns: Vec<RawConn> = (0..HEADER_CONNECTIONS)
            .map(|_| RawConn::handshake(target.addr()))
            .collect();
        for c in &mut conns {
            // A 3.9 KB field enters the HPACK table on stream 1; then every
            // stream's list refers to it 15 times (1 byte each): ~59 KB
            // decoded, under the 64 KiB list limit. No END_STREAM.
            let mut first = grpc_request_block(CHECK);
            literal(0x40, b"x-big", &vec![b'a'; 3900], &mut first);
            let mut block = grpc_request_block(CHECK);
            for _ in 0..15 {
                indexed(62, &mut first);
                indexed(62, &mut block);
            }
            let mut streams = frame(HEADERS, END_HEADERS, 1, &first);
            for i in 1..256u32 {
                streams.extend(frame(HEADERS, END_HEADERS, 2 * i + 1, &block));
            }
            streams.extend(ping(*b"attacked"));
            c.send(&streams);
        }
        let mut resets = vec![Resets::default(); HEADER_CONNECTIONS];
        for (c, r) in conns.iter_mut().zip(&mut resets) {
            r.read_until_ping_ack(c);
        }
        let read = std::time::Instant::now();
        rss.assert_peak_within(&target, HEADER_RSS_BOUND_KIB, "during the attack");
        // Every stream ends: refused over the bounds, or cut at the read
        // timeout (their lists freed).
        let (mut refused, mut cut) = (0, 0);
        for (c, r) in conns.iter_mut().zip(&mut resets) {
            r.read_until_ended(c, 256);
            assert_eq!(r.calm, 0, "{mode:?}");
            refused += r.refused;
            cut += r.cancel;
        }
        eprintln!(
            "{mode:?}: {refused} streams refused, {cut} cut at the read timeout, {:?} after the attack was read (--read-timeout 3s)",
            read.elapsed()
        );
        assert!(refused > 0 && cut > 0, "{mode:?}");
        target.assert_others_served();
    }
}

/// Connections of the body attack, streams each, and the bytes each
/// stream sends of its (never finished) body: 600 MB in all.
const BODY_CONNECTIONS: u32 = 6;
const BODY_STREAMS: u32 = 100;
const BODY_BYTES: usize = 1_000_000;
/// The server's bound on bodies (256 MiB) with the buffers' own slack
/// (a 1 MB body in a 1 MiB buffer) and allocator slack. Before: all 600 MB.
const BODY_RSS_BOUND_KIB: u64 = 320 * 1024;

#[test]
fn bodies_of_unfinished_requests_are_bounded_and_cut() {
    for mode in MODES {
        let target = Target::start(mode, &["--read-timeout", "3s"]);
        let rss = target.watch_rss();
        let request = framed(
            &EvaluateFunctionRequest {
                resource_list: vec![b'#'; BODY_BYTES],
                image: CAT_IMAGE.to_owned(),
            }
            .encode_to_vec(),
        );
        // All but the last 100 bytes: the body never ends.
        let partial = &request[..request.len() - 100];
        let block = grpc_request_block(EVALUATE);
        let mut conns = Vec::new();
        for _ in 0..BODY_CONNECTIONS {
            let mut c = RawConn::handshake(target.addr());
            // Windows big enough for the whole attack.
            c.send(&window_update(0, 1 << 30));
            for i in 0..BODY_STREAMS {
                let id = 2 * i + 1;
                let mut v = frame(HEADERS, END_HEADERS, id, &block);
                for chunk in partial.chunks(16_384) {
                    v.extend(frame(DATA, 0, id, chunk));
                }
                c.send(&v);
            }
            c.send(&ping(*b"attacked"));
            conns.push(c);
        }
        let mut resets = vec![Resets::default(); conns.len()];
        for (c, r) in conns.iter_mut().zip(&mut resets) {
            r.read_until_ping_ack(c);
        }
        rss.assert_peak_within(&target, BODY_RSS_BOUND_KIB, "during the attack");
        let (mut over, mut cut) = (0, 0);
        for (c, r) in conns.iter_mut().zip(&mut resets) {
            r.read_until_ended(c, BODY_STREAMS as usize);
            assert_eq!(r.refused, 0, "{mode:?}");
            over += r.calm;
            cut += r.cancel;
        }
        eprintln!("{mode:?}: {over} bodies reset over the bounds, {cut} cut at the read timeout");
        assert!(over > 0 && cut > 0, "{mode:?}");
        target.assert_others_served();
    }
}
