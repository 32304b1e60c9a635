//! Rate-limited log lines (issue 11 item 8): what a peer can make us log is
//! bounded. A stream reset is worth a line at `-v 2` for an operator
//! reading why a call failed, but a peer resetting (or making us reset)
//! thousands of streams must not flood the log (it wrote 228 MB in 5 s):
//! reset lines spend a budget per connection ([`RESET_LOG_PER_CONNECTION`])
//! and one for the whole process ([`RESET_LOG_PER_PROCESS`]). Lines over a
//! budget are counted, and the count is written with the next line that
//! fits ("N earlier ... not logged") and when the connection ends. The
//! acceptor's lines (connections refused or closed at the connection
//! limit) have a [`LogBudget`] of their own.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use crate::h2::conn::{Connection, Initiator};
use crate::h2::frame::{ErrorCode, StreamId};
use crate::h2::limits::{Budget, BudgetConfig, RESET_LOG_PER_CONNECTION, RESET_LOG_PER_PROCESS};

/// A budget of log lines, and the count of lines it left out.
#[derive(Debug)]
pub(crate) struct LogBudget {
    budget: Budget,
    /// Lines not written since the last one that was.
    suppressed: u64,
}

impl LogBudget {
    pub(crate) fn new(config: BudgetConfig) -> LogBudget {
        LogBudget {
            budget: Budget::new(config),
            suppressed: 0,
        }
    }

    /// Whether one more line fits (and `also`, another budget the line
    /// must fit too, when this one has room): `Some` with the count of the
    /// lines left out before it, else `None` (and it is counted).
    pub(crate) fn admit(&mut self, also: impl FnOnce() -> bool) -> Option<u64> {
        if self.budget.spend().is_err() || !also() {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        Some(std::mem::take(&mut self.suppressed))
    }

    /// The lines left out since the last one written, and counts anew.
    pub(crate) fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

/// The tail of a rate-limited line: how many like it were left out.
pub(crate) fn not_logged(left_out: u64) -> String {
    if left_out == 0 {
        String::new()
    } else {
        format!(" ({left_out} more such lines not logged)")
    }
}

/// One connection's reset lines.
#[derive(Debug)]
pub(crate) struct ResetLog(LogBudget);

/// The log verbosity reset lines are written at (klog's `-v 2`, our default).
const LEVEL: u8 = 2;

impl ResetLog {
    pub(crate) fn new() -> ResetLog {
        ResetLog(LogBudget::new(RESET_LOG_PER_CONNECTION))
    }

    /// Logs that `stream_id` of `conn`, the connection with `peer`, was
    /// reset with `code`, if both budgets allow; else counts it. The
    /// resets of every stream when the connection itself fails or closes
    /// are not logged one by one: the connection's end is.
    pub(crate) fn reset(
        &mut self,
        conn: &Connection,
        peer: &str,
        stream_id: StreamId,
        code: ErrorCode,
        initiator: Initiator,
    ) {
        let by = match initiator {
            Initiator::Us => "by us",
            Initiator::Peer => "by the peer",
        };
        self.write(
            conn,
            format_args!("HTTP/2 stream {stream_id} of {peer} reset {by}: {code}"),
        );
    }

    /// [`reset`](Self::reset) by us, for a reason of ours (`why`).
    pub(crate) fn reset_because(
        &mut self,
        conn: &Connection,
        peer: &str,
        stream_id: StreamId,
        code: ErrorCode,
        why: &dyn fmt::Display,
    ) {
        self.write(
            conn,
            format_args!("HTTP/2 stream {stream_id} of {peer} reset by us: {code}: {why}"),
        );
    }

    fn write(&mut self, conn: &Connection, line: fmt::Arguments<'_>) {
        if conn.is_closed() || !crate::log::enabled(LEVEL) {
            return;
        }
        let Some(suppressed) = self.0.admit(spend_process_line) else {
            return;
        };
        if suppressed == 0 {
            crate::v!(LEVEL, "{line}");
        } else {
            crate::v!(
                LEVEL,
                "{line} ({suppressed} earlier resets on this connection not logged)"
            );
        }
    }

    /// The connection ended: the resets never logged are counted in a line.
    pub(crate) fn finish(&mut self, peer: &str) {
        let suppressed = self.0.take_suppressed();
        if suppressed > 0 {
            crate::v!(
                LEVEL,
                "HTTP/2 connection with {peer}: {suppressed} more stream resets not logged"
            );
        }
    }
}

/// Spends one line of the process-wide reset budget.
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
    fn counts_what_the_budget_does_not_allow() {
        let mut log = LogBudget::new(RESET_LOG_PER_CONNECTION);
        let burst = RESET_LOG_PER_CONNECTION.burst;
        let admitted = (0..burst + 5)
            .filter(|_| log.admit(|| true).is_some())
            .count();
        assert_eq!(admitted, usize::try_from(burst).expect("small"));
        assert_eq!(log.suppressed, 5);
        log.budget.refund(1);
        // The next line that fits carries the count.
        assert_eq!(log.admit(|| true), Some(5));
        // A line the other budget refuses is counted too.
        log.budget.refund(1);
        assert_eq!(log.admit(|| false), None);
        assert_eq!(log.take_suppressed(), 1);
    }
}
