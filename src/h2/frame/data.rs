//! DATA frames (RFC 9113 §6.1).

use super::header::{encode_header, flags, FrameType, Header};
use super::{strip_padding, Error, StreamId};

/// A DATA frame, borrowing its payload from the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data<'a> {
    pub stream_id: StreamId,
    pub end_stream: bool,
    /// The data, padding removed.
    pub data: &'a [u8],
    /// The whole payload length (padding included): what flow control counts (§6.9).
    pub flow_len: u32,
}

impl<'a> Data<'a> {
    /// Decodes the payload of a DATA frame.
    pub fn decode(header: &Header, payload: &'a [u8]) -> Result<Data<'a>, Error> {
        // RFC 9113 §6.1: DATA on stream 0 is a connection PROTOCOL_ERROR.
        if header.stream_id.is_zero() {
            return Err(Error::StreamZero { kind: "DATA" });
        }
        let data = strip_padding(header, payload, "DATA")?;
        Ok(Data {
            stream_id: header.stream_id,
            end_stream: header.has(flags::END_STREAM),
            data,
            flow_len: header.length,
        })
    }

    /// Appends the frame (never padded).
    pub fn encode(&self, dst: &mut Vec<u8>) {
        encode_data(self.stream_id, self.data, self.end_stream, dst);
    }
}

/// Appends one DATA frame; `data` must fit the peer's max frame size.
pub fn encode_data(stream_id: StreamId, data: &[u8], end_stream: bool, dst: &mut Vec<u8>) {
    let f = if end_stream { flags::END_STREAM } else { 0 };
    encode_header(data.len(), FrameType::DATA, f, stream_id, dst);
    dst.extend_from_slice(data);
}
