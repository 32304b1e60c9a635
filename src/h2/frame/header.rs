//! The 9-byte frame header (RFC 9113 §4.1) and frame types (§6), the type
//! an open newtype so unknown types are carried and skipped (§4.1, §5.5).

use super::StreamId;

/// Length of the frame header in bytes (RFC 9113 §4.1).
pub const HEADER_LEN: usize = 9;

/// A frame type (RFC 9113 §6, §11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameType(pub u8);

impl FrameType {
    pub const DATA: FrameType = FrameType(0x0);
    pub const HEADERS: FrameType = FrameType(0x1);
    pub(crate) const PRIORITY: FrameType = FrameType(0x2);
    pub const RST_STREAM: FrameType = FrameType(0x3);
    pub const SETTINGS: FrameType = FrameType(0x4);
    pub(crate) const PUSH_PROMISE: FrameType = FrameType(0x5);
    pub const PING: FrameType = FrameType(0x6);
    pub const GOAWAY: FrameType = FrameType(0x7);
    pub const WINDOW_UPDATE: FrameType = FrameType(0x8);
    pub const CONTINUATION: FrameType = FrameType(0x9);
}

/// Frame flags (RFC 9113 §6).
pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub(crate) const PADDED: u8 = 0x8;
    pub(crate) const PRIORITY: u8 = 0x20;
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload length in bytes (24 bits).
    pub length: u32,
    pub kind: FrameType,
    pub flags: u8,
    pub stream_id: StreamId,
}

impl Header {
    /// Decodes the 9 header bytes.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Header {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *bytes;
        Header {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameType(kind),
            flags,
            stream_id: StreamId::new(u32::from_be_bytes([s0, s1, s2, s3])),
        }
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Appends a frame header. `length` must fit 24 bits (callers chunk payloads
/// to the peer's SETTINGS_MAX_FRAME_SIZE, at most 2^24-1).
pub(crate) fn encode_header(
    length: usize,
    kind: FrameType,
    flags: u8,
    stream_id: StreamId,
    dst: &mut Vec<u8>,
) {
    debug_assert!(length < 1 << 24, "frame payload {length} over 24 bits");
    let len = u32::try_from(length)
        .unwrap_or(0xff_ffff)
        .min(0xff_ffff)
        .to_be_bytes();
    dst.extend_from_slice(&len[1..]);
    dst.push(kind.0);
    dst.push(flags);
    dst.extend_from_slice(&stream_id.value().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_header() {
        let mut buf = Vec::new();
        encode_header(
            0x12345,
            FrameType::HEADERS,
            flags::END_HEADERS,
            StreamId::new(7),
            &mut buf,
        );
        let bytes: [u8; HEADER_LEN] = buf.as_slice().try_into().expect("9 bytes");
        let h = Header::decode(&bytes);
        assert_eq!(h.length, 0x12345);
        assert_eq!(h.kind, FrameType::HEADERS);
        assert!(h.has(flags::END_HEADERS));
        assert_eq!(h.stream_id, StreamId::new(7));
    }
}
