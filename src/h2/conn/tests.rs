//! Connection state machine tests, driven by bytes (no sockets).

use super::*;
use crate::h2::frame::{Frame, Ping, Settings, StreamId};
use crate::h2::limits::Flood;

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
    assert_eq!(err, Error::BadPreface);
    assert_eq!(err.code(), ErrorCode::PROTOCOL_ERROR);
    assert!(matches!(frames(&c.take_output())[..], [Frame::GoAway(_)]));
}

fn client() -> Connection {
    let mut c = Connection::new(Role::Client, Limits::default());
    c.take_output();
    c
}

#[test]
fn a_client_names_a_server_that_does_not_speak_http2() {
    // An HTTP/1.1 status line would decode as a 4.7 MB frame.
    let mut c = client();
    let err = c
        .recv(b"HTTP/1.1 400 Bad Request\r\n")
        .expect_err("not HTTP/2");
    assert!(matches!(err, Error::NotHttp2 { len: 9, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the server does not speak HTTP/2 (h2c): it answered HTTP/1.x (\"HTTP/1.1 \"...)"
    );
    assert_eq!(c.failure(), Some(&err));
    // A TLS alert is 7 bytes, then EOF: its 4th byte already tells.
    let err = client()
        .recv(b"\x15\x03\x01\x00\x02\x02\x46")
        .expect_err("TLS");
    assert!(err.to_string().ends_with(": it answered with TLS"), "{err}");
}

#[test]
fn a_server_preface_in_pieces_is_fine() {
    let mut settings = Vec::new();
    Settings::default().encode(&mut settings);
    for cut in 0..settings.len() {
        let mut c = client();
        c.recv(&settings[..cut]).expect("a prefix waits");
        c.recv(&settings[cut..]).expect("the rest completes it");
        assert!(c.is_established());
    }
    // The stream id's reserved bit is ignored (RFC 9113 §4.1).
    let mut reserved = settings.clone();
    reserved[5] |= 0x80;
    client().recv(&reserved).expect("reserved bit set");
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
    assert_eq!(err.code(), ErrorCode::ENHANCE_YOUR_CALM);
    assert!(
        matches!(err, Error::Flood(Flood { name: "PING", .. })),
        "{err:?}"
    );
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
        c.recv(&bytes).expect_err("not settings").code(),
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
        c.recv(&bytes).expect_err("overflow").code(),
        ErrorCode::FLOW_CONTROL_ERROR
    );
}

/// DATA payload bytes in `out`.
fn data_sent(out: &[u8]) -> usize {
    frames(out)
        .iter()
        .map(|f| match f {
            Frame::Data(d) => d.data.len(),
            _ => 0,
        })
        .sum()
}

fn request_block() -> Vec<u8> {
    let mut block = Vec::new();
    let mut enc = hpack::Encoder::new();
    let fields: [(&[u8], &[u8]); 4] = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/x"),
        (b":authority", b"a"),
    ];
    enc.encode(fields, &mut block);
    block
}

fn small_window_server(window: u32) -> Connection {
    let limits = Limits {
        initial_window_bytes: window,
        connection_window_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut c = Connection::new(Role::Server, limits);
    c.recv(&client_hello()).expect("valid");
    c.take_output();
    c
}

fn headers_frame(stream: u32, end_stream: bool) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_header_block(
        StreamId::new(stream),
        &request_block(),
        end_stream,
        16_384,
        &mut out,
    );
    out
}

#[test]
fn data_at_stream_window_n_and_n_plus_1() {
    let mut c = small_window_server(100);
    let mut bytes = headers_frame(1, false);
    frame::encode_data(StreamId::new(1), &[0; 100], true, &mut bytes);
    c.recv(&bytes).expect("valid");
    assert!(c.take_events().iter().any(|e| matches!(
        e,
        Event::Data {
            end_stream: true,
            ..
        }
    )));

    let mut c = small_window_server(100);
    let mut bytes = headers_frame(1, false);
    frame::encode_data(StreamId::new(1), &[0; 101], true, &mut bytes);
    c.recv(&bytes).expect("stream error only");
    let resets: Vec<_> = frames(&c.take_output())
        .into_iter()
        .filter_map(|f| match f {
            Frame::RstStream(r) => Some(r.code),
            _ => None,
        })
        .collect();
    assert_eq!(resets, [ErrorCode::FLOW_CONTROL_ERROR]);
}

#[test]
fn concurrent_streams_at_n_and_n_plus_1() {
    let limits = Limits {
        max_concurrent_streams: 2,
        ..Limits::default()
    };
    let mut c = Connection::new(Role::Server, limits);
    c.recv(&client_hello()).expect("valid");
    c.take_output();
    let mut bytes = headers_frame(1, false);
    bytes.extend(headers_frame(3, false));
    c.recv(&bytes).expect("two streams");
    assert!(frames(&c.take_output())
        .iter()
        .all(|f| !matches!(f, Frame::RstStream(_))));
    c.recv(&headers_frame(5, false)).expect("third refused");
    let out = c.take_output();
    assert!(frames(&out).contains(&Frame::RstStream(frame::RstStream {
        stream_id: StreamId::new(5),
        code: ErrorCode::REFUSED_STREAM,
    })));
}

#[test]
fn response_respects_peer_window_and_resumes_on_window_update() {
    let mut c = server();
    // The peer allows 10 bytes per stream.
    let mut hello = PREFACE.to_vec();
    Settings {
        ack: false,
        params: vec![(frame::SettingId::INITIAL_WINDOW_SIZE, 10)],
    }
    .encode(&mut hello);
    hello.extend(headers_frame(1, true));
    c.recv(&hello).expect("valid");
    c.take_output();
    let id = StreamId::new(1);
    c.send_headers(id, &[(&b":status"[..], &b"200"[..])], false)
        .expect("headers");
    c.send_data(id, vec![1; 25], false).expect("data");
    c.send_headers(id, &[(&b"grpc-status"[..], &b"0"[..])], true)
        .expect("trailers");
    let sent = data_sent(&c.take_output());
    assert_eq!(sent, 10);
    let mut wu = Vec::new();
    frame::WindowUpdate {
        stream_id: id,
        increment: 100,
    }
    .encode(&mut wu);
    c.recv(&wu).expect("window update");
    let out = c.take_output();
    let fs = frames(&out);
    assert_eq!(data_sent(&out), 15);
    // Trailers come after the data, with END_STREAM.
    assert!(matches!(fs.last(), Some(Frame::Headers(h)) if h.end_stream));
    assert_eq!(c.active_streams(), 0);
}

#[test]
fn rst_stream_on_idle_stream_is_protocol_error() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let mut bytes = Vec::new();
    frame::RstStream {
        stream_id: StreamId::new(9),
        code: ErrorCode::CANCEL,
    }
    .encode(&mut bytes);
    assert_eq!(
        c.recv(&bytes).expect_err("idle").code(),
        ErrorCode::PROTOCOL_ERROR
    );
}

#[test]
fn goaway_refuses_new_streams() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    c.recv(&headers_frame(1, true)).expect("stream 1");
    c.go_away(ErrorCode::NO_ERROR, b"bye");
    c.take_output();
    c.recv(&headers_frame(3, true)).expect("stream 3 refused");
    assert!(
        frames(&c.take_output()).contains(&Frame::RstStream(frame::RstStream {
            stream_id: StreamId::new(3),
            code: ErrorCode::REFUSED_STREAM,
        }))
    );
}

#[test]
fn header_list_at_limit_n_and_n_plus_1() {
    // RFC 9113 §6.5.2 counting: name + value + 32 per field.
    let list_size: usize = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/x"),
        (":authority", "a"),
    ]
    .iter()
    .map(|(n, v)| n.len() + v.len() + 32)
    .sum();
    for (limit, accepted) in [(list_size, true), (list_size - 1, false)] {
        let limits = Limits {
            max_header_list_bytes: limit,
            ..Limits::default()
        };
        let mut c = Connection::new(Role::Server, limits);
        c.recv(&client_hello()).expect("valid");
        c.take_output();
        c.recv(&headers_frame(1, true))
            .expect("never a connection error");
        let got_headers = c
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::Headers { .. }));
        let reset = frames(&c.take_output()).contains(&Frame::RstStream(frame::RstStream {
            stream_id: StreamId::new(1),
            code: ErrorCode::ENHANCE_YOUR_CALM,
        }));
        assert_eq!((got_headers, reset), (accepted, !accepted), "limit {limit}");
    }
}

#[test]
fn uppercase_field_name_is_a_stream_protocol_error() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    c.take_output();
    let mut block = Vec::new();
    let fields: [(&[u8], &[u8]); 2] = [(b":method", b"POST"), (b"X-Upper", b"v")];
    hpack::Encoder::new().encode(fields, &mut block);
    let mut bytes = Vec::new();
    frame::encode_header_block(StreamId::new(1), &block, true, 16_384, &mut bytes);
    c.recv(&bytes).expect("stream error only");
    assert!(
        frames(&c.take_output()).contains(&Frame::RstStream(frame::RstStream {
            stream_id: StreamId::new(1),
            code: ErrorCode::PROTOCOL_ERROR,
        }))
    );
}

#[test]
fn errors_are_small() {
    assert!(std::mem::size_of::<Error>() <= 32);
    assert!(std::mem::size_of::<SendError>() <= 16);
}

#[test]
fn client_keeps_data_that_arrives_with_the_trailers() {
    let mut c = Connection::new(Role::Client, Limits::default());
    let id = c
        .open_stream(&[(&b":method"[..], &b"POST"[..]), (b":path", b"/x")], true)
        .expect("open");
    c.take_output();
    let mut enc = hpack::Encoder::new();
    let mut bytes = Vec::new();
    Settings::default().encode(&mut bytes);
    let mut head = Vec::new();
    enc.encode([(&b":status"[..], &b"200"[..])], &mut head);
    frame::encode_header_block(id, &head, false, 16_384, &mut bytes);
    frame::encode_data(id, b"abc", false, &mut bytes);
    frame::encode_data(id, b"def", false, &mut bytes);
    let mut trailers = Vec::new();
    enc.encode([(&b"grpc-status"[..], &b"0"[..])], &mut trailers);
    frame::encode_header_block(id, &trailers, true, 16_384, &mut bytes);
    c.recv(&bytes).expect("valid");
    let events = c.take_events();
    // Two DATA frames of one batch coalesce into one event.
    let data_events = events
        .iter()
        .filter(|e| matches!(e, Event::Data { .. }))
        .count();
    assert_eq!(data_events, 1);
    assert_eq!(c.take_data(id), b"abcdef");
    assert_eq!(c.active_streams(), 0);
    // Taken once: nothing is kept.
    assert_eq!(c.take_data(id), b"");
}

#[test]
fn headers_on_an_even_stream_id_is_protocol_error() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let err = c.recv(&headers_frame(2, true)).expect_err("even id");
    assert_eq!(
        err,
        Error::EvenStreamId {
            stream_id: StreamId::new(2)
        }
    );
    assert_eq!(err.code(), ErrorCode::PROTOCOL_ERROR);
    assert!(frames(&c.take_output())
        .iter()
        .any(|f| matches!(f, Frame::GoAway(g) if g.code == ErrorCode::PROTOCOL_ERROR)));
}

#[test]
fn headers_on_a_lower_stream_id_is_protocol_error() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    c.recv(&headers_frame(5, false)).expect("stream 5");
    let err = c.recv(&headers_frame(3, true)).expect_err("3 after 5");
    assert_eq!(
        err,
        Error::StreamIdNotIncreasing {
            stream_id: StreamId::new(3),
            last_stream_id: StreamId::new(5)
        }
    );
    assert_eq!(err.code(), ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn trailers_in_flight_on_a_stream_we_reset_are_ignored() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    c.recv(&headers_frame(1, false)).expect("stream 1");
    c.recv(&headers_frame(3, false)).expect("stream 3");
    c.send_reset(StreamId::new(1), ErrorCode::CANCEL);
    // Trailers of stream 1 were on the wire when we reset it.
    c.recv(&headers_frame(1, true)).expect("ignored");
    assert!(c.answers_a_ping());
}

impl Connection {
    /// Test helper: the connection is still open and answers a PING.
    fn answers_a_ping(&mut self) -> bool {
        let mut ping = Vec::new();
        Ping {
            ack: false,
            payload: [9; 8],
        }
        .encode(&mut ping);
        self.take_output();
        self.recv(&ping).is_ok()
            && frames(&self.take_output())
                .iter()
                .any(|f| matches!(f, Frame::Ping(p) if p.ack))
    }
}

#[test]
fn a_closed_connection_claims_no_goaway() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    c.close();
    c.take_output();
    let err = c.recv(&headers_frame(1, true)).expect_err("closed");
    assert_eq!(err, Error::Closed);
    assert!(!err.sent_goaway());
    assert!(c.take_output().is_empty());
    assert!(Error::BadPreface.sent_goaway());
}

#[test]
fn settings_parameters_coalesce_to_their_last_value() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let id = StreamId::new(1);
    let mut bytes = headers_frame(1, false);
    frame::WindowUpdate {
        stream_id: id,
        increment: 1000,
    }
    .encode(&mut bytes);
    c.recv(&bytes).expect("stream 1 with a larger window");
    // A full frame of INITIAL_WINDOW_SIZE parameters: in sequence, the
    // first would push stream 1's window past 2^31-1; only the last counts.
    let mut params = Vec::new();
    for _ in 0..1365 {
        params.push((frame::SettingId::INITIAL_WINDOW_SIZE, frame::MAX_WINDOW));
        params.push((frame::SettingId::INITIAL_WINDOW_SIZE, 10));
    }
    let mut settings = Vec::new();
    Settings { ack: false, params }.encode(&mut settings);
    assert!(settings.len() <= 9 + 16_384);
    c.recv(&settings).expect("one change, to 10");
    c.take_output();
    c.send_headers(id, &[(&b":status"[..], &b"200"[..])], false)
        .expect("headers");
    c.send_data(id, vec![1; 5000], false).expect("data");
    let sent = data_sent(&c.take_output());
    // 65,535 + 1,000, then 10 - 65,535 for the new initial window.
    assert_eq!(sent, 1010);
}

#[test]
fn stream_errors_the_peer_provokes_spend_a_budget() {
    // MadeYouReset (CVE-2025-8671): a request, then a WINDOW_UPDATE that
    // overflows its window, so that we reset the stream ourselves.
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let burst = Limits::default().stream_error_budget.burst;
    let mut result = Ok(());
    for i in 0..2 * burst {
        let id = 2 * i + 1;
        let mut bytes = headers_frame(id, true);
        frame::WindowUpdate {
            stream_id: StreamId::new(id),
            increment: frame::MAX_WINDOW,
        }
        .encode(&mut bytes);
        result = c.recv(&bytes);
        if result.is_err() {
            // The burst, and what the budget refilled meanwhile.
            assert!(i >= burst, "{i} within the burst");
            break;
        }
    }
    let err = result.expect_err("over the burst");
    assert_eq!(err.code(), ErrorCode::ENHANCE_YOUR_CALM);
    assert!(
        matches!(
            err,
            Error::Flood(Flood {
                name: "stream error",
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "stream error flood: more than 100 in a burst (refill 10/s)"
    );
}

#[test]
fn a_batch_hands_up_a_bounded_amount_of_header_lists() {
    let limits = Limits {
        // Two of our small request lists per batch.
        max_header_bytes_per_batch: 1,
        ..Limits::default()
    };
    let mut c = Connection::new(Role::Server, limits);
    c.recv(&client_hello()).expect("valid");
    let mut bytes = Vec::new();
    for id in [1, 3, 5] {
        bytes.extend(headers_frame(id, false));
    }
    c.recv(&bytes).expect("valid");
    let mut batches = Vec::new();
    loop {
        let headers = c
            .take_events()
            .iter()
            .filter(|e| matches!(e, Event::Headers { .. }))
            .count();
        batches.push(headers);
        if !c.has_input_held() {
            break;
        }
        c.recv(&[]).expect("the rest");
    }
    // One list fills a batch of one byte: each batch hands up one.
    assert_eq!(batches, [1, 1, 1]);
    assert_eq!(c.active_streams(), 3);
}

#[test]
fn a_body_buffer_is_sized_for_its_declared_total_only_once_a_sixteenth_arrived() {
    let mut c = server();
    c.recv(&client_hello()).expect("valid");
    let id = StreamId::new(1);
    let total = 160_000;
    let mut bytes = headers_frame(1, false);
    frame::encode_data(id, &[7; 9_999], false, &mut bytes);
    c.recv(&bytes).expect("valid");
    // 9,999 bytes of 160,000: not yet; the buffer holds what arrived.
    assert_eq!(c.reserve_body(id, total), Ok(false));
    assert!(c.buffered_capacity(id) < total);
    let mut more = Vec::new();
    frame::encode_data(id, &[7; 1], false, &mut more);
    c.recv(&more).expect("valid");
    // 10,000: a sixteenth. Sized once, with what arrived kept.
    assert_eq!(c.reserve_body(id, total), Ok(true));
    assert!(c.buffered_capacity(id) >= total);
    assert_eq!(c.buffered_data(id), &[7; 10_000][..]);
    // No such stream: nothing to do.
    assert_eq!(c.reserve_body(StreamId::new(99), total), Ok(true));
}
