//! HEADERS frames (RFC 9113 §6.2), with the deprecated priority fields
//! decoded and ignored (§5.3.2).

use super::header::{encode_header, flags, FrameType, Header};
use super::priority::PriorityFields;
use super::{strip_padding, Error, StreamId};

/// A HEADERS frame: the first fragment of a header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers<'a> {
    pub stream_id: StreamId,
    pub end_stream: bool,
    pub end_headers: bool,
    pub priority: Option<PriorityFields>,
    /// The header block fragment (padding and priority removed).
    pub fragment: &'a [u8],
}

impl<'a> Headers<'a> {
    /// Decodes the payload of a HEADERS frame.
    pub fn decode(header: &Header, payload: &'a [u8]) -> Result<Headers<'a>, Error> {
        // RFC 9113 §6.2: HEADERS on stream 0 is a connection PROTOCOL_ERROR.
        if header.stream_id.is_zero() {
            return Err(Error::StreamZero { kind: "HEADERS" });
        }
        let mut rest = strip_padding(header, payload, "HEADERS")?;
        let mut priority = None;
        if header.has(flags::PRIORITY) {
            let (fields, tail) = match rest.split_first_chunk::<5>() {
                Some((fields, tail)) => (PriorityFields::decode(fields), tail),
                None => return Err(Error::BadPadding { kind: "HEADERS" }),
            };
            // RFC 9113 §5.3.1: a stream cannot depend on itself.
            if fields.dependency == header.stream_id {
                return Err(Error::SelfDependency {
                    stream_id: header.stream_id,
                });
            }
            priority = Some(fields);
            rest = tail;
        }
        Ok(Headers {
            stream_id: header.stream_id,
            end_stream: header.has(flags::END_STREAM),
            end_headers: header.has(flags::END_HEADERS),
            priority,
            fragment: rest,
        })
    }

    /// Appends the frame (never padded; priority fields if present).
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let mut f = 0;
        if self.end_stream {
            f |= flags::END_STREAM;
        }
        if self.end_headers {
            f |= flags::END_HEADERS;
        }
        let extra = if self.priority.is_some() { 5 } else { 0 };
        if self.priority.is_some() {
            f |= flags::PRIORITY;
        }
        encode_header(
            self.fragment.len() + extra,
            FrameType::HEADERS,
            f,
            self.stream_id,
            dst,
        );
        if let Some(p) = &self.priority {
            p.encode(dst);
        }
        dst.extend_from_slice(self.fragment);
    }
}

/// Appends a header block as HEADERS plus CONTINUATION frames of at most
/// `max_frame_bytes` each (RFC 9113 §4.3: one contiguous sequence).
pub fn encode_header_block(
    stream_id: StreamId,
    block: &[u8],
    end_stream: bool,
    max_frame_bytes: usize,
    dst: &mut Vec<u8>,
) {
    let max = max_frame_bytes.max(1);
    let mut chunks = block.chunks(max);
    let first = chunks.next().unwrap_or(&[]);
    let mut rest = chunks.peekable();
    Headers {
        stream_id,
        end_stream,
        end_headers: rest.peek().is_none(),
        priority: None,
        fragment: first,
    }
    .encode(dst);
    while let Some(chunk) = rest.next() {
        let last = rest.peek().is_none();
        let f = if last { flags::END_HEADERS } else { 0 };
        encode_header(chunk.len(), FrameType::CONTINUATION, f, stream_id, dst);
        dst.extend_from_slice(chunk);
    }
}
