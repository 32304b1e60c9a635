//! `cargo bench`: fn-runner against the grpc-go reference, side by side.
//!
//! The reference (`../shared/bench/go-reference/`: a grpc-go server with the
//! same interface, its Go load client, a start-up probe and the C exec floor)
//! is copied into `target/goref/` and built there with its own `build.sh`
//! (Debian's Go and grpc-go packages; `tests/run.sh` does not install them:
//! run `../shared/bench/go-reference/build.sh` once, or install
//! `golang-go golang-google-grpc-dev golang-google-protobuf-dev`).
//!
//! Both servers are driven by the SAME load client (the reference's Go
//! client, one HTTP/2 connection, like porch-server) and by h2load, in
//! interleaved rounds (ours, reference; then reference, ours; ...), so both
//! see the same background load. Machines are noisy: read the ratios.
//!
//! Environment: `FN_RUNNER_BENCH_ROUNDS` (default 3), `FN_RUNNER_GOREF`
//! (the reference's source folder, default `../shared/bench/go-reference`),
//! `FN_RUNNER_BENCH_METRICS=1` (fn-runner serves with its Prometheus
//! endpoint on, `--metrics-address 127.0.0.1:19464`, scraped after each case
//! to check that the calls were counted; issue 16's metrics on vs off).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

const PORT: u16 = 19445;
const ADDR: &str = "127.0.0.1:19445";
const CAT: &str = "example.com/fn/cat:v1";
/// fn-runner's metrics endpoint with `FN_RUNNER_BENCH_METRICS=1`.
const METRICS_ADDR: &str = "127.0.0.1:19464";

type Result<T> = std::result::Result<T, String>;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it, and a test run must not start a 5-minute benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("compare: skipped (run `cargo bench --bench compare`)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

/// One load case: a label and the Go load client's arguments.
struct Case {
    label: &'static str,
    args: Vec<String>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let payload = |name: &str| dir.join(name).display().to_string();
    let eval = |label, c: u32, n: u32, file: &str, warmup: u32| Case {
        label,
        args: [
            "-method",
            "eval",
            "-image",
            CAT,
            "-payload",
            &payload(file),
            "-c",
            &c.to_string(),
            "-n",
            &n.to_string(),
            "-warmup",
            &warmup.to_string(),
        ]
        .map(String::from)
        .to_vec(),
    };
    let health = |label, c: u32, n: u32| Case {
        label,
        args: [
            "-method",
            "health",
            "-c",
            &c.to_string(),
            "-n",
            &n.to_string(),
            "-warmup",
            "100",
        ]
        .map(String::from)
        .to_vec(),
    };
    vec![
        health("health c=1", 1, 20_000),
        health("health c=16", 16, 100_000),
        health("health c=64", 64, 100_000),
        eval("eval cat 1KiB c=1", 1, 3_000, "payload-1k", 20),
        eval("eval cat 1KiB c=16", 16, 5_000, "payload-1k", 20),
        eval("eval cat 6MB c=1", 1, 60, "payload-6m", 2),
        eval("eval cat 6MB c=4", 4, 100, "payload-6m", 2),
    ]
}

/// Samples per (server, metric), in the order they were measured.
#[derive(Default)]
struct Samples(BTreeMap<(String, String), Vec<f64>>);

impl Samples {
    fn add(&mut self, server: &str, metric: &str, value: f64) {
        println!("  {server:<10} {metric:<32} {value:.3}");
        self.0
            .entry((server.to_owned(), metric.to_owned()))
            .or_default()
            .push(value);
    }

    fn median(&self, server: &str, metric: &str) -> Option<f64> {
        let mut v = self.0.get(&(server.to_owned(), metric.to_owned()))?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }
}

fn run() -> Result<()> {
    let rounds: usize = std::env::var("FN_RUNNER_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let goref = prepare_reference(&root)?;
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_fn-runner"));
    let work = goref.join("bin");
    write_payloads(&work)?;
    let our_config = work.join("fn-runner-config.yaml");
    fs::write(
        &our_config,
        "functions:\n  - function: cat\n    images: [example.com/fn/cat:v1]\n  - function: sleep5\n    images: [example.com/fn/sleep5:v1]\n",
    )
    .map_err(|e| format!("write {}: {e}", our_config.display()))?;

    let reference_cmd: Vec<String> = vec![
        work.join("server").display().to_string(),
        "-host".into(),
        "127.0.0.1".into(),
        "-port".into(),
        PORT.to_string(),
        "-config".into(),
        goref.join("functions/config.txt").display().to_string(),
    ];
    let ours_cmd: Vec<String> = vec![
        ours.display().to_string(),
        "serve".into(),
        "--port".into(),
        PORT.to_string(),
        "--config".into(),
        our_config.display().to_string(),
        "--functions".into(),
        goref.join("functions").display().to_string(),
        "--disable-runtimes=pod".into(),
        "--log-level=0".into(),
    ];
    let metrics = std::env::var("FN_RUNNER_BENCH_METRICS").is_ok_and(|v| v == "1");
    let mut ours_cmd = ours_cmd;
    if metrics {
        ours_cmd.push(format!("--metrics-address={METRICS_ADDR}"));
    }
    let servers = [("fn-runner", ours_cmd), ("reference", reference_cmd)];

    println!("# fn-runner vs grpc-go reference, {rounds} interleaved rounds");
    println!("machine: {}", machine());
    println!(
        "fn-runner metrics: {}",
        if metrics {
            "on (FN_RUNNER_BENCH_METRICS=1)"
        } else {
            "off"
        }
    );
    let mut samples = Samples::default();
    let cases = cases(&work);
    for round in 0..rounds {
        println!("round {}", round + 1);
        let order: Vec<_> = if round % 2 == 0 {
            servers.iter().collect()
        } else {
            servers.iter().rev().collect()
        };
        for (name, cmd) in order {
            measure_server(name, cmd, &work, &cases, &mut samples)?;
        }
        for (label, p) in [("floor P=1", "1"), ("floor P=16", "16")] {
            let line = output(Command::new(work.join("execfloor")).args([
                goref.join("functions/cat").display().to_string(),
                work.join("payload-1k").display().to_string(),
                "3000".into(),
                p.into(),
            ]))?;
            samples.add("floor", label, field(&line, "execs_per_s")?);
        }
    }
    sizes(&ours, &work, &mut samples)?;
    report(&samples);
    Ok(())
}

fn measure_server(
    name: &str,
    cmd: &[String],
    work: &Path,
    cases: &[Case],
    samples: &mut Samples,
) -> Result<()> {
    // Start to first SERVING, polled every 1 ms by the reference's probe
    // (a new connection per poll), 5 starts.
    for _ in 0..5 {
        let line = output(
            Command::new(work.join("probe"))
                .args(["-addr", ADDR, "-every", "1ms", "-timeout", "10s", "--"])
                .args(cmd)
                .stderr(Stdio::null()),
        )?;
        samples.add(name, "start to SERVING ms", field(&line, "ready_ms")?);
    }
    let server = Server::start(cmd)?;
    wait_ready(work)?;
    thread::sleep(Duration::from_secs(1));
    samples.add(name, "idle RSS KiB", server.status_kib("VmRSS")?);
    for case in cases {
        server.reset_peak_rss();
        let line = output(
            Command::new(work.join("bench"))
                .args(["-addr", ADDR])
                .args(&case.args),
        )?;
        if field(&line, "failures")? != 0.0 {
            return Err(format!("{name}: {}: calls failed: {line}", case.label));
        }
        let label = case.label;
        if cmd.iter().any(|a| a.starts_with("--metrics-address")) {
            check_counted(label)?;
        }
        samples.add(name, &format!("{label} rps"), field(&line, "rps")?);
        samples.add(name, &format!("{label} p50 ms"), field(&line, "p50_ms")?);
        samples.add(name, &format!("{label} p99 ms"), field(&line, "p99_ms")?);
        if label.contains("6MB") {
            samples.add(name, &format!("{label} MB/s"), field(&line, "mb_s")?);
            samples.add(
                name,
                &format!("{label} peak RSS KiB"),
                server.status_kib("VmHWM")?,
            );
        }
    }
    let body = work.join("health.grpc");
    let out = output(Command::new("h2load").args([
        "-n",
        "200000",
        "-c",
        "1",
        "-m",
        "64",
        "-d",
        &body.display().to_string(),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        &format!("http://{ADDR}/grpc.health.v1.Health/Check"),
    ]))?;
    let rps = out
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("h2load output without a rate: {out}"))?;
    if !out.contains("200000 2xx") {
        return Err(format!(
            "{name}: h2load: not every response was 2xx:\n{out}"
        ));
    }
    samples.add(name, "h2load health c=1 m=64 rps", rps);
    drop(server);
    Ok(())
}

/// Scrapes fn-runner's metrics endpoint: the calls of case `label` must
/// have been counted (metrics really on while measured).
fn check_counted(label: &str) -> Result<()> {
    use std::io::{Read, Write};
    let method = if label.starts_with("health") {
        "/grpc.health.v1.Health/Check"
    } else {
        "/evaluator.FunctionEvaluator/EvaluateFunction"
    };
    let mut s = std::net::TcpStream::connect(METRICS_ADDR)
        .map_err(|e| format!("metrics endpoint {METRICS_ADDR}: {e}"))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        .map_err(|e| format!("scrape: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("scrape: {e}"))?;
    let series = format!("fn_runner_grpc_server_calls_total{{method=\"{method}\",code=\"OK\"}} ");
    let counted = text
        .lines()
        .find_map(|l| l.strip_prefix(&series)?.parse::<u64>().ok())
        .unwrap_or(0);
    if counted == 0 {
        return Err(format!("{label}: metrics on, yet no {method} call counted"));
    }
    Ok(())
}

/// A server process, killed on drop.
struct Server(Child);

impl Server {
    fn start(cmd: &[String]) -> Result<Self> {
        Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Server)
            .map_err(|e| format!("start {}: {e}", cmd[0]))
    }

    fn status_kib(&self, key: &str) -> Result<f64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.0.id()))
            .map_err(|e| format!("read /proc status: {e}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("no {key} in /proc status"))
    }

    /// Resets VmHWM to the current RSS (proc(5): clear_refs 5).
    fn reset_peak_rss(&self) {
        let _ = fs::write(format!("/proc/{}/clear_refs", self.0.id()), "5");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(work: &Path) -> Result<()> {
    output(
        Command::new(work.join("probe")).args(["-addr", ADDR, "-every", "5ms", "-timeout", "20s"]),
    )
    .map(drop)
}

/// Copies the reference into target/goref and builds it (once).
fn prepare_reference(root: &Path) -> Result<PathBuf> {
    let src = std::env::var_os("FN_RUNNER_GOREF")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/bench/go-reference"));
    let dst = root.join("target/goref");
    if dst.join("bin/bench").exists() && dst.join("functions/cat").exists() {
        return Ok(dst);
    }
    if !src.join("build.sh").exists() {
        return Err(format!("the grpc-go reference is not at {}", src.display()));
    }
    let _ = fs::remove_dir_all(&dst);
    output(Command::new("cp").arg("-r").arg(&src).arg(&dst))?;
    output(Command::new("chmod").args(["-R", "u+w"]).arg(&dst))?;
    let skip_apt = if Path::new("/usr/bin/go").exists() {
        "1"
    } else {
        "0"
    };
    println!("building the grpc-go reference in {}", dst.display());
    output(
        Command::new("bash")
            .arg(dst.join("build.sh"))
            .env("SKIP_APT", skip_apt),
    )?;
    Ok(dst)
}

fn write_payloads(work: &Path) -> Result<()> {
    for (name, len) in [("payload-1k", 1024), ("payload-6m", 6_000_000)] {
        fs::write(work.join(name), vec![b'x'; len]).map_err(|e| format!("write payload: {e}"))?;
    }
    // The empty HealthCheckRequest, gRPC-framed, for h2load.
    fs::write(work.join("health.grpc"), [0u8; 5]).map_err(|e| format!("write health.grpc: {e}"))
}

fn sizes(ours: &Path, work: &Path, samples: &mut Samples) -> Result<()> {
    // cargo bench builds with the bench profile (release: symbols kept), so
    // the size is measured on a stripped copy, as the image ships it.
    let len = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.len() as f64)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let stripped = work.join("fn-runner-stripped");
    output(Command::new("strip").arg("-o").arg(&stripped).arg(ours))?;
    samples.add("fn-runner", "stripped binary bytes", len(&stripped)?);
    samples.add(
        "reference",
        "stripped binary bytes",
        len(&work.join("server-stripped"))?,
    );
    Ok(())
}

fn report(samples: &Samples) {
    let mut seen = std::collections::BTreeSet::new();
    println!();
    println!("| metric | fn-runner | reference | ratio (ours/ref) |");
    println!("|---|---|---|---|");
    for m in samples.0.keys().map(|(_, m)| m.clone()) {
        if !seen.insert(m.clone()) {
            continue;
        }
        let ours = samples.median("fn-runner", &m);
        let reference = samples.median("reference", &m);
        let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        let ratio = match (ours, reference) {
            (Some(a), Some(b)) if b != 0.0 => format!("{:.2}", a / b),
            _ => "-".to_owned(),
        };
        if ours.is_some() || reference.is_some() {
            println!("| {m} | {} | {} | {ratio} |", fmt(ours), fmt(reference));
        }
    }
    for p in ["1", "16"] {
        if let Some(f) = samples.median("floor", &format!("floor P={p}")) {
            println!("| cat spawn floor P={p} (execs/s) | {f:.1} | | |");
            let case = format!("eval cat 1KiB c={p} rps");
            if let Some(o) = samples.median("fn-runner", &case) {
                println!("| {case} / floor P={p} | {:.2} | | |", o / f);
            }
        }
    }
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split(':')
                    .nth(1)
                    .map(|s| s.trim().to_owned())
            })
        })
        .unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{} cpus, {cpu}, load {}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().map_err(|e| format!("run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The number after `key=` in a `key=value ...` line.
fn field(line: &str, key: &str) -> Result<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key}= in {line:?}"))
}
