//! A raw-frame HTTP/2 test client: writes frames built by hand (no code
//! shared with the server under test) and reads the server's frames back.
//! The server's header blocks are decoded (for gRPC status and message)
//! with our HPACK decoder: what the tests look at is beyond HPACK.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Error codes (RFC 9113 §7).
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame as read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
    /// A whole header block's fields (HEADERS with END_HEADERS), decoded.
    pub fields: Vec<(String, String)>,
}

impl RawFrame {
    /// The value of header field `name`, if the frame carries one.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A GOAWAY as read from the server.
#[derive(Debug, Clone)]
pub struct GoAway {
    pub last_stream: u32,
    pub code: u32,
    pub debug: String,
}

/// Builds one frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("payload fits 24 bits");
    let mut v = len.to_be_bytes()[1..].to_vec();
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A frame header announcing `len` payload bytes (payload not included).
pub fn frame_header(kind: u8, flags: u8, stream: u32, len: u32) -> Vec<u8> {
    let mut v = len.to_be_bytes()[1..].to_vec();
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&stream.to_be_bytes());
    v
}

pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in params {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn ping(payload: [u8; 8]) -> Vec<u8> {
    frame(PING, 0, 0, &payload)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn hpack_int(first: u8, n: u32, mut value: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// One field as an HPACK literal (no Huffman) with prefix `first`: 0x00
/// without indexing, 0x40 with incremental indexing (RFC 7541 §6.2).
pub fn literal(first: u8, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(first);
    hpack_int(0, 7, name.len(), out);
    out.extend_from_slice(name);
    hpack_int(0, 7, value.len(), out);
    out.extend_from_slice(value);
}

/// An indexed field reference (RFC 7541 §6.1).
pub fn indexed(index: usize, out: &mut Vec<u8>) {
    hpack_int(0x80, 7, index, out);
}

/// A gRPC request header block for `path`, all literals without indexing.
pub fn grpc_request_block(path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "test"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        literal(0, n.as_bytes(), v.as_bytes(), &mut b);
    }
    b
}

/// A connection to the server under test.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Decodes the server's header blocks, in order (HPACK state).
    decoder: fn_runner::h2::hpack::Decoder,
}

impl RawConn {
    /// Connects (bounded) without sending anything.
    pub fn connect(addr: &str) -> RawConn {
        RawConn::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    /// Wraps a connection a test made by hand.
    pub fn from_stream(stream: TcpStream) -> RawConn {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        RawConn {
            stream,
            buf: Vec::new(),
            decoder: fn_runner::h2::hpack::Decoder::new(4096),
        }
    }

    /// Accepts one connection on `listener` (a fake server) and reads the
    /// client preface; sends our empty SETTINGS.
    pub fn accept(listener: &std::net::TcpListener) -> RawConn {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut c = RawConn {
            stream,
            buf: Vec::new(),
            decoder: fn_runner::h2::hpack::Decoder::new(4096),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.buf.len() < PREFACE.len() {
            assert!(Instant::now() < deadline, "no client preface");
            let mut chunk = [0u8; 1024];
            match c.stream.read(&mut chunk) {
                Ok(0) => panic!("client closed before its preface"),
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
        assert_eq!(&c.buf[..PREFACE.len()], PREFACE);
        c.buf.drain(..PREFACE.len());
        c.send(&settings(&[]));
        c
    }

    /// Connects and sends the preface and an empty SETTINGS.
    pub fn handshake(addr: &str) -> RawConn {
        let mut c = Self::connect(addr);
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(&[]));
        c.send(&hello);
        c
    }

    /// Writes bytes; a server that already closed is not an error here.
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// The next frame, or `None` on EOF, reset, or 10 s without one.
    pub fn read_frame(&mut self) -> Option<RawFrame> {
        self.read_frame_within(Duration::from_secs(10))
    }

    /// The next frame, or `None` on EOF, reset, or `timeout` without one.
    pub fn read_frame_within(&mut self, timeout: Duration) -> Option<RawFrame> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let mut f = RawFrame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                        fields: Vec::new(),
                    };
                    self.buf.drain(..9 + len);
                    if f.kind == HEADERS && f.flags & END_HEADERS != 0 {
                        let mut fields = Vec::new();
                        let decoded = self.decoder.decode(&f.payload, 1 << 20, |n, v| {
                            fields.push((
                                String::from_utf8_lossy(n).into_owned(),
                                String::from_utf8_lossy(v).into_owned(),
                            ));
                        });
                        decoded.expect("the server's header block decodes");
                        f.fields = fields;
                    }
                    return Some(f);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// Reads frames until a GOAWAY (skipping others); `None` if the
    /// connection ended without one.
    pub fn read_goaway(&mut self) -> Option<GoAway> {
        self.read_goaway_within(Duration::from_secs(10))
    }

    /// [`read_goaway`](Self::read_goaway), giving up after `timeout`
    /// without a frame.
    pub fn read_goaway_within(&mut self, timeout: Duration) -> Option<GoAway> {
        while let Some(f) = self.read_frame_within(timeout) {
            if f.kind == GOAWAY && f.payload.len() >= 8 {
                let p = &f.payload;
                return Some(GoAway {
                    last_stream: u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff,
                    code: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
                    debug: String::from_utf8_lossy(&p[8..]).into_owned(),
                });
            }
        }
        None
    }

    /// Reads frames until RST_STREAM on `stream` (its code) or HEADERS with
    /// END_STREAM on it (`Err(headers payload)`), skipping others.
    pub fn read_stream_end(&mut self, stream: u32) -> Option<Result<u32, RawFrame>> {
        while let Some(f) = self.read_frame() {
            if f.stream != stream {
                continue;
            }
            if f.kind == RST_STREAM && f.payload.len() == 4 {
                return Some(Ok(u32::from_be_bytes([
                    f.payload[0],
                    f.payload[1],
                    f.payload[2],
                    f.payload[3],
                ])));
            }
            if f.kind == HEADERS && f.flags & END_STREAM != 0 {
                return Some(Err(f));
            }
        }
        None
    }

    /// Reads (and drops) frames until the peer closes the connection: true
    /// on EOF or reset, false if it stays open 10 s without a frame.
    pub fn wait_peer_close(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Whether the connection still answers a PING.
    pub fn answers_ping(&mut self) -> bool {
        self.send(&ping(*b"stillok?"));
        while let Some(f) = self.read_frame() {
            if f.kind == PING && f.flags & ACK != 0 && f.payload == b"stillok?" {
                return true;
            }
        }
        false
    }
}
