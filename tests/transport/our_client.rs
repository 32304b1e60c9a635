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
