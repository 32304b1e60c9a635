//! The README's metric list is what the binary exports, and Prometheus'
//! own linter accepts the exposition.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use super::{client, evaluate, scrape, serve_with_metrics};

/// The families of a scrape (`# TYPE NAME KIND`).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_lists_every_metric_and_no_other() {
    let (server, metrics) = serve_with_metrics();
    evaluate(&client(&server), "example.com/fn/cat:v1").expect("cat");
    let exported = families(&scrape(metrics));
    assert!(exported.len() > 20, "{exported:?}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    // The list: lines "| `NAME` | type | labels | meaning |".
    let listed: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .filter(|name| name.starts_with("fn_runner_") || name.starts_with("process_"))
        .collect();
    assert_eq!(exported, listed, "README metric list vs the binary's");
}

#[test]
fn promtool_accepts_the_exposition() {
    let (server, metrics) = serve_with_metrics();
    let client = client(&server);
    evaluate(&client, "example.com/fn/cat:v1").expect("cat");
    let _ = evaluate(&client, "example.com/fn/fail:v1");
    let text = scrape(metrics);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; tests/run.sh installs it)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
