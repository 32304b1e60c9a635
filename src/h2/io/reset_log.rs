//! Rate-limited log lines for stream resets (issue 11 item 8). Each reset
//! is worth a line at `-v 2` for an operator reading why a call failed, but
//! a peer resetting (or making us reset) thousands of streams must not
//! flood the log: lines spend a budget per connection
//! ([`RESET_LOG_PER_CONNECTION`]) and one for the whole process
//! ([`RESET_LOG_PER_PROCESS`]); lines over either are counted, and the
//! count is written with the next line that fits ("N more not logged") and
//! when the connection ends.

use std::sync::{Mutex, OnceLock};

use crate::h2::conn::Initiator;
use crate::h2::frame::{ErrorCode, StreamId};
use crate::h2::limits::{Budget, RESET_LOG_PER_CONNECTION, RESET_LOG_PER_PROCESS};

/// One connection's reset log state.
#[derive(Debug)]
pub(crate) struct ResetLog {
    budget: Budget,
    /// Resets not logged since the last line.
    suppressed: u64,
}

/// The log verbosity reset lines are written at (klog's `-v 2`, our default).
const LEVEL: u8 = 2;

impl ResetLog {
    pub(crate) fn new() -> ResetLog {
        ResetLog {
            budget: Budget::new(RESET_LOG_PER_CONNECTION),
            suppressed: 0,
        }
    }

    /// Logs that `stream_id` of the connection with `peer` was reset with
    /// `code`, if both budgets allow; else counts it.
    pub(crate) fn reset(
        &mut self,
        peer: &str,
        stream_id: StreamId,
        code: ErrorCode,
        initiator: Initiator,
    ) {
        if !crate::log::enabled(LEVEL) {
            return;
        }
        let Some(suppressed) = self.admit() else {
            return;
        };
        let by = match initiator {
            Initiator::Us => "by us",
            Initiator::Peer => "by the peer",
        };
        if suppressed == 0 {
            crate::v!(
                LEVEL,
                "HTTP/2 stream {stream_id} of {peer} reset {by}: {code}"
            );
        } else {
            crate::v!(
                LEVEL,
                "HTTP/2 stream {stream_id} of {peer} reset {by}: {code} ({suppressed} earlier resets on this connection not logged)"
            );
        }
    }

    /// Whether one more line fits both budgets: `Some` with the count of
    /// the lines left out before it, else `None` (and it is counted).
    fn admit(&mut self) -> Option<u64> {
        if self.budget.spend().is_err() || !spend_process_line() {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        Some(std::mem::take(&mut self.suppressed))
    }

    /// The connection ended: the resets never logged are counted in a line.
    pub(crate) fn finish(&mut self, peer: &str) {
        let suppressed = std::mem::take(&mut self.suppressed);
        if suppressed > 0 {
            crate::v!(
                LEVEL,
                "HTTP/2 connection with {peer}: {suppressed} more stream resets not logged"
            );
        }
    }
}

/// Spends one line of the process-wide budget.
fn spend_process_line() -> bool {
    static PROCESS: OnceLock<Mutex<Budget>> = OnceLock::new();
    let budget = PROCESS.get_or_init(|| Mutex::new(Budget::new(RESET_LOG_PER_PROCESS)));
    let mut budget = budget.lock().unwrap_or_else(|p| p.into_inner());
    budget.spend().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_the_connection_budget_does_not_allow() {
        let mut log = ResetLog::new();
        let burst = RESET_LOG_PER_CONNECTION.burst;
        let admitted = (0..burst + 5).filter(|_| log.admit().is_some()).count();
        assert!(
            admitted <= usize::try_from(burst).expect("small"),
            "{admitted}"
        );
        // The 5 over the connection's burst (and any the process budget,
        // shared with other tests, refused) were counted.
        assert!(log.suppressed >= 5, "{}", log.suppressed);
        log.budget.refund(1);
        // The next line that fits carries the count.
        if let Some(before) = log.admit() {
            assert!(before >= 5, "{before}");
        }
    }
}
