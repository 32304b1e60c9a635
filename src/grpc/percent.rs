//! Percent-encoding of `grpc-message` (grpc/doc/PROTOCOL-HTTP2.md
//! "Responses"): bytes outside 0x20..=0x7E and '%' are sent as %XX.

/// Percent-encodes a status message.
pub fn encode(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(hex(b >> 4));
            out.push(hex(b & 0xf));
        }
    }
    out
}

/// Decodes a status message; malformed escapes are kept as they are (the
/// spec asks receivers not to fail on them).
pub fn decode(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                value.get(i + 1).and_then(unhex),
                value.get(i + 2).and_then(unhex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(n: u8) -> u8 {
    b"0123456789ABCDEF"
        .get(usize::from(n))
        .copied()
        .unwrap_or(b'0')
}

fn unhex(b: &u8) -> Option<u8> {
    char::from(*b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_non_ascii_and_percent() {
        let msg = "Failed to execute \"img\": 100% ✗\n";
        let enc = encode(msg);
        assert!(enc.iter().all(|b| (0x20..=0x7e).contains(b)));
        assert_eq!(decode(&enc), msg);
    }

    #[test]
    fn keeps_malformed_escapes() {
        assert_eq!(decode(b"50%zz%4"), "50%zz%4");
    }
}
