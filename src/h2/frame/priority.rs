//! PRIORITY frames (RFC 9113 §6.3). The priority scheme is deprecated
//! (§5.3.2): we decode, check and ignore it.

use super::header::{encode_header, FrameType, Header};
use super::{Error, StreamId};

/// The five priority bytes of PRIORITY and HEADERS frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityFields {
    pub exclusive: bool,
    pub dependency: StreamId,
    pub weight: u8,
}

impl PriorityFields {
    /// Decodes the five bytes.
    pub fn decode(bytes: &[u8; 5]) -> PriorityFields {
        let [d0, d1, d2, d3, weight] = *bytes;
        let dep = u32::from_be_bytes([d0, d1, d2, d3]);
        PriorityFields {
            exclusive: dep & 0x8000_0000 != 0,
            dependency: StreamId::new(dep),
            weight,
        }
    }

    /// Appends the five bytes.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let mut dep = self.dependency.value();
        if self.exclusive {
            dep |= 0x8000_0000;
        }
        dst.extend_from_slice(&dep.to_be_bytes());
        dst.push(self.weight);
    }
}

/// A PRIORITY frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub stream_id: StreamId,
    pub fields: PriorityFields,
}

impl Priority {
    /// Decodes the payload of a PRIORITY frame.
    pub fn decode(header: &Header, payload: &[u8]) -> Result<Priority, Error> {
        // RFC 9113 §6.3: PRIORITY on stream 0 is a connection PROTOCOL_ERROR.
        if header.stream_id.is_zero() {
            return Err(Error::StreamZero { kind: "PRIORITY" });
        }
        // RFC 9113 §6.3: a length other than 5 is a stream FRAME_SIZE_ERROR.
        let Ok(bytes) = <&[u8; 5]>::try_from(payload) else {
            return Err(Error::PriorityLength {
                stream_id: header.stream_id,
                length: header.length,
            });
        };
        let fields = PriorityFields::decode(bytes);
        // RFC 9113 §5.3.1: a stream cannot depend on itself.
        if fields.dependency == header.stream_id {
            return Err(Error::SelfDependency {
                stream_id: header.stream_id,
            });
        }
        Ok(Priority {
            stream_id: header.stream_id,
            fields,
        })
    }

    /// Appends the frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        encode_header(5, FrameType::PRIORITY, 0, self.stream_id, dst);
        self.fields.encode(dst);
    }
}
