//! PING frames (RFC 9113 §6.7).

use super::header::{encode_header, flags, FrameType, Header};
use super::{Error, StreamId};

/// A PING frame with its 8 opaque bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    pub ack: bool,
    pub payload: [u8; 8],
}

impl Ping {
    /// Decodes the payload of a PING frame.
    pub fn decode(header: &Header, payload: &[u8]) -> Result<Ping, Error> {
        // RFC 9113 §6.7: PING only on stream 0, else connection PROTOCOL_ERROR.
        if !header.stream_id.is_zero() {
            return Err(Error::NotStreamZero { kind: "PING" });
        }
        // RFC 9113 §6.7: a length other than 8 is a connection FRAME_SIZE_ERROR.
        let Ok(bytes) = <[u8; 8]>::try_from(payload) else {
            return Err(Error::BadLength {
                kind: "PING",
                length: header.length,
            });
        };
        Ok(Ping {
            ack: header.has(flags::ACK),
            payload: bytes,
        })
    }

    /// Appends the frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let f = if self.ack { flags::ACK } else { 0 };
        encode_header(8, FrameType::PING, f, StreamId::ZERO, dst);
        dst.extend_from_slice(&self.payload);
    }
}
