//! Connection errors (RFC 9113 §5.4.1): one variant per misbehaviour, with
//! its numbers, and one mapping to the wire: [`Error::code`] gives the
//! GOAWAY error code, `Display` the GOAWAY debug data (peers see our text).
//!
//! Scope and initiator (style.md §3) are carried by where an error lives:
//! an [`Error`] is connection scope and ours (we queue the GOAWAY and
//! close); a stream error resets one stream and reaches the layer above as
//! `Event::Reset` with its `Initiator`; the peer's own GOAWAY is
//! `Event::GoAway`.

use std::fmt;
use std::time::Duration;

use crate::h2::flow;
use crate::h2::frame::{self, ErrorCode, StreamId};
use crate::h2::hpack;
use crate::h2::limits::Flood;
use crate::h2::stream;

/// A connection error: a GOAWAY with [`Error::code`] and this error's text
/// as debug data has been queued for the peer, and the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// RFC 9113 §3.4: the bytes are not the client connection preface.
    BadPreface,
    /// RFC 9113 §3.4: the peer's first frame is not SETTINGS.
    FirstFrameNotSettings,
    /// RFC 9113 §3.4: the server's first bytes are not even a SETTINGS
    /// frame header: it does not speak HTTP/2 (h2c). Its first bytes tell
    /// what it speaks instead (client side).
    NotHttp2 {
        /// Its first `len` bytes (at most a frame header's 9).
        first_bytes: [u8; 9],
        len: usize,
    },
    /// A frame that does not decode (RFC 9113 §4, §6); its own code.
    Frame(frame::Error),
    /// RFC 9113 §6.10: another frame inside the header block of `stream_id`.
    ExpectedContinuation { stream_id: StreamId },
    /// RFC 9113 §6.10: CONTINUATION with no header block in progress.
    ContinuationWithoutHeaders,
    /// RFC 9113 §8.4: PUSH_PROMISE, which we never enable.
    PushPromise,
    /// RFC 9113 §5.1, §6.4, §6.9: `frame` on a stream never opened.
    IdleStream {
        frame: &'static str,
        stream_id: StreamId,
    },
    /// RFC 9113 §5.1.1: HEADERS from a client on an even stream id.
    EvenStreamId { stream_id: StreamId },
    /// RFC 9113 §5.1.1: HEADERS from a client on a stream id not above
    /// every id it used before, and not a stream we reset.
    StreamIdNotIncreasing {
        stream_id: StreamId,
        last_stream_id: StreamId,
    },
    /// RFC 9113 §5.1: a frame the stream's state makes a connection error.
    StreamState(stream::Error),
    /// RFC 9113 §6.9: DATA beyond the connection window, or a
    /// WINDOW_UPDATE that pushes it past 2^31-1.
    ConnectionWindow(flow::Error),
    /// RFC 9113 §6.9.2: SETTINGS_INITIAL_WINDOW_SIZE pushes a stream window
    /// past 2^31-1.
    InitialWindowSize(flow::Error),
    /// RFC 7541: the header block does not decode (COMPRESSION_ERROR).
    Hpack(hpack::Error),
    /// A flood budget is spent (style.md §6).
    Flood(Flood),
    /// More CONTINUATION frames in one header block than
    /// `Limits::max_continuations` (CVE-2024-27316).
    TooManyContinuations { limit: usize },
    /// A header block larger than `Limits::max_header_block_bytes`.
    HeaderBlockTooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
    /// The peer's flow-control windows let less than
    /// `limits::MIN_SEND_PROGRESS_BYTES` of our waiting DATA through in
    /// `after` (`Limits::send_timeout`).
    SendStalled { after: Duration },
    /// The local caller fed bytes to a connection already closed.
    Closed,
}

impl Error {
    /// The RFC 9113 §7 code of the GOAWAY this error sends: the one place
    /// connection errors map to the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadPreface
            | Error::FirstFrameNotSettings
            | Error::NotHttp2 { .. }
            | Error::ExpectedContinuation { .. }
            | Error::ContinuationWithoutHeaders
            | Error::PushPromise
            | Error::IdleStream { .. }
            | Error::EvenStreamId { .. }
            | Error::StreamIdNotIncreasing { .. } => ErrorCode::PROTOCOL_ERROR,
            Error::Frame(e) => e.code(),
            Error::StreamState(e) => e.code,
            Error::ConnectionWindow(_) | Error::InitialWindowSize(_) => {
                ErrorCode::FLOW_CONTROL_ERROR
            }
            Error::Hpack(_) => ErrorCode::COMPRESSION_ERROR,
            Error::Flood(_)
            | Error::TooManyContinuations { .. }
            | Error::HeaderBlockTooLarge { .. }
            | Error::SendStalled { .. } => ErrorCode::ENHANCE_YOUR_CALM,
            Error::Closed => ErrorCode::NO_ERROR,
        }
    }
}

impl Error {
    /// Whether this error queued a GOAWAY: every one but [`Error::Closed`]
    /// (the connection was closed before, and said so then).
    pub(crate) fn sent_goaway(&self) -> bool {
        !matches!(self, Error::Closed)
    }
}

/// The GOAWAY debug data: what the peer did, with the numbers.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadPreface => f.write_str("invalid connection preface"),
            Error::FirstFrameNotSettings => f.write_str("first frame is not SETTINGS"),
            Error::NotHttp2 { first_bytes, len } => {
                f.write_str("the server does not speak HTTP/2 (h2c): ")?;
                let first = first_bytes.get(..*len).unwrap_or(first_bytes);
                let text = String::from_utf8_lossy(first);
                match first {
                    [b'H', b'T', b'T', b'P', b'/', ..] => {
                        write!(f, "it answered HTTP/1.x ({text:?}...)")
                    }
                    // A TLS record: handshake (0x16) or alert (0x15), version 3.x.
                    [0x15 | 0x16, 0x03, ..] => f.write_str("it answered with TLS"),
                    _ => write!(f, "its first bytes are {text:?}"),
                }
            }
            Error::Frame(e) => write!(f, "{e}"),
            Error::ExpectedContinuation { stream_id } => {
                write!(f, "expected CONTINUATION of stream {stream_id}")
            }
            Error::ContinuationWithoutHeaders => f.write_str("CONTINUATION without HEADERS"),
            Error::PushPromise => f.write_str("PUSH_PROMISE not enabled"),
            Error::IdleStream { frame, stream_id } => {
                write!(f, "{frame} on an idle stream ({stream_id})")
            }
            Error::EvenStreamId { stream_id } => write!(
                f,
                "HEADERS on stream {stream_id}: clients open odd stream ids"
            ),
            Error::StreamIdNotIncreasing {
                stream_id,
                last_stream_id,
            } => write!(
                f,
                "HEADERS on stream {stream_id}: not above stream {last_stream_id}, already opened"
            ),
            Error::StreamState(e) => write!(f, "{e}"),
            Error::ConnectionWindow(e) => write!(f, "connection window: {e}"),
            Error::InitialWindowSize(e) => write!(f, "SETTINGS_INITIAL_WINDOW_SIZE: {e}"),
            Error::Hpack(e) => write!(f, "{e}"),
            Error::Flood(flood) => write!(f, "{flood}"),
            Error::TooManyContinuations { limit } => write!(
                f,
                "more than {limit} CONTINUATION frames in one header block"
            ),
            Error::HeaderBlockTooLarge {
                size_bytes,
                limit_bytes,
            } => write!(
                f,
                "header block of {size_bytes} bytes > limit {limit_bytes}"
            ),
            Error::SendStalled { after } => write!(
                f,
                "flow-control window stalled: less than {} bytes of DATA in {after:?}",
                crate::h2::limits::MIN_SEND_PROGRESS_BYTES
            ),
            Error::Closed => f.write_str("connection already closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Frame(e) => Some(e),
            Error::StreamState(e) => Some(e),
            Error::ConnectionWindow(e) | Error::InitialWindowSize(e) => Some(e),
            Error::Hpack(e) => Some(e),
            Error::Flood(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Flood> for Error {
    fn from(flood: Flood) -> Error {
        Error::Flood(flood)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_kind_to_its_goaway_code() {
        assert_eq!(Error::BadPreface.code(), ErrorCode::PROTOCOL_ERROR);
        assert_eq!(
            Error::IdleStream {
                frame: "DATA",
                stream_id: StreamId::new(3)
            }
            .code(),
            ErrorCode::PROTOCOL_ERROR
        );
        let overflow = flow::Error::Overflow {
            window: 1,
            increment: i64::from(frame::MAX_WINDOW),
        };
        assert_eq!(
            Error::ConnectionWindow(overflow).code(),
            ErrorCode::FLOW_CONTROL_ERROR
        );
        assert_eq!(
            Error::TooManyContinuations { limit: 32 }.code(),
            ErrorCode::ENHANCE_YOUR_CALM
        );
        assert_eq!(
            Error::SendStalled {
                after: Duration::from_secs(30)
            }
            .code(),
            ErrorCode::ENHANCE_YOUR_CALM
        );
        assert_eq!(Error::Closed.code(), ErrorCode::NO_ERROR);
        let frame_error = frame::Error::FrameTooLarge {
            length: 16_385,
            max: 16_384,
        };
        assert_eq!(Error::Frame(frame_error.clone()).code(), frame_error.code());
    }

    #[test]
    fn debug_data_names_the_limit() {
        assert_eq!(
            Error::TooManyContinuations { limit: 32 }.to_string(),
            "more than 32 CONTINUATION frames in one header block"
        );
        assert_eq!(
            Error::HeaderBlockTooLarge {
                size_bytes: 70_000,
                limit_bytes: 65_536
            }
            .to_string(),
            "header block of 70000 bytes > limit 65536"
        );
    }

    #[test]
    fn stays_small() {
        // Returned from every `recv`: keep the Ok path cheap.
        assert!(
            std::mem::size_of::<Error>() <= 48,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
