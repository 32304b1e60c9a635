//! Item 7: allocation. A request body's buffer used to be reserved for the
//! size its gRPC prefix declared as soon as the prefix arrived: a 14-byte
//! request reserved 7 MiB, 2,048 of them 15 GB of address space, and an
//! allocation that failed aborted the process (SIGABRT under `ulimit -v`).
//! Now a buffer grows with the bytes received (sized for the declared
//! total once 1/16 of it is there), and an allocation failure resets the
//! stream (ENHANCE_YOUR_CALM), never the server.

use super::{Target, EVALUATE, MODES};
use crate::support::h2raw::*;

/// The server's address space (`ulimit -v`): 2 GiB, room for its threads
/// and glibc's malloc arenas (64 MiB of address space each, up to 16 on 2
/// cores: 1 GiB), far below the 14 GiB the declared sizes would reserve.
const ADDRESS_SPACE_KIB: u64 = 2 << 20;
/// Connections and streams: 2,048 requests declaring 6 MiB each.
const CONNECTIONS: usize = 8;
const STREAMS: u32 = 256;

#[test]
fn declared_sizes_reserve_nothing_until_their_bytes_arrive() {
    for mode in MODES {
        let mut target = Target::start_with_address_space(mode, &[], ADDRESS_SPACE_KIB);
        let block = grpc_request_block(EVALUATE);
        // A prefix declaring 6 MiB (the limit) and 9 bytes of it: 14 bytes.
        let mut start = vec![0u8];
        start.extend_from_slice(&6_291_456u32.to_be_bytes());
        start.extend_from_slice(b"# 9 bytes");
        let mut conns: Vec<RawConn> = (0..CONNECTIONS)
            .map(|_| RawConn::handshake(target.addr()))
            .collect();
        for c in &mut conns {
            let mut v = Vec::new();
            for i in 0..STREAMS {
                let id = 2 * i + 1;
                v.extend(frame(HEADERS, END_HEADERS, id, &block));
                v.extend(frame(DATA, 0, id, &start));
            }
            c.send(&v);
        }
        for c in &mut conns {
            assert!(c.answers_ping(), "{mode:?}: the server lives");
        }
        let peak = target.status_kib("VmPeak");
        eprintln!(
            "{mode:?}: {} requests declaring 6 MiB, 14 bytes each: peak address space {peak} KiB",
            CONNECTIONS * STREAMS as usize
        );
        assert!(
            target.process.exit_status().is_none(),
            "{mode:?}: the server exited:\n{}",
            target.process.log()
        );
        target.assert_others_served();
    }
}
