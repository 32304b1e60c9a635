//! The pod runtime's metrics (issue 16), scraped by Debian's Prometheus
//! from a `serve` running pods in the test environment: pods created, cold
//! starts, warm and cold calls, start failures by reason, deletes by
//! reason, and the per-function gauges.

use std::time::Duration;

use crate::support::pods::{sample_resource_list, Behaviour, PodEnv, WAIT};
use crate::support::prometheus::Prometheus;

/// Watchdog of each wait for a scrape (Prometheus scrapes every 500 ms).
const SCRAPED: Duration = Duration::from_secs(60);

#[test]
fn prometheus_sees_the_pod_runtimes_events() {
    let env = PodEnv::start();
    let runner = env.serve(&[
        "--metrics-address=127.0.0.1:0",
        "--pod-ttl=2s",
        "--scan-interval=1s",
    ]);
    let metrics = runner
        .wait_for_log("serving Prometheus metrics on http://", WAIT)
        .text
        .split_once("on http://")
        .and_then(|(_, rest)| rest.strip_suffix("/metrics").map(str::to_owned))
        .expect("the metrics address");
    let prometheus = Prometheus::start("fn-runner", &[metrics.parse().expect("an address")]);
    prometheus.wait_value("up{job=\"fn-runner\"}", 1.0, SCRAPED);

    let image = &env.images.set_namespace;
    let input = sample_resource_list();
    for _ in 0..3 {
        runner.eval(image, &input, Some(WAIT)).expect("a pod call");
    }
    let broken = &env.images.results;
    env.behave(broken, Behaviour::err_image_pull("not found"));
    runner
        .eval(broken, &input, Some(WAIT))
        .expect_err("cannot pull");

    let p = &prometheus;
    p.wait_value(
        "fn_runner_evaluations_total{runtime=\"pod\",outcome=\"ok\"}",
        3.0,
        SCRAPED,
    );
    p.wait_value(
        &format!("fn_runner_pods_created_total{{image=\"{image}\"}}"),
        1.0,
        SCRAPED,
    );
    p.wait_value(
        &format!("fn_runner_pod_calls_total{{image=\"{image}\",start=\"cold\"}}"),
        1.0,
        SCRAPED,
    );
    p.wait_value(
        &format!("fn_runner_pod_calls_total{{image=\"{image}\",start=\"warm\"}}"),
        2.0,
        SCRAPED,
    );
    p.wait_value("fn_runner_pod_cold_start_seconds_count", 1.0, SCRAPED);
    p.wait_value(
        "fn_runner_pod_cold_start_seconds_bucket{le=\"+Inf\"}",
        1.0,
        SCRAPED,
    );
    p.wait_value(
        &format!(
            "fn_runner_pod_start_failures_total{{image=\"{broken}\",reason=\"ErrImagePull\"}}"
        ),
        1.0,
        SCRAPED,
    );
    p.wait_value(
        &format!("fn_runner_function_pods{{image=\"{image}\"}}"),
        1.0,
        SCRAPED,
    );
    // Both pods idle past their 2 s TTL: the GC deletes them.
    p.wait_value("fn_runner_pods_deleted_total{reason=\"ttl\"}", 2.0, SCRAPED);
}
