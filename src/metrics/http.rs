//! HTTP/1.1 request heads as the metrics endpoint reads them (RFC 9112
//! §2-§5), sans-I/O: bytes in, a [`Head`], "need more" or an [`Error`].
//! The endpoint answers one request per connection and reads no body, so
//! header fields are checked for syntax and otherwise ignored.

use std::fmt;

/// Largest request head we read, request line and header fields (our
/// choice: Prometheus' scrape head is about 250 bytes; 8 KiB is what
/// common servers allow per header line). Beyond it: 431.
pub(super) const MAX_HEAD_BYTES: usize = 8 * 1024;

/// The request methods we tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    /// Any other token (-> 405).
    Other,
}

/// A request head: method and the target's path (query left off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head<'a> {
    pub(super) method: Method,
    pub(super) path: &'a [u8],
}

/// Why a request head is malformed (-> 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Error {
    /// Not `METHOD SP origin-form SP HTTP-version` (RFC 9112 §3).
    RequestLine,
    /// A version other than HTTP/1.0 and HTTP/1.1.
    Version,
    /// A field line without a token name and colon, or a folded line
    /// (RFC 9112 §5.1-§5.2).
    FieldLine,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::RequestLine => "malformed request line",
            Error::Version => "unsupported HTTP version",
            Error::FieldLine => "malformed header field line",
        })
    }
}

impl std::error::Error for Error {}

/// Parses the head at the start of `buf`: `Ok(None)` while it is not
/// complete (the caller reads more, up to [`MAX_HEAD_BYTES`]). A request
/// line that is complete and malformed fails at once, so garbage is
/// answered without waiting for a blank line that never comes.
pub(super) fn parse(buf: &[u8]) -> Result<Option<Head<'_>>, Error> {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let mut lines = Lines { rest };
    let Some(first) = lines.next_line() else {
        // The request line so far: its method must be a token.
        let method = rest.split(|b| *b == b' ').next().unwrap_or_default();
        if !method.iter().all(|b| is_tchar(*b)) {
            return Err(Error::RequestLine);
        }
        return Ok(None);
    };
    let head = request_line(first)?;
    loop {
        match lines.next_line() {
            None => return Ok(None),
            Some([]) => return Ok(Some(head)),
            Some(line) => field_line(line)?,
        }
    }
}

/// Lines ending in LF (a CR before it is dropped; RFC 9112 §2.2 lets a
/// recipient accept a bare LF).
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    /// The next complete line, without its terminator.
    fn next_line(&mut self) -> Option<&'a [u8]> {
        let end = self.rest.iter().position(|b| *b == b'\n')?;
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..).unwrap_or_default();
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// RFC 9112 §3: `method SP request-target SP HTTP-version`.
fn request_line(line: &[u8]) -> Result<Head<'_>, Error> {
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::RequestLine);
    };
    if method.is_empty() || !method.iter().all(|b| is_tchar(*b)) {
        return Err(Error::RequestLine);
    }
    // Origin form only (§3.2.1): the endpoint is no proxy.
    if !target.starts_with(b"/") || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(Error::RequestLine);
    }
    if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        return Err(Error::Version);
    }
    let path = target.split(|b| *b == b'?').next().unwrap_or(target);
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };
    Ok(Head { method, path })
}

/// RFC 9112 §5.1: `field-name ":" OWS field-value OWS`; no space before
/// the colon, no obsolete line folding (§5.2).
fn field_line(line: &[u8]) -> Result<(), Error> {
    let colon = line
        .iter()
        .position(|b| *b == b':')
        .ok_or(Error::FieldLine)?;
    let name = line.get(..colon).unwrap_or_default();
    if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) {
        return Err(Error::FieldLine);
    }
    Ok(())
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.42.0\r\nAccept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";

    #[test]
    fn parses_a_prometheus_scrape() {
        assert_eq!(
            parse(SCRAPE),
            Ok(Some(Head {
                method: Method::Get,
                path: b"/metrics"
            }))
        );
    }

    #[test]
    fn every_prefix_of_a_scrape_needs_more() {
        for n in 0..SCRAPE.len() {
            assert_eq!(parse(&SCRAPE[..n]), Ok(None), "prefix of {n} bytes");
        }
    }

    #[test]
    fn reads_methods_queries_bare_lf_and_leading_blank_lines() {
        let head = parse(b"\r\nHEAD /metrics?x=1 HTTP/1.0\n\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.method, Method::Head);
        assert_eq!(head.path, b"/metrics");
        let head = parse(b"POST / HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.method, Method::Other);
    }

    #[test]
    fn refuses_garbage_as_soon_as_it_shows() {
        assert_eq!(parse(b"\x16\x03\x01\x02"), Err(Error::RequestLine)); // a TLS hello
        assert_eq!(parse(b"\x00\x01\x02"), Err(Error::RequestLine));
        assert_eq!(parse(b"GET\r\n"), Err(Error::RequestLine));
        assert_eq!(
            parse(b"GET  /metrics HTTP/1.1\r\n"),
            Err(Error::RequestLine)
        );
        assert_eq!(
            parse(b"GET http://x/metrics HTTP/1.1\r\n"),
            Err(Error::RequestLine)
        );
        assert_eq!(parse(b"GET /metrics HTTP/2.0\r\n"), Err(Error::Version));
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(Error::RequestLine)
        );
    }

    #[test]
    fn refuses_bad_field_lines() {
        for bad in [
            &b"GET / HTTP/1.1\r\nno colon\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nName : v\r\n\r\n",
            b"GET / HTTP/1.1\r\n: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Err(Error::FieldLine), "{bad:?}");
        }
    }
}
