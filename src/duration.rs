//! Go's `time.ParseDuration`, byte for byte. Every duration flag takes Go
//! syntax (compat §1: Deployments written for the Go runner pass them), and
//! so do the TTLs of the pod-cache-config file (compat §4.6), so this lives
//! at the crate root, not in `flags`.
//!
//! Grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0` alone; units `ns`,
//! `us`, `µs` (U+00B5), `μs` (U+03BC), `ms`, `s`, `m`, `h`. The value is a
//! signed count of nanoseconds that must fit an `i64` (Go's
//! `time.Duration`); anything larger is an error, never a wrap. Ported from
//! Go 1.19 `src/time/format.go`; the tests are Go's own
//! `parseDurationTests` / `parseDurationErrorTests` from `time_test.go`.

use std::error::Error as StdError;
use std::fmt;

/// A Go `time.Duration`: signed nanoseconds.
pub(crate) type Nanos = i64;

/// Why a duration did not parse; `Display` gives Go's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    /// The whole input, as given.
    input: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Bad syntax or a value beyond ±2^63 ns.
    Invalid,
    /// A number without a unit (`"3"`, `"1h30"`).
    MissingUnit,
    /// A unit outside ns/us/µs/μs/ms/s/m/h (`"1d"`).
    UnknownUnit(Vec<u8>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Invalid => write!(f, "time: invalid duration {}", quote(&self.input)),
            Kind::MissingUnit => write!(f, "time: missing unit in duration {}", quote(&self.input)),
            Kind::UnknownUnit(unit) => write!(
                f,
                "time: unknown unit {} in duration {}",
                quote(unit),
                quote(&self.input)
            ),
        }
    }
}

impl StdError for Error {}

/// Parses `s` exactly like Go's `time.ParseDuration`.
pub fn parse(input: &[u8]) -> Result<Nanos, Error> {
    let fail = |kind| Error {
        kind,
        input: input.to_vec(),
    };
    let mut s = input;
    let mut neg = false;
    if let Some((&c, rest)) = s.split_first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = rest;
        }
    }
    // Special case: if all that is left is "0", this is zero.
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(fail(Kind::Invalid));
    }
    const LIMIT: u64 = 1 << 63;
    let mut d: u64 = 0;
    while let Some(&first) = s.first() {
        // The next character must be [0-9.]
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(fail(Kind::Invalid));
        }
        // Consume [0-9]*
        let before = s.len();
        let (mut v, rest) = leading_int(s).ok_or_else(|| fail(Kind::Invalid))?;
        s = rest;
        let pre = before != s.len();

        // Consume (\.[0-9]*)?
        let mut post = false;
        let (mut f, mut scale) = (0u64, 1f64);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let before = s.len();
            let (frac, sc, rest) = leading_fraction(s);
            (f, scale, s) = (frac, sc, rest);
            post = before != s.len();
        }
        if !pre && !post {
            // No digits (e.g. ".s" or "-.s").
            return Err(fail(Kind::Invalid));
        }

        // Consume the unit: everything up to the next digit or '.'.
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(fail(Kind::MissingUnit));
        }
        let (unit_text, rest) = s.split_at(unit_len);
        s = rest;
        let unit =
            unit_nanos(unit_text).ok_or_else(|| fail(Kind::UnknownUnit(unit_text.to_vec())))?;
        if v > LIMIT / unit {
            return Err(fail(Kind::Invalid));
        }
        v *= unit;
        if f > 0 {
            // float64 is needed to be nanosecond accurate for fractions of
            // hours; f*unit/scale <= 3.6e12, so the cast cannot overflow.
            // Go truncates the same float64 product.
            let extra = (f as f64 * (unit as f64 / scale)) as u64;
            v += extra;
            if v > LIMIT {
                return Err(fail(Kind::Invalid));
            }
        }
        d += v;
        if d > LIMIT {
            return Err(fail(Kind::Invalid));
        }
    }
    if neg {
        // d <= 2^63 here, so -d fits (2^63 itself is i64::MIN).
        return Ok(0i64.wrapping_sub_unsigned(d));
    }
    i64::try_from(d).map_err(|_| fail(Kind::Invalid))
}

/// Consumes the leading `[0-9]*`; `None` on overflow past 2^63.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Consumes the leading `[0-9]*` of a fraction; past 2^63 it stops adding
/// precision instead of failing (Go issue 6617).
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let mut x: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        i += 1;
        if overflow {
            continue;
        }
        if x > ((1u64 << 63) - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > 1 << 63 {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[i..])
}

fn unit_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        // "µs" (U+00B5) and "μs" (U+03BC) in UTF-8.
        b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60 * 1_000_000_000,
        b"h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Go's `time.quote`: printable ASCII as is, `"` and `\` escaped, every
/// other byte as `\xNN`.
fn quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s {
        if !(0x20..0x80).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(char::from(b));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const SEC: i64 = 1_000_000_000;
    const MIN: i64 = 60 * SEC;
    const HOUR: i64 = 60 * MIN;

    /// Go 1.19 `src/time/time_test.go` `parseDurationTests`, verbatim.
    const GO_PARSE_DURATION_TESTS: &[(&str, i64)] = &[
        // simple
        ("0", 0),
        ("5s", 5 * SEC),
        ("30s", 30 * SEC),
        ("1478s", 1478 * SEC),
        // sign
        ("-5s", -5 * SEC),
        ("+5s", 5 * SEC),
        ("-0", 0),
        ("+0", 0),
        // decimal
        ("5.0s", 5 * SEC),
        ("5.6s", 5 * SEC + 600 * MS),
        ("5.s", 5 * SEC),
        (".5s", 500 * MS),
        ("1.0s", SEC),
        ("1.00s", SEC),
        ("1.004s", SEC + 4 * MS),
        ("1.0040s", SEC + 4 * MS),
        ("100.00100s", 100 * SEC + MS),
        // different units
        ("10ns", 10 * NS),
        ("11us", 11 * US),
        ("12µs", 12 * US), // U+00B5
        ("12μs", 12 * US), // U+03BC
        ("13ms", 13 * MS),
        ("14s", 14 * SEC),
        ("15m", 15 * MIN),
        ("16h", 16 * HOUR),
        // composite durations
        ("3h30m", 3 * HOUR + 30 * MIN),
        ("10.5s4m", 4 * MIN + 10 * SEC + 500 * MS),
        ("-2m3.4s", -(2 * MIN + 3 * SEC + 400 * MS)),
        (
            "1h2m3s4ms5us6ns",
            HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US + 6 * NS,
        ),
        ("39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425 * MS),
        // large value
        ("52763797000ns", 52_763_797_000 * NS),
        // more than 9 digits after decimal point, see https://golang.org/issue/6617
        ("0.3333333333333333333h", 20 * MIN),
        // 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
        ("9007199254740993ns", (1 << 53) + 1),
        // largest duration that can be represented by int64 in nanoseconds
        ("9223372036854775807ns", i64::MAX),
        ("9223372036854775.807us", i64::MAX),
        ("9223372036s854ms775us807ns", i64::MAX),
        ("-9223372036854775808ns", i64::MIN),
        ("-9223372036854775.808us", i64::MIN),
        ("-9223372036s854ms775us808ns", i64::MIN),
        // largest negative value
        ("-9223372036854775808ns", i64::MIN),
        // largest negative round trip value, see https://golang.org/issue/48629
        ("-2562047h47m16.854775808s", i64::MIN),
        // huge string; issue 15011.
        ("0.100000000000000000000h", 6 * MIN),
        // This value tests the first overflow check in leadingFraction.
        (
            "0.830103483285477580700h",
            49 * MIN + 48 * SEC + 372_539_827 * NS,
        ),
    ];

    /// Go 1.19 `parseDurationErrorTests`: input and a part of the message.
    const GO_PARSE_DURATION_ERROR_TESTS: &[(&[u8], &str)] = &[
        // invalid
        (b"", r#""""#),
        (b"3", r#""3""#),
        (b"-", r#""-""#),
        (b"s", r#""s""#),
        (b".", r#"".""#),
        (b"-.", r#""-.""#),
        (b".s", r#"".s""#),
        (b"+.s", r#""+.s""#),
        (b"1d", r#""1d""#),
        (b"\x85\x85", r#""\x85\x85""#),
        (b"\xffff", r#""\xffff""#),
        (b"hello \xffff world", r#""hello \xffff world""#),
        ("\u{FFFD}".as_bytes(), r#""\xef\xbf\xbd""#),
        (
            "\u{FFFD} hello \u{FFFD} world".as_bytes(),
            r#""\xef\xbf\xbd hello \xef\xbf\xbd world""#,
        ),
        // overflow
        (b"9223372036854775810ns", r#""9223372036854775810ns""#),
        (b"9223372036854775808ns", r#""9223372036854775808ns""#),
        (b"-9223372036854775809ns", r#""-9223372036854775809ns""#),
        (b"9223372036854776us", r#""9223372036854776us""#),
        (b"3000000h", r#""3000000h""#),
        (b"9223372036854775.808us", r#""9223372036854775.808us""#),
        (
            b"9223372036854ms775us808ns",
            r#""9223372036854ms775us808ns""#,
        ),
    ];

    #[test]
    fn parses_go_parse_duration_tests() {
        for &(input, want) in GO_PARSE_DURATION_TESTS {
            assert_eq!(parse(input.as_bytes()), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn rejects_go_parse_duration_error_tests() {
        for &(input, expect) in GO_PARSE_DURATION_ERROR_TESTS {
            let err = parse(input).expect_err("must fail");
            let text = err.to_string();
            assert!(
                text.contains(expect),
                "{input:?}: {text:?} lacks {expect:?}"
            );
        }
    }

    #[test]
    fn gives_go_messages() {
        let msg = |s: &str| parse(s.as_bytes()).expect_err("must fail").to_string();
        assert_eq!(msg("1d"), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(msg("3"), r#"time: missing unit in duration "3""#);
        assert_eq!(msg("1h30"), r#"time: missing unit in duration "1h30""#);
        assert_eq!(msg("x"), r#"time: invalid duration "x""#);
        assert_eq!(msg("a\"b"), r#"time: invalid duration "a\"b""#);
    }

    #[test]
    fn parses_the_brief_examples() {
        assert_eq!(parse(b"300ms"), Ok(300 * MS));
        assert_eq!(parse(b"-1.5h"), Ok(-(HOUR + 30 * MIN)));
        assert_eq!(parse(b"2h45m"), Ok(2 * HOUR + 45 * MIN));
        assert_eq!(parse(b"1h0m0.5s"), Ok(HOUR + 500 * MS));
        assert_eq!(parse(b"30m"), Ok(30 * MIN));
    }

    #[test]
    fn never_panics_on_prefixes_of_valid_input() {
        let input = "-2562047h47m16.854775808sµs".as_bytes();
        for end in 0..=input.len() {
            let _ = parse(&input[..end]);
        }
    }
}
