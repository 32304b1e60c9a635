//! gRPC length-prefixed message framing (grpc/doc/PROTOCOL-HTTP2.md
//! "Length-Prefixed-Message"): 1 byte compressed flag, 4 bytes big-endian
//! length, the message.

use super::status::{Code, Status};

/// Length of the prefix in bytes.
pub(crate) const PREFIX_LEN: usize = 5;

/// Frames one uncompressed message.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + message.len());
    out.push(0);
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Frames one uncompressed message given in parts, without joining them:
/// the prefix (with the first part when it is small) and the other parts
/// as they are. Empty parts are dropped.
pub(crate) fn encode_parts(parts: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let len: usize = parts.iter().map(Vec::len).sum();
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let mut parts = parts.into_iter().filter(|p| !p.is_empty()).peekable();
    let small_first = parts.peek().is_some_and(|p| p.len() <= SMALL_PART_BYTES);
    let mut head = Vec::with_capacity(PREFIX_LEN + if small_first { SMALL_PART_BYTES } else { 0 });
    head.push(0);
    head.extend_from_slice(&len.to_be_bytes());
    if small_first {
        if let Some(first) = parts.next() {
            head.extend_from_slice(&first);
        }
    }
    std::iter::once(head).chain(parts).collect()
}

/// A first part up to this size is copied behind the prefix (one DATA
/// frame instead of two); larger parts are sent as they are.
const SMALL_PART_BYTES: usize = 4096;

/// A received unary message that owns the request body it lies in, so a
/// handler can take the bytes without copying them.
#[derive(Debug)]
pub struct OwnedMessage {
    /// The whole body: the prefix, then the message.
    body: Vec<u8>,
}

impl OwnedMessage {
    /// Wraps a body that [`decode_unary`] accepted.
    pub fn new(body: Vec<u8>) -> OwnedMessage {
        OwnedMessage { body }
    }

    /// The message bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.body.get(PREFIX_LEN..).unwrap_or_default()
    }

    /// The message bytes as a vector of their own: the buffer, with the
    /// prefix moved out in place (no new allocation).
    pub(crate) fn into_vec(self) -> Vec<u8> {
        let mut body = self.body;
        body.drain(..PREFIX_LEN.min(body.len()));
        body
    }

    /// The buffer and where the message starts in it.
    pub(crate) fn into_buffer(self) -> (Vec<u8>, usize) {
        let start = PREFIX_LEN.min(self.body.len());
        (self.body, start)
    }
}

/// One framed message, or why the bytes are not one.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole message and the bytes that followed it.
    Message { message: &'a [u8], rest: &'a [u8] },
    /// Fewer bytes than the prefix declares.
    Incomplete,
}

/// Decodes the first message of `buf`, checking the compressed flag and
/// the size limit before looking at the payload.
pub fn decode(buf: &[u8], max_message_bytes: usize) -> Result<Decoded<'_>, Status> {
    let Some((prefix, rest)) = buf.split_first_chunk::<PREFIX_LEN>() else {
        return Ok(Decoded::Incomplete);
    };
    let [flag, l0, l1, l2, l3] = *prefix;
    match flag {
        0 => {}
        // We advertise no compression (grpc-accept-encoding: identity).
        1 => {
            return Err(Status::new(
                Code::UNIMPLEMENTED,
                "compressed messages are not supported (grpc-accept-encoding: identity)",
            ))
        }
        other => {
            return Err(Status::new(
                Code::INTERNAL,
                format!("invalid message flag {other:#x}"),
            ))
        }
    }
    let len = u32::from_be_bytes([l0, l1, l2, l3]);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max_message_bytes {
        return Err(too_large("received", len, max_message_bytes));
    }
    match (rest.get(..len), rest.get(len..)) {
        (Some(message), Some(rest)) => Ok(Decoded::Message { message, rest }),
        _ => Ok(Decoded::Incomplete),
    }
}

/// The message length a prefix declares, once its five bytes are there.
pub(crate) fn declared_len(buf: &[u8]) -> Option<usize> {
    let (prefix, _) = buf.split_first_chunk::<PREFIX_LEN>()?;
    let [_, l0, l1, l2, l3] = *prefix;
    usize::try_from(u32::from_be_bytes([l0, l1, l2, l3])).ok()
}

/// The size of a unary body (prefix and message) its first bytes declare:
/// the h2 layer's size hint, on both sides.
pub(crate) fn declared_body_len(first_bytes: &[u8]) -> Option<usize> {
    declared_len(first_bytes).map(|len| len.saturating_add(PREFIX_LEN))
}

/// Exactly one message (a unary request or response body).
pub(crate) fn decode_unary(body: &[u8], max_message_bytes: usize) -> Result<&[u8], Status> {
    match decode(body, max_message_bytes)? {
        Decoded::Message { message, rest: [] } => Ok(message),
        Decoded::Message { .. } => Err(Status::new(
            Code::INTERNAL,
            "more than one message in a unary call",
        )),
        Decoded::Incomplete if body.is_empty() => Err(Status::new(
            Code::INTERNAL,
            "missing message in a unary call",
        )),
        Decoded::Incomplete => Err(Status::new(Code::INTERNAL, "truncated message")),
    }
}

/// The RESOURCE_EXHAUSTED status for an oversized message, in grpc-go's words.
pub(crate) fn too_large(direction: &str, len: usize, max: usize) -> Status {
    Status::new(
        Code::RESOURCE_EXHAUSTED,
        format!("grpc: {direction} message larger than max ({len} vs. {max})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let framed = encode(b"abc");
        assert_eq!(decode_unary(&framed, 3), Ok(&b"abc"[..]));
    }

    #[test]
    fn parts_frame_like_one_message() {
        let big = vec![7u8; SMALL_PART_BYTES + 1];
        let parts = vec![b"ab".to_vec(), Vec::new(), big.clone(), b"c".to_vec()];
        let framed: Vec<u8> = encode_parts(parts).concat();
        let mut whole = b"ab".to_vec();
        whole.extend_from_slice(&big);
        whole.push(b'c');
        assert_eq!(framed, encode(&whole));
        assert_eq!(encode_parts(Vec::new()).concat(), encode(b""));
        let owned = OwnedMessage::new(encode(b"xyz"));
        assert_eq!(owned.as_bytes(), b"xyz");
        assert_eq!(owned.into_buffer().1, PREFIX_LEN);
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let framed = encode(b"hello");
        for cut in 0..framed.len() {
            assert_eq!(decode(&framed[..cut], 100), Ok(Decoded::Incomplete));
        }
    }

    #[test]
    fn limit_at_n_and_n_plus_1() {
        assert!(decode_unary(&encode(&[0; 10]), 10).is_ok());
        let e = decode_unary(&encode(&[0; 11]), 10).expect_err("too large");
        assert_eq!(e.code, Code::RESOURCE_EXHAUSTED);
        // Rejected from the prefix alone.
        let e = decode(&encode(&[0; 11])[..PREFIX_LEN], 10).expect_err("too large");
        assert_eq!(e.code, Code::RESOURCE_EXHAUSTED);
    }

    #[test]
    fn compressed_flag_is_unimplemented() {
        let mut framed = encode(b"x");
        framed[0] = 1;
        assert_eq!(
            decode_unary(&framed, 10).map_err(|e| e.code),
            Err(Code::UNIMPLEMENTED)
        );
    }

    #[test]
    fn rejects_missing_and_extra_messages() {
        assert_eq!(
            decode_unary(b"", 10).map_err(|e| e.code),
            Err(Code::INTERNAL)
        );
        let mut two = encode(b"a");
        two.extend(encode(b"b"));
        assert_eq!(
            decode_unary(&two, 10).map_err(|e| e.code),
            Err(Code::INTERNAL)
        );
    }
}
