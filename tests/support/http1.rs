//! A minimal HTTP/1.1 client for tests: one GET per connection, the answer
//! read until the server closes (our metrics endpoint and Prometheus' API
//! both close after a `Connection: close` request), chunked bodies decoded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The head's field lines, as sent.
    pub head: String,
    pub body: String,
}

/// `GET path` on `addr`, with `Connection: close`; the answer read to the
/// end (30 s at most per read).
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let raw = exchange(addr, request.as_bytes());
    parse(&raw).unwrap_or_else(|| panic!("GET {path} on {addr}: not an HTTP answer: {raw:?}"))
}

/// Sends `request` as it is and reads until the server closes (errors end
/// the read: a refused request may be reset); the raw answer.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let _ = s.write_all(request);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

/// Splits a raw answer into status, head and body (`None`: not HTTP).
pub fn parse(raw: &str) -> Option<Answer> {
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some(Answer {
        status,
        head: head.to_owned(),
        body,
    })
}

/// A chunked body (RFC 9112 §7.1) as its data; `None` when malformed.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
pub fn query_escape(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
