//! Protobuf messages of `proto/evaluator.proto` and `proto/health.proto`
//! (copied from the shared contract). The wire codec (encode/decode,
//! unknown fields skipped, wrong wire types rejected) lives here too.
//!
//! Decoding uses a cursor over the borrowed input; every length is checked
//! against what is left before anything is read, so the only allocation is
//! the decoded value itself (bounded by the input, which the gRPC layer
//! bounds by the message limit).

use std::fmt;

/// `:path` of `evaluator.FunctionEvaluator/EvaluateFunction`, the one
/// method of `proto/evaluator.proto`.
pub const EVALUATE_PATH: &str = "/evaluator.FunctionEvaluator/EvaluateFunction";

/// `evaluator.EvaluateFunctionRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvaluateFunctionRequest {
    /// Field 1: the YAML ResourceList (config.kubernetes.io/v1).
    pub resource_list: Vec<u8>,
    /// Field 2: the function image, e.g. `gcr.io/kpt-fn/set-namespace:v0.4.1`.
    pub image: String,
}

/// `evaluator.EvaluateFunctionResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvaluateFunctionResponse {
    /// Field 1: the function's stdout, the output ResourceList.
    pub resource_list: Vec<u8>,
    /// Field 2: the function's stderr.
    pub log: Vec<u8>,
}

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheckRequest {
    /// Field 1: the service name; "" is the server as a whole.
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`, an open enum: an
/// unknown value is carried (proto3 semantics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ServingStatus(pub i32);

impl ServingStatus {
    pub const UNKNOWN: ServingStatus = ServingStatus(0);
    pub const SERVING: ServingStatus = ServingStatus(1);
    pub const NOT_SERVING: ServingStatus = ServingStatus(2);
    /// Only used by Watch.
    pub const SERVICE_UNKNOWN: ServingStatus = ServingStatus(3);

    /// The proto name of a known status; `None` for a value the proto
    /// does not define.
    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("UNKNOWN"),
            1 => Some("SERVING"),
            2 => Some("NOT_SERVING"),
            3 => Some("SERVICE_UNKNOWN"),
            _ => None,
        }
    }
}

/// As grpc-go's generated enum `String()` spells it, which
/// grpc-health-probe prints: the proto name, or the number of a value the
/// proto does not define (`5`).
impl std::fmt::Display for ServingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCheckResponse {
    /// Field 1.
    pub status: ServingStatus,
}

/// `grpc.health.v1.HealthListRequest` (no fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthListRequest {}

/// `grpc.health.v1.HealthListResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthListResponse {
    /// Field 1: `map<string, HealthCheckResponse>`, kept sorted by name.
    pub statuses: std::collections::BTreeMap<String, HealthCheckResponse>,
}

/// Protobuf wire encoding for our messages.
pub trait Message: Sized {
    /// Appends the encoded message.
    fn encode(&self, dst: &mut Vec<u8>);
    /// Decodes a whole message: unknown fields skipped, wrong wire types
    /// for known fields rejected, every length checked against the input.
    fn decode(buf: &[u8]) -> Result<Self, Error>;
    /// The encoded message in a new buffer.
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input ends inside a field.
    Truncated { field: u32 },
    /// A varint longer than 10 bytes.
    VarintTooLong,
    /// A known field arrived with another wire type.
    WrongWireType {
        field: u32,
        expected: u8,
        actual: u8,
    },
    /// Field number 0, or a wire type that does not exist (6, 7).
    InvalidKey { key: u64 },
    /// Deprecated groups (wire types 3 and 4) are not accepted.
    Group { field: u32 },
    /// A `string` field that is not UTF-8.
    InvalidUtf8 { field: u32 },
    /// A length that does not fit memory.
    LengthOverflow { field: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { field } => write!(f, "message truncated in field {field}"),
            Error::VarintTooLong => f.write_str("varint longer than 10 bytes"),
            Error::WrongWireType {
                field,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "field {field} has wire type {actual}, expected {expected}"
                )
            }
            Error::InvalidKey { key } => write!(f, "invalid field key {key:#x}"),
            Error::Group { field } => write!(f, "field {field} is a group (unsupported)"),
            Error::InvalidUtf8 { field } => write!(f, "string field {field} is not valid UTF-8"),
            Error::LengthOverflow { field } => write!(f, "field {field} length overflows"),
        }
    }
}

impl std::error::Error for Error {}

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// A cursor over a borrowed slice (style.md §4): every read is checked.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn varint(&mut self, field: u32) -> Result<u64, Error> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(Error::Truncated { field });
            };
            self.buf = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::VarintTooLong)
    }

    fn sub(&mut self, len: usize, field: u32) -> Result<&'a [u8], Error> {
        let Some((head, rest)) = self.buf.split_at_checked(len) else {
            return Err(Error::Truncated { field });
        };
        self.buf = rest;
        Ok(head)
    }

    /// The next (field number, wire type).
    fn key(&mut self) -> Result<(u32, u8), Error> {
        let key = self.varint(0)?;
        let field = u32::try_from(key >> 3).map_err(|_| Error::InvalidKey { key })?;
        let wire = u8::try_from(key & 7).unwrap_or(7);
        if field == 0 || field > 0x1fff_ffff {
            return Err(Error::InvalidKey { key });
        }
        Ok((field, wire))
    }

    fn bytes(&mut self, field: u32) -> Result<&'a [u8], Error> {
        let len = self.varint(field)?;
        let len = usize::try_from(len).map_err(|_| Error::LengthOverflow { field })?;
        self.sub(len, field)
    }

    /// Skips an unknown field's value (proto3: unknown fields are ignored).
    fn skip(&mut self, field: u32, wire: u8) -> Result<(), Error> {
        match wire {
            VARINT => self.varint(field).map(|_| ()),
            I64 => self.sub(8, field).map(|_| ()),
            LEN => self.bytes(field).map(|_| ()),
            I32 => self.sub(4, field).map(|_| ()),
            3 | 4 => Err(Error::Group { field }),
            _ => Err(Error::InvalidKey {
                key: u64::from(field) << 3 | u64::from(wire),
            }),
        }
    }
}

fn expect_wire(field: u32, expected: u8, actual: u8) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::WrongWireType {
            field,
            expected,
            actual,
        })
    }
}

fn string(bytes: &[u8], field: u32) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::InvalidUtf8 { field })
}

fn put_varint(mut v: u64, dst: &mut Vec<u8>) {
    while v >= 0x80 {
        dst.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

fn put_key(field: u32, wire: u8, dst: &mut Vec<u8>) {
    put_varint(u64::from(field) << 3 | u64::from(wire), dst);
}

/// Appends a length-delimited field; proto3 omits empty values.
fn put_bytes(field: u32, bytes: &[u8], dst: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    put_key(field, LEN, dst);
    put_varint(bytes.len() as u64, dst);
    dst.extend_from_slice(bytes);
}

/// An enum is a varint of its sign-extended int32 (proto3 omits 0).
fn put_enum(field: u32, value: i32, dst: &mut Vec<u8>) {
    if value != 0 {
        put_key(field, VARINT, dst);
        put_varint(i64::from(value) as u64, dst);
    }
}

impl Message for EvaluateFunctionRequest {
    fn encode(&self, dst: &mut Vec<u8>) {
        put_bytes(1, &self.resource_list, dst);
        put_bytes(2, self.image.as_bytes(), dst);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut msg = Self::default();
        let mut c = Cursor { buf };
        while !c.is_empty() {
            match c.key()? {
                (1, wire) => {
                    expect_wire(1, LEN, wire)?;
                    msg.resource_list = c.bytes(1)?.to_vec();
                }
                (2, wire) => {
                    expect_wire(2, LEN, wire)?;
                    msg.image = string(c.bytes(2)?, 2)?;
                }
                // Unknown fields are skipped (proto3).
                (field, wire) => c.skip(field, wire)?,
            }
        }
        Ok(msg)
    }
}

/// Decodes a message of two byte fields in `buf[start..]` (both
/// EvaluateFunction messages): field 1 (the ResourceList) is moved to the
/// front of `buf` in place and returned as it, field 2 goes to `field_2`.
/// Unknown fields are skipped (proto3).
fn decode_keeping_field_1(
    mut buf: Vec<u8>,
    start: usize,
    mut field_2: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<Vec<u8>, Error> {
    let whole = buf.get(start..).unwrap_or_default();
    let mut list: Option<std::ops::Range<usize>> = None;
    let mut c = Cursor { buf: whole };
    while !c.is_empty() {
        match c.key()? {
            (1, wire) => {
                expect_wire(1, LEN, wire)?;
                let bytes = c.bytes(1)?;
                // The offset of `bytes` in `buf`: what precedes it.
                let at = start + (whole.len() - c.buf.len() - bytes.len());
                list = Some(at..at + bytes.len());
            }
            (2, wire) => {
                expect_wire(2, LEN, wire)?;
                field_2(c.bytes(2)?)?;
            }
            (field, wire) => c.skip(field, wire)?,
        }
    }
    Ok(match list {
        Some(range) => {
            let len = range.len();
            buf.copy_within(range, 0);
            buf.truncate(len);
            buf
        }
        None => Vec::new(),
    })
}

impl EvaluateFunctionRequest {
    /// [`Message::decode`] of `buf[start..]` that keeps `buf` as the
    /// `resource_list` (the bytes are moved to its front in place): a
    /// 6 MB ResourceList is neither allocated nor copied again.
    pub(crate) fn decode_in_place(buf: Vec<u8>, start: usize) -> Result<Self, Error> {
        let mut image = String::new();
        let resource_list = decode_keeping_field_1(buf, start, |bytes| {
            image = string(bytes, 2)?;
            Ok(())
        })?;
        Ok(EvaluateFunctionRequest {
            resource_list,
            image,
        })
    }
}

impl EvaluateFunctionRequest {
    /// The encoded message as parts whose concatenation is
    /// [`Message::encode`]'s output; the ResourceList is moved, not copied
    /// (the pod runtime sends it on to a function pod).
    pub(crate) fn into_parts(self) -> Vec<Vec<u8>> {
        let mut head = Vec::with_capacity(11);
        let mut parts = Vec::with_capacity(2);
        // proto3 omits empty values.
        if !self.resource_list.is_empty() {
            put_key(1, LEN, &mut head);
            put_varint(self.resource_list.len() as u64, &mut head);
            parts.push(head);
            parts.push(self.resource_list);
        }
        let mut tail = Vec::with_capacity(self.image.len() + 11);
        put_bytes(2, self.image.as_bytes(), &mut tail);
        parts.push(tail);
        parts
    }
}

impl EvaluateFunctionResponse {
    /// [`Message::decode`] of `buf[start..]` that keeps `buf` as the
    /// `resource_list` (moved to its front in place; the log, small, is
    /// copied): a function pod's 6 MB answer is not copied again.
    pub(crate) fn decode_in_place(buf: Vec<u8>, start: usize) -> Result<Self, Error> {
        let mut log = Vec::new();
        let resource_list = decode_keeping_field_1(buf, start, |bytes| {
            log = bytes.to_vec();
            Ok(())
        })?;
        Ok(EvaluateFunctionResponse { resource_list, log })
    }

    /// The encoded message as parts whose concatenation is
    /// [`Message::encode`]'s output; the two byte fields are moved, not
    /// copied.
    pub(crate) fn into_parts(self) -> Vec<Vec<u8>> {
        let mut parts = Vec::with_capacity(4);
        for (field, bytes) in [(1, self.resource_list), (2, self.log)] {
            // proto3 omits empty values.
            if bytes.is_empty() {
                continue;
            }
            let mut head = Vec::with_capacity(11);
            put_key(field, LEN, &mut head);
            put_varint(bytes.len() as u64, &mut head);
            parts.push(head);
            parts.push(bytes);
        }
        parts
    }
}

impl Message for EvaluateFunctionResponse {
    fn encode(&self, dst: &mut Vec<u8>) {
        put_bytes(1, &self.resource_list, dst);
        put_bytes(2, &self.log, dst);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut msg = Self::default();
        let mut c = Cursor { buf };
        while !c.is_empty() {
            match c.key()? {
                (1, wire) => {
                    expect_wire(1, LEN, wire)?;
                    msg.resource_list = c.bytes(1)?.to_vec();
                }
                (2, wire) => {
                    expect_wire(2, LEN, wire)?;
                    msg.log = c.bytes(2)?.to_vec();
                }
                // Unknown fields are skipped (proto3).
                (field, wire) => c.skip(field, wire)?,
            }
        }
        Ok(msg)
    }
}

impl Message for HealthCheckRequest {
    fn encode(&self, dst: &mut Vec<u8>) {
        put_bytes(1, self.service.as_bytes(), dst);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut msg = Self::default();
        let mut c = Cursor { buf };
        while !c.is_empty() {
            match c.key()? {
                (1, wire) => {
                    expect_wire(1, LEN, wire)?;
                    msg.service = string(c.bytes(1)?, 1)?;
                }
                // Unknown fields are skipped (proto3).
                (field, wire) => c.skip(field, wire)?,
            }
        }
        Ok(msg)
    }
}

impl Message for HealthCheckResponse {
    fn encode(&self, dst: &mut Vec<u8>) {
        put_enum(1, self.status.0, dst);
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut msg = Self::default();
        let mut c = Cursor { buf };
        while !c.is_empty() {
            match c.key()? {
                (1, wire) => {
                    expect_wire(1, VARINT, wire)?;
                    // int32 enums: the low 32 bits of the varint.
                    msg.status = ServingStatus(c.varint(1)? as i32);
                }
                // Unknown fields are skipped (proto3).
                (field, wire) => c.skip(field, wire)?,
            }
        }
        Ok(msg)
    }
}

impl Message for HealthListRequest {
    fn encode(&self, _dst: &mut Vec<u8>) {}

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut c = Cursor { buf };
        while !c.is_empty() {
            // No fields: everything is unknown and skipped (proto3).
            let (field, wire) = c.key()?;
            c.skip(field, wire)?;
        }
        Ok(HealthListRequest {})
    }
}

impl Message for HealthListResponse {
    fn encode(&self, dst: &mut Vec<u8>) {
        for (name, status) in &self.statuses {
            let mut entry = Vec::new();
            put_bytes(1, name.as_bytes(), &mut entry);
            let value = status.encode_to_vec();
            // A present message field is written even when empty.
            put_key(2, LEN, &mut entry);
            put_varint(value.len() as u64, &mut entry);
            entry.extend_from_slice(&value);
            put_key(1, LEN, dst);
            put_varint(entry.len() as u64, dst);
            dst.extend_from_slice(&entry);
        }
    }

    fn decode(buf: &[u8]) -> Result<Self, Error> {
        let mut msg = Self::default();
        let mut c = Cursor { buf };
        while !c.is_empty() {
            match c.key()? {
                (1, wire) => {
                    expect_wire(1, LEN, wire)?;
                    let mut entry = Cursor { buf: c.bytes(1)? };
                    let mut name = String::new();
                    let mut status = HealthCheckResponse::default();
                    while !entry.is_empty() {
                        match entry.key()? {
                            (1, wire) => {
                                expect_wire(1, LEN, wire)?;
                                name = string(entry.bytes(1)?, 1)?;
                            }
                            (2, wire) => {
                                expect_wire(2, LEN, wire)?;
                                status = HealthCheckResponse::decode(entry.bytes(2)?)?;
                            }
                            // Unknown fields are skipped (proto3).
                            (field, wire) => entry.skip(field, wire)?,
                        }
                    }
                    // Map semantics: a later entry with the same key wins.
                    msg.statuses.insert(name, status);
                }
                // Unknown fields are skipped (proto3).
                (field, wire) => c.skip(field, wire)?,
            }
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_status_reads_as_grpc_go_spells_it() {
        assert_eq!(ServingStatus::NOT_SERVING.to_string(), "NOT_SERVING");
        assert_eq!(
            ServingStatus::SERVICE_UNKNOWN.to_string(),
            "SERVICE_UNKNOWN"
        );
        // grpc-go's generated String() of a value the proto lacks.
        assert_eq!(ServingStatus(7).to_string(), "7");
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut list = HealthListResponse::default();
        list.statuses.insert(
            String::new(),
            HealthCheckResponse {
                status: ServingStatus::SERVING,
            },
        );
        list.statuses.insert(
            "evaluator.FunctionEvaluator".to_owned(),
            HealthCheckResponse {
                status: ServingStatus::NOT_SERVING,
            },
        );
        vec![
            EvaluateFunctionRequest {
                resource_list: b"kind: ResourceList".to_vec(),
                image: "gcr.io/kpt-fn/set-namespace:v0.4.1".to_owned(),
            }
            .encode_to_vec(),
            EvaluateFunctionResponse {
                resource_list: vec![1; 300],
                log: b"warn".to_vec(),
            }
            .encode_to_vec(),
            HealthCheckRequest {
                service: "x".to_owned(),
            }
            .encode_to_vec(),
            HealthCheckResponse {
                status: ServingStatus::SERVICE_UNKNOWN,
            }
            .encode_to_vec(),
            list.encode_to_vec(),
        ]
    }

    #[test]
    fn parts_and_in_place_decoding_match_the_whole_message_codec() {
        for (list, image) in [
            (vec![7u8; 300], "img"),
            (Vec::new(), "x"),
            (b"a".to_vec(), ""),
        ] {
            let req = EvaluateFunctionRequest {
                resource_list: list.clone(),
                image: image.to_owned(),
            };
            let whole = req.encode_to_vec();
            assert_eq!(req.into_parts().concat(), whole);
            let resp = EvaluateFunctionResponse {
                resource_list: list.clone(),
                log: image.as_bytes().to_vec(),
            };
            let mut buf = vec![9u8; 5];
            buf.extend_from_slice(&resp.encode_to_vec());
            assert_eq!(EvaluateFunctionResponse::decode_in_place(buf, 5), Ok(resp));
        }
    }

    #[test]
    fn round_trips() {
        let req = EvaluateFunctionRequest {
            resource_list: vec![0xff; 200],
            image: "img".to_owned(),
        };
        assert_eq!(
            EvaluateFunctionRequest::decode(&req.encode_to_vec()),
            Ok(req)
        );
        let resp = EvaluateFunctionResponse {
            resource_list: b"out".to_vec(),
            log: b"err".to_vec(),
        };
        assert_eq!(
            EvaluateFunctionResponse::decode(&resp.encode_to_vec()),
            Ok(resp)
        );
        let mut list = HealthListResponse::default();
        list.statuses.insert(
            String::new(),
            HealthCheckResponse {
                status: ServingStatus::SERVING,
            },
        );
        list.statuses.insert(
            "a".to_owned(),
            HealthCheckResponse {
                status: ServingStatus::UNKNOWN,
            },
        );
        assert_eq!(HealthListResponse::decode(&list.encode_to_vec()), Ok(list));
        let neg = HealthCheckResponse {
            status: ServingStatus(-1),
        };
        assert_eq!(HealthCheckResponse::decode(&neg.encode_to_vec()), Ok(neg));
    }

    #[test]
    fn in_place_decode_and_parts_match_the_codec() {
        let req = EvaluateFunctionRequest {
            resource_list: b"kind: ResourceList".to_vec(),
            image: "img".into(),
        };
        let mut buf = b"pre".to_vec();
        buf.extend(req.encode_to_vec());
        // Unknown field and a repeated field 1 (the last one wins).
        put_bytes(9, b"zz", &mut buf);
        put_bytes(1, b"last", &mut buf);
        let mut expected = req.clone();
        expected.resource_list = b"last".to_vec();
        assert_eq!(
            EvaluateFunctionRequest::decode_in_place(buf.clone(), 3),
            Ok(expected.clone())
        );
        assert_eq!(EvaluateFunctionRequest::decode(&buf[3..]), Ok(expected));
        assert_eq!(
            EvaluateFunctionRequest::decode_in_place(b"xx".to_vec(), 2),
            Ok(EvaluateFunctionRequest::default())
        );
        for cut in 0..buf.len() {
            assert_eq!(
                EvaluateFunctionRequest::decode_in_place(buf[..cut].to_vec(), 3.min(cut)).is_ok(),
                EvaluateFunctionRequest::decode(&buf[3.min(cut)..cut]).is_ok()
            );
        }
        for resp in [
            EvaluateFunctionResponse {
                resource_list: vec![1; 300],
                log: b"warn".to_vec(),
            },
            EvaluateFunctionResponse::default(),
            EvaluateFunctionResponse {
                resource_list: Vec::new(),
                log: b"w".to_vec(),
            },
        ] {
            assert_eq!(resp.clone().into_parts().concat(), resp.encode_to_vec());
        }
    }

    #[test]
    fn every_prefix_never_panics() {
        for sample in samples() {
            for cut in 0..=sample.len() {
                let p = &sample[..cut];
                let _ = EvaluateFunctionRequest::decode(p);
                let _ = EvaluateFunctionResponse::decode(p);
                let _ = HealthCheckRequest::decode(p);
                let _ = HealthCheckResponse::decode(p);
                let _ = HealthListRequest::decode(p);
                let _ = HealthListResponse::decode(p);
            }
        }
    }

    #[test]
    fn truncated_length_is_an_error() {
        let bytes = EvaluateFunctionRequest {
            resource_list: b"abc".to_vec(),
            image: String::new(),
        }
        .encode_to_vec();
        assert_eq!(
            EvaluateFunctionRequest::decode(&bytes[..bytes.len() - 1]),
            Err(Error::Truncated { field: 1 })
        );
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let mut bytes = Vec::new();
        put_key(9, VARINT, &mut bytes);
        put_varint(300, &mut bytes);
        put_key(10, I64, &mut bytes);
        bytes.extend_from_slice(&[0; 8]);
        put_key(11, I32, &mut bytes);
        bytes.extend_from_slice(&[0; 4]);
        put_bytes(12, b"zz", &mut bytes);
        put_bytes(2, b"img", &mut bytes);
        let msg = EvaluateFunctionRequest::decode(&bytes).expect("valid");
        assert_eq!(msg.image, "img");
    }

    #[test]
    fn rejects_wrong_wire_type_groups_and_bad_utf8() {
        let mut bytes = Vec::new();
        put_key(2, VARINT, &mut bytes);
        put_varint(1, &mut bytes);
        assert_eq!(
            EvaluateFunctionRequest::decode(&bytes),
            Err(Error::WrongWireType {
                field: 2,
                expected: LEN,
                actual: VARINT
            })
        );
        assert_eq!(
            HealthCheckRequest::decode(&[0x1b]),
            Err(Error::Group { field: 3 })
        );
        assert_eq!(
            HealthCheckRequest::decode(&[0x0a, 1, 0xff]),
            Err(Error::InvalidUtf8 { field: 1 })
        );
        assert!(matches!(
            HealthCheckRequest::decode(&[0x00]),
            Err(Error::InvalidKey { .. })
        ));
    }

    #[test]
    fn varint_limit_at_10_and_11_bytes() {
        let mut ten = vec![0x08];
        ten.extend_from_slice(&[0xff; 9]);
        ten.push(0x01);
        assert!(HealthCheckResponse::decode(&ten).is_ok());
        let mut eleven = vec![0x08];
        eleven.extend_from_slice(&[0xff; 10]);
        eleven.push(0x01);
        assert_eq!(
            HealthCheckResponse::decode(&eleven),
            Err(Error::VarintTooLong)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(EvaluateFunctionRequest::decode(b"\xff\xff\xff").is_err());
        assert!(EvaluateFunctionRequest::decode(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
