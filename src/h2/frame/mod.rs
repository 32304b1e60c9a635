//! HTTP/2 frames (RFC 9113 §4, §6): bytes <-> typed frames, no state.
//!
//! [`decode`] takes bytes from the read buffer and returns a [`Frame`]
//! borrowing its payload, "need more" (`Ok(None)`) for a truncated input, or
//! an [`Error`] that names its scope and RFC error code. Each frame type
//! encodes itself; encoding a frame built through this API cannot fail.

mod continuation;
mod data;
mod error_code;
mod goaway;
pub mod header;
mod headers;
mod ping;
mod priority;
mod push_promise;
mod rst_stream;
mod settings;
mod stream_id;
mod window_update;

use std::fmt;

pub use continuation::Continuation;
pub use data::{encode_data, Data};
pub use error_code::ErrorCode;
pub use goaway::GoAway;
pub use header::{FrameType, Header, HEADER_LEN};
pub use headers::{encode_header_block, Headers};
pub use ping::Ping;
pub use priority::{Priority, PriorityFields};
pub use push_promise::PushPromise;
pub use rst_stream::RstStream;
pub use settings::{SettingId, Settings, MAX_MAX_FRAME_SIZE, MAX_WINDOW, MIN_MAX_FRAME_SIZE};
pub use stream_id::StreamId;
pub use window_update::WindowUpdate;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Data(Data<'a>),
    Headers(Headers<'a>),
    Priority(Priority),
    RstStream(RstStream),
    Settings(Settings),
    PushPromise(PushPromise<'a>),
    Ping(Ping),
    GoAway(GoAway<'a>),
    WindowUpdate(WindowUpdate),
    Continuation(Continuation<'a>),
    /// A frame of a type we do not know: RFC 9113 §4.1 and §5.5 say to
    /// ignore and discard it (unless inside a header block, which the
    /// connection checks).
    Unknown {
        kind: FrameType,
        stream_id: StreamId,
    },
}

impl Frame<'_> {
    /// Appends the encoded frame. Unknown frames encode with an empty payload.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        match self {
            Frame::Data(f) => f.encode(dst),
            Frame::Headers(f) => f.encode(dst),
            Frame::Priority(f) => f.encode(dst),
            Frame::RstStream(f) => f.encode(dst),
            Frame::Settings(f) => f.encode(dst),
            Frame::PushPromise(f) => {
                let f2 = if f.end_headers {
                    header::flags::END_HEADERS
                } else {
                    0
                };
                header::encode_header(
                    4 + f.fragment.len(),
                    FrameType::PUSH_PROMISE,
                    f2,
                    f.stream_id,
                    dst,
                );
                dst.extend_from_slice(&f.promised_id.value().to_be_bytes());
                dst.extend_from_slice(f.fragment);
            }
            Frame::Ping(f) => f.encode(dst),
            Frame::GoAway(f) => f.encode(dst),
            Frame::WindowUpdate(f) => f.encode(dst),
            Frame::Continuation(f) => f.encode(dst),
            Frame::Unknown { kind, stream_id } => {
                header::encode_header(0, *kind, 0, *stream_id, dst)
            }
        }
    }
}

/// Decodes one frame from the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds less than a whole frame, or
/// `Ok(Some((frame, consumed)))`. A declared length above `max_frame_bytes`
/// (our SETTINGS_MAX_FRAME_SIZE) fails before the payload is read.
pub fn decode(buf: &[u8], max_frame_bytes: u32) -> Result<Option<(Frame<'_>, usize)>, Error> {
    let Some((head, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = Header::decode(head);
    // RFC 9113 §4.2: a frame over SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR
    // (connection error: we cannot tell where the next frame starts otherwise).
    if header.length > max_frame_bytes {
        return Err(Error::FrameTooLarge {
            length: header.length,
            max: max_frame_bytes,
        });
    }
    let len = usize::try_from(header.length).map_err(|_| Error::FrameTooLarge {
        length: header.length,
        max: max_frame_bytes,
    })?;
    let Some(payload) = rest.get(..len) else {
        return Ok(None);
    };
    let frame = decode_payload(&header, payload)?;
    Ok(Some((frame, HEADER_LEN + len)))
}

/// Decodes a frame whose header and whole payload are known.
pub(crate) fn decode_payload<'a>(header: &Header, payload: &'a [u8]) -> Result<Frame<'a>, Error> {
    Ok(match header.kind {
        FrameType::DATA => Frame::Data(Data::decode(header, payload)?),
        FrameType::HEADERS => Frame::Headers(Headers::decode(header, payload)?),
        FrameType::PRIORITY => Frame::Priority(Priority::decode(header, payload)?),
        FrameType::RST_STREAM => Frame::RstStream(RstStream::decode(header, payload)?),
        FrameType::SETTINGS => Frame::Settings(Settings::decode(header, payload)?),
        FrameType::PUSH_PROMISE => Frame::PushPromise(PushPromise::decode(header, payload)?),
        FrameType::PING => Frame::Ping(Ping::decode(header, payload)?),
        FrameType::GOAWAY => Frame::GoAway(GoAway::decode(header, payload)?),
        FrameType::WINDOW_UPDATE => Frame::WindowUpdate(WindowUpdate::decode(header, payload)?),
        FrameType::CONTINUATION => Frame::Continuation(Continuation::decode(header, payload)?),
        // RFC 9113 §5.5: unknown frame types are ignored and discarded.
        kind => Frame::Unknown {
            kind,
            stream_id: header.stream_id,
        },
    })
}

/// Removes padding (RFC 9113 §6.1, §6.2, §6.6) when the PADDED flag is set.
fn strip_padding<'a>(
    header: &Header,
    payload: &'a [u8],
    kind: &'static str,
) -> Result<&'a [u8], Error> {
    if !header.has(header::flags::PADDED) {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(Error::BadPadding { kind });
    };
    // RFC 9113 §6.1: padding as long as the payload or longer is a PROTOCOL_ERROR.
    let keep = rest
        .len()
        .checked_sub(usize::from(pad))
        .ok_or(Error::BadPadding { kind })?;
    rest.get(..keep).ok_or(Error::BadPadding { kind })
}

/// A frame that breaks RFC 9113 §4-§6 on its own (without connection state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The declared length is above our SETTINGS_MAX_FRAME_SIZE.
    FrameTooLarge { length: u32, max: u32 },
    /// A fixed-size frame with the wrong length.
    BadLength { kind: &'static str, length: u32 },
    /// A PRIORITY frame whose length is not 5 (a stream error).
    PriorityLength { stream_id: StreamId, length: u32 },
    /// A stream frame on stream 0.
    StreamZero { kind: &'static str },
    /// A connection frame on a stream other than 0.
    NotStreamZero { kind: &'static str },
    /// Padding (or priority fields) longer than the payload.
    BadPadding { kind: &'static str },
    /// A SETTINGS value outside its RFC range.
    BadSetting { id: u16, value: u32 },
    /// WINDOW_UPDATE with an increment of 0.
    ZeroWindowIncrement { stream_id: StreamId },
    /// A stream that depends on itself.
    SelfDependency { stream_id: StreamId },
}

impl Error {
    /// The RFC error code to send.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::FrameTooLarge { .. }
            | Error::BadLength { .. }
            | Error::PriorityLength { .. } => ErrorCode::FRAME_SIZE_ERROR,
            Error::BadSetting { id, .. } if SettingId(*id) == SettingId::INITIAL_WINDOW_SIZE => {
                ErrorCode::FLOW_CONTROL_ERROR
            }
            Error::StreamZero { .. }
            | Error::NotStreamZero { .. }
            | Error::BadPadding { .. }
            | Error::BadSetting { .. }
            | Error::ZeroWindowIncrement { .. }
            | Error::SelfDependency { .. } => ErrorCode::PROTOCOL_ERROR,
        }
    }

    /// The stream to reset when the error is a stream error; `None` for a
    /// connection error (GOAWAY).
    pub fn stream(&self) -> Option<StreamId> {
        match self {
            Error::PriorityLength { stream_id, .. } | Error::SelfDependency { stream_id } => {
                Some(*stream_id)
            }
            Error::ZeroWindowIncrement { stream_id } if !stream_id.is_zero() => Some(*stream_id),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::FrameTooLarge { length, max } => {
                write!(f, "frame of {length} bytes > max frame size {max}")
            }
            Error::BadLength { kind, length } => {
                write!(f, "{kind} frame with invalid length {length}")
            }
            Error::PriorityLength { stream_id, length } => {
                write!(
                    f,
                    "PRIORITY frame on stream {stream_id} with length {length} != 5"
                )
            }
            Error::StreamZero { kind } => write!(f, "{kind} frame on stream 0"),
            Error::NotStreamZero { kind } => write!(f, "{kind} frame on a stream other than 0"),
            Error::BadPadding { kind } => write!(f, "{kind} frame padding exceeds its payload"),
            Error::BadSetting { id, value } => {
                write!(f, "setting {id:#x} has invalid value {value}")
            }
            Error::ZeroWindowIncrement { stream_id } => {
                write!(f, "WINDOW_UPDATE of 0 on stream {stream_id}")
            }
            Error::SelfDependency { stream_id } => {
                write!(f, "stream {stream_id} depends on itself")
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests;
