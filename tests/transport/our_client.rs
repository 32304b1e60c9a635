//! Our client against the grpcio echo server and against our own server.

use std::sync::Arc;
use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::grpc::{Client, ClientConfig, Code};
use fn_runner::proto::{HealthCheckRequest, HealthCheckResponse, Message, ServingStatus};

use super::TestServer;
use crate::support::grpc_py::EchoServer;

const SIX_MB: usize = 6 * 1024 * 1024;

fn config(max: usize) -> ClientConfig {
    ClientConfig {
        max_message_bytes: max,
        connect_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

fn ctx() -> CallContext {
    CallContext::with_timeout(Duration::from_secs(30))
}

#[test]
fn unary_calls_to_grpcio() {
    let echo = EchoServer::start();
    let client = Client::connect(&echo.addr(), config(8 << 20)).expect("connect");
    for i in 0..50u32 {
        let msg = format!("hello {i}");
        let resp = client
            .call("/test.Echo/Echo", msg.as_bytes(), &ctx())
            .expect("echo");
        assert_eq!(resp, msg.as_bytes());
    }
    // Empty messages are messages too.
    assert_eq!(
        client.call("/test.Echo/Echo", b"", &ctx()).expect("empty"),
        b""
    );
    let err = client
        .call("/test.Echo/Nope", b"", &ctx())
        .expect_err("unknown");
    assert_eq!(err.code, Code::UNIMPLEMENTED);
}

#[test]
fn six_megabytes_each_way_with_grpcio() {
    let echo = EchoServer::start();
    let client = Client::connect(&echo.addr(), config(SIX_MB + 1024)).expect("connect");
    let big: Vec<u8> = (0..SIX_MB).map(|i| (i % 251) as u8).collect();
    let resp = client
        .call("/test.Echo/Echo", &big, &ctx())
        .expect("6 MB echo");
    assert_eq!(resp.len(), SIX_MB);
    assert!(resp == big);
    let resp = client
        .call("/test.Echo/Big", SIX_MB.to_string().as_bytes(), &ctx())
        .expect("6 MB response");
    assert_eq!(resp.len(), SIX_MB);
}

#[test]
fn message_limits_both_ways() {
    let echo = EchoServer::start();
    let client = Client::connect(&echo.addr(), config(1000)).expect("connect");
    assert!(client.call("/test.Echo/Echo", &[7; 1000], &ctx()).is_ok());
    let err = client
        .call("/test.Echo/Echo", &[7; 1001], &ctx())
        .expect_err("send limit");
    assert_eq!(err.code, Code::RESOURCE_EXHAUSTED);
    let err = client
        .call("/test.Echo/Big", b"1001", &ctx())
        .expect_err("receive limit");
    assert_eq!(err.code, Code::RESOURCE_EXHAUSTED);
    // The connection is still good.
    assert_eq!(
        client
            .call("/test.Echo/Echo", b"ok", &ctx())
            .expect("after"),
        b"ok"
    );
}

#[test]
fn deadline_expires_against_grpcio() {
    let echo = EchoServer::start();
    let client = Client::connect(&echo.addr(), config(1 << 20)).expect("connect");
    let short = CallContext::with_timeout(Duration::from_millis(200));
    let err = client
        .call("/test.Echo/Sleep", b"5000", &short)
        .expect_err("deadline");
    assert_eq!(err.code, Code::DEADLINE_EXCEEDED, "{err}");
    assert_eq!(
        client
            .call("/test.Echo/Echo", b"next", &ctx())
            .expect("next call"),
        b"next"
    );
}

#[test]
fn connection_refused_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = Client::connect(&format!("127.0.0.1:{port}"), config(1000))
        .err()
        .expect("refused");
    assert_eq!(err.code, Code::UNAVAILABLE);
}

#[test]
fn many_threads_share_one_client_against_our_server() {
    let server = TestServer::start();
    let client = Arc::new(Client::connect(&server.addr, config(1 << 20)).expect("connect"));
    let req = HealthCheckRequest::default().encode_to_vec();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (client, req) = (Arc::clone(&client), req.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let resp = client
                        .call("/grpc.health.v1.Health/Check", &req, &ctx())
                        .expect("check");
                    let status = HealthCheckResponse::decode(&resp).expect("decode").status;
                    assert_eq!(status, ServingStatus::SERVING);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

#[test]
fn reconnects_after_server_restart_on_the_same_port() {
    let first = TestServer::start();
    let addr = first.addr.clone();
    let client = Client::connect(&addr, config(1 << 20)).expect("connect");
    let req = HealthCheckRequest::default().encode_to_vec();
    client
        .call("/grpc.health.v1.Health/Check", &req, &ctx())
        .expect("first");
    drop(first); // GOAWAY, then the connection closes.
    let listener = std::net::TcpListener::bind(&addr).expect("rebind the same port");
    let health = fn_runner::grpc::Health::new(&fn_runner::serve::HEALTH_SERVICES);
    let evaluator = Arc::new(fn_runner::evaluator::Chain::new(Vec::new()));
    let handle = fn_runner::serve::serve_evaluator(listener, evaluator, health, Default::default())
        .expect("serve");
    // The first call after a close may see the dead connection; the client
    // then reconnects by itself.
    let mut ok = false;
    for _ in 0..3 {
        if client
            .call("/grpc.health.v1.Health/Check", &req, &ctx())
            .is_ok()
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "client did not reconnect");
    handle.shutdown(Duration::from_secs(1));
}

#[test]
fn evaluate_function_not_found_through_our_client() {
    let server = TestServer::start();
    let client = Client::connect(&server.addr, config(1 << 20)).expect("connect");
    let req = fn_runner::proto::EvaluateFunctionRequest {
        resource_list: b"x".to_vec(),
        image: "example.com/unknown:v1".to_owned(),
    };
    let err = client
        .call(
            fn_runner::proto::EVALUATE_PATH,
            &req.encode_to_vec(),
            &ctx(),
        )
        .expect_err("no evaluator");
    assert_eq!(err.code, Code::NOT_FOUND);
    assert!(err.message.contains("example.com/unknown:v1"), "{err}");
}

#[test]
fn health_watch_streams_changes() {
    let server = TestServer::start();
    let client = Client::connect(&server.addr, config(1 << 20)).expect("connect");
    let req = HealthCheckRequest::default().encode_to_vec();
    let health = server.health.clone();
    let mut seen = Vec::new();
    client
        .call_streaming("/grpc.health.v1.Health/Watch", &req, &ctx(), |msg| {
            let status = HealthCheckResponse::decode(msg).expect("decode").status;
            seen.push(status);
            if status == ServingStatus::SERVING {
                health.set_all(ServingStatus::NOT_SERVING);
            }
            seen.len() < 2
        })
        .expect("watch");
    assert_eq!(seen, [ServingStatus::SERVING, ServingStatus::NOT_SERVING]);
    // Unknown names get SERVICE_UNKNOWN, not an error.
    let unknown = HealthCheckRequest {
        service: "nope".to_owned(),
    }
    .encode_to_vec();
    let mut first = None;
    client
        .call_streaming("/grpc.health.v1.Health/Watch", &unknown, &ctx(), |msg| {
            first = Some(HealthCheckResponse::decode(msg).expect("decode").status);
            false
        })
        .expect("watch unknown");
    assert_eq!(first, Some(ServingStatus::SERVICE_UNKNOWN));
}

#[test]
fn refused_stream_is_retried_once_on_a_new_connection() {
    use crate::support::h2raw::*;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let fake = std::thread::spawn(move || {
        // Connection 1: refuses everything with GOAWAY(last stream 0).
        let mut first = RawConn::accept(&listener);
        while let Some(f) = first.read_frame() {
            if f.kind == HEADERS {
                let mut goaway = 0u32.to_be_bytes().to_vec();
                goaway.extend_from_slice(&0u32.to_be_bytes());
                first.send(&frame(GOAWAY, 0, 0, &goaway));
                break;
            }
        }
        // Connection 2: answers the call.
        let mut second = RawConn::accept(&listener);
        let mut stream = 0;
        while let Some(f) = second.read_frame() {
            if f.kind == HEADERS {
                stream = f.stream;
            }
            if f.kind == DATA && f.flags & END_STREAM != 0 {
                break;
            }
        }
        let mut head = Vec::new();
        literal(0, b":status", b"200", &mut head);
        literal(0, b"content-type", b"application/grpc", &mut head);
        let mut trailers = Vec::new();
        literal(0, b"grpc-status", b"0", &mut trailers);
        second.send(&frame(HEADERS, END_HEADERS, stream, &head));
        second.send(&frame(
            DATA,
            0,
            stream,
            &[0, 0, 0, 0, 4, b'p', b'o', b'n', b'g'],
        ));
        second.send(&frame(HEADERS, END_HEADERS | END_STREAM, stream, &trailers));
        // Keep the connection open until the client has read the answer.
        let _ = second.read_frame();
    });
    let client = Client::connect(&addr, config(1 << 20)).expect("connect");
    let resp = client
        .call("/test.Echo/Echo", b"ping", &ctx())
        .expect("retried call");
    assert_eq!(resp, b"pong");
    drop(client);
    fake.join().expect("fake server");
}

/// A listener on 127.0.0.1:0 for a fake server, and its address.
fn fake_listener() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    (listener, addr)
}

/// A fake server that accepts one connection and never answers: it reports
/// each request's stream id and each RST_STREAM (stream, code) it reads.
struct SilentServer {
    addr: String,
    headers: std::sync::mpsc::Receiver<u32>,
    resets: std::sync::mpsc::Receiver<(u32, u32)>,
}

impl SilentServer {
    fn start() -> SilentServer {
        use crate::support::h2raw::*;
        let (listener, addr) = fake_listener();
        let (headers_tx, headers) = std::sync::mpsc::channel();
        let (resets_tx, resets) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut c = RawConn::accept(&listener);
            // Ends when the client closes the connection (or after 10 s
            // without a frame).
            while let Some(f) = c.read_frame() {
                if f.kind == HEADERS {
                    let _ = headers_tx.send(f.stream);
                }
                if f.kind == RST_STREAM && f.payload.len() == 4 {
                    let p = &f.payload;
                    let code = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                    let _ = resets_tx.send((f.stream, code));
                }
            }
        });
        SilentServer {
            addr,
            headers,
            resets,
        }
    }
}

#[test]
fn cancel_wakes_a_call_without_deadline() {
    let silent = SilentServer::start();
    let client = Arc::new(Client::connect(&silent.addr, config(1 << 20)).expect("connect"));
    let ctx = CallContext::background();
    let token = ctx.cancel.clone();
    let (done_tx, done) = std::sync::mpsc::channel();
    let c = Arc::clone(&client);
    std::thread::spawn(move || {
        let _ = done_tx.send(c.call("/test.Echo/Echo", b"x", &ctx));
    });
    let stream = silent
        .headers
        .recv_timeout(Duration::from_secs(10))
        .expect("the request reached the server");
    token.cancel();
    // A watchdog, not a timing assertion: a call that only a deadline
    // could end would hang here.
    let result = done
        .recv_timeout(Duration::from_secs(5))
        .expect("the call returns once cancelled");
    assert_eq!(result.expect_err("cancelled").code, Code::CANCELLED);
    assert_eq!(
        silent.resets.recv_timeout(Duration::from_secs(10)),
        Ok((stream, crate::support::h2raw::CANCEL)),
        "the server is told (RST_STREAM CANCEL)"
    );
}

/// Measures cancel-to-return over many cancels and prints p50/p99 (run
/// with `--nocapture`); asserts only that each call returns CANCELLED.
#[test]
fn cancel_to_return_latency_is_reported() {
    const CANCELS: usize = 300;
    let silent = SilentServer::start();
    let client = Arc::new(Client::connect(&silent.addr, config(1 << 20)).expect("connect"));
    let (go_tx, go) = std::sync::mpsc::channel::<CallContext>();
    let (done_tx, done) = std::sync::mpsc::channel();
    let c = Arc::clone(&client);
    let caller = std::thread::spawn(move || {
        for ctx in go {
            let result = c.call("/test.Echo/Echo", b"x", &ctx).map(|_| ());
            let _ = done_tx.send((result.map_err(|e| e.code), std::time::Instant::now()));
        }
    });
    let mut latencies = Vec::with_capacity(CANCELS);
    for _ in 0..CANCELS {
        let ctx = CallContext::background();
        let token = ctx.cancel.clone();
        go_tx.send(ctx).expect("caller thread");
        silent
            .headers
            .recv_timeout(Duration::from_secs(10))
            .expect("the request reached the server");
        // Lets the call park in its wait, where a real cancel finds it
        // (the sleep lets time pass; it synchronizes nothing).
        std::thread::sleep(Duration::from_millis(2));
        let cancelled_at = std::time::Instant::now();
        token.cancel();
        let (result, returned_at) = done
            .recv_timeout(Duration::from_secs(5))
            .expect("the call returns once cancelled");
        assert_eq!(result, Err(Code::CANCELLED));
        latencies.push(returned_at.saturating_duration_since(cancelled_at));
    }
    drop(go_tx);
    caller.join().expect("caller thread");
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    eprintln!(
        "cancel to return over {CANCELS} cancels: p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

/// A fake server's answer to `stream`: 200, one message, grpc-status 0.
fn respond_ok(c: &mut crate::support::h2raw::RawConn, stream: u32, msg: &[u8]) {
    use crate::support::h2raw::*;
    let mut head = Vec::new();
    literal(0, b":status", b"200", &mut head);
    literal(0, b"content-type", b"application/grpc", &mut head);
    let mut trailers = Vec::new();
    literal(0, b"grpc-status", b"0", &mut trailers);
    let mut body = vec![0];
    body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    body.extend_from_slice(msg);
    c.send(&frame(HEADERS, END_HEADERS, stream, &head));
    c.send(&frame(DATA, 0, stream, &body));
    c.send(&frame(HEADERS, END_HEADERS | END_STREAM, stream, &trailers));
}

/// Reads one request on a fake server's connection: its stream and body.
fn read_request(c: &mut crate::support::h2raw::RawConn) -> Option<(u32, Vec<u8>)> {
    use crate::support::h2raw::*;
    let mut body = Vec::new();
    while let Some(f) = c.read_frame() {
        if f.kind == DATA {
            body.extend_from_slice(&f.payload);
            if f.flags & END_STREAM != 0 {
                return Some((f.stream, body));
            }
        }
    }
    None
}

fn health_check() -> Vec<u8> {
    HealthCheckRequest::default().encode_to_vec()
}

#[test]
fn new_client_connects_on_its_first_call() {
    let (listener, addr) = fake_listener();
    listener.set_nonblocking(true).expect("nonblocking");
    let client = Client::new(&addr, config(1 << 20));
    // No I/O at construction: nothing knocked.
    assert_eq!(
        listener.accept().err().map(|e| e.kind()),
        Some(std::io::ErrorKind::WouldBlock)
    );
    listener.set_nonblocking(false).expect("blocking");
    let health = fn_runner::grpc::Health::new(&fn_runner::serve::HEALTH_SERVICES);
    let evaluator = Arc::new(fn_runner::evaluator::Chain::new(Vec::new()));
    let handle = fn_runner::serve::serve_evaluator(listener, evaluator, health, Default::default())
        .expect("serve");
    let resp = client
        .call("/grpc.health.v1.Health/Check", &health_check(), &ctx())
        .expect("first call connects");
    let status = HealthCheckResponse::decode(&resp).expect("decode").status;
    assert_eq!(status, ServingStatus::SERVING);
    handle.shutdown(Duration::from_secs(1));
}

#[test]
fn a_server_started_after_the_client_is_reached() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let client = Client::new(&addr, config(1 << 20));
    // Nothing listens yet: that call is UNAVAILABLE, the client stays.
    let err = client
        .call("/grpc.health.v1.Health/Check", &health_check(), &ctx())
        .expect_err("nothing listens");
    assert_eq!(err.code, Code::UNAVAILABLE, "{err}");
    let listener = std::net::TcpListener::bind(&addr).expect("bind the same port");
    let health = fn_runner::grpc::Health::new(&fn_runner::serve::HEALTH_SERVICES);
    let evaluator = Arc::new(fn_runner::evaluator::Chain::new(Vec::new()));
    let handle = fn_runner::serve::serve_evaluator(listener, evaluator, health, Default::default())
        .expect("serve");
    client
        .call("/grpc.health.v1.Health/Check", &health_check(), &ctx())
        .expect("reached once the server is up");
    handle.shutdown(Duration::from_secs(1));
}

#[test]
fn idle_connection_closes_and_the_next_call_reconnects() {
    use crate::support::h2raw::*;
    let (listener, addr) = fake_listener();
    let (seen_tx, seen) = std::sync::mpsc::channel();
    let fake = std::thread::spawn(move || {
        for _ in 0..2 {
            let mut c = RawConn::accept(&listener);
            let (stream, _) = read_request(&mut c).expect("a request");
            respond_ok(&mut c, stream, b"pong");
            // Idle now: the client says GOAWAY and closes.
            let goaway = c.read_goaway();
            let _ = seen_tx.send((goaway.map(|g| g.code), c.wait_peer_close()));
        }
    });
    let client = Client::new(
        &addr,
        ClientConfig {
            idle_timeout: Duration::from_millis(200),
            ..config(1 << 20)
        },
    );
    for _ in 0..2 {
        let resp = client
            .call("/test.Echo/Echo", b"ping", &ctx())
            .expect("call");
        assert_eq!(resp, b"pong");
        let (goaway, closed) = seen
            .recv_timeout(Duration::from_secs(20))
            .expect("the fake server saw the end");
        assert_eq!(goaway, Some(0), "GOAWAY NO_ERROR");
        assert!(closed, "the idle connection was closed");
    }
    fake.join().expect("fake server");
}

#[test]
fn idle_client_connection_closes_and_its_threads_exit() {
    use fn_runner::h2::io::{ClientConnection, ResponseBody};
    let server = TestServer::start();
    let limits = fn_runner::h2::limits::Limits {
        idle_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let body = ResponseBody {
        max_bytes: 1 << 20,
        size_hint: |_| None,
    };
    let conn = ClientConnection::connect(&server.addr, Duration::from_secs(5), limits, body)
        .expect("connect");
    assert!(
        conn.wait_closed(Duration::from_secs(10)),
        "reader and writer threads exited"
    );
    assert!(!conn.is_usable());
}

#[test]
fn stream_resets_map_to_grpc_codes() {
    use crate::support::h2raw::*;
    let (listener, addr) = fake_listener();
    const INADEQUATE_SECURITY: u32 = 0xc;
    let codes = [
        CANCEL,
        ENHANCE_YOUR_CALM,
        PROTOCOL_ERROR,
        INADEQUATE_SECURITY,
    ];
    let fake = std::thread::spawn(move || {
        let mut c = RawConn::accept(&listener);
        for code in codes {
            let (stream, _) = read_request(&mut c).expect("a request");
            c.send(&rst_stream(stream, code));
        }
        c.wait_peer_close()
    });
    let client = Client::new(&addr, config(1 << 20));
    let got: Vec<Code> = codes
        .iter()
        .map(|_| {
            client
                .call("/test.Echo/Echo", b"x", &ctx())
                .expect_err("reset")
                .code
        })
        .collect();
    assert_eq!(
        got,
        [
            Code::CANCELLED,
            Code::RESOURCE_EXHAUSTED,
            Code::INTERNAL,
            Code::PERMISSION_DENIED
        ]
    );
    drop(client);
    assert!(fake.join().expect("fake server"));
}

#[test]
fn refused_stream_is_sent_again_with_the_same_body() {
    use crate::support::h2raw::*;
    let (listener, addr) = fake_listener();
    let (bodies_tx, bodies) = std::sync::mpsc::channel();
    let fake = std::thread::spawn(move || {
        let mut c = RawConn::accept(&listener);
        // RST_STREAM REFUSED_STREAM: not processed, the client may retry.
        let (first, body) = read_request(&mut c).expect("a request");
        let _ = bodies_tx.send(body);
        c.send(&rst_stream(first, 0x7));
        let (second, body) = read_request(&mut c).expect("the retry");
        let _ = bodies_tx.send(body);
        respond_ok(&mut c, second, b"done");
        c.wait_peer_close()
    });
    let client = Client::new(&addr, config(1 << 20));
    // Larger than a first part that is copied behind the prefix, so the
    // request goes as two parts and comes back as two.
    let request: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let resp = client
        .call_owned("/test.Echo/Echo", vec![request.clone()], &ctx())
        .expect("retried call");
    assert_eq!(resp.as_bytes(), b"done");
    let first = bodies.recv_timeout(Duration::from_secs(10)).expect("first");
    let second = bodies.recv_timeout(Duration::from_secs(10)).expect("retry");
    assert_eq!(first.len(), 5 + request.len());
    assert_eq!(&first[5..], &request[..]);
    assert_eq!(first, second);
    drop(client);
    assert!(fake.join().expect("fake server"));
}
