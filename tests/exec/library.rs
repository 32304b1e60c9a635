//! The exec runtime called directly through `fn_runner::evaluator`.

use std::time::{Duration, Instant};

use fn_runner::call::{CallContext, Interrupt};
use fn_runner::evaluator::{self, Evaluator, ExecEvaluator};
use fn_runner::flags::DEFAULT_MAX_MESSAGE_BYTES;
use fn_runner::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};
use fn_runner::resourcelist::ResourceList;

use crate::support::exec::{
    is_gone, open_fds, read_pids, testdata, wait_for, zombie_children, TempDir,
};

fn runtime(limit_bytes: usize) -> ExecEvaluator {
    ExecEvaluator::load(
        &testdata().join("config.yaml"),
        &testdata().join("functions"),
        limit_bytes,
    )
    .expect("testdata/config.yaml loads")
}

fn call(
    image: &str,
    input: &[u8],
    ctx: &CallContext,
) -> Result<EvaluateFunctionResponse, evaluator::Error> {
    let mut request = EvaluateFunctionRequest {
        resource_list: input.to_vec(),
        image: image.to_owned(),
    };
    runtime(DEFAULT_MAX_MESSAGE_BYTES).evaluate(&mut request, ctx)
}

fn sample() -> Vec<u8> {
    std::fs::read(testdata().join("resourcelist.yaml")).expect("sample ResourceList")
}

/// A ResourceList-shaped input of exactly `len` bytes.
fn big_input(len: usize) -> Vec<u8> {
    let head = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n# ";
    let mut input = head.to_vec();
    input.resize(len, b'x');
    input
}

#[test]
fn round_trip_through_cat_is_byte_identical() {
    let input = sample();
    let out = call("example.com/fn/cat:v1", &input, &CallContext::background()).expect("cat");
    assert_eq!(out.resource_list, input);
    assert!(out.log.is_empty());
}

#[test]
fn set_namespace_edits_the_list() {
    let out = call(
        "gcr.io/kpt-fn/set-namespace:v0.4.1",
        &sample(),
        &CallContext::background(),
    )
    .expect("set-namespace");
    let text = String::from_utf8(out.resource_list).expect("utf-8");
    let (items, _) = text
        .split_once("functionConfig:")
        .expect("functionConfig kept");
    assert_eq!(
        items.matches("    namespace: production\n").count(),
        2,
        "{text}"
    );
    assert!(!items.contains("namespace: default"), "{text}");
    ResourceList::decode(text.as_bytes(), "set-namespace output", 1 << 20)
        .expect("still a ResourceList");
}

#[test]
fn set_labels_edits_the_list() {
    let input = std::fs::read(testdata().join("resourcelist-labels.yaml")).expect("sample");
    let out = call(
        "gcr.io/kpt-fn/set-labels:v0.2.0",
        &input,
        &CallContext::background(),
    )
    .expect("set-labels");
    let text = String::from_utf8(out.resource_list).expect("utf-8");
    assert_eq!(text.matches("      tier: backend\n").count(), 2, "{text}");
    ResourceList::decode(text.as_bytes(), "set-labels output", 1 << 20)
        .expect("still a ResourceList");
}

#[test]
fn stderr_is_carried_as_log() {
    let out = call(
        "example.com/fn/stderr-first:v1",
        &sample(),
        &CallContext::background(),
    )
    .expect("stderr-first");
    assert_eq!(out.log.len(), 1_048_576);
    assert!(out.log.iter().all(|&b| b == b'e'));
    assert_eq!(out.resource_list, sample());
}

#[test]
fn six_million_bytes_in_and_out() {
    let input = big_input(6_000_000);
    let out = call("example.com/fn/cat:v1", &input, &CallContext::background()).expect("cat");
    assert!(
        out.resource_list == input,
        "6,000,000 bytes changed on the way"
    );
}

#[test]
fn lots_of_stderr_before_stdout_with_a_large_input() {
    let input = big_input(6_000_000);
    let out = call(
        "example.com/fn/stderr-first:v1",
        &input,
        &CallContext::background(),
    )
    .expect("stderr-first");
    assert_eq!(out.log.len(), 1_048_576);
    assert!(out.resource_list == input);
}

#[test]
fn a_function_that_never_reads_stdin_does_not_hang() {
    let out = call(
        "example.com/fn/ignore-stdin:v1",
        &big_input(6_000_000),
        &CallContext::background(),
    )
    .expect("ignore-stdin");
    ResourceList::decode(&out.resource_list, "ignore-stdin output", 1 << 20)
        .expect("a ResourceList");
}

#[test]
fn output_over_the_cap_is_output_too_large() {
    let mut request = EvaluateFunctionRequest {
        resource_list: big_input(2000),
        image: "example.com/fn/cat:v1".to_owned(),
    };
    let err = runtime(1000)
        .evaluate(&mut request, &CallContext::background())
        .expect_err("over the cap");
    assert!(
        matches!(err, evaluator::Error::OutputTooLarge { limit_bytes: 1000 }),
        "{err:?}"
    );
}

#[test]
fn deadline_kills_the_function_and_its_grandchild() {
    let dir = TempDir::new("deadline");
    let pidfile = dir.path().join("pids");
    let input = format!("{}\n", pidfile.display());
    let ctx = CallContext::with_timeout(Duration::from_millis(500));
    let err = call("example.com/fn/fork-sleep:v1", input.as_bytes(), &ctx)
        .expect_err("the deadline stops it");
    assert!(
        matches!(
            err,
            evaluator::Error::Interrupted(Interrupt::DeadlineExceeded)
        ),
        "{err:?}"
    );
    let (child, grandchild) = read_pids(&pidfile);
    assert!(
        wait_for(Duration::from_secs(2), || is_gone(child)
            && is_gone(grandchild)),
        "child {child} or grandchild {grandchild} survived the deadline"
    );
}

#[test]
fn deadline_on_a_sleeping_function() {
    let ctx = CallContext::with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = call("example.com/fn/sleep:v1", b"", &ctx).expect_err("deadline");
    assert!(matches!(
        err,
        evaluator::Error::Interrupted(Interrupt::DeadlineExceeded)
    ));
    // Behaviour, not timing: it returned long before the 300 s sleep ends.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn cancel_kills_the_function_and_its_grandchild() {
    let dir = TempDir::new("cancel");
    let pidfile = dir.path().join("pids");
    let input = format!("{}\n", pidfile.display());
    let ctx = CallContext::background();
    let token = ctx.cancel.clone();
    let call_thread =
        std::thread::spawn(move || call("example.com/fn/fork-sleep:v1", input.as_bytes(), &ctx));
    let (child, grandchild) = read_pids(&pidfile);
    token.cancel();
    let err = call_thread
        .join()
        .expect("call thread")
        .expect_err("cancelled");
    assert!(
        matches!(err, evaluator::Error::Interrupted(Interrupt::Cancelled)),
        "{err:?}"
    );
    assert!(
        wait_for(Duration::from_secs(2), || is_gone(child)
            && is_gone(grandchild)),
        "child {child} or grandchild {grandchild} survived the cancel"
    );
}

#[test]
fn failing_function_reports_exit_status_and_stderr() {
    let err = call(
        "example.com/fn/fail:v1",
        &sample(),
        &CallContext::background(),
    )
    .expect_err("fails");
    match err {
        evaluator::Error::FunctionFailed { message } => assert_eq!(
            message,
            "Failed to execute function \"example.com/fn/fail:v1\": exit status 1 \
             (set-nothing: the function failed on purpose\n)"
        ),
        other => panic!("expected FunctionFailed, got {other:?}"),
    }
}

#[test]
fn unknown_image_passes_to_the_next_evaluator() {
    let err = call(
        "gcr.io/kpt-fn/set-namespace:v9.9.9",
        &sample(),
        &CallContext::background(),
    )
    .expect_err("unknown");
    assert!(
        matches!(&err, evaluator::Error::UnknownImage { image } if image == "gcr.io/kpt-fn/set-namespace:v9.9.9"),
        "{err:?}"
    );
}

/// Runs in a child copy of this test binary, alone, so that the fd count
/// and the list of children are this test's own.
#[test]
fn a_burst_leaves_no_zombies_and_no_leaked_fds() {
    const CHILD_ENV: &str = "FN_RUNNER_TEST_BURST_CHILD";
    if std::env::var_os(CHILD_ENV).is_none() {
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "exec::library::a_burst_leaves_no_zombies_and_no_leaked_fds",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_ENV, "1")
            .output()
            .expect("run the burst in a child test process");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && report.contains("1 passed"),
            "burst child failed: {report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let runtime = runtime(DEFAULT_MAX_MESSAGE_BYTES);
    let input = sample();
    // Warm up: the first run may open lazily created fds (e.g. /dev/urandom).
    let _ = runtime.evaluate(
        &mut request("example.com/fn/cat:v1", &input),
        &CallContext::background(),
    );
    let fds_before = open_fds();
    let (runtime, input) = (&runtime, &input);
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || {
                for i in 0..25 {
                    // Every tenth run is killed by its deadline.
                    let (image, ctx) = match (t + i) % 4 {
                        _ if i % 10 == 9 => (
                            "example.com/fn/sleep:v1",
                            CallContext::with_timeout(Duration::from_millis(50)),
                        ),
                        0 | 1 => ("example.com/fn/cat:v1", CallContext::background()),
                        2 => ("example.com/fn/fail:v1", CallContext::background()),
                        _ => ("example.com/fn/ignore-stdin:v1", CallContext::background()),
                    };
                    let _ = runtime.evaluate(&mut request(image, input), &ctx);
                }
            });
        }
    });
    assert_eq!(zombie_children(), Vec::<u32>::new(), "zombie children left");
    assert_eq!(open_fds(), fds_before, "fds leaked by 200 runs");
}

fn request(image: &str, input: &[u8]) -> EvaluateFunctionRequest {
    EvaluateFunctionRequest {
        resource_list: input.to_vec(),
        image: image.to_owned(),
    }
}

#[test]
fn config_entries_escaping_functions_are_refused() {
    let dir = TempDir::new("escape");
    for (function, index) in [("../x", 1), ("/bin/sh", 1), ("a/../../b", 1)] {
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "functions:\n  - function: ok\n    images: [a]\n  - function: {function}\n    images: [b]\n"
            ),
        )
        .expect("write config");
        let err =
            ExecEvaluator::load(&config, &testdata().join("functions"), 1000).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains(&format!("functions[{index}].function {function:?}")),
            "{text}"
        );
        assert!(text.contains(&config.display().to_string()), "{text}");
    }
}

#[test]
fn duplicate_image_keeps_the_first_entry_and_warns() {
    let dir = TempDir::new("dup");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "functions:\n  - function: cat\n    images: [x:v1]\n  - function: fail\n    images: [x:v1]\n",
    )
    .expect("write config");
    let runtime =
        ExecEvaluator::load(&config, &testdata().join("functions"), 1 << 20).expect("loads");
    assert_eq!(runtime.warnings().len(), 1);
    assert!(runtime.warnings()[0].contains("\"x:v1\""));
    let out = runtime
        .evaluate(
            &mut request("x:v1", b"kind: ResourceList\n"),
            &CallContext::background(),
        )
        .expect("the first entry, cat, runs");
    assert_eq!(out.resource_list, b"kind: ResourceList\n");
}

#[test]
fn a_missing_config_names_the_file() {
    let err = ExecEvaluator::load(
        std::path::Path::new("/nonexistent/config.yaml"),
        &testdata().join("functions"),
        1000,
    )
    .expect_err("missing");
    assert!(
        err.to_string().contains("/nonexistent/config.yaml"),
        "{err}"
    );
}

#[test]
fn runtimes_follow_disable_runtimes_and_config() {
    use fn_runner::evaluator::Runtimes;
    use fn_runner::flags::{Runtimes as Enabled, ServeSettings};
    let with = |exec: bool, config: std::path::PathBuf| {
        ServeSettings {
            runtimes: Enabled { exec, pod: false },
            config,
            functions: testdata().join("functions"),
            ..ServeSettings::default()
        }
        .runtimes_config(fn_runner::buffers::Pool::unpooled(), None)
    };
    let mut cat = request("example.com/fn/cat:v1", b"kind: ResourceList\n");
    let chain = Runtimes::start(with(true, testdata().join("config.yaml"))).expect("chain");
    assert!(chain.evaluate(&mut cat, &CallContext::background()).is_ok());
    let chain = Runtimes::start(with(false, testdata().join("config.yaml"))).expect("chain");
    assert!(matches!(
        chain.evaluate(&mut cat, &CallContext::background()),
        Err(evaluator::Error::UnknownImage { .. })
    ));
    let missing = testdata().join("no-such-config.yaml");
    let Err(err) = Runtimes::start(with(true, missing)) else {
        panic!("an explicit --config that is missing must fail");
    };
    assert!(err.to_string().contains("no-such-config.yaml"), "{err}");
}

#[test]
fn shutdown_kills_the_running_functions_and_their_grandchildren() {
    use fn_runner::evaluator::Runtime;
    use std::sync::Arc;
    let dir = TempDir::new("shutdown");
    let pidfile = dir.path().join("pids");
    let input = format!("{}\n", pidfile.display());
    let exec = Arc::new(runtime(DEFAULT_MAX_MESSAGE_BYTES));
    let e = Arc::clone(&exec);
    let call_thread = std::thread::spawn(move || {
        e.evaluate(
            &mut request("example.com/fn/fork-sleep:v1", input.as_bytes()),
            &CallContext::background(),
        )
    });
    let (child, grandchild) = read_pids(&pidfile);
    exec.shutdown(Instant::now());
    // The function was killed: the call ends as a killed function does.
    let err = call_thread
        .join()
        .expect("call thread")
        .expect_err("killed");
    assert!(err.to_string().contains("signal: killed"), "{err}");
    assert!(
        wait_for(Duration::from_secs(2), || is_gone(child)
            && is_gone(grandchild)),
        "child {child} or grandchild {grandchild} survived the shutdown"
    );
    // A call after shutdown starts nothing.
    let err = exec
        .evaluate(
            &mut request("example.com/fn/cat:v1", b""),
            &CallContext::background(),
        )
        .expect_err("shut down");
    assert!(matches!(err, evaluator::Error::ShutDown), "{err:?}");
}
