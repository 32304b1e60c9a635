//! Item 8: resets. Every stream reset used to be logged at the default
//! `-v 2` (228 MB of log in 5 s from one connection), and resets the server
//! made itself because of the peer (MadeYouReset, CVE-2025-8671) spent no
//! budget. Now reset lines are rate-limited (per connection and per
//! process, with a count of those left out) and provoked resets spend the
//! stream error budget, which ends in GOAWAY ENHANCE_YOUR_CALM.

use fn_runner::proto::{EvaluateFunctionRequest, Message};

use super::{framed, Target, CAT_IMAGE, CHECK, EVALUATE, MODES};
use crate::support::h2raw::*;

/// Connections of the log flood, and resets each (within the RST_STREAM
/// budget's burst of 500, so none is cut off for it).
const CONNECTIONS: u32 = 20;
const RESETS: u32 = 400;
/// Reset lines the flood may log at most: the process budget's burst (200)
/// and a line per connection for those left out, with room for the
/// budget's refill (10 a second) on a slow machine. Before: 8,000.
const MAX_RESET_LINES: usize = 1000;

#[test]
fn reset_logging_is_rate_limited() {
    for mode in MODES {
        let target = Target::start(mode, &[]);
        let log = target.process.log_lines();
        let mark = log.len();
        let block = grpc_request_block(CHECK);
        for _ in 0..CONNECTIONS {
            let mut c = RawConn::handshake(target.addr());
            let burst: Vec<u8> = (0..RESETS)
                .flat_map(|i| {
                    let id = 2 * i + 1;
                    let mut v = frame(HEADERS, END_HEADERS, id, &block);
                    v.extend(rst_stream(id, CANCEL));
                    v
                })
                .collect();
            c.send(&burst);
            assert!(c.answers_ping(), "{mode:?}: within the RST_STREAM budget");
        }
        // Each connection's end logs how many of its resets were left out.
        assert!(
            log.wait_until(super::WATCHDOG, |lines| lines
                .iter()
                .skip(mark)
                .filter(|l| l.text.contains("more stream resets not logged"))
                .count()
                >= usize::try_from(CONNECTIONS).expect("small")),
            "{mode:?}: no count of the resets left out:\n{}",
            target.process.log()
        );
        let lines = log.lines();
        let reset_lines = lines
            .iter()
            .skip(mark)
            .filter(|l| l.text.contains("reset"))
            .count();
        let bytes: usize = lines.iter().skip(mark).map(|l| l.text.len() + 1).sum();
        eprintln!(
            "{mode:?}: {} resets on {CONNECTIONS} connections: {reset_lines} log lines, {bytes} bytes",
            CONNECTIONS * RESETS
        );
        assert!(
            reset_lines <= MAX_RESET_LINES,
            "{mode:?}: {reset_lines} lines"
        );
        target.assert_others_served();
    }
}

#[test]
fn provoked_resets_end_in_enhance_your_calm() {
    for mode in MODES {
        let target = Target::start(mode, &[]);
        let mut c = RawConn::handshake(target.addr());
        let request = framed(
            &EvaluateFunctionRequest {
                resource_list: b"kind: ResourceList\n".to_vec(),
                image: CAT_IMAGE.to_owned(),
            }
            .encode_to_vec(),
        );
        let block = grpc_request_block(EVALUATE);
        // A whole request (an evaluation starts), then a WINDOW_UPDATE that
        // overflows the stream's window: the server resets the stream
        // itself. The stream error budget's burst is 100.
        let attack: Vec<u8> = (0..300u32)
            .flat_map(|i| {
                let id = 2 * i + 1;
                let mut v = frame(HEADERS, END_HEADERS, id, &block);
                v.extend(frame(DATA, END_STREAM, id, &request));
                v.extend(window_update(id, 0x7fff_ffff));
                v
            })
            .collect();
        c.send(&attack);
        let g = c.read_goaway().expect("GOAWAY");
        assert_eq!(g.code, ENHANCE_YOUR_CALM, "{mode:?}: {g:?}");
        assert!(g.debug.contains("stream error flood"), "{mode:?}: {g:?}");
        target.assert_others_served();
    }
}
