//! SETTINGS frames (RFC 9113 §6.5): ids an open newtype (§6.5.2: unknown
//! settings are ignored), values checked where the RFC bounds them.

use super::header::{encode_header, flags, FrameType, Header};
use super::{Error, StreamId};

/// A setting identifier (RFC 9113 §6.5.2, §11.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SettingId(pub u16);

impl SettingId {
    pub(crate) const HEADER_TABLE_SIZE: SettingId = SettingId(0x1);
    pub(crate) const ENABLE_PUSH: SettingId = SettingId(0x2);
    pub(crate) const MAX_CONCURRENT_STREAMS: SettingId = SettingId(0x3);
    pub const INITIAL_WINDOW_SIZE: SettingId = SettingId(0x4);
    pub(crate) const MAX_FRAME_SIZE: SettingId = SettingId(0x5);
    pub(crate) const MAX_HEADER_LIST_SIZE: SettingId = SettingId(0x6);
}

/// Largest flow-control window (RFC 9113 §6.9.1).
pub const MAX_WINDOW: u32 = 0x7fff_ffff;
/// Smallest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2), also the default.
pub const MIN_MAX_FRAME_SIZE: u32 = 16_384;
/// Largest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;

/// A SETTINGS frame. Parameters keep wire order (§6.5.3: processed in order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub ack: bool,
    pub params: Vec<(SettingId, u32)>,
}

impl Settings {
    /// An ACK of the peer's SETTINGS.
    pub(crate) fn ack() -> Settings {
        Settings {
            ack: true,
            params: Vec::new(),
        }
    }

    /// Decodes the payload of a SETTINGS frame.
    pub fn decode(header: &Header, payload: &[u8]) -> Result<Settings, Error> {
        // RFC 9113 §6.5: SETTINGS only on stream 0, else connection PROTOCOL_ERROR.
        if !header.stream_id.is_zero() {
            return Err(Error::NotStreamZero { kind: "SETTINGS" });
        }
        let ack = header.has(flags::ACK);
        // RFC 9113 §6.5: an ACK with a payload is a connection FRAME_SIZE_ERROR.
        if ack && !payload.is_empty() {
            return Err(Error::BadLength {
                kind: "SETTINGS ACK",
                length: header.length,
            });
        }
        // RFC 9113 §6.5: a length not a multiple of 6 is a FRAME_SIZE_ERROR.
        if payload.len() % 6 != 0 {
            return Err(Error::BadLength {
                kind: "SETTINGS",
                length: header.length,
            });
        }
        let mut params = Vec::new();
        for chunk in payload.chunks_exact(6) {
            let [i0, i1, v0, v1, v2, v3] = <[u8; 6]>::try_from(chunk).unwrap_or([0; 6]);
            let id = SettingId(u16::from_be_bytes([i0, i1]));
            let value = u32::from_be_bytes([v0, v1, v2, v3]);
            check_value(id, value)?;
            params.push((id, value));
        }
        Ok(Settings { ack, params })
    }

    /// Appends the frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        let f = if self.ack { flags::ACK } else { 0 };
        encode_header(
            self.params.len() * 6,
            FrameType::SETTINGS,
            f,
            StreamId::ZERO,
            dst,
        );
        for (id, value) in &self.params {
            dst.extend_from_slice(&id.0.to_be_bytes());
            dst.extend_from_slice(&value.to_be_bytes());
        }
    }
}

fn check_value(id: SettingId, value: u32) -> Result<(), Error> {
    match id {
        // RFC 9113 §6.5.2: ENABLE_PUSH other than 0 or 1 is a PROTOCOL_ERROR.
        SettingId::ENABLE_PUSH if value > 1 => Err(Error::BadSetting { id: id.0, value }),
        // RFC 9113 §6.5.2: INITIAL_WINDOW_SIZE above 2^31-1 is a FLOW_CONTROL_ERROR.
        SettingId::INITIAL_WINDOW_SIZE if value > MAX_WINDOW => {
            Err(Error::BadSetting { id: id.0, value })
        }
        // RFC 9113 §6.5.2: MAX_FRAME_SIZE outside 2^14..2^24-1 is a PROTOCOL_ERROR.
        SettingId::MAX_FRAME_SIZE
            if !(MIN_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) =>
        {
            Err(Error::BadSetting { id: id.0, value })
        }
        // Every other value, including unknown ids (§6.5.2: ignored), is accepted here.
        _ => Ok(()),
    }
}
