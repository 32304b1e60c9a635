//! The wrapper server's call log, read from its stderr: which calls a pod
//! served and when. `src/wrapper.rs` writes, per call,
//! `call N: evaluating "IMAGE", B bytes in` when it starts (verbosity 2, the
//! default) and `call N: evaluated "IMAGE" in D: OUTCOME` when it ends.

use std::time::SystemTime;

use crate::support::loglines::{Line, LogLines};

/// One call a wrapper server served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperCall {
    /// The wrapper's own call number (1, 2, ...).
    pub id: u64,
    pub image: String,
    pub started: SystemTime,
    /// `None` while it is in flight (or the wrapper died in it).
    pub ended: Option<SystemTime>,
    /// `ok, B bytes out`, `function failed`, `deadline exceeded`, ...
    pub outcome: Option<String>,
}

impl WrapperCall {
    /// Whether the call was in flight at `t`.
    pub fn in_flight_at(&self, t: SystemTime) -> bool {
        self.started <= t && self.ended.is_none_or(|end| t <= end)
    }
}

/// The calls in `log` so far, by call number.
pub fn calls(log: &LogLines) -> Vec<WrapperCall> {
    calls_in(&log.lines())
}

/// The calls in `lines`, by call number.
pub fn calls_in(lines: &[Line]) -> Vec<WrapperCall> {
    let mut calls: Vec<WrapperCall> = Vec::new();
    for line in lines {
        let Some((_, rest)) = line.text.split_once("] call ") else {
            continue;
        };
        let Some((id, event)) = rest.split_once(": ") else {
            continue;
        };
        let Ok(id) = id.parse::<u64>() else { continue };
        if let Some(rest) = event.strip_prefix("evaluating ") {
            calls.push(WrapperCall {
                id,
                image: quoted(rest).unwrap_or_default(),
                started: line.at,
                ended: None,
                outcome: None,
            });
        } else if let Some(rest) = event.strip_prefix("evaluated ") {
            let outcome = rest.split_once(": ").map(|(_, o)| o.to_owned());
            match calls.iter_mut().find(|c| c.id == id) {
                Some(call) => {
                    call.ended = Some(line.at);
                    call.outcome = outcome;
                }
                // The start line is not written below verbosity 2.
                None => calls.push(WrapperCall {
                    id,
                    image: quoted(rest).unwrap_or_default(),
                    started: line.at,
                    ended: Some(line.at),
                    outcome,
                }),
            }
        }
    }
    calls.sort_by_key(|c| c.id);
    calls
}

/// The text between the first pair of double quotes (image references
/// hold no quote or backslash, so Rust's `{:?}` leaves them as they are).
fn quoted(text: &str) -> Option<String> {
    let rest = text.strip_prefix('"')?;
    rest.split_once('"').map(|(inner, _)| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_start_and_end_lines() {
        let (reader, mut writer) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let log = LogLines::capture(reader);
        use std::io::Write as _;
        writer
            .write_all(
                b"I0301 11:00:00.000000       7 wrapper.rs:1] wrapper-server serving 127.1.0.1:9446\n\
                  I0301 11:00:01.000000       7 wrapper.rs:1] call 1: evaluating \"r/fn:v1\", 10 bytes in\n\
                  I0301 11:00:01.500000       7 wrapper.rs:1] call 2: evaluating \"r/fn:v1\", 10 bytes in\n\
                  I0301 11:00:02.000000       7 wrapper.rs:2] call 1: evaluated \"r/fn:v1\" in 1s: ok, 5 bytes out\n",
            )
            .expect("write");
        drop(writer);
        assert!(log.wait_closed(std::time::Duration::from_secs(10)));
        let calls = calls(&log);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].image, "r/fn:v1");
        assert_eq!(calls[0].outcome.as_deref(), Some("ok, 5 bytes out"));
        let middle = calls[0].started + std::time::Duration::from_millis(500);
        assert!(calls[0].in_flight_at(middle));
        assert!(!calls[0].in_flight_at(middle + std::time::Duration::from_secs(1)));
        assert_eq!(calls[1].ended, None, "still in flight");
        assert!(calls[1].in_flight_at(middle + std::time::Duration::from_secs(60)));
    }
}
