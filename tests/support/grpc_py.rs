//! The Python grpcio peers: a client driven by a JSON spec
//! (`tests/py/grpc_client.py`) and a tiny echo server
//! (`tests/py/grpc_echo_server.py`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::process::python;

fn script(name: &str) -> String {
    format!("{}/tests/py/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The outcome of one CALL of a spec.
#[derive(Debug, Clone)]
pub struct CallResult {
    /// How many calls ended with each code name ("OK", "NOT_FOUND", ...).
    pub codes: serde_json::Map<String, serde_json::Value>,
    /// The first call's code name.
    pub code: String,
    /// The first call's status details.
    pub details: String,
    /// The first call's response messages.
    pub responses: Vec<Vec<u8>>,
}

impl CallResult {
    /// How many calls ended with `code`.
    pub fn count(&self, code: &str) -> u64 {
        self.codes
            .get(code)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }
}

/// One call for [`run_client`].
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub request: Vec<u8>,
    pub timeout_secs: f64,
    pub gzip: bool,
    pub repeat: usize,
    pub concurrent: usize,
    pub stream: bool,
    /// Cancel the (unary) call as soon as this file exists (exec tests:
    /// the function creates it once it runs).
    pub cancel_when_file: Option<String>,
}

impl Call {
    /// A unary call of `method` with `request`, once.
    pub fn unary(method: &str, request: &[u8]) -> Call {
        Call {
            method: method.to_owned(),
            request: request.to_vec(),
            timeout_secs: 20.0,
            gzip: false,
            repeat: 1,
            concurrent: 1,
            stream: false,
            cancel_when_file: None,
        }
    }
}

/// Runs the grpcio client against `addr`; every call shares one channel.
pub fn run_client(addr: &str, calls: &[Call]) -> Vec<CallResult> {
    let spec = serde_json::json!({
        "addr": addr,
        "calls": calls.iter().map(|c| serde_json::json!({
            "method": c.method,
            "request_hex": hex(&c.request),
            "timeout": c.timeout_secs,
            "compression": if c.gzip { Some("gzip") } else { None },
            "repeat": c.repeat,
            "concurrent": c.concurrent,
            "stream": c.stream,
            "cancel_when_file": c.cancel_when_file,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python())
        .arg(script("grpc_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start grpc_client.py");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(spec.to_string().as_bytes())
        .expect("write spec");
    let out = child.wait_with_output().expect("grpc_client.py output");
    assert!(
        out.status.success(),
        "grpc_client.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON results");
    parsed
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            let first = &r["first"];
            CallResult {
                codes: r["codes"].as_object().cloned().unwrap_or_default(),
                code: first["code"].as_str().unwrap_or_default().to_owned(),
                details: first["details"].as_str().unwrap_or_default().to_owned(),
                responses: first["responses_hex"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|h| unhex(h.as_str().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The grpcio echo server; killed on drop.
pub struct EchoServer {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
}

impl EchoServer {
    /// Starts the server and waits (bounded) for its port.
    pub fn start() -> EchoServer {
        let mut child = Command::new(python())
            .arg(script("grpc_echo_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start grpc_echo_server.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("echo server port line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad port line {line:?}"));
        EchoServer {
            child,
            _stdin: stdin,
            port,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
