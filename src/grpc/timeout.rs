//! `grpc-timeout` (grpc/doc/PROTOCOL-HTTP2.md "Timeout"): at most 8 ASCII
//! digits and a unit H M S m u n.

use std::time::Duration;

/// Parses a `grpc-timeout` value; `None` when malformed.
pub fn decode(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    // The spec allows at most 8 digits, which also bounds the arithmetic.
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Encodes a timeout in the finest unit whose value fits 8 digits.
pub fn encode(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    for (unit, per) in [
        ('n', 1u128),
        ('u', 1_000),
        ('m', 1_000_000),
        ('S', 1_000_000_000),
        ('M', 60_000_000_000),
    ] {
        // Round up so a caller never gets less time than asked.
        let v = nanos.div_ceil(per);
        if v <= MAX {
            return format!("{v}{unit}");
        }
    }
    let hours = nanos.div_ceil(3_600_000_000_000).min(MAX);
    format!("{hours}H")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_units() {
        assert_eq!(decode(b"1S"), Some(Duration::from_secs(1)));
        assert_eq!(decode(b"250m"), Some(Duration::from_millis(250)));
        assert_eq!(decode(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(decode(b"99999999n"), Some(Duration::from_nanos(99_999_999)));
    }

    #[test]
    fn digits_limit_at_8_and_9() {
        assert!(decode(b"12345678S").is_some());
        assert!(decode(b"123456789S").is_none());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [&b""[..], b"S", b"1", b"1x", b"-1S", b"1.5S"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips() {
        for d in [
            Duration::from_millis(1500),
            Duration::from_secs(3600),
            Duration::from_nanos(7),
        ] {
            let back = decode(encode(d).as_bytes()).expect("valid");
            assert!(back >= d);
        }
    }
}
