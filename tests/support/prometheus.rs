//! Debian's Prometheus server (package `prometheus`, installed by
//! tests/run.sh), run on loopback for one test: a config scraping the given
//! targets every [`SCRAPE_INTERVAL`], its TSDB in a temporary directory,
//! its web API on a free port it picks itself (read from its log). Stopped
//! on drop. A test that cannot find it fails: no skipping.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http1;
use super::loglines::LogLines;
use super::process::wait_exit;
use super::tempdir::TempDir;

/// How often Prometheus scrapes the targets: short, so a test waits
/// little (the watchdogs below are many times longer).
pub const SCRAPE_INTERVAL: &str = "500ms";
/// How long Prometheus may take to start serving its API.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Prometheus server.
pub struct Prometheus {
    child: Child,
    log: Arc<LogLines>,
    /// Its web API (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    _dir: TempDir,
}

/// The `prometheus` binary on PATH; panics when there is none.
fn binary() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
        .expect("no prometheus on PATH: install Debian's prometheus package (tests/run.sh does)")
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`HOST:PORT` of `/metrics`
    /// endpoints) as job `job`, and waits until its API serves.
    pub fn start(job: &str, targets: &[SocketAddr]) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.path().join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n\
                 scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .expect("write prometheus.yml");
        let mut child = Command::new(binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start prometheus");
        let log = LogLines::capture(child.stderr.take().expect("stderr"));
        // `msg="Listening on" address=127.0.0.1:PORT`: the port it picked.
        let listening = log
            .wait_for(START_TIMEOUT, |l| l.contains("msg=\"Listening on\""))
            .and_then(|l| {
                let (_, rest) = l.text.split_once(" address=")?;
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            });
        let ready = listening.is_some()
            && log
                .wait_for(START_TIMEOUT, |l| {
                    l.contains("Server is ready to receive web requests")
                })
                .is_some();
        let Some(addr) = listening.filter(|_| ready) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("prometheus did not start:\n{}", log.text());
        };
        Prometheus {
            child,
            log,
            addr,
            _dir: dir,
        }
    }

    /// Its log so far (for assertion messages).
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// The instant vector `promql` evaluates to now: `(labels, value)` per
    /// series.
    pub fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let path = format!("/api/v1/query?query={}", http1::query_escape(promql));
        let answer = http1::get(self.addr, &path);
        assert_eq!(answer.status, 200, "{promql}: {}", answer.body);
        let json: Value = serde_json::from_str(&answer.body).expect("JSON answer");
        assert_eq!(json["status"], "success", "{promql}: {json}");
        json["data"]["result"]
            .as_array()
            .expect("a vector result")
            .iter()
            .map(|series| {
                let value = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .expect("a sample value");
                (series["metric"].clone(), value)
            })
            .collect()
    }

    /// Waits (re-asking after every scrape interval, up to `timeout`) until
    /// `promql` is one series of value `want`; panics with what it was.
    pub fn wait_value(&self, promql: &str, want: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.query(promql);
            if got.len() == 1 && got[0].1 == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{promql}: want {want}, still {got:?} after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        super::process::signal(self.child.id(), "TERM");
        if wait_exit(&mut self.child, Duration::from_secs(20)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
