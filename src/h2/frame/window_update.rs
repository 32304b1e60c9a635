//! WINDOW_UPDATE frames (RFC 9113 §6.9).

use super::header::{encode_header, FrameType, Header};
use super::{Error, StreamId};

/// A WINDOW_UPDATE frame; the increment is 1..=2^31-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUpdate {
    pub stream_id: StreamId,
    pub increment: u32,
}

impl WindowUpdate {
    /// Decodes the payload of a WINDOW_UPDATE frame.
    pub fn decode(header: &Header, payload: &[u8]) -> Result<WindowUpdate, Error> {
        // RFC 9113 §6.9: a length other than 4 is a connection FRAME_SIZE_ERROR.
        let Ok(bytes) = <[u8; 4]>::try_from(payload) else {
            return Err(Error::BadLength {
                kind: "WINDOW_UPDATE",
                length: header.length,
            });
        };
        let increment = u32::from_be_bytes(bytes) & 0x7fff_ffff;
        // RFC 9113 §6.9: an increment of 0 is a PROTOCOL_ERROR (stream or connection).
        if increment == 0 {
            return Err(Error::ZeroWindowIncrement {
                stream_id: header.stream_id,
            });
        }
        Ok(WindowUpdate {
            stream_id: header.stream_id,
            increment,
        })
    }

    /// Appends the frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        debug_assert!(self.increment > 0 && self.increment <= 0x7fff_ffff);
        encode_header(4, FrameType::WINDOW_UPDATE, 0, self.stream_id, dst);
        dst.extend_from_slice(&self.increment.to_be_bytes());
    }
}
