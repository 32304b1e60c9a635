//! Connection state machine tests, driven by bytes (no sockets).

use super::*;
use crate::h2::frame::{Frame, Ping, Settings, StreamId};

fn server() -> Connection {
    let mut c = Connection::new(Role::Server, Limits::default());
    c.take_output();
    c
}

fn client_hello() -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    Settings::default().encode(&mut v);
    v
}

fn frames(bytes: &[u8]) -> Vec<Frame<'_>> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while let Ok(Some((f, n))) = frame::decode(rest, 1 << 24) {
        out.push(f);
        rest = &rest[n..];
    }
    out
}

#[test]
fn acks_settings_after_preface() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let out = c.take_output();
    assert!(frames(&out).contains(&Frame::Settings(Settings::ack())));
}

#[test]
fn rejects_bad_preface_at_first_wrong_byte() {
    let mut c = server();
    let err = c.recv(b"GET / HTTP/1.1\r\n").expect_err("bad preface");
    assert_eq!(err.code, ErrorCode::PROTOCOL_ERROR);
    assert!(matches!(frames(&c.take_output())[..], [Frame::GoAway(_)]));
}

#[test]
fn every_prefix_of_the_preface_waits() {
    let hello = client_hello();
    for cut in 0..hello.len() {
        let mut c = server();
        c.recv(&hello[..cut]).expect("prefix is fine");
        c.recv(&hello[cut..]).expect("rest is fine");
    }
}

#[test]
fn answers_ping_and_floods_get_enhance_your_calm() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let mut pings = Vec::new();
    for _ in 0..10_000 {
        Ping {
            ack: false,
            payload: [1; 8],
        }
        .encode(&mut pings);
    }
    let err = c.recv(&pings).expect_err("flood");
    assert_eq!(err.code, ErrorCode::ENHANCE_YOUR_CALM);
    assert!(err.reason.contains("PING"), "{}", err.reason);
}

#[test]
fn first_frame_must_be_settings() {
    let mut c = server();
    let mut bytes = PREFACE.to_vec();
    Ping {
        ack: false,
        payload: [0; 8],
    }
    .encode(&mut bytes);
    assert_eq!(
        c.recv(&bytes).expect_err("not settings").code,
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn connection_window_overflow_is_flow_control_error() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let mut bytes = Vec::new();
    frame::WindowUpdate {
        stream_id: StreamId::ZERO,
        increment: frame::MAX_WINDOW,
    }
    .encode(&mut bytes);
    assert_eq!(
        c.recv(&bytes).expect_err("overflow").code,
        ErrorCode::FLOW_CONTROL_ERROR
    );
}
