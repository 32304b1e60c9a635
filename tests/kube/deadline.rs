//! Calls under the caller's deadline: retries (500, 429 + Retry-After,
//! dropped connections) and slow answers stop at it, with
//! `Error::DeadlineExceeded` naming the request and the last failure.
//! No timing assertions: each case is built so that only the deadline can
//! explain the outcome (a retry wait far longer than the deadline, a
//! latency the request timeout alone would have waited out).

use std::time::{Duration, Instant};

use fn_runner::kube::{Client, ClientOptions, Config, Error, ObjectMeta, Pod, RetryPolicy};

use super::token_file_kubeconfig;
use crate::support::fakekube::{FakeKube, Fault};

const NS: &str = "porch-fn-system";
const PODS: &str = "/api/v1/namespaces/porch-fn-system/pods";

fn client_with(fake: &FakeKube, retry: RetryPolicy) -> Client {
    client_with_options(
        fake,
        ClientOptions {
            retry,
            ..ClientOptions::default()
        },
    )
}

fn client_with_options(fake: &FakeKube, options: ClientOptions) -> Client {
    let config = Config::from_kubeconfig(&token_file_kubeconfig(fake)).expect("kubeconfig");
    Client::with_options(config, options).expect("client")
}

/// Creates pod `p`, then makes the next `times` GETs of it answer `code`.
fn seed_then_fail_gets(fake: &FakeKube, c: &Client, code: u16, times: u32) {
    c.pods(NS).create(&pod("p")).expect("create");
    fake.clear_requests();
    fake.inject(Fault::status("GET", PODS, code).times(times));
}

/// Backoff of at least 30 s per retry: a call with a shorter deadline can
/// only have made one attempt.
fn slow_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(60),
        ..RetryPolicy::default()
    }
}

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: serde_json::json!({"containers": [{"name": "function", "image": "i"}]}),
        ..Pod::default()
    }
}

fn in_secs(secs: u64) -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(secs))
}

/// The fields of a `DeadlineExceeded`, or a panic naming what came instead.
fn deadline_exceeded(e: &Error) -> (&str, u32, Option<&Error>) {
    match e {
        Error::DeadlineExceeded {
            request,
            attempts,
            last,
        } => (request.as_str(), *attempts, last.as_deref()),
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
}

#[test]
fn server_errors_are_not_retried_past_the_deadline() {
    let fake = FakeKube::start();
    let c = client_with(&fake, slow_retry());
    seed_then_fail_gets(&fake, &c, 500, 10);
    let e = c
        .pods(NS)
        .with_deadline(in_secs(10))
        .get("p")
        .expect_err("500 until the deadline");
    let (request, attempts, last) = deadline_exceeded(&e);
    assert_eq!(request, format!("GET {PODS}/p"));
    assert_eq!(attempts, 1, "a 30 s backoff never fits in 10 s");
    assert!(matches!(last, Some(Error::ServerError(_))), "{last:?}");
    assert_eq!(fake.count("GET", PODS), 1);
    assert!(
        e.to_string().contains("deadline exceeded after 1 attempt"),
        "{e}"
    );
}

#[test]
fn retry_after_longer_than_the_deadline_fails_at_once_even_for_create() {
    let fake = FakeKube::start();
    let c = client_with(&fake, RetryPolicy::default());
    fake.inject(Fault::too_many_requests("POST", PODS, 30));
    let e = c
        .pods(NS)
        .with_deadline(in_secs(5))
        .create(&pod("p"))
        .expect_err("Retry-After 30 s > 5 s left");
    let (_, attempts, last) = deadline_exceeded(&e);
    assert_eq!(attempts, 1);
    let status = last.and_then(Error::status).expect("the 429 as the cause");
    assert_eq!(
        (status.code, status.retry_after),
        (429, Some(Duration::from_secs(30)))
    );
    assert_eq!(fake.count("POST", PODS), 1);
    assert!(fake.objects("pods", NS).is_empty());
}

#[test]
fn retries_that_fit_still_happen_inside_the_deadline() {
    let fake = FakeKube::start();
    let c = client_with(&fake, super::fast_retry().retry);
    seed_then_fail_gets(&fake, &c, 503, 2);
    c.pods(NS)
        .with_deadline(in_secs(30))
        .get("p")
        .expect("third attempt succeeds");
    assert_eq!(fake.count("GET", PODS), 3);
}

#[test]
fn a_retry_loop_on_dropped_connections_stops_at_the_deadline() {
    let fake = FakeKube::start();
    // Unlimited attempts in effect: only the deadline ends the loop.
    let c = client_with(
        &fake,
        RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
    );
    c.pods(NS).create(&pod("p")).expect("create");
    fake.clear_requests();
    fake.inject(Fault::drop_connection("GET", PODS).times(u32::MAX));
    let e = c
        .pods(NS)
        .with_deadline(Some(Instant::now() + Duration::from_millis(500)))
        .get("p")
        .expect_err("every attempt dropped");
    let (_, attempts, last) = deadline_exceeded(&e);
    assert!(attempts >= 1, "{attempts}");
    // Every attempt reached the fake; the fake may have seen one request
    // more than our count: ureq re-sends a request once by itself when a
    // kept-alive connection turns out closed before any answer (seen under
    // load: 10 requests for 9 attempts).
    let seen = fake.count("GET", PODS);
    assert!(
        attempts as usize <= seen && seen <= 2 * attempts as usize,
        "{attempts} attempts, {seen} requests"
    );
    assert!(matches!(last, Some(Error::Transport { .. })), "{last:?}");
}

#[test]
fn a_slow_answer_is_cut_at_the_deadline_not_the_request_timeout() {
    let fake = FakeKube::start();
    // Request timeout 30 s (the default): only the deadline can end an
    // attempt that waits for a 5 s latency.
    let c = client_with(&fake, slow_retry());
    c.pods(NS).create(&pod("p")).expect("create");
    fake.inject(Fault::latency("GET", PODS, Duration::from_secs(5)));
    let e = c
        .pods(NS)
        .with_deadline(Some(Instant::now() + Duration::from_millis(500)))
        .get("p")
        .expect_err("cut at the deadline");
    let (_, attempts, last) = deadline_exceeded(&e);
    assert_eq!(attempts, 1);
    assert!(matches!(last, Some(Error::Transport { .. })), "{last:?}");
}

#[test]
fn a_deadline_already_past_sends_nothing() {
    let fake = FakeKube::start();
    let c = client_with(&fake, RetryPolicy::default());
    fake.clear_requests();
    let e = c
        .pods(NS)
        .with_deadline(Some(Instant::now()))
        .list("")
        .expect_err("no time left");
    let (request, attempts, last) = deadline_exceeded(&e);
    assert_eq!((request, attempts), (format!("GET {PODS}").as_str(), 0));
    assert!(last.is_none());
    assert!(fake.requests().is_empty());
}

#[test]
fn call_timeout_bounds_a_call_without_a_deadline_of_its_own() {
    let fake = FakeKube::start();
    let c = client_with_options(
        &fake,
        ClientOptions {
            retry: slow_retry(),
            call_timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        },
    );
    seed_then_fail_gets(&fake, &c, 500, 10);
    let e = c.pods(NS).get("p").expect_err("500, then no time to retry");
    let (_, attempts, _) = deadline_exceeded(&e);
    assert_eq!(attempts, 1);
    // A caller's later deadline does not lift the client's own bound.
    fake.inject(Fault::status("GET", PODS, 500).times(10));
    let e = c
        .pods(NS)
        .with_deadline(in_secs(3600))
        .get("p")
        .expect_err("capped");
    assert!(e.is_deadline_exceeded(), "{e:?}");
}
