//! Server behaviour with test evaluators: the worker pool bound, message
//! limits both ways, deadlines and cancellation reaching the handler.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fn_runner::call::{CallContext, Interrupt};
use fn_runner::evaluator::{Error, Evaluator};
use fn_runner::grpc::{Client, ClientConfig, Code, ServerConfig};
use fn_runner::proto::EVALUATE_PATH;
use fn_runner::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse, Message};

use super::TestServer;
use crate::support::grpc_py::{run_client, Call};

/// Answers by the image name: "echo", "big:N" (N bytes out), "wait" (until
/// deadline or cancel, reporting which on a channel), "block" (until released).
struct TestEvaluator {
    interrupts: Mutex<mpsc::Sender<Interrupt>>,
    started: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Evaluator for TestEvaluator {
    fn evaluate(
        &self,
        req: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error> {
        let _ = self.started.lock().expect("lock").send(());
        match req.image.as_str() {
            "echo" => Ok(EvaluateFunctionResponse {
                resource_list: req.resource_list.clone(),
                log: b"log".to_vec(),
            }),
            "remaining" => Ok(EvaluateFunctionResponse {
                resource_list: match ctx.remaining() {
                    Some(d) => d.as_millis().to_string().into_bytes(),
                    None => b"none".to_vec(),
                },
                log: Vec::new(),
            }),
            "wait" => loop {
                if let Some(i) = ctx.wait(Duration::from_secs(30)) {
                    let _ = self.interrupts.lock().expect("lock").send(i);
                    return Err(Error::Interrupted(i));
                }
            },
            "block" => {
                let _ = self
                    .release
                    .lock()
                    .expect("lock")
                    .recv_timeout(Duration::from_secs(30));
                Ok(EvaluateFunctionResponse::default())
            }
            image => match image.strip_prefix("big:").and_then(|n| n.parse().ok()) {
                Some(n) => Ok(EvaluateFunctionResponse {
                    resource_list: vec![b'x'; n],
                    log: Vec::new(),
                }),
                None => Err(Error::UnknownImage {
                    image: image.to_owned(),
                }),
            },
        }
    }
}

struct Fixture {
    server: TestServer,
    interrupts: mpsc::Receiver<Interrupt>,
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn fixture(config: ServerConfig) -> Fixture {
    let (itx, interrupts) = mpsc::channel();
    let (stx, started) = mpsc::channel();
    let (release, rrx) = mpsc::channel();
    let evaluator = Arc::new(TestEvaluator {
        interrupts: Mutex::new(itx),
        started: Mutex::new(stx),
        release: Mutex::new(rrx),
    });
    Fixture {
        server: TestServer::with_evaluator(evaluator, config),
        interrupts,
        started,
        release,
    }
}

fn request(image: &str, body: &[u8]) -> Vec<u8> {
    EvaluateFunctionRequest {
        resource_list: body.to_vec(),
        image: image.to_owned(),
    }
    .encode_to_vec()
}

fn client(addr: &str) -> Client {
    Client::connect(
        addr,
        ClientConfig {
            max_message_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(5),
            ..ClientConfig::default()
        },
    )
    .expect("connect")
}

fn long() -> CallContext {
    CallContext::with_timeout(Duration::from_secs(30))
}

#[test]
fn full_worker_pool_answers_resource_exhausted_at_once() {
    let f = fixture(ServerConfig {
        max_workers: 1,
        ..ServerConfig::default()
    });
    let c = Arc::new(client(&f.server.addr));
    let c2 = Arc::clone(&c);
    let blocked =
        std::thread::spawn(move || c2.call(EVALUATE_PATH, &request("block", b""), &long()));
    f.started
        .recv_timeout(Duration::from_secs(10))
        .expect("first call running");
    let err = c
        .call(EVALUATE_PATH, &request("echo", b"x"), &long())
        .expect_err("pool full");
    assert_eq!(err.code, Code::RESOURCE_EXHAUSTED, "{err}");
    f.release.send(()).expect("release");
    blocked
        .join()
        .expect("thread")
        .expect("blocked call completes");
    // Health Check runs inline: never blocked by the pool.
    let resp = c
        .call(EVALUATE_PATH, &request("echo", b"y"), &long())
        .expect("room again");
    assert_eq!(
        EvaluateFunctionResponse::decode(&resp)
            .expect("decode")
            .resource_list,
        b"y"
    );
}

#[test]
fn message_limits_on_the_server_both_ways() {
    let max = 1000;
    let f = fixture(ServerConfig {
        max_message_bytes: max,
        ..ServerConfig::default()
    });
    let c = client(&f.server.addr);
    // Request message at n and n+1 (n = the encoded request size limit).
    let overhead = request("echo", b"").len() + 3; // field 1 tag + 2-byte length
    let at = request("echo", &vec![b'a'; max - overhead]);
    assert_eq!(at.len(), max);
    c.call(EVALUATE_PATH, &at, &long())
        .expect("a request of exactly the limit");
    let over = request("echo", &vec![b'a'; max - overhead + 1]);
    let err = c
        .call(EVALUATE_PATH, &over, &long())
        .expect_err("request too large");
    assert_eq!(err.code, Code::RESOURCE_EXHAUSTED, "{err}");
    // Response over the limit.
    let err = c
        .call(EVALUATE_PATH, &request("big:5000", b""), &long())
        .expect_err("response too large");
    assert_eq!(err.code, Code::RESOURCE_EXHAUSTED, "{err}");
    // grpcio sees the same codes, and the connection stays usable.
    let results = run_client(
        &f.server.addr,
        &[
            Call::unary(EVALUATE_PATH, &over),
            Call::unary(EVALUATE_PATH, &request("big:5000", b"")),
            Call::unary(EVALUATE_PATH, &request("echo", b"ok")),
        ],
    );
    assert_eq!(results[0].code, "RESOURCE_EXHAUSTED", "{:?}", results[0]);
    assert_eq!(results[1].code, "RESOURCE_EXHAUSTED", "{:?}", results[1]);
    assert_eq!(results[2].code, "OK", "{:?}", results[2]);
}

#[test]
fn six_megabytes_each_way_through_our_server_with_grpcio() {
    let f = fixture(ServerConfig::default());
    let body = vec![b'k'; 6_000_000];
    let results = run_client(
        &f.server.addr,
        &[
            Call::unary(EVALUATE_PATH, &request("echo", &body)),
            Call::unary(EVALUATE_PATH, &request("big:6000000", b"")),
        ],
    );
    assert_eq!(results[0].code, "OK", "{:?}", results[0]);
    let resp = EvaluateFunctionResponse::decode(&results[0].responses[0]).expect("decode");
    assert!(resp.resource_list == body);
    assert_eq!(results[1].code, "OK", "{:?}", results[1]);
}

#[test]
fn grpc_timeout_reaches_the_handler() {
    let f = fixture(ServerConfig::default());
    // The handler sees the caller's deadline: at most the 5 s it set.
    let mut with_deadline = Call::unary(EVALUATE_PATH, &request("remaining", b""));
    with_deadline.timeout_secs = 5.0;
    let mut expiring = Call::unary(EVALUATE_PATH, &request("wait", b""));
    expiring.timeout_secs = 0.3;
    let results = run_client(&f.server.addr, &[with_deadline, expiring]);
    let resp = EvaluateFunctionResponse::decode(&results[0].responses[0]).expect("decode");
    let left: u64 = String::from_utf8_lossy(&resp.resource_list)
        .parse()
        .unwrap_or_else(|_| panic!("no deadline: {:?}", resp.resource_list));
    assert!(left <= 5000, "{left} ms");
    assert_eq!(results[1].code, "DEADLINE_EXCEEDED");
    // Our own timer and grpcio's RST_STREAM(CANCEL) at its deadline race:
    // either way the handler is interrupted.
    let seen = f
        .interrupts
        .recv_timeout(Duration::from_secs(10))
        .expect("handler interrupted");
    assert!(matches!(
        seen,
        Interrupt::DeadlineExceeded | Interrupt::Cancelled
    ));
}

#[test]
fn client_cancel_reaches_the_handler() {
    let f = fixture(ServerConfig::default());
    let c = Arc::new(client(&f.server.addr));
    let ctx = CallContext::background();
    let token = ctx.cancel.clone();
    let c2 = Arc::clone(&c);
    let call = std::thread::spawn(move || c2.call(EVALUATE_PATH, &request("wait", b""), &ctx));
    f.started
        .recv_timeout(Duration::from_secs(10))
        .expect("handler running");
    token.cancel();
    let err = call.join().expect("thread").expect_err("cancelled");
    assert_eq!(err.code, Code::CANCELLED);
    // Our client sent RST_STREAM(CANCEL): the handler's token fires.
    let seen = f
        .interrupts
        .recv_timeout(Duration::from_secs(10))
        .expect("handler interrupted");
    assert_eq!(seen, Interrupt::Cancelled);
}

#[test]
fn connection_loss_cancels_the_handler() {
    use crate::support::h2raw::{
        frame, grpc_request_block, RawConn, DATA, END_HEADERS, END_STREAM, HEADERS,
    };
    let f = fixture(ServerConfig::default());
    let mut raw = RawConn::handshake(&f.server.addr);
    let msg = request("wait", b"");
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    framed.extend_from_slice(&msg);
    raw.send(&frame(
        HEADERS,
        END_HEADERS,
        1,
        &grpc_request_block(EVALUATE_PATH),
    ));
    raw.send(&frame(DATA, END_STREAM, 1, &framed));
    f.started
        .recv_timeout(Duration::from_secs(10))
        .expect("handler running");
    drop(raw); // no deadline was sent: only the lost connection can stop it
    let seen = f
        .interrupts
        .recv_timeout(Duration::from_secs(10))
        .expect("handler interrupted");
    assert_eq!(seen, Interrupt::Cancelled);
}
