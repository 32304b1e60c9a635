//! The clients' polish (issue 14): `eval`'s connect timeout and its
//! warning for input that is no ResourceList; a peer that does not speak
//! HTTP/2 named as such by `eval` and `health-probe` (not a
//! FRAME_SIZE_ERROR); `inspect`'s closing hint fitted to the failure and
//! an over-long reference naming its limit; `health-probe` writing as
//! grpc-health-probe does.

use std::io::{Read as _, Write as _};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};
use std::os::fd::AsFd as _;
use std::thread::JoinHandle;

use super::{fn_runner, stderr, stdout};

/// A listener on [::1] whose accept queue (backlog 0) is full: a new
/// connection's SYN is dropped and gets no answer, as from a host that is
/// down.
struct Unanswering {
    addr: String,
    _listener: TcpListener,
    _queued: TcpStream,
}

fn unanswering() -> Unanswering {
    let any = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0);
    let listener = fn_runner::sys::listen_ipv6(any, true, 0).expect("listen with backlog 0");
    let addr = listener.local_addr().expect("addr");
    let queued = TcpStream::connect(addr).expect("the one queued connection");
    Unanswering {
        addr: addr.to_string(),
        _listener: listener,
        _queued: queued,
    }
}

/// A TCP server that answers every connection with `answer` once it has
/// read its first bytes, then ends its side and reads until the client
/// closes: an HTTP/1.1 server, a TLS port. (Closing with the client's
/// bytes unread would reset the connection, and a reset may reach the
/// client before the answer does.)
struct FakePeer {
    addr: String,
    wake: TcpListener,
    thread: Option<JoinHandle<()>>,
}

impl FakePeer {
    fn start(answer: &'static [u8]) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let wake = listener.try_clone().expect("clone");
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { break };
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(answer);
                let _ = conn.shutdown(std::net::Shutdown::Write);
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
        FakePeer {
            addr,
            wake,
            thread: Some(thread),
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        // Wakes the accept loop (EINVAL), which ends.
        let _ = fn_runner::sys::shutdown_listener(self.wake.as_fd());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `fn-runner eval` with `stdin` as its input.
fn eval(args: &[&str], stdin: &[u8]) -> std::process::Output {
    crate::support::exec::run_eval(args, stdin)
}

const RESOURCE_LIST: &[u8] =
    b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n";

#[test]
fn eval_and_the_probe_give_up_at_their_connect_timeout() {
    let peer = unanswering();
    let out = eval(
        &[
            "--address",
            &peer.addr,
            "--image",
            "x:v1",
            "--connect-timeout",
            "300ms",
        ],
        RESOURCE_LIST,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "timeout: failed to connect service {:?} within 300ms (--connect-timeout)",
            peer.addr
        )
    );
    let out = fn_runner(&[
        "health-probe",
        "-addr",
        &peer.addr,
        "-connect-timeout",
        "300ms",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "timeout: failed to connect service {:?} within 300ms",
            peer.addr
        )
    );
}

#[test]
fn eval_warns_when_the_input_is_no_resource_list() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let out = eval(
        &["--address", &closed, "--image", "x:v1"],
        b"kind: ConfigMap\n",
    );
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "fn-runner eval: warning: stdin is not a ResourceList (input was of unexpected kind \
             \"ConfigMap\"; expected ResourceList); sending it as it is\n"
        ),
        "{err}"
    );
    let out = eval(&["--address", &closed, "--image", "x:v1"], RESOURCE_LIST);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn a_peer_that_does_not_speak_http2_is_named_as_such() {
    for (answer, says) in [
        (
            &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..],
            "the server does not speak HTTP/2 (h2c): it answered HTTP/1.x (\"HTTP/1.1 \"...)",
        ),
        (
            // A TLS alert (protocol version), then the server closes.
            &b"\x15\x03\x01\x00\x02\x02\x46"[..],
            "the server does not speak HTTP/2 (h2c): it answered with TLS",
        ),
    ] {
        let peer = FakePeer::start(answer);
        let out = eval(&["--address", &peer.addr, "--image", "x:v1"], RESOURCE_LIST);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            stderr(&out).trim(),
            format!("rpc error: code = UNAVAILABLE desc = {says}")
        );
        let out = fn_runner(&["health-probe", "-addr", &peer.addr]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(
            stderr(&out).trim(),
            format!("error: health rpc failed: rpc error: code = UNAVAILABLE desc = {says}")
        );
        assert!(!stderr(&out).contains("FRAME_SIZE_ERROR"));
    }
}

#[test]
fn inspect_hints_fit_the_failure() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let out = fn_runner(&["inspect", &format!("{closed}/team/fn:v1")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.trim_end().ends_with(&format!(
            "nothing accepts connections at {closed}: check the registry's host and port, and \
             that it runs"
        )),
        "{err}"
    );
    assert!(!err.contains("--enable-private-registry-tls"), "{err}");

    let out = fn_runner(&["inspect", "no-such-registry.invalid/team/fn:v1"]);
    let err = stderr(&out);
    assert!(
        err.contains("no-such-registry.invalid is not known to the DNS"),
        "{err}"
    );
    assert!(!err.contains("--enable-private-registry-tls"), "{err}");
}

#[test]
fn an_over_long_reference_names_the_limit_it_broke() {
    let tag = "t".repeat(200);
    let out = fn_runner(&["inspect", &format!("example.com/fn:{tag}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .trim_end()
            .ends_with(": tag is 200 bytes, must not be more than 128"),
        "{}",
        stderr(&out)
    );
    let name = "a".repeat(300);
    let out = fn_runner(&["inspect", &format!("example.com/{name}:v1")]);
    assert!(
        stderr(&out).contains("repository name is 312 bytes, must not be more than 255"),
        "{}",
        stderr(&out)
    );
    let out = fn_runner(&[
        "inspect",
        &format!("example.com/fn:v1@sha256:{}", "b".repeat(600)),
    ]);
    assert!(
        stderr(&out).contains("bytes, more than the 512 a reference may have (a repository name of at most 255 bytes, a tag of at most 128, a digest)"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}
