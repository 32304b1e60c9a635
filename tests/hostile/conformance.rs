//! Item 10: conformance fixes, each by raw frames against both modes.

use super::{framed, Mode, Target, CHECK, EVALUATE, MAX_MESSAGE, MODES};
use crate::support::h2raw::*;

/// Sends `frames` after the handshake to both modes: each answers GOAWAY
/// PROTOCOL_ERROR with debug data containing `debug`, and serves others.
fn assert_protocol_error(frames: &[u8], debug: &str) {
    for mode in MODES {
        let target = Target::start(mode, &[]);
        let mut c = RawConn::handshake(target.addr());
        c.send(frames);
        let g = c.read_goaway().expect("GOAWAY");
        assert_eq!(g.code, PROTOCOL_ERROR, "{mode:?}: {g:?}");
        assert!(g.debug.contains(debug), "{mode:?}: {g:?}");
        target.assert_others_served();
        // The one GOAWAY is logged once; nothing claims a second.
        target.assert_log_lacks("connection already closed");
    }
}

/// RFC 9113 §5.1.1: HEADERS on an even stream id is a connection error.
#[test]
fn headers_on_an_even_stream_id_gets_protocol_error() {
    let block = grpc_request_block(CHECK);
    assert_protocol_error(
        &frame(HEADERS, END_HEADERS | END_STREAM, 2, &block),
        "odd stream ids",
    );
}

/// RFC 9113 §5.1.1: a new stream's id must be above every id used before.
#[test]
fn headers_on_a_decreasing_stream_id_gets_protocol_error() {
    let block = grpc_request_block(CHECK);
    // Stream 5 stays open (no END_STREAM), then a request on stream 3.
    let mut frames = frame(HEADERS, END_HEADERS, 5, &block);
    frames.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &block));
    assert_protocol_error(&frames, "not above stream 5");
}

/// A prefix declaring more than the limit is answered RESOURCE_EXHAUSTED
/// at once, with the declared size, while the body is still unfinished
/// (as grpc-go does); the connection stays usable.
#[test]
fn a_prefix_over_the_limit_is_answered_at_once_with_its_size() {
    for mode in MODES {
        let target = Target::start(mode, &[]);
        let mut c = RawConn::handshake(target.addr());
        let declared = MAX_MESSAGE + 1;
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&u32::try_from(declared).expect("fits").to_be_bytes());
        c.send(&frame(
            HEADERS,
            END_HEADERS,
            1,
            &grpc_request_block(EVALUATE),
        ));
        // The prefix and a few bytes of the message, no END_STREAM.
        prefix.extend_from_slice(b"partial");
        c.send(&frame(DATA, 0, 1, &prefix));
        let end = c
            .read_stream_end(1)
            .expect("an answer before the body ends");
        let trailers = end.expect_err("trailers-only, not a reset");
        assert_eq!(trailers.field("grpc-status"), Some("8"), "{mode:?}");
        let message = trailers.field("grpc-message").unwrap_or_default();
        assert_eq!(
            message,
            format!("grpc: received message larger than max ({declared} vs. {MAX_MESSAGE})"),
            "{mode:?}"
        );
        assert!(c.answers_ping(), "{mode:?}: connection still usable");
    }
}

/// A body that grows past the limit without declaring it (a small prefix,
/// then more bytes) reports its size, not the limit plus the prefix.
#[test]
fn a_body_over_the_limit_reports_its_size() {
    let target = Target::start(Mode::Serve, &["--max-request-body-size", "1000"]);
    let mut c = RawConn::handshake(target.addr());
    c.send(&frame(
        HEADERS,
        END_HEADERS,
        1,
        &grpc_request_block(EVALUATE),
    ));
    let mut body = framed(b"tiny");
    body.resize(1500, b'x');
    c.send(&frame(DATA, END_STREAM, 1, &body));
    let trailers = c
        .read_stream_end(1)
        .expect("an answer")
        .expect_err("trailers-only");
    assert_eq!(trailers.field("grpc-status"), Some("8"));
    assert_eq!(
        trailers.field("grpc-message"),
        Some("grpc: received message larger than max (1495 vs. 1000)")
    );
}
