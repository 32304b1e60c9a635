//! What a child process writes to a pipe (its stderr), captured line by
//! line by a thread as it comes, each line with its time, so that tests can
//! read it, search it, or wait (on a condition variable, with a timeout) for
//! a line to appear: "the runner noticed the pod was deleted".
//!
//! A line written by our binary starts with a klog header (`src/log.rs`:
//! `I1127 10:00:00.123456 ...`); its time is read from there (microseconds,
//! written by the process itself), else it is the time the line was read.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most lines kept per capture (our choice: far more than any test writes;
/// a runaway child must not grow the test process without bound). Later
/// lines are counted, not kept.
pub const MAX_LINES: usize = 200_000;

/// One line of output.
#[derive(Debug, Clone)]
pub struct Line {
    /// When it was written (klog header) or read (other lines).
    pub at: SystemTime,
    pub text: String,
}

/// The lines of one pipe, filled by a capture thread.
pub struct LogLines {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<Line>,
    dropped: usize,
    /// The writer closed the pipe (the process and its children exited).
    closed: bool,
}

/// Starts `cmd` with stdin and stdout on /dev/null and its stderr
/// captured: the child and its log.
pub fn spawn_logged(cmd: &mut std::process::Command) -> (std::process::Child, Arc<LogLines>) {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let log = LogLines::capture(child.stderr.take().expect("stderr"));
    (child, log)
}

impl LogLines {
    /// Reads `source` line by line on a new thread until end of file.
    pub fn capture(source: impl Read + Send + 'static) -> Arc<LogLines> {
        let log = Arc::new(LogLines {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(source).split(b'\n') {
                let Ok(bytes) = line else { break };
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let at = klog_time(&text, SystemTime::now()).unwrap_or_else(SystemTime::now);
                let mut state = sink.lock();
                if state.lines.len() < MAX_LINES {
                    state.lines.push(Line { at, text });
                } else {
                    state.dropped += 1;
                }
                drop(state);
                sink.changed.notify_all();
            }
            sink.lock().closed = true;
            sink.changed.notify_all();
        });
        log
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lock().lines.clone()
    }

    /// Every line so far, joined by newlines (for assertion messages).
    pub fn text(&self) -> String {
        let state = self.lock();
        let mut text = state
            .lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        if state.dropped > 0 {
            text.push_str(&format!("\n[{} more lines not kept]", state.dropped));
        }
        text
    }

    /// Whether a line so far contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lock().lines.iter().any(|l| l.text.contains(needle))
    }

    /// Whether the writer has closed the pipe.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waits up to `timeout` for a line (already there or still to come)
    /// for which `matches` holds; `None` when none came in time or the
    /// writer closed the pipe first.
    pub fn wait_for(&self, timeout: Duration, matches: impl Fn(&str) -> bool) -> Option<Line> {
        self.wait_for_from(0, timeout, matches)
    }

    /// Like [`wait_for`](Self::wait_for), looking only at lines from index
    /// `from` on (the [`len`](Self::len) taken before the awaited event).
    pub fn wait_for_from(
        &self,
        from: usize,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<Line> {
        self.wait_on(timeout, |state| {
            state
                .lines
                .iter()
                .skip(from)
                .find(|l| matches(&l.text))
                .cloned()
        })
    }

    /// Waits up to `timeout` until `done` holds for the lines so far
    /// (checked now and on every new line); false when it never did or
    /// the writer closed the pipe first.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Line]) -> bool) -> bool {
        self.wait_on(timeout, |state| done(&state.lines).then_some(()))
            .is_some()
    }

    /// How many lines were kept so far: a mark for [`wait_for_from`](Self::wait_for_from).
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Waits up to `timeout` for the writer to close the pipe.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        self.wait_on(timeout, |state| state.closed.then_some(()))
            .is_some()
    }

    /// Waits up to `timeout` (on the condition variable, woken by each new
    /// line and by the end of the pipe) for `check` to give a value;
    /// `None` on timeout, or once the pipe closed without one.
    fn wait_on<T>(&self, timeout: Duration, check: impl Fn(&State) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(found) = check(&state) {
                return Some(found);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// The time in a klog header (`Lmmdd hh:mm:ss.uuuuuu`, UTC, no year: the
/// year that puts it nearest before `now` plus a day of slack).
fn klog_time(line: &str, now: SystemTime) -> Option<SystemTime> {
    let b = line.as_bytes();
    if b.len() < 21 || !matches!(b[0], b'I' | b'W' | b'E' | b'F') {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = line.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if (b[5], b[8], b[11], b[14]) != (b' ', b':', b':', b'.') {
        return None;
    }
    let (month, day) = (num(1, 2)?, num(3, 2)?);
    let (h, m, s, micros) = (num(6, 2)?, num(9, 2)?, num(12, 2)?, num(15, 6)?);
    let now_secs = i64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    let year_now = civil_year(now_secs.div_euclid(86_400));
    let at = |year: i64| -> Option<SystemTime> {
        let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
        let micros = u64::try_from(secs).ok()? * 1_000_000 + u64::try_from(micros).ok()?;
        Some(UNIX_EPOCH + Duration::from_micros(micros))
    };
    let this_year = at(year_now)?;
    if this_year > now + Duration::from_secs(86_400) {
        at(year_now - 1)
    } else {
        Some(this_year)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_year(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_time_of_a_klog_header() {
        // 2026-03-01 12:00:00 UTC.
        let now = UNIX_EPOCH + Duration::from_secs(1_772_366_400);
        let at = klog_time("I0301 11:59:58.250000   12345 serve.rs:12] hi", now).expect("time");
        assert_eq!(
            now.duration_since(at).expect("before now"),
            Duration::from_millis(1750)
        );
        // A December line read in March is from the year before.
        let dec = klog_time("W1231 23:59:59.000000       1 x.rs:1] y", now).expect("time");
        assert_eq!(
            dec.duration_since(UNIX_EPOCH)
                .expect("after epoch")
                .as_secs(),
            1_767_225_599
        );
        assert!(klog_time("plain text line", now).is_none());
        assert!(klog_time("I03xx 11:59:58.250000 x", now).is_none());
    }
}
