//! Go's `strconv.ParseBool` and `strconv.ParseInt(s, 0, 64)`: the value
//! syntax of Go's `flag.Bool` and `flag.Int` (compat §1), so `--port=0x24d5`,
//! `--max-request-body-size=6_291_456` and `--warm-up-pod-cache=F` mean
//! what they meant to the Go runner. Ported from Go 1.19
//! `src/strconv/atob.go` and `atoi.go`.

use std::error::Error as StdError;
use std::fmt;

/// Why a number or bool did not parse (Go's `strconv.ErrSyntax` / `ErrRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not a number (or bool) in Go's syntax.
    Syntax,
    /// Beyond the 64-bit range.
    Range,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Syntax => "invalid syntax",
            Error::Range => "value out of range",
        })
    }
}

impl StdError for Error {}

/// Go's `strconv.ParseBool`: 1 t T TRUE true True / 0 f F FALSE false False.
pub(crate) fn parse_bool(s: &[u8]) -> Result<bool, Error> {
    match s {
        b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Ok(true),
        b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Ok(false),
        _ => Err(Error::Syntax),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then a base prefix
/// (`0x`, `0o`, `0b`, or a bare leading `0` for octal) and `_` separators.
pub(crate) fn parse_int(s: &[u8]) -> Result<i64, Error> {
    let (neg, unsigned) = match s.split_first() {
        None => return Err(Error::Syntax),
        Some((b'+', rest)) => (false, rest),
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, s),
    };
    let magnitude = parse_uint(unsigned)?;
    const CUTOFF: u64 = 1 << 63;
    if neg {
        if magnitude > CUTOFF {
            return Err(Error::Range);
        }
        Ok(0i64.wrapping_sub_unsigned(magnitude))
    } else {
        i64::try_from(magnitude).map_err(|_| Error::Range)
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn parse_uint(s0: &[u8]) -> Result<u64, Error> {
    if s0.is_empty() {
        return Err(Error::Syntax);
    }
    let mut base = 10u64;
    let mut s = s0;
    if s0[0] == b'0' {
        let prefix = s0.get(1).map(u8::to_ascii_lowercase);
        match prefix {
            Some(b'b') if s0.len() >= 3 => (base, s) = (2, &s0[2..]),
            Some(b'o') if s0.len() >= 3 => (base, s) = (8, &s0[2..]),
            Some(b'x') if s0.len() >= 3 => (base, s) = (16, &s0[2..]),
            _ => (base, s) = (8, &s0[1..]),
        }
    }
    let mut underscores = false;
    let mut n: u64 = 0;
    for &c in s {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let digit = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' => u64::from(c - b'a') + 10,
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => return Err(Error::Syntax),
        };
        if digit >= base {
            return Err(Error::Syntax);
        }
        n = n
            .checked_mul(base)
            .and_then(|n| n.checked_add(digit))
            .ok_or(Error::Range)?;
    }
    if underscores && !underscore_ok(s0) {
        return Err(Error::Syntax);
    }
    Ok(n)
}

/// Go's `underscoreOK`: `_` only between digits, or after a base prefix.
fn underscore_ok(s: &[u8]) -> bool {
    // saw: b'^' start, b'0' digit or prefix, b'_' underscore, b'!' other.
    let mut saw = b'^';
    let s = match s.first() {
        Some(b'-' | b'+') => &s[1..],
        _ => s,
    };
    let mut hex = false;
    let mut i = 0;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_go_bool_spelling() {
        for s in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(s.as_bytes()), Ok(true), "{s}");
        }
        for s in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(s.as_bytes()), Ok(false), "{s}");
        }
        for s in ["", "yes", "tRUE", "no", "2", " true"] {
            assert_eq!(parse_bool(s.as_bytes()), Err(Error::Syntax), "{s}");
        }
    }

    /// Cases from Go 1.19 `src/strconv/atoi_test.go` (`parseInt64BaseTests`
    /// with base 0, and `parseInt64Tests`).
    #[test]
    fn parses_go_int_tests() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("+0", 0),
            ("1", 1),
            ("-1", -1),
            ("+1", 1),
            ("12345", 12345),
            ("-12345", -12345),
            ("012345", 0o12345),
            ("-012345", -0o12345),
            ("0x12345", 0x12345),
            ("-0X12345", -0x12345),
            ("0b101", 5),
            ("0B101", 5),
            ("0o17", 15),
            ("0O17", 15),
            ("1_2_3_4_5", 12345),
            ("-1_2_3_4_5", -12345),
            ("0x_1_2_3_4_5", 0x12345),
            ("0_1_2_3_4_5", 0o12345),
            ("-0_1_2_3_4_5", -0o12345),
            ("0b_1_0_1", 5),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("0x7fffffffffffffff", i64::MAX),
            ("6291456", 6_291_456),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_int(s.as_bytes()), Ok(want), "{s}");
        }
        let bad: &[(&str, Error)] = &[
            ("", Error::Syntax),
            ("-", Error::Syntax),
            ("+", Error::Syntax),
            ("12345x", Error::Syntax),
            ("-12345x", Error::Syntax),
            ("08", Error::Syntax),
            ("0x", Error::Syntax),
            ("0b2", Error::Syntax),
            ("1__2", Error::Syntax),
            ("_12", Error::Syntax),
            ("12_", Error::Syntax),
            ("0x_", Error::Syntax),
            ("0_x12", Error::Syntax),
            (" 1", Error::Syntax),
            ("9223372036854775808", Error::Range),
            ("-9223372036854775809", Error::Range),
            ("18446744073709551616", Error::Range),
        ];
        for &(s, want) in bad {
            assert_eq!(parse_int(s.as_bytes()), Err(want), "{s}");
        }
    }
}
