//! The `/metrics` endpoint: HTTP/1.1 on its own listener, one request per
//! connection (`Connection: close`), bounded like the gRPC server:
//!
//! ```text
//!   acceptor thread --(fewer than max_connections open)--> a thread for the connection
//!        |                                                   read the head by request_timeout
//!        +-- otherwise: close at once, count `busy`          (at most MAX_HEAD_BYTES: else 431)
//!                                                            GET|HEAD /metrics -> 200 + render()
//!                                                            write by write_timeout, close
//! ```
//!
//! Garbage is answered 400 as soon as its request line is complete, a head
//! that grows past [`MAX_HEAD_BYTES`] 431, a client that is too slow 408;
//! each outcome is counted (`fn_runner_metrics_requests_total`). None of
//! it shares a thread, a lock or a limit with the gRPC server.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::http::{self, Method, MAX_HEAD_BYTES};
use super::text::{Encoder, Kind, CONTENT_TYPE};
use super::{Counter, Label};

/// The endpoint's bounds.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Connections served at once; more are closed as they come. Defaults
    /// to 4 (our choice: a Prometheus pair and a person with curl).
    pub max_connections: usize,
    /// Time a client has to send its whole request head. Defaults to 5 s
    /// (our choice: a scrape's head is one packet; Prometheus' own scrape
    /// timeout is 10 s, so a slow client frees its slot well within one).
    pub request_timeout: Duration,
    /// Time to send the answer to a client that does not read it. Defaults
    /// to 10 s (Prometheus' default scrape timeout).
    pub write_timeout: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            max_connections: 4,
            request_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// What a scrape sends: the whole exposition, built per request.
pub(crate) type Render = dyn Fn() -> String + Send + Sync;

/// A running endpoint; dropping it closes the listener (connections still
/// open end by their own timeouts).
pub struct Endpoint {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

/// Stack of a connection thread: it parses one head and writes one
/// answer (the exposition itself is on the heap).
const CONNECTION_STACK_BYTES: usize = 256 * 1024;

impl Endpoint {
    /// Serves `render()` at `/metrics` on `listener` until dropped.
    pub fn start(
        listener: TcpListener,
        config: EndpointConfig,
        render: Arc<Render>,
    ) -> io::Result<Endpoint> {
        let local_addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let acceptor = thread::Builder::new()
            .name("metrics-acceptor".to_owned())
            .spawn(move || accept(listener, &config, &render, &stop))?;
        Ok(Endpoint {
            local_addr,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor out of accept(2): it sees the flag and returns,
        // dropping the listener.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

crate::label!(
    /// How one connection to the endpoint ended.
    pub(crate) enum Outcome: "outcome" {
        /// The exposition was sent.
        Ok = "ok",
        /// Malformed request head (400).
        BadRequest = "bad_request",
        /// A path other than `/metrics` (404).
        NotFound = "not_found",
        /// A method other than GET and HEAD (405).
        MethodNotAllowed = "method_not_allowed",
        /// The head grew past `MAX_HEAD_BYTES` (431).
        HeadTooLarge = "head_too_large",
        /// The head did not arrive within `request_timeout` (408).
        Timeout = "timeout",
        /// `max_connections` were open: closed unread.
        Busy = "busy",
        /// The client closed before its head was complete.
        Closed = "closed",
        /// The answer could not be sent (the client stopped reading).
        WriteFailed = "write_failed",
    }
);

/// Connections by outcome, for every endpoint of the process.
static REQUESTS: [Counter; Outcome::COUNT] = [const { Counter::new() }; Outcome::COUNT];

/// Writes the endpoint's own family.
pub fn render(enc: &mut Encoder) {
    const NAME: &str = "fn_runner_metrics_requests_total";
    enc.family(
        NAME,
        "Connections to the /metrics endpoint by how they ended.",
        Kind::Counter,
    );
    enc.samples_by(NAME, &[], |o: Outcome| {
        Some(REQUESTS[o.index()].get().into())
    });
}

fn accept(listener: TcpListener, config: &EndpointConfig, render: &Arc<Render>, stop: &AtomicBool) {
    let open = Arc::new(AtomicUsize::new(0));
    for socket in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(socket) = socket else {
            // EMFILE and friends: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if open.load(Ordering::SeqCst) >= config.max_connections {
            REQUESTS[Outcome::Busy.index()].inc();
            drop(socket);
            continue;
        }
        let slot = Slot::take(&open);
        let (config, render) = (config.clone(), Arc::clone(render));
        let spawned = thread::Builder::new()
            .name("metrics-conn".to_owned())
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || {
                let _slot = slot;
                let outcome = serve(socket, &config, &*render);
                REQUESTS[outcome.index()].inc();
            });
        if spawned.is_err() {
            // The closure (socket and slot) was dropped with the error.
            REQUESTS[Outcome::Busy.index()].inc();
        }
    }
}

/// One open connection, counted while it lives.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::SeqCst);
        Slot(Arc::clone(open))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads one request head and answers it.
fn serve(mut stream: TcpStream, config: &EndpointConfig, render: &Render) -> Outcome {
    let _ = stream.set_write_timeout(Some(config.write_timeout));
    let deadline = Instant::now() + config.request_timeout;
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let mut len = 0;
    loop {
        let seen = buf.get(..len).unwrap_or_default();
        match http::parse(seen) {
            Ok(Some(_)) => break,
            Ok(None) if len == buf.len() => {
                let body = format!("request head larger than {MAX_HEAD_BYTES} bytes\n");
                let status = "431 Request Header Fields Too Large";
                return answer(&mut stream, status, &[], &body, Outcome::HeadTooLarge);
            }
            Ok(None) => {}
            Err(e) => {
                let body = format!("bad request: {e}\n");
                return answer(
                    &mut stream,
                    "400 Bad Request",
                    &[],
                    &body,
                    Outcome::BadRequest,
                );
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return timed_out(&mut stream);
        }
        let free = buf.get_mut(len..).unwrap_or_default();
        match stream.read(free) {
            Ok(0) => return Outcome::Closed,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return timed_out(&mut stream);
            }
            Err(_) => return Outcome::Closed,
        }
    }
    let seen = buf.get(..len).unwrap_or_default();
    let Ok(Some(head)) = http::parse(seen) else {
        unreachable!("the loop ends on a complete head");
    };
    if head.path != b"/metrics" {
        let body = "not found: the metrics are at /metrics\n";
        return answer(&mut stream, "404 Not Found", &[], body, Outcome::NotFound);
    }
    match head.method {
        Method::Get => {
            let body = render();
            answer(&mut stream, "200 OK", &[], &body, Outcome::Ok)
        }
        Method::Head => {
            let body = render();
            let head = response_head("200 OK", &[], body.len());
            send(&mut stream, &[head.as_bytes()], Outcome::Ok)
        }
        Method::Other => answer(
            &mut stream,
            "405 Method Not Allowed",
            &["Allow: GET, HEAD"],
            "method not allowed: use GET\n",
            Outcome::MethodNotAllowed,
        ),
    }
}

fn timed_out(stream: &mut TcpStream) -> Outcome {
    let body = "request head not received in time\n";
    answer(stream, "408 Request Timeout", &[], body, Outcome::Timeout)
}

/// Sends `status` with `body` (text), then closes; `outcome` unless the
/// write fails.
fn answer(
    stream: &mut TcpStream,
    status: &str,
    headers: &[&str],
    body: &str,
    outcome: Outcome,
) -> Outcome {
    let head = response_head(status, headers, body.len());
    send(stream, &[head.as_bytes(), body.as_bytes()], outcome)
}

fn send(stream: &mut TcpStream, parts: &[&[u8]], outcome: Outcome) -> Outcome {
    for part in parts {
        if stream.write_all(part).is_err() {
            return Outcome::WriteFailed;
        }
    }
    linger(stream);
    outcome
}

/// How much unread input is read and dropped after the answer, and for
/// how long at most (our choice: a refused head of a few times the limit;
/// half a second holds the connection's slot briefly).
const LINGER_BYTES: usize = 64 * 1024;
const LINGER_TIME: Duration = Duration::from_millis(500);

/// Closes in stages (RFC 9112 §9.6): our side first, then what the client
/// still sends is read and dropped, within bounds, so that closing with
/// unread input does not reset the connection before the client has read
/// the answer (a refused head's 400 or 431 would be lost).
fn linger(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err()
        || stream.set_read_timeout(Some(LINGER_TIME)).is_err()
    {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut sink = [0u8; 4096];
    let mut dropped = 0usize;
    while dropped < LINGER_BYTES && Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}

fn response_head(status: &str, headers: &[&str], body_len: usize) -> String {
    let content_type = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {body_len}\r\nConnection: close\r\n"
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(config: EndpointConfig) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let render: Arc<Render> = Arc::new(|| "# HELP x X.\n# TYPE x counter\nx 1\n".to_owned());
        Endpoint::start(listener, config, render).expect("start")
    }

    /// Sends `request`, reads the answer until the endpoint closes.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        // A connection closed unread may refuse the request: no error here.
        let _ = s.write_all(request);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_the_exposition_at_metrics() {
        let e = endpoint(EndpointConfig::default());
        let got = exchange(e.local_addr(), b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(got.contains("\r\nContent-Length: 33\r\n"), "{got}");
        assert!(
            got.ends_with("\r\n\r\n# HELP x X.\n# TYPE x counter\nx 1\n"),
            "{got}"
        );
        let head = exchange(e.local_addr(), b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"));
        assert!(head.contains("\r\nContent-Length: 33\r\n"), "{head}");
    }

    #[test]
    fn answers_other_paths_methods_and_garbage() {
        let e = endpoint(EndpointConfig::default());
        let addr = e.local_addr();
        assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        let post = exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n");
        assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("\r\nAllow: GET, HEAD\r\n"));
        // Garbage without a line end is refused without waiting for more.
        assert!(exchange(addr, b"\x16\x03\x01\x00\xa5garbage").starts_with("HTTP/1.1 400 "));
        assert!(exchange(addr, b"GET /metrics SPDY/3\r\n").starts_with("HTTP/1.1 400 "));
    }

    #[test]
    fn a_head_past_the_limit_is_431() {
        let e = endpoint(EndpointConfig::default());
        let mut request = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
        request.resize(MAX_HEAD_BYTES * 4, b'a');
        let got = exchange(e.local_addr(), &request);
        assert!(got.starts_with("HTTP/1.1 431 "), "{got}");
        // At exactly the limit, a complete head is served.
        let mut request = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
        request.resize(MAX_HEAD_BYTES - 4, b'a');
        request.extend_from_slice(b"\r\n\r\n");
        assert_eq!(request.len(), MAX_HEAD_BYTES);
        assert!(exchange(e.local_addr(), &request).starts_with("HTTP/1.1 200 "));
    }

    #[test]
    fn a_slow_client_gets_408_and_frees_its_slot() {
        let e = endpoint(EndpointConfig {
            max_connections: 1,
            request_timeout: Duration::from_millis(200),
            ..EndpointConfig::default()
        });
        let got = exchange(e.local_addr(), b"GET /metrics HTTP/1.1\r\n");
        assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
        // Its slot is free again once its thread ended: a later scrape is
        // served (tried until then, within the watchdog).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = exchange(e.local_addr(), b"GET /metrics HTTP/1.1\r\n\r\n");
            if got.starts_with("HTTP/1.1 200 ") {
                break;
            }
            assert!(Instant::now() < deadline, "never served again: {got:?}");
        }
    }

    #[test]
    fn connections_beyond_the_cap_are_closed_unread() {
        let e = endpoint(EndpointConfig {
            max_connections: 1,
            request_timeout: Duration::from_secs(30),
            ..EndpointConfig::default()
        });
        // The first holds the only slot (it sends nothing yet)...
        let mut holder = TcpStream::connect(e.local_addr()).expect("connect");
        // ...so a second is closed at once, once the acceptor saw the
        // first (connections are accepted in order).
        let busy_before = REQUESTS[Outcome::Busy.index()].get();
        let got = exchange(e.local_addr(), b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(got, "", "closed without an answer");
        assert!(REQUESTS[Outcome::Busy.index()].get() > busy_before);
        // The holder is still served.
        holder
            .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
            .expect("send");
        let mut out = String::new();
        holder.read_to_string(&mut out).expect("read");
        assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    }

    #[test]
    fn dropping_the_endpoint_closes_its_listener() {
        let e = endpoint(EndpointConfig::default());
        let addr = e.local_addr();
        drop(e);
        assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
    }

    #[test]
    fn renders_its_own_counters() {
        let mut enc = Encoder::new();
        render(&mut enc);
        let text = enc.finish();
        assert!(text.contains("# TYPE fn_runner_metrics_requests_total counter\n"));
        assert!(text.contains("fn_runner_metrics_requests_total{outcome=\"busy\"} "));
    }
}
