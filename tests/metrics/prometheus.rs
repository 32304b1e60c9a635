//! Issue 16 "Prove it": Debian's Prometheus scrapes a running `serve` on
//! loopback; after exec evaluations, its HTTP API returns the expected
//! counters and histogram buckets.

use std::time::Duration;

use fn_runner::grpc::Code;

use super::{client, evaluate, serve_with_metrics};
use crate::support::prometheus::Prometheus;

/// Watchdog of each wait for a scrape (Prometheus scrapes every 500 ms).
const SCRAPED: Duration = Duration::from_secs(60);
const EVALUATE: &str = "/evaluator.FunctionEvaluator/EvaluateFunction";

#[test]
fn prometheus_scrapes_counters_and_buckets_from_serve() {
    let (server, metrics) = serve_with_metrics();
    let prometheus = Prometheus::start("fn-runner", &[metrics]);
    prometheus.wait_value("up{job=\"fn-runner\"}", 1.0, SCRAPED);

    let client = client(&server);
    for _ in 0..3 {
        evaluate(&client, "example.com/fn/cat:v1").expect("cat");
    }
    let failed = evaluate(&client, "example.com/fn/fail:v1").expect_err("fail");
    assert_eq!(failed.code, Code::INTERNAL);
    let unknown = evaluate(&client, "gcr.io/kpt-fn/unknown:v1").expect_err("unknown");
    assert_eq!(unknown.code, Code::NOT_FOUND);

    let p = &prometheus;
    let calls = |code: &str| {
        format!("fn_runner_grpc_server_calls_total{{method=\"{EVALUATE}\",code=\"{code}\"}}")
    };
    p.wait_value(&calls("OK"), 3.0, SCRAPED);
    p.wait_value(&calls("INTERNAL"), 1.0, SCRAPED);
    p.wait_value(&calls("NOT_FOUND"), 1.0, SCRAPED);
    let evaluations = |outcome: &str| {
        format!("fn_runner_evaluations_total{{runtime=\"exec\",outcome=\"{outcome}\"}}")
    };
    p.wait_value(&evaluations("ok"), 3.0, SCRAPED);
    p.wait_value(&evaluations("function_failed"), 1.0, SCRAPED);
    p.wait_value(
        "fn_runner_exec_exits_total{image=\"example.com/fn/fail:v1\",code=\"1\"}",
        1.0,
        SCRAPED,
    );
    p.wait_value(
        "fn_runner_exec_exits_total{image=\"example.com/fn/cat:v1\",code=\"0\"}",
        3.0,
        SCRAPED,
    );

    // Histograms: every call lands in +Inf; the buckets are cumulative,
    // so they never go down from one bound to the next.
    let bucket =
        format!("fn_runner_grpc_server_call_duration_seconds_bucket{{method=\"{EVALUATE}\"");
    p.wait_value(&format!("{bucket},le=\"+Inf\"}}"), 5.0, SCRAPED);
    p.wait_value(
        &format!("fn_runner_grpc_server_call_duration_seconds_count{{method=\"{EVALUATE}\"}}"),
        5.0,
        SCRAPED,
    );
    p.wait_value(
        "fn_runner_evaluation_duration_seconds_bucket{runtime=\"exec\",le=\"+Inf\"}",
        4.0,
        SCRAPED,
    );
    let mut buckets: Vec<(f64, f64)> = p
        .query("fn_runner_evaluation_duration_seconds_bucket{runtime=\"exec\"}")
        .into_iter()
        .map(|(labels, value)| {
            let le = labels["le"].as_str().expect("le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("a bound")
            };
            (le, value)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.len(), 17, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets.last().map(|b| b.1), Some(4.0));
    // The queries operators write work on it.
    let p50 = p.query(
        "histogram_quantile(0.5, sum by (le) (rate(fn_runner_evaluation_duration_seconds_bucket{runtime=\"exec\"}[1m])))",
    );
    assert_eq!(p50.len(), 1, "{p50:?}");

    // A request's image that no runtime knows never becomes a label.
    assert!(p
        .query("{__name__=~\"fn_runner_.+\",image=\"gcr.io/kpt-fn/unknown:v1\"}")
        .is_empty());
    // Process metrics under their standard names.
    let rss = p.query("process_resident_memory_bytes{job=\"fn-runner\"}");
    assert!(rss.len() == 1 && rss[0].1 > 0.0, "{rss:?}");
    let threads = p.query("process_threads{job=\"fn-runner\"}");
    assert!(threads.len() == 1 && threads[0].1 >= 2.0, "{threads:?}");
    assert_eq!(p.query("process_open_fds{job=\"fn-runner\"} > 0").len(), 1);
    assert_eq!(
        p.query("process_start_time_seconds{job=\"fn-runner\"} > 1.7e9")
            .len(),
        1
    );
    assert!(
        !prometheus.log().contains("level=error"),
        "{}",
        prometheus.log()
    );
    drop(prometheus);
}
