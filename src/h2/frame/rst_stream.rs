//! RST_STREAM frames (RFC 9113 §6.4).

use super::header::{encode_header, FrameType, Header};
use super::{Error, ErrorCode, StreamId};

/// A RST_STREAM frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RstStream {
    pub stream_id: StreamId,
    pub code: ErrorCode,
}

impl RstStream {
    /// Decodes the payload of a RST_STREAM frame.
    pub fn decode(header: &Header, payload: &[u8]) -> Result<RstStream, Error> {
        // RFC 9113 §6.4: RST_STREAM on stream 0 is a connection PROTOCOL_ERROR.
        if header.stream_id.is_zero() {
            return Err(Error::StreamZero { kind: "RST_STREAM" });
        }
        // RFC 9113 §6.4: a length other than 4 is a connection FRAME_SIZE_ERROR.
        let Ok(bytes) = <[u8; 4]>::try_from(payload) else {
            return Err(Error::BadLength {
                kind: "RST_STREAM",
                length: header.length,
            });
        };
        Ok(RstStream {
            stream_id: header.stream_id,
            code: ErrorCode(u32::from_be_bytes(bytes)),
        })
    }

    /// Appends the frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        encode_header(4, FrameType::RST_STREAM, 0, self.stream_id, dst);
        dst.extend_from_slice(&self.code.0.to_be_bytes());
    }
}
