//! h2load (nghttp2-client) against health Check: 100,000 requests over 4
//! connections with 100 streams each. h2load cannot read trailers, so the
//! gRPC outcome is checked through the DATA bytes: every successful Check
//! answers one framed message `00 00000002 0801` (7 bytes), while an error
//! would be trailers-only with no DATA at all.

use std::process::Command;

use fn_runner::proto::{HealthCheckRequest, HealthCheckResponse, Message, ServingStatus};

use super::TestServer;
use crate::support::grpc_py::{run_client, Call};

const REQUESTS: u64 = 100_000;

#[test]
fn h2load_hundred_thousand_health_checks() {
    let server = TestServer::start();
    let body = tempfile("h2load-check-body", &[0, 0, 0, 0, 0]);
    let url = format!("http://{}/grpc.health.v1.Health/Check", server.addr);
    let out = Command::new("h2load")
        .args(["-c", "4", "-m", "100", "-n", &REQUESTS.to_string()])
        .args(["-H", "content-type:application/grpc", "-H", "te:trailers"])
        .arg("-d")
        .arg(&body)
        .arg(&url)
        .output()
        .expect("h2load (Debian nghttp2-client) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "h2load failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .expect("requests line");
    assert!(
        requests.contains(&format!(
            "{REQUESTS} succeeded, 0 failed, 0 errored, 0 timeout"
        )),
        "{requests}"
    );
    let codes = text
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .expect("status line");
    assert!(codes.contains(&format!("{REQUESTS} 2xx")), "{codes}");
    // Every response carried the 7-byte SERVING message.
    let expected = HealthCheckResponse {
        status: ServingStatus::SERVING,
    }
    .encode_to_vec()
    .len() as u64
        + 5;
    let traffic = text
        .lines()
        .find(|l| l.starts_with("traffic:"))
        .expect("traffic line");
    let data = traffic
        .rsplit_once(" data")
        .and_then(|(head, _)| head.rsplit_once('('))
        .and_then(|(_, n)| n.trim_end_matches(')').parse::<u64>().ok())
        .unwrap_or_else(|| panic!("data bytes in {traffic:?}"));
    assert_eq!(data, REQUESTS * expected, "{traffic}");
    // And a sample through grpcio, which does read grpc-status.
    let sample = run_client(
        &server.addr,
        &[Call::unary(
            "/grpc.health.v1.Health/Check",
            &HealthCheckRequest::default().encode_to_vec(),
        )],
    );
    assert_eq!(sample[0].code, "OK");
    let _ = std::fs::remove_file(&body);
}

fn tempfile(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::write(&path, bytes).expect("write temp file");
    path
}
