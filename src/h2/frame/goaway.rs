//! GOAWAY frames (RFC 9113 §6.8).

use super::header::{encode_header, FrameType, Header};
use super::{Error, ErrorCode, StreamId};

/// A GOAWAY frame, borrowing its debug data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway<'a> {
    pub last_stream_id: StreamId,
    pub code: ErrorCode,
    pub debug_data: &'a [u8],
}

impl<'a> GoAway<'a> {
    /// Decodes the payload of a GOAWAY frame.
    pub fn decode(header: &Header, payload: &'a [u8]) -> Result<GoAway<'a>, Error> {
        // RFC 9113 §6.8: GOAWAY only on stream 0, else connection PROTOCOL_ERROR.
        if !header.stream_id.is_zero() {
            return Err(Error::NotStreamZero { kind: "GOAWAY" });
        }
        // RFC 9113 §6.8: last stream id and error code are 8 bytes.
        let Some((fixed, debug_data)) = payload.split_first_chunk::<8>() else {
            return Err(Error::BadLength {
                kind: "GOAWAY",
                length: header.length,
            });
        };
        let [s0, s1, s2, s3, c0, c1, c2, c3] = *fixed;
        Ok(GoAway {
            last_stream_id: StreamId::new(u32::from_be_bytes([s0, s1, s2, s3])),
            code: ErrorCode(u32::from_be_bytes([c0, c1, c2, c3])),
            debug_data,
        })
    }

    /// Appends the frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        encode_header(
            8 + self.debug_data.len(),
            FrameType::GOAWAY,
            0,
            StreamId::ZERO,
            dst,
        );
        dst.extend_from_slice(&self.last_stream_id.value().to_be_bytes());
        dst.extend_from_slice(&self.code.0.to_be_bytes());
        dst.extend_from_slice(self.debug_data);
    }
}
