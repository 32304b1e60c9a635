//! `cargo bench --bench resourcelist`: how long the wrapper server takes to
//! check a function's output (a ResourceList near the 6 MB message limit,
//! many items, a few results) with the one bounded YAML parser (issue 6:
//! "well under the function's own run time"). Prints the time per parse
//! and MB/s; asserts nothing (design.md: benchmarks report).

use std::time::{Duration, Instant};

use fn_runner::flags::DEFAULT_MAX_MESSAGE_BYTES;
use fn_runner::resourcelist::ResourceList;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not:
    // then a small smoke run keeps the test suite quick.
    let measuring = std::env::args().any(|a| a == "--bench");
    let size: usize = std::env::var("RL_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 6_000_000 } else { 10_000 });
    let input = sample(size);
    let items = input.matches("\n- apiVersion: v1\n").count();
    let runs = if measuring { 5 } else { 1 };
    // kyaml's block layout: items are cut out before parsing.
    report("kyaml layout", &input, items, runs);
    // A leading `---` makes the check parse the whole document.
    report("whole parse", &format!("---\n{input}"), items, runs.min(3));
}

fn report(label: &str, input: &str, items: usize, runs: usize) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let list = ResourceList::decode(input.as_bytes(), "bench", DEFAULT_MAX_MESSAGE_BYTES)
            .expect("the sample is a ResourceList");
        times.push(start.elapsed());
        assert_eq!(list.results.len(), 2);
    }
    times.sort();
    let median = times[times.len() / 2];
    let mb_s = input.len() as f64 / 1e6 / median.as_secs_f64();
    println!(
        "resourcelist check ({label}): {} bytes, {items} items: median {:.1} ms ({mb_s:.0} MB/s), min {:.1} ms",
        input.len(),
        ms(median),
        ms(times[0]),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A ResourceList of ConfigMaps, about `len` bytes, with two results.
fn sample(len: usize) -> String {
    let mut s = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
    let mut i = 0usize;
    while s.len() < len {
        s.push_str(&format!(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm-{i}\n    namespace: default\n    labels:\n      app: demo\n  data:\n    key: value-{i}\n    other: \"some longer text for item {i}\"\n"
        ));
        i += 1;
    }
    s.push_str("results:\n- message: one\n  severity: error\n  resourceRef: {apiVersion: v1, kind: ConfigMap, name: cm-0}\n- message: two\n");
    s
}
