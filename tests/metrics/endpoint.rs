//! The `/metrics` endpoint of a running `serve` under bad clients (issue
//! 16): garbage, huge heads and slow clients are answered and counted,
//! the endpoint serves again once they are gone, and gRPC calls succeed
//! all the while.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::proto::{HealthCheckRequest, HealthCheckResponse, Message, ServingStatus};

use super::{client, evaluate, sample, scrape, serve_with_metrics};
use crate::support::exec::wait_for;
use crate::support::http1;

/// Slow clients opened at once: more than the endpoint serves at a time
/// (4, `EndpointConfig::default`).
const SLOW_CLIENTS: usize = 8;

/// Opens a connection and sends the start of a head, never its end.
fn slow_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    // The endpoint may close a connection it has no room for at once.
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: slow\r\n");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    s
}

/// Everything until the endpoint closes (a refused connection: "").
fn answer(mut s: TcpStream) -> String {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

#[test]
fn garbage_huge_heads_and_slow_clients_leave_grpc_serving() {
    let (server, metrics) = serve_with_metrics();
    let client = client(&server);
    evaluate(&client, "example.com/fn/cat:v1").expect("before the attacks");

    // Garbage (a TLS hello) is refused as soon as it shows.
    let raw = http1::exchange(
        metrics,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage",
    );
    assert!(raw.starts_with("HTTP/1.1 400 "), "{raw:?}");
    // A head five times the limit: 431, read no further than needed.
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(40 * 1024, b'a');
    let raw = http1::exchange(metrics, &big);
    assert!(raw.starts_with("HTTP/1.1 431 "), "{raw:?}");
    // Ten megabytes of head: whatever the client reads, the runner lives on.
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Huge: ".to_vec();
    huge.resize(10 << 20, b'a');
    let _ = http1::exchange(metrics, &huge);

    // One client trickles a head a byte at a time, the others send half a
    // head and stop: together more than the endpoint takes at once.
    let mut trickle = slow_client(metrics);
    let writer = trickle.try_clone().expect("clone");
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let trickler = std::thread::spawn(move || {
        let mut writer = writer;
        while !stop.load(Ordering::SeqCst) && writer.write_all(b"a").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let _ = trickle.write_all(b"X-Slow: ");
    let slow: Vec<TcpStream> = (0..SLOW_CLIENTS).map(|_| slow_client(metrics)).collect();

    // While they hold the endpoint, gRPC serves as usual.
    for _ in 0..5 {
        evaluate(&client, "example.com/fn/cat:v1").expect("during the attacks");
    }
    let ctx = CallContext::with_timeout(Duration::from_secs(30));
    let health = client
        .call(
            "/grpc.health.v1.Health/Check",
            &HealthCheckRequest::default().encode_to_vec(),
            &ctx,
        )
        .expect("health");
    assert_eq!(
        HealthCheckResponse::decode(&health)
            .expect("response")
            .status,
        ServingStatus::SERVING
    );

    // Each slow client is answered 408 (or was closed unread, the endpoint
    // being full); the trickler too, however long it would go on.
    let trickled = answer(trickle);
    done.store(true, Ordering::SeqCst);
    trickler.join().expect("trickler");
    assert!(trickled.starts_with("HTTP/1.1 408 "), "{trickled:?}");
    let answers: Vec<String> = slow.into_iter().map(answer).collect();
    assert!(
        answers
            .iter()
            .all(|a| a.is_empty() || a.starts_with("HTTP/1.1 408 ")),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|a| a.is_empty()),
        "some were refused: {answers:?}"
    );

    // Their slots free, the endpoint serves again.
    assert!(
        wait_for(Duration::from_secs(30), || {
            http1::parse(&http1::exchange(metrics, b"GET /metrics HTTP/1.1\r\n\r\n"))
                .is_some_and(|a| a.status == 200)
        }),
        "the endpoint never served again"
    );
    // A connection is counted once it is closed, after its answer: wait
    // until every one above is (the trickler and at least one half-head
    // client timed out).
    let wanted = [
        ("ok", 1.0),
        ("bad_request", 1.0),
        ("head_too_large", 2.0),
        ("timeout", 2.0),
        ("busy", 1.0),
    ];
    let mut text = String::new();
    let counted = wait_for(Duration::from_secs(30), || {
        text = scrape(metrics);
        wanted.iter().all(|(outcome, least)| {
            let series = format!("fn_runner_metrics_requests_total{{outcome=\"{outcome}\"}}");
            sample(&text, &series).is_some_and(|n| n >= *least)
        })
    });
    assert!(counted, "want at least {wanted:?}:\n{text}");
    evaluate(&client, "example.com/fn/cat:v1").expect("after the attacks");
    // The calls made during the attacks were all counted.
    let ok = sample(
        &text,
        "fn_runner_grpc_server_calls_total{method=\"/evaluator.FunctionEvaluator/EvaluateFunction\",code=\"OK\"}",
    );
    assert_eq!(ok, Some(6.0), "{text}");
}
