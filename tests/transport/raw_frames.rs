//! Misbehaving peers, written frame by frame: each gets the RFC's answer
//! (GOAWAY or RST_STREAM with the right code) and is cut off, so what it can
//! make us hold stays bounded.

use super::TestServer;
use crate::support::h2raw::*;

const CHECK: &str = "/grpc.health.v1.Health/Check";

#[test]
fn bad_preface_gets_protocol_error() {
    let server = TestServer::start();
    let mut c = RawConn::connect(&server.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, PROTOCOL_ERROR, "{g:?}");
}

#[test]
fn oversized_frame_gets_frame_size_error() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    // 16384 is our SETTINGS_MAX_FRAME_SIZE: announce one byte more.
    c.send(&frame_header(DATA, 0, 1, 16_385));
    c.send(&[0u8; 16_385]);
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, FRAME_SIZE_ERROR, "{g:?}");
}

#[test]
fn frame_at_max_size_is_fine() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    let block = grpc_request_block(CHECK);
    c.send(&frame(HEADERS, END_HEADERS, 1, &block));
    // A 16384-byte DATA frame (n) is accepted: the call fails as gRPC
    // (garbage message), not as HTTP/2.
    c.send(&frame(DATA, END_STREAM, 1, &[0u8; 16_384]));
    match c.read_stream_end(1).expect("stream end") {
        Err(headers) => assert!(!headers.payload.is_empty()),
        Ok(code) => panic!("reset with {code}"),
    }
    assert!(c.answers_ping());
}

#[test]
fn header_list_over_limit_resets_only_that_stream() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    // A 3.9 KB field enters the dynamic table, then 17 one-byte references
    // to it decode to more than our 64 KiB header list limit.
    let mut block = grpc_request_block(CHECK);
    literal(0x40, b"x-big", &vec![b'a'; 3900], &mut block);
    for _ in 0..17 {
        indexed(62, &mut block);
    }
    c.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
    assert_eq!(c.read_stream_end(1).expect("reset"), Ok(ENHANCE_YOUR_CALM));
    // The connection (and its HPACK state) is still good.
    assert!(c.answers_ping());
}

/// A header block of `continuations` + 1 frames, 1 fragment byte each,
/// except the last which takes the rest.
fn split_block(stream: u32, block: &[u8], continuations: usize) -> Vec<u8> {
    let mut out = frame(HEADERS, 0, stream, &block[..1]);
    for i in 0..continuations {
        let last = i + 1 == continuations;
        let piece = if last {
            &block[1 + i..]
        } else {
            &block[1 + i..2 + i]
        };
        out.extend(frame(
            CONTINUATION,
            if last { END_HEADERS } else { 0 },
            stream,
            piece,
        ));
    }
    out
}

#[test]
fn continuations_at_limit_and_over() {
    let server = TestServer::start();
    let block = grpc_request_block(CHECK);
    let mut body = vec![0u8, 0, 0, 0, 0];
    body.truncate(5);
    // 32 CONTINUATIONs (our limit) work.
    let mut c = RawConn::handshake(&server.addr);
    c.send(&split_block(1, &block, 32));
    c.send(&frame(DATA, END_STREAM, 1, &body));
    assert!(
        matches!(c.read_stream_end(1), Some(Err(_))),
        "the call completes"
    );
    // 33 are a CONTINUATION flood.
    let mut c = RawConn::handshake(&server.addr);
    c.send(&split_block(1, &block, 33));
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, ENHANCE_YOUR_CALM, "{g:?}");
    assert!(g.debug.contains("CONTINUATION"), "{g:?}");
}

#[test]
fn rapid_reset_gets_enhance_your_calm() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    let block = grpc_request_block("/fnrunner.test.Nothing/Here");
    let mut burst = Vec::new();
    for i in 0..2000u32 {
        let id = 2 * i + 1;
        burst.extend(frame(HEADERS, END_HEADERS, id, &block));
        burst.extend(rst_stream(id, CANCEL));
    }
    c.send(&burst);
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, ENHANCE_YOUR_CALM, "{g:?}");
    assert!(g.debug.contains("RST_STREAM"), "{g:?}");
}

#[test]
fn settings_flood_gets_enhance_your_calm() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    let burst: Vec<u8> = (0..2000).flat_map(|_| settings(&[(0x3, 100)])).collect();
    c.send(&burst);
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, ENHANCE_YOUR_CALM, "{g:?}");
    assert!(g.debug.contains("SETTINGS"), "{g:?}");
}

#[test]
fn ping_flood_gets_enhance_your_calm() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    let burst: Vec<u8> = (0..10_000).flat_map(|_| ping([7; 8])).collect();
    c.send(&burst);
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, ENHANCE_YOUR_CALM, "{g:?}");
    assert!(g.debug.contains("PING"), "{g:?}");
}

#[test]
fn empty_data_flood_gets_enhance_your_calm() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    let mut burst = frame(HEADERS, END_HEADERS, 1, &grpc_request_block(CHECK));
    for _ in 0..5000 {
        burst.extend(frame(DATA, 0, 1, &[]));
    }
    c.send(&burst);
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, ENHANCE_YOUR_CALM, "{g:?}");
}

#[test]
fn connection_window_overflow_gets_flow_control_error() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    c.send(&window_update(0, 0x7fff_ffff));
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, FLOW_CONTROL_ERROR, "{g:?}");
}

#[test]
fn stream_window_overflow_resets_the_stream() {
    let server = TestServer::start();
    let mut c = RawConn::handshake(&server.addr);
    // An open stream (request body not finished), then its window overflows.
    c.send(&frame(HEADERS, END_HEADERS, 1, &grpc_request_block(CHECK)));
    c.send(&window_update(1, 0x7fff_ffff));
    assert_eq!(c.read_stream_end(1).expect("reset"), Ok(FLOW_CONTROL_ERROR));
    assert!(c.answers_ping());
}

fn server_with(limits: fn_runner::h2::limits::Limits) -> TestServer {
    TestServer::with_config(fn_runner::grpc::ServerConfig {
        limits,
        ..Default::default()
    })
}

#[test]
fn silent_connection_is_closed_after_the_handshake_timeout() {
    let server = server_with(fn_runner::h2::limits::Limits {
        handshake_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    });
    let mut silent = RawConn::connect(&server.addr);
    // The server's SETTINGS, then EOF: read_frame returns None at EOF.
    while silent.read_frame().is_some() {}
    // A connection that completed the handshake stays open past it (the
    // sleeps let time pass; they synchronize nothing).
    let mut c = RawConn::handshake(&server.addr);
    for _ in 0..6 {
        assert!(c.answers_ping());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Opens a health Watch on stream 1 and reads its first answer: the
/// connection then has a call in progress.
fn watching(addr: &str) -> RawConn {
    let mut c = RawConn::handshake(addr);
    c.send(&frame(
        HEADERS,
        END_HEADERS,
        1,
        &grpc_request_block("/grpc.health.v1.Health/Watch"),
    ));
    c.send(&frame(DATA, END_STREAM, 1, &[0; 5]));
    loop {
        let f = c.read_frame().expect("the watch answers");
        if f.kind == DATA && f.stream == 1 {
            return c;
        }
    }
}

#[test]
fn connections_over_the_limit_are_closed_at_accept_when_all_are_busy() {
    let server = server_with(fn_runner::h2::limits::Limits {
        max_connections: 2,
        ..Default::default()
    });
    // Each connection has a call in progress: no room can be made.
    let mut a = watching(&server.addr);
    let mut b = watching(&server.addr);
    assert!(a.answers_ping() && b.answers_ping());
    let mut c = RawConn::handshake(&server.addr);
    assert!(!c.answers_ping(), "third connection must be closed");
    drop(a);
    // Once one closes, a new connection is accepted again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut d = RawConn::handshake(&server.addr);
        if d.answers_ping() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no room after a close"
        );
    }
    assert!(b.answers_ping());
}

#[test]
fn zero_window_stall_closes_the_connection() {
    let server = server_with(fn_runner::h2::limits::Limits {
        send_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    });
    let mut c = RawConn::connect(&server.addr);
    // SETTINGS_INITIAL_WINDOW_SIZE 0: the response DATA can never flow.
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[(0x4, 0)]));
    hello.extend(frame(HEADERS, END_HEADERS, 1, &grpc_request_block(CHECK)));
    hello.extend(frame(DATA, END_STREAM, 1, &[0, 0, 0, 0, 0]));
    c.send(&hello);
    let g = c.read_goaway().expect("GOAWAY");
    assert_eq!(g.code, ENHANCE_YOUR_CALM, "{g:?}");
    assert!(g.debug.contains("stalled"), "{g:?}");
}
