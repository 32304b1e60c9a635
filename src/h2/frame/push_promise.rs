//! PUSH_PROMISE frames (RFC 9113 §6.6). We never enable push: a client
//! sends SETTINGS_ENABLE_PUSH=0 and a server must never receive one, so the
//! connection rejects every PUSH_PROMISE; the decoder exists for the checks.

use super::header::{flags, Header};
use super::{strip_padding, Error, StreamId};

/// A PUSH_PROMISE frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPromise<'a> {
    pub stream_id: StreamId,
    pub promised_id: StreamId,
    pub end_headers: bool,
    pub fragment: &'a [u8],
}

impl<'a> PushPromise<'a> {
    /// Decodes the payload of a PUSH_PROMISE frame.
    pub fn decode(header: &Header, payload: &'a [u8]) -> Result<PushPromise<'a>, Error> {
        // RFC 9113 §6.6: PUSH_PROMISE on stream 0 is a connection PROTOCOL_ERROR.
        if header.stream_id.is_zero() {
            return Err(Error::StreamZero {
                kind: "PUSH_PROMISE",
            });
        }
        let rest = strip_padding(header, payload, "PUSH_PROMISE")?;
        let Some((id, fragment)) = rest.split_first_chunk::<4>() else {
            return Err(Error::BadPadding {
                kind: "PUSH_PROMISE",
            });
        };
        Ok(PushPromise {
            stream_id: header.stream_id,
            promised_id: StreamId::new(u32::from_be_bytes(*id)),
            end_headers: header.has(flags::END_HEADERS),
            fragment,
        })
    }
}
