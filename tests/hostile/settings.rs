//! Item 9: SETTINGS CPU amplification. Each INITIAL_WINDOW_SIZE parameter
//! used to walk every open stream; a 16 KB frame carries 2,730 of them.
//! Now only the last value of each parameter is applied: one walk per
//! frame. The bound is counted work: the server's CPU seconds (user +
//! system, /proc/PID/stat) for the whole attack, not how fast it went.

use std::time::Duration;

use super::{Target, CHECK, MODES};
use crate::support::h2raw::*;

/// Connections, each with 256 open streams (our concurrent stream limit)
/// and 90 SETTINGS frames (within the SETTINGS budget's burst of 100, which
/// the handshake's SETTINGS also spends from).
const CONNECTIONS: usize = 4;
const FRAMES: usize = 90;
/// What the attack may cost the server in CPU time. Before the fix it
/// was 4 x 90 x 2,730 x 256 window updates (250 million); now it is 360
/// walks of 256 streams.
const CPU_BOUND: Duration = Duration::from_secs(5);

#[test]
fn a_frame_full_of_initial_window_sizes_costs_one_walk_over_the_streams() {
    for mode in MODES {
        let target = Target::start(mode, &[]);
        let mut conns: Vec<RawConn> = (0..CONNECTIONS)
            .map(|_| RawConn::handshake(target.addr()))
            .collect();
        let block = grpc_request_block(CHECK);
        for c in &mut conns {
            let streams: Vec<u8> = (0..256u32)
                .flat_map(|i| frame(HEADERS, END_HEADERS, 2 * i + 1, &block))
                .collect();
            c.send(&streams);
            assert!(c.answers_ping(), "{mode:?}: streams open");
        }
        // 2,730 parameters fill a 16,380-byte payload; alternating values
        // so that each one changes every stream's window.
        let params: Vec<(u16, u32)> = (0..2730u32).map(|i| (0x4, 65_535 + i % 2)).collect();
        let flood: Vec<u8> = (0..FRAMES).flat_map(|_| settings(&params)).collect();
        let before = target.cpu_time();
        for c in &mut conns {
            c.send(&flood);
        }
        // A PING answered after the flood: every frame was processed.
        for c in &mut conns {
            assert!(c.answers_ping(), "{mode:?}: connection survives");
        }
        let spent = target.cpu_time().saturating_sub(before);
        eprintln!(
            "{mode:?}: {CONNECTIONS} x {FRAMES} SETTINGS frames of 2,730 parameters, 256 streams each: {spent:?} of server CPU"
        );
        assert!(spent < CPU_BOUND, "{mode:?}: {spent:?} of CPU");
        target.assert_others_served();
    }
}
