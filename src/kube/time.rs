//! RFC 3339 timestamps as Kubernetes writes them (`2026-11-28T00:52:00Z`):
//! `creationTimestamp`, `deletionTimestamp`, an exec plugin's
//! `expirationTimestamp`. UTC only on output; any offset and fractional
//! seconds accepted on input.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::log::civil_from_days;

/// Formats `t` as `YYYY-MM-DDTHH:MM:SSZ` (seconds precision, like
/// `metav1.Time`). Times before 1970 are written as the epoch.
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parses an RFC 3339 date-time; `None` when malformed or before 1970.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        let part = s.get(from..to)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let off = rest.get(1..)?;
            if off.len() != 5 || off.as_bytes()[2] != b':' {
                return None;
            }
            let oh: i64 = off.get(0..2)?.parse().ok()?;
            let om: i64 = off.get(3..5)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d)?;
    let local = days
        .checked_mul(86_400)?
        .checked_add(h * 3600 + mi * 60 + se)?;
    let utc = i64::try_from(local).ok()?.checked_sub(offset_secs)?;
    let utc = u64::try_from(utc).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(utc))
}

// Howard Hinnant's days-from-civil algorithms, restricted to 1970..9999.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    if !(1970..=9999).contains(&y) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_known_instant() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_827_120);
        assert_eq!(format_rfc3339(t), "2026-11-28T00:52:00Z");
        assert_eq!(parse_rfc3339("2026-11-28T00:52:00Z"), Some(t));
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let t = parse_rfc3339("2026-11-28T00:52:00Z").expect("utc");
        assert_eq!(parse_rfc3339("2026-11-28T01:52:00.123456+01:00"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-27T23:52:00-01:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z").map(format_rfc3339),
            Some("2000-02-29T00:00:00Z".to_owned())
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "2026-11-28T00:52:00",
            "x026-11-28T00:52:00Z",
            "2026-11-28T00:52:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
