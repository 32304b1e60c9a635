//! CONTINUATION frames (RFC 9113 §6.10).

use super::header::{encode_header, flags, FrameType, Header};
use super::{Error, StreamId};

/// A CONTINUATION frame: a further fragment of a header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation<'a> {
    pub stream_id: StreamId,
    pub end_headers: bool,
    pub fragment: &'a [u8],
}

impl<'a> Continuation<'a> {
    /// Decodes the payload of a CONTINUATION frame.
    pub fn decode(header: &Header, payload: &'a [u8]) -> Result<Continuation<'a>, Error> {
        // RFC 9113 §6.10: CONTINUATION on stream 0 is a connection PROTOCOL_ERROR.
        if header.stream_id.is_zero() {
            return Err(Error::StreamZero {
                kind: "CONTINUATION",
            });
        }
        Ok(Continuation {
            stream_id: header.stream_id,
            end_headers: header.has(flags::END_HEADERS),
            fragment: payload,
        })
    }

    /// Appends the frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let f = if self.end_headers {
            flags::END_HEADERS
        } else {
            0
        };
        encode_header(
            self.fragment.len(),
            FrameType::CONTINUATION,
            f,
            self.stream_id,
            dst,
        );
        dst.extend_from_slice(self.fragment);
    }
}
