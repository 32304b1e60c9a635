//! klog-style log lines on stderr, the format Porch's Go runner writes and
//! log pipelines already parse:
//!
//! ```text
//! I1127 10:00:00.000000   12345 serve.rs:12] listening on 0.0.0.0:9445
//! ^^^^^ ^^^^^^^^^^^^^^^ ^^^^^^^ ^^^^^^^^^^^  ^ message
//! |     UTC time, µs    pid (width 7)  call site (file name only)
//! severity I/W/E/F + month and day
//! ```
//!
//! Use the macros, which capture the call site: `info!`, `warn!`,
//! `error!`, and `v!(level, ...)` for detail that only shows at
//! verbosity >= level (klog's `V(level).Info`). Verbosity is set once at
//! start by `main` ([`set_verbosity`]); `enabled(level)` guards costly
//! formatting. Each line is built in a buffer and written with one call
//! under stderr's lock, so lines from threads never interleave; a closed or
//! broken stderr is ignored, never a panic.
//!
//! The UTC date is computed here from `SystemTime` (days-to-civil), so no
//! date crate is needed; klog itself writes local time, which in a
//! container is UTC.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The verbosity `v!` compares against. Before `set_verbosity` it is 0:
/// info, warnings and errors show, `v!(1..)` does not.
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// How bad a line is: klog's first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Fatal,
}

impl Severity {
    fn letter(self) -> char {
        match self {
            Severity::Info => 'I',
            Severity::Warning => 'W',
            Severity::Error => 'E',
            Severity::Fatal => 'F',
        }
    }
}

/// Sets the verbosity (`--log-level`, `--verbosity`); call once at start.
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// The current verbosity.
pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// Whether `v!(level, ...)` lines are written.
pub fn enabled(level: u8) -> bool {
    level <= verbosity()
}

/// Writes one line; the macros call this. `file` is the call site's path
/// (`file!()`); only its last component is shown, as klog does.
#[doc(hidden)]
pub fn write(severity: Severity, file: &str, line: u32, message: fmt::Arguments<'_>) {
    let mut buf = String::with_capacity(128);
    format_line(
        &mut buf,
        severity,
        SystemTime::now(),
        std::process::id(),
        file,
        line,
        message,
    );
    let mut stderr = std::io::stderr().lock();
    // A closed stderr (EBADF) or a gone reader (EPIPE; Rust ignores
    // SIGPIPE) must not take the process down: logging is best effort.
    let _ = stderr.write_all(buf.as_bytes());
}

/// Formats one klog line into `buf`, newline included.
pub(crate) fn format_line(
    buf: &mut String,
    severity: Severity,
    now: SystemTime,
    pid: u32,
    file: &str,
    line: u32,
    message: fmt::Arguments<'_>,
) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let micros = since_epoch.subsec_micros();
    let (_, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let _ = write!(
        buf,
        "{}{:02}{:02} {:02}:{:02}:{:02}.{:06} {:>7} {}:{}] ",
        severity.letter(),
        month,
        day,
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        micros,
        pid,
        base,
        line
    );
    let _ = buf.write_fmt(message);
    if !buf.ends_with('\n') {
        buf.push('\n');
    }
}

/// Days since 1970-01-01 -> (year, month 1-12, day 1-31) in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`). Shared with
/// `kube::time`, which writes RFC 3339 timestamps.
pub(crate) fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + u64::from(month <= 2);
    // Both are bounded by the comments above.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// `info!("...", args)`: an `I` line, always written.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Severity::Info, file!(), line!(), format_args!($($arg)+))
    };
}

/// `warn!("...", args)`: a `W` line, always written.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Severity::Warning, file!(), line!(), format_args!($($arg)+))
    };
}

/// `error!("...", args)`: an `E` line, always written.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Severity::Error, file!(), line!(), format_args!($($arg)+))
    };
}

/// `v!(level, "...", args)`: an `I` line written only at verbosity >= level
/// (klog's `V(level).Infof`); the arguments are not formatted otherwise.
#[macro_export]
macro_rules! v {
    ($level:expr, $($arg:tt)+) => {
        if $crate::log::enabled($level) {
            $crate::log::write($crate::log::Severity::Info, file!(), line!(), format_args!($($arg)+))
        }
    };
}

/// An error and its causes on one line (`what: cause: cause`), for log
/// lines and for messages a caller sees whole; errors themselves keep
/// their causes in `source()`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(severity: Severity, at: SystemTime, msg: &str) -> String {
        let mut buf = String::new();
        format_line(
            &mut buf,
            severity,
            at,
            12345,
            "src/evaluator/exec.rs",
            12,
            format_args!("{msg}"),
        );
        buf
    }

    #[test]
    fn formats_a_klog_line() {
        // 2026-11-27 10:00:00.000042 UTC
        let at = UNIX_EPOCH + Duration::new(1_795_773_600, 42_999);
        assert_eq!(
            line(Severity::Info, at, "hello"),
            "I1127 10:00:00.000042   12345 exec.rs:12] hello\n"
        );
    }

    #[test]
    fn marks_each_severity() {
        let at = UNIX_EPOCH;
        assert!(line(Severity::Info, at, "x").starts_with("I0101 00:00:00.000000 "));
        assert!(line(Severity::Warning, at, "x").starts_with("W0101 "));
        assert!(line(Severity::Error, at, "x").starts_with("E0101 "));
        assert!(line(Severity::Fatal, at, "x").starts_with("F0101 "));
    }

    #[test]
    fn keeps_one_trailing_newline() {
        assert!(line(Severity::Info, UNIX_EPOCH, "a\n").ends_with("] a\n"));
        assert!(line(Severity::Info, UNIX_EPOCH, "a\nb").ends_with("] a\nb\n"));
    }

    #[test]
    fn pads_the_pid_like_klog() {
        let mut buf = String::new();
        format_line(
            &mut buf,
            Severity::Info,
            UNIX_EPOCH,
            1,
            "main.rs",
            3,
            format_args!("m"),
        );
        assert_eq!(buf, "I0101 00:00:00.000000       1 main.rs:3] m\n");
    }

    #[test]
    fn computes_utc_dates() {
        // (days since epoch, y, m, d): epoch, leap days, century rules.
        let cases = [
            (0, 1970, 1, 1),
            (59, 1970, 3, 1),
            (10_956, 1999, 12, 31),
            (11_016, 2000, 2, 29),
            (11_017, 2000, 3, 1),
            (19_782, 2024, 2, 29),
            (20_819, 2027, 1, 1),
            (47_541, 2100, 3, 1),
        ];
        for (days, y, m, d) in cases {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
        }
    }

    #[test]
    fn v_macro_expands_and_skips_formatting_when_disabled() {
        struct Explodes;
        impl fmt::Display for Explodes {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                panic!("formatted although disabled");
            }
        }
        // No test raises the verbosity to 255, so this line is off.
        crate::v!(u8::MAX, "{}", Explodes);
    }

    #[test]
    fn verbosity_gates_v_lines() {
        // Level 0 is always on: klog's V(0) is plain info.
        assert!(enabled(0));
        assert!(!enabled(u8::MAX) || verbosity() == u8::MAX);
    }
}
