//! Counts the body-sized allocations of one 6 MB call through our own gRPC
//! client (issue 10: at most two body-sized buffers per direction; we
//! hold it to one),
//! against the grpcio echo server in its own process, so that only the
//! client's allocations are counted. A test binary of its own: the
//! counting allocator is global, and no other test may run beside it.

use std::time::Duration;

use fn_runner::call::CallContext;
use fn_runner::grpc::{Client, ClientConfig};
use fn_runner::sys::LargeAllocCounter;

/// A body-sized buffer: 1 MiB or more (the large-buffer pool's own bound,
/// `buffers::MIN_POOLED_BYTES`); everything else a call allocates (frames,
/// header lists, the 64 KiB read buffer) is far smaller.
const BODY_SIZED_BYTES: usize = 1 << 20;

#[global_allocator]
static ALLOCATIONS: LargeAllocCounter = LargeAllocCounter::new(BODY_SIZED_BYTES);

#[allow(dead_code, reason = "only the Python peers of the harness are used")]
mod support {
    pub mod grpc_py;
    pub mod process;
}

const SIX_MB: usize = 6 * 1024 * 1024;

#[test]
fn six_megabyte_call_allocates_at_most_one_body_sized_buffer_per_direction() {
    let echo = support::grpc_py::EchoServer::start();
    let client = Client::new(
        &echo.addr(),
        ClientConfig {
            max_message_bytes: 8 << 20,
            ..ClientConfig::default()
        },
    );
    let ctx = || CallContext::with_timeout(Duration::from_secs(30));
    // Connects (no large buffer on the way).
    client
        .call("/test.Echo/Echo", b"warm up", &ctx())
        .expect("small call");
    // The caller's request buffer, made before counting.
    let request: Vec<u8> = (0..SIX_MB).map(|i| (i % 251) as u8).collect();
    let expected = request.clone();
    let before = ALLOCATIONS.count();
    let response = client
        .call_owned("/test.Echo/Echo", vec![request], &ctx())
        .expect("6 MB echo");
    let during = ALLOCATIONS.count() - before;
    eprintln!("one 6 MB call (6 MB each way): {during} allocations of >= 1 MiB");
    assert!(response.as_bytes() == expected, "echoed unchanged");
    // The bound is two per direction; we make one in all (the
    // response's buffer, sized once from its prefix; the request is the
    // caller's), or none when a kept buffer fits.
    assert!(
        during <= 2,
        "{during} body-sized allocations for one call (at most 1 per direction)"
    );
}
