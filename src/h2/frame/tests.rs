//! Frame decoder tests: round trips, every prefix, limits at n and n+1,
//! and the RFC 9113 rejections.

use super::header::{encode_header, flags};
use super::*;

fn samples() -> Vec<Frame<'static>> {
    let s1 = StreamId::new(1);
    vec![
        Frame::Data(Data {
            stream_id: s1,
            end_stream: true,
            data: b"hello",
            flow_len: 5,
        }),
        Frame::Headers(Headers {
            stream_id: s1,
            end_stream: false,
            end_headers: true,
            priority: Some(PriorityFields {
                exclusive: true,
                dependency: StreamId::new(3),
                weight: 7,
            }),
            fragment: b"\x82\x86",
        }),
        Frame::Priority(Priority {
            stream_id: s1,
            fields: PriorityFields {
                exclusive: false,
                dependency: StreamId::ZERO,
                weight: 15,
            },
        }),
        Frame::RstStream(RstStream {
            stream_id: s1,
            code: ErrorCode::CANCEL,
        }),
        Frame::Settings(Settings {
            ack: false,
            params: vec![
                (SettingId::INITIAL_WINDOW_SIZE, 1 << 20),
                (SettingId(0x99), 5),
            ],
        }),
        Frame::Settings(Settings::ack()),
        Frame::Ping(Ping {
            ack: true,
            payload: *b"12345678",
        }),
        Frame::GoAway(GoAway {
            last_stream_id: StreamId::new(9),
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug_data: b"why",
        }),
        Frame::WindowUpdate(WindowUpdate {
            stream_id: StreamId::ZERO,
            increment: MAX_WINDOW,
        }),
        Frame::Continuation(Continuation {
            stream_id: s1,
            end_headers: true,
            fragment: b"\x84",
        }),
        Frame::PushPromise(PushPromise {
            stream_id: s1,
            promised_id: StreamId::new(2),
            end_headers: true,
            fragment: b"\x82",
        }),
        Frame::Unknown {
            kind: FrameType(0xfa),
            stream_id: s1,
        },
    ]
}

#[test]
fn round_trips_every_frame_type() {
    for frame in samples() {
        let mut buf = Vec::new();
        frame.encode(&mut buf);
        let (decoded, used) = decode(&buf, MIN_MAX_FRAME_SIZE)
            .expect("valid frame")
            .expect("whole frame");
        assert_eq!(used, buf.len());
        assert_eq!(decoded, frame);
    }
}

#[test]
fn every_prefix_needs_more() {
    for frame in samples() {
        let mut buf = Vec::new();
        frame.encode(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(
                decode(&buf[..cut], MIN_MAX_FRAME_SIZE),
                Ok(None),
                "{frame:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn frame_size_limit_at_n_and_n_plus_1() {
    let max = MIN_MAX_FRAME_SIZE;
    let payload = vec![0u8; max as usize + 1];
    let mut ok = Vec::new();
    encode_data(StreamId::new(1), &payload[..max as usize], false, &mut ok);
    assert!(matches!(decode(&ok, max), Ok(Some((Frame::Data(_), _)))));
    let mut too_big = Vec::new();
    encode_data(StreamId::new(1), &payload, false, &mut too_big);
    // Rejected from the header alone, before the payload arrives.
    let err = decode(&too_big[..HEADER_LEN], max).expect_err("too large");
    assert_eq!(err.code(), ErrorCode::FRAME_SIZE_ERROR);
    assert_eq!(err.stream(), None);
}

#[test]
fn strips_padding_and_rejects_padding_at_payload_length() {
    // pad length 2, data "ab", 2 padding bytes: payload 5.
    let mut buf = Vec::new();
    encode_header(
        5,
        FrameType::DATA,
        flags::PADDED,
        StreamId::new(1),
        &mut buf,
    );
    buf.extend_from_slice(&[2, b'a', b'b', 0, 0]);
    match decode(&buf, MIN_MAX_FRAME_SIZE) {
        Ok(Some((Frame::Data(d), _))) => {
            assert_eq!(d.data, b"ab");
            assert_eq!(d.flow_len, 5);
        }
        other => panic!("unexpected {other:?}"),
    }
    // pad length n-1 of the rest is fine (empty data); n is an error.
    let mut ok = Vec::new();
    encode_header(3, FrameType::DATA, flags::PADDED, StreamId::new(1), &mut ok);
    ok.extend_from_slice(&[2, 0, 0]);
    assert!(decode(&ok, MIN_MAX_FRAME_SIZE).is_ok());
    let mut bad = Vec::new();
    encode_header(
        3,
        FrameType::DATA,
        flags::PADDED,
        StreamId::new(1),
        &mut bad,
    );
    bad.extend_from_slice(&[3, 0, 0]);
    assert_eq!(
        decode(&bad, MIN_MAX_FRAME_SIZE).map(|_| ()),
        Err(Error::BadPadding { kind: "DATA" })
    );
}

fn raw(kind: FrameType, fl: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_header(payload.len(), kind, fl, StreamId::new(stream), &mut buf);
    buf.extend_from_slice(payload);
    buf
}

fn decode_err(buf: &[u8]) -> Error {
    decode(buf, MIN_MAX_FRAME_SIZE).expect_err("must fail")
}

#[test]
fn rejects_ping_on_stream_1() {
    let e = decode_err(&raw(FrameType::PING, 0, 1, &[0; 8]));
    assert_eq!(e.code(), ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn rejects_ping_of_7_bytes() {
    let e = decode_err(&raw(FrameType::PING, 0, 0, &[0; 7]));
    assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR);
}

#[test]
fn rejects_data_and_headers_on_stream_0() {
    assert_eq!(
        decode_err(&raw(FrameType::DATA, 0, 0, b"x")).code(),
        ErrorCode::PROTOCOL_ERROR
    );
    assert_eq!(
        decode_err(&raw(FrameType::HEADERS, 4, 0, b"x")).code(),
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn rejects_bad_settings() {
    assert_eq!(
        decode_err(&raw(FrameType::SETTINGS, 0, 0, &[0; 5])).code(),
        ErrorCode::FRAME_SIZE_ERROR
    );
    assert_eq!(
        decode_err(&raw(FrameType::SETTINGS, 1, 0, &[0; 6])).code(),
        ErrorCode::FRAME_SIZE_ERROR
    );
    assert_eq!(
        decode_err(&raw(FrameType::SETTINGS, 0, 1, &[])).code(),
        ErrorCode::PROTOCOL_ERROR
    );
    // INITIAL_WINDOW_SIZE at 2^31-1 is fine, 2^31 a FLOW_CONTROL_ERROR.
    let ok = raw(FrameType::SETTINGS, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]);
    assert!(decode(&ok, MIN_MAX_FRAME_SIZE).is_ok());
    let e = decode_err(&raw(FrameType::SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]));
    assert_eq!(e.code(), ErrorCode::FLOW_CONTROL_ERROR);
    // MAX_FRAME_SIZE at 2^14 fine, 2^14-1 a PROTOCOL_ERROR; 2^24-1 fine, 2^24 not.
    assert!(decode(
        &raw(FrameType::SETTINGS, 0, 0, &[0, 5, 0, 0, 0x40, 0]),
        MIN_MAX_FRAME_SIZE
    )
    .is_ok());
    assert_eq!(
        decode_err(&raw(FrameType::SETTINGS, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff])).code(),
        ErrorCode::PROTOCOL_ERROR
    );
    assert!(decode(
        &raw(FrameType::SETTINGS, 0, 0, &[0, 5, 0, 0xff, 0xff, 0xff]),
        MIN_MAX_FRAME_SIZE
    )
    .is_ok());
    assert_eq!(
        decode_err(&raw(FrameType::SETTINGS, 0, 0, &[0, 5, 1, 0, 0, 0])).code(),
        ErrorCode::PROTOCOL_ERROR
    );
    assert_eq!(
        decode_err(&raw(FrameType::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2])).code(),
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn zero_window_increment_scope() {
    let conn = decode_err(&raw(FrameType::WINDOW_UPDATE, 0, 0, &[0; 4]));
    assert_eq!(
        (conn.code(), conn.stream()),
        (ErrorCode::PROTOCOL_ERROR, None)
    );
    let stream = decode_err(&raw(FrameType::WINDOW_UPDATE, 0, 3, &[0; 4]));
    assert_eq!(stream.stream(), Some(StreamId::new(3)));
}

#[test]
fn priority_wrong_length_is_a_stream_error() {
    let e = decode_err(&raw(FrameType::PRIORITY, 0, 3, &[0; 4]));
    assert_eq!(
        (e.code(), e.stream()),
        (ErrorCode::FRAME_SIZE_ERROR, Some(StreamId::new(3)))
    );
}

#[test]
fn rejects_rst_stream_of_wrong_length_and_short_goaway() {
    assert_eq!(
        decode_err(&raw(FrameType::RST_STREAM, 0, 1, &[0; 3])).code(),
        ErrorCode::FRAME_SIZE_ERROR
    );
    assert_eq!(
        decode_err(&raw(FrameType::GOAWAY, 0, 0, &[0; 7])).code(),
        ErrorCode::FRAME_SIZE_ERROR
    );
}

#[test]
fn splits_header_block_into_continuations() {
    let block = vec![7u8; 40];
    let mut buf = Vec::new();
    encode_header_block(StreamId::new(1), &block, true, 16, &mut buf);
    let mut rest = buf.as_slice();
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while let Some((frame, used)) = decode(rest, MIN_MAX_FRAME_SIZE).expect("valid") {
        match frame {
            Frame::Headers(h) => {
                assert!(h.end_stream && !h.end_headers);
                got.extend_from_slice(h.fragment);
                kinds.push("H");
            }
            Frame::Continuation(c) => {
                got.extend_from_slice(c.fragment);
                kinds.push(if c.end_headers { "C." } else { "C" });
            }
            other => panic!("unexpected {other:?}"),
        }
        rest = &rest[used..];
    }
    assert_eq!(kinds, ["H", "C", "C."]);
    assert_eq!(got, block);
}

#[test]
fn error_is_small() {
    assert!(std::mem::size_of::<Error>() <= 24);
}
