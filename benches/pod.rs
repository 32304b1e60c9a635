//! `cargo bench --bench pod`: the pod runtime measured on the end-to-end
//! harness (issue 12, "Measure it"): `serve` as a process against the fake
//! API, the simulated node running our wrapper server per pod, the real
//! registry. In one run, side by side:
//!
//! 1. a warm call through the runner vs the same call sent straight to the
//!    pod's wrapper server (one connection each, interleaved call by call),
//!    1 KiB and 1 MiB ResourceLists through `cat`: p50/p99 and the
//!    difference (the runner's added latency);
//! 2. Kubernetes API requests per 1,000 warm calls (the fake's request
//!    log; reclaim-after refreshes counted apart);
//! 3. cold starts of one image, metadata cached (the image's first start,
//!    which reads the registry, is reported apart): the pod is deleted
//!    behind the runner's back and the next call starts a new one. Per
//!    start, four wall-clock times on one machine: the call sent (here),
//!    the POST's head read by the fake (its request log), the kubelet
//!    simulator marking the pod Ready (the fake's event time) and the
//!    wrapper starting the call (its `call 1: evaluating` klog line, in
//!    microseconds); plus the runner's own `function pod NAME (ID) ready`
//!    line, written when its start has the pod, before the waiting call is
//!    woken. Ready -> the wrapper's line bounds "Ready -> the runner's first
//!    byte to the pod" from above (it includes the connect, the HTTP/2
//!    handshake and the request, and a wrapper process that may have
//!    started a moment before). The runner's own cold-start work is (call
//!    -> POST) + (Ready -> the runner has the pod), the kubelet's part
//!    (POST -> Ready) excluded; it is also shown with the connect and
//!    request (Ready -> the wrapper's line).
//!
//! The harness is `tests/support/` (included below by path: a bench cannot
//! `use` an integration test's modules). `cargo test --all-targets` runs
//! this binary without `--bench`: it then does nothing.
//!
//! Environment: `FN_RUNNER_BENCH_POD_STARTS` (cold starts, default 60),
//! `FN_RUNNER_BENCH_POD_CALLS` (interleaved 1 KiB pairs, default 500; 1 MiB
//! pairs are a fifth of it), `FN_RUNNER_BENCH_POD_DUMP` (set: print every
//! cold start's intervals).

#[path = "../tests/support/mod.rs"]
#[allow(
    unused_imports,
    reason = "the bench uses a part of the test harness: its re-exports (and, built as a test, its unit tests' imports) stay unused"
)]
mod support;

use std::time::{Duration, Instant, SystemTime};

use support::fakekube::{Event, LoggedRequest, RequestMark};
use support::pods::evaluate::{connect, evaluate};
use support::pods::{Pod, PodEnv, Runner, PODS_PATH, POD_NAMESPACE, WAIT};

type Result<T> = std::result::Result<T, String>;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("pod: skipped (run `cargo bench --bench pod`)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("bench pod: {e}");
        std::process::exit(1);
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run() -> Result<()> {
    let calls = env_number("FN_RUNNER_BENCH_POD_CALLS", 500).max(10);
    let starts = env_number("FN_RUNNER_BENCH_POD_STARTS", 60).max(3);
    println!("machine: {}", machine());
    println!("load average at start: {}", load_average());
    let env = PodEnv::start();
    let runner = env.serve(&[]);
    let image = env.images.cat.clone();
    let mut rows = Vec::new();

    // 1. Warm calls, runner vs straight to the wrapper.
    let small = resource_list(1024);
    // The runner's first start of the image reads the registry (digest,
    // entrypoint) and makes the pull Secret current: timed apart.
    let mark = env.kube.mark();
    let sent = SystemTime::now();
    let started = Instant::now();
    eval(&runner, &image, &small)?;
    let first_total = started.elapsed();
    let first_post = pod_post(&env, mark)?;
    let pod = single_pod(&env)?;
    let direct = connect(&pod.addr().ok_or("the pod has no IP")?);
    for (label, payload, pairs) in [
        ("1 KiB", &small, calls),
        ("1 MiB", &resource_list(1 << 20), calls / 5),
    ] {
        let (through, straight) = interleaved(&runner, &direct, &image, payload, pairs)?;
        let (t50, t99) = (percentile(&through, 50), percentile(&through, 99));
        let (s50, s99) = (percentile(&straight, 50), percentile(&straight, 99));
        rows.push(row(
            &format!("warm call {label}: through the runner, p50 / p99 ({pairs} calls)"),
            &format!("{} / {}", ms(t50), ms(t99)),
            "",
        ));
        rows.push(row(
            &format!("warm call {label}: straight to the wrapper, p50 / p99"),
            &format!("{} / {}", ms(s50), ms(s99)),
            "",
        ));
        rows.push(row(
            &format!("warm call {label}: added by the runner, p50 / p99"),
            &format!(
                "{} / {}",
                ms(t50.saturating_sub(s50)),
                ms(t99.saturating_sub(s99))
            ),
            "",
        ));
    }

    // 2. API requests per 1,000 warm calls.
    let mark = env.kube.mark();
    for _ in 0..1_000 {
        eval(&runner, &image, &small)?;
    }
    let requests = env.kube.requests_since(mark);
    let refreshes = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with(PODS_PATH))
        .count();
    rows.push(row(
        "Kubernetes API requests per 1,000 warm calls",
        &format!("{} ({refreshes} reclaim-after refreshes)", requests.len()),
        "0 plus refreshes",
    ));

    // 3. Cold starts.
    let events = env.kube.subscribe();
    let mut samples = Vec::new();
    let mut discarded = 0;
    for _ in 0..starts {
        match cold_start(&env, &runner, &image, &small, &events)? {
            Some(sample) => samples.push(sample),
            None => discarded += 1,
        }
    }
    if samples.is_empty() {
        return Err(format!("only {} usable cold starts", samples.len()));
    }
    let pick = |f: fn(&ColdStart) -> Duration| -> Vec<Duration> { samples.iter().map(f).collect() };
    let p = |v: &[Duration]| format!("{} / {}", ms(percentile(v, 50)), ms(percentile(v, 99)));
    let n = samples.len();
    if std::env::var_os("FN_RUNNER_BENCH_POD_DUMP").is_some() {
        for s in &samples {
            println!(
                "cold start: call->POST {} POST->Ready {} Ready->runner {} Ready->call {} total {}",
                ms(s.call_to_post),
                ms(s.post_to_ready),
                ms(s.ready_to_runner),
                ms(s.ready_to_call),
                ms(s.total)
            );
        }
    }
    rows.push(row(
        &format!("Ready -> the wrapper starts the call (bounds the runner's first byte), p50 / p99 ({n} starts)"),
        &p(&pick(|s| s.ready_to_call)),
        "p99 <= 20 ms",
    ));
    rows.push(row(
        "  of which Ready -> the runner has the pod (watch event, start ends), p50 / p99",
        &p(&pick(|s| s.ready_to_runner)),
        "",
    ));
    rows.push(row(
        "cold-start work of the runner, metadata cached: (call -> POST) + (Ready -> the runner has the pod), p50 / p99",
        &p(&pick(|s| s.call_to_post + s.ready_to_runner)),
        "<= 10 ms",
    ));
    rows.push(row(
        "  of which call -> POST, p50 / p99",
        &p(&pick(|s| s.call_to_post)),
        "",
    ));
    rows.push(row(
        "  with the connect and request to the new pod: (call -> POST) + (Ready -> wrapper call), p50 / p99",
        &p(&pick(|s| s.call_to_post + s.ready_to_call)),
        "",
    ));
    rows.push(row(
        "  not the runner's: POST -> Ready (kubelet simulator, wrapper start), p50 / p99",
        &p(&pick(|s| s.post_to_ready)),
        "",
    ));
    rows.push(row(
        "  the whole cold call, p50 / p99",
        &p(&pick(|s| s.total)),
        "",
    ));
    rows.push(row(
        "the image's first start (registry read, pull Secret checked): call -> POST; whole call",
        &format!("{}; {}", ms(between(sent, first_post.at)), ms(first_total)),
        "",
    ));
    if discarded > 0 {
        println!("{discarded} cold start(s) discarded: the runner still tried the deleted pod");
    }

    println!("load average at end: {}", load_average());
    println!();
    println!("| measure | fn-runner | target |");
    println!("|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

/// One cold start's intervals (module doc, item 3).
struct ColdStart {
    call_to_post: Duration,
    post_to_ready: Duration,
    /// Ready -> the runner's start has the pod (its log line).
    ready_to_runner: Duration,
    /// Ready -> the wrapper starts the call: the runner's connect and
    /// request, and a wrapper that may have started a moment ago.
    ready_to_call: Duration,
    total: Duration,
}

/// Deletes the image's pod, waits until it is gone, then times one call
/// that must start a new pod. `None` when the runner had not yet seen the
/// deletion and tried the old pod first (its log says so).
fn cold_start(
    env: &PodEnv,
    runner: &Runner,
    image: &str,
    payload: &[u8],
    events: &std::sync::mpsc::Receiver<Event>,
) -> Result<Option<ColdStart>> {
    for pod in env.pods() {
        env.kube
            .delete("pods", POD_NAMESPACE, &pod.name)
            .map_err(|e| format!("delete {}: {}", pod.name, e.message))?;
    }
    env.wait_for_pods("deleted", |pods| pods.is_empty());
    // Time for the runner's watch to deliver the deletion (a bench may
    // wait; a start that still hit the old pod is discarded below).
    std::thread::sleep(Duration::from_millis(50));
    while events.try_recv().is_ok() {}
    let log_lines = runner.log().lines().len();
    let mark = env.kube.mark();
    let sent = SystemTime::now();
    let started = Instant::now();
    eval(runner, image, payload)?;
    let total = started.elapsed();
    let retried = runner.log().lines()[log_lines..]
        .iter()
        .any(|l| l.text.contains("trying a new pod"));
    let post = pod_post(env, mark)?;
    let pod = single_pod(env)?;
    let ready = ready_at(events, &pod.name)?;
    // The runner's "function pod NAME (ID) ready for IMAGE" line: the start
    // has the pod (written before the waiting call is woken).
    let needle = format!("function pod {} (", pod.name);
    let handed = runner
        .log()
        .lines()
        .into_iter()
        .find(|l| l.text.contains(&needle))
        .ok_or("the runner never logged the pod ready")?
        .at;
    let calls = env.wrapper_calls(&pod.name);
    let call = calls
        .first()
        .ok_or("the new pod's wrapper logged no call")?;
    if retried {
        return Ok(None);
    }
    Ok(Some(ColdStart {
        call_to_post: between(sent, post.at),
        post_to_ready: between(post.at, ready),
        ready_to_runner: between(ready, handed),
        ready_to_call: between(ready, call.started),
        total,
    }))
}

/// The pod create after `mark` that made a pod.
fn pod_post(env: &PodEnv, mark: RequestMark) -> Result<LoggedRequest> {
    env.kube
        .requests_since(mark)
        .into_iter()
        .find(|r| r.method == "POST" && r.path == PODS_PATH && r.code == 201)
        .ok_or_else(|| "the call created no pod".to_owned())
}

/// `b - a`, zero when the clock says `b` came first.
fn between(a: SystemTime, b: SystemTime) -> Duration {
    b.duration_since(a).unwrap_or_default()
}

/// When the fake's store first showed pod `name` Ready.
fn ready_at(events: &std::sync::mpsc::Receiver<Event>, name: &str) -> Result<SystemTime> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .map_err(|_| format!("no Ready event for {name}"))?;
        if event.resource != "pods" {
            continue;
        }
        let pod = Pod::from_object(&event.object);
        if pod.name == name && pod.ready {
            return Ok(event.at);
        }
    }
}

/// `pairs` calls through the runner and as many straight to the wrapper,
/// alternating (both see the same background load); their latencies.
fn interleaved(
    runner: &Runner,
    direct: &fn_runner::grpc::Client,
    image: &str,
    payload: &[u8],
    pairs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    // Warm both connections and the page cache.
    for _ in 0..pairs.min(20) {
        eval(runner, image, payload)?;
        evaluate(direct, image, payload, Some(WAIT)).map_err(|e| e.to_string())?;
    }
    let (mut through, mut straight) = (Vec::new(), Vec::new());
    for _ in 0..pairs {
        let t = Instant::now();
        eval(runner, image, payload)?;
        through.push(t.elapsed());
        let t = Instant::now();
        evaluate(direct, image, payload, Some(WAIT)).map_err(|e| e.to_string())?;
        straight.push(t.elapsed());
    }
    Ok((through, straight))
}

fn eval(runner: &Runner, image: &str, payload: &[u8]) -> Result<()> {
    let out = runner
        .eval(image, payload, Some(WAIT))
        .map_err(|e| format!("{e}\n{}", runner.log().text()))?;
    if out.resource_list.len() != payload.len() {
        return Err(format!(
            "cat answered {} bytes for {}",
            out.resource_list.len(),
            payload.len()
        ));
    }
    Ok(())
}

fn single_pod(env: &PodEnv) -> Result<Pod> {
    let mut pods = env.pods();
    match pods.len() {
        1 => Ok(pods.remove(0)),
        n => Err(format!("{n} pods, expected one: {pods:?}")),
    }
}

/// A ResourceList of `bytes` bytes: one ConfigMap whose value pads it.
fn resource_list(bytes: usize) -> Vec<u8> {
    let head = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n\
                - apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: payload\n  data:\n    blob: \"";
    let tail = "\"\n";
    let pad = bytes.saturating_sub(head.len() + tail.len());
    let mut out = Vec::with_capacity(bytes);
    out.extend_from_slice(head.as_bytes());
    out.resize(head.len() + pad, b'x');
    out.extend_from_slice(tail.as_bytes());
    out
}

/// The `p`th percentile (nearest rank) of `samples`.
fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}

fn row(measure: &str, value: &str, target: &str) -> String {
    format!("| {measure} | {value} | {target} |")
}

/// CPU model and count, memory, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1024.0 * 1024.0));
    format!("{cpus} CPUs ({model}), {mem_gib:.0} GiB")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
