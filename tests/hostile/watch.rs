//! Item 3: health Watch. A Watch used to hold a worker of the 128-thread
//! pool evaluations run on for as long as it was open: 128 Watch streams
//! starved every evaluation (485 of 485 got RESOURCE_EXHAUSTED while Check
//! said SERVING). Now Watch has a pool of its own, 16 streams at most;
//! more get RESOURCE_EXHAUSTED at once, and Check, List and evaluations
//! are untouched.

use fn_runner::proto::{HealthListRequest, HealthListResponse, Message};

use super::{Target, MODES};
use crate::support::h2raw::*;

const WATCH: &str = "/grpc.health.v1.Health/Watch";
const LIST: &str = "/grpc.health.v1.Health/List";
/// `ServerConfig::max_streaming_calls`.
const MAX_WATCHES: usize = 16;
/// Watch streams the attacker opens: more than the evaluation pool's 128.
const WATCHES: u32 = 150;

#[test]
fn watch_streams_never_starve_evaluations() {
    for mode in MODES {
        let target = Target::start(mode, &[]);
        let mut c = RawConn::handshake(target.addr());
        let block = grpc_request_block(WATCH);
        let open: Vec<u8> = (0..WATCHES)
            .flat_map(|i| {
                let id = 2 * i + 1;
                let mut v = frame(HEADERS, END_HEADERS, id, &block);
                v.extend(frame(DATA, END_STREAM, id, &[0; 5]));
                v
            })
            .collect();
        c.send(&open);
        // Each stream answers: a first status (DATA) while it watches, or
        // RESOURCE_EXHAUSTED trailers-only over the bound.
        let (mut watching, mut refused) = (0, 0);
        while watching + refused < WATCHES as usize {
            let f = c.read_frame().expect("every Watch answers");
            if f.kind == DATA {
                watching += 1;
            } else if f.kind == HEADERS && f.flags & END_STREAM != 0 {
                assert_eq!(f.field("grpc-status"), Some("8"), "{mode:?}: {f:?}");
                let message = f.field("grpc-message").unwrap_or_default();
                assert!(message.contains("streaming calls"), "{mode:?}: {message}");
                refused += 1;
            }
        }
        eprintln!("{mode:?}: {WATCHES} Watch streams: {watching} open, {refused} refused");
        assert_eq!(watching, MAX_WATCHES, "{mode:?}");
        // Evaluations, Check and List are served while the watches stay open.
        target.assert_others_served();
        let list = fn_runner::grpc::Client::connect(target.addr(), Default::default())
            .expect("connect")
            .call(
                LIST,
                &HealthListRequest::default().encode_to_vec(),
                &fn_runner::call::CallContext::with_timeout(super::WATCHDOG),
            )
            .expect("List");
        let list = HealthListResponse::decode(&list).expect("a List response");
        assert_eq!(list.statuses.len(), 2, "{mode:?}");
        assert!(c.answers_ping(), "{mode:?}: the watches are still open");
    }
}
