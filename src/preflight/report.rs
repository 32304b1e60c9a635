//! The checklist `fn-runner preflight` prints: one line per check, a
//! status word in a column of its own, details and the fix indented below
//! it, and a closing count.
//!
//! ```text
//! ok    RBAC: get pods in porch-fn-system
//! FAIL  RBAC: watch pods in porch-fn-system: denied
//!       fix: add this rule to a Role in porch-fn-system bound to the runner's service account:
//!         - apiGroups: [""]
//!           resources: ["pods"]
//!           verbs: ["watch"]
//! warn  pod cache config /pod-cache-config/pod-cache-config.yaml does not exist: ...
//! skip  function pod template: --function-pod-template not given (the inline template is used)
//! preflight: 12 ok, 1 failed, 1 warning, 1 skipped
//! ```
//!
//! Only `FAIL` makes the exit code 1: a warning is what `serve` itself
//! would only log, a skip a check that does not apply to these flags.

use std::fmt;
use std::io::Write;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It holds.
    Ok,
    /// It does not: `serve` would fail, or its pods would.
    Fail,
    /// `serve` would only log a warning about it.
    Warn,
    /// It does not apply with these flags (or an earlier failure hides it).
    Skip,
}

impl Status {
    /// The word in the status column.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

/// One line of the checklist, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    /// What was checked and what was found, on one line.
    pub summary: String,
    /// Lines below the summary: the error's causes, what was seen.
    pub details: Vec<String>,
    /// What to change, for a failure or a warning (may span lines).
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(summary: impl Into<String>) -> Check {
        Check::new(Status::Ok, summary)
    }

    pub fn skip(summary: impl Into<String>) -> Check {
        Check::new(Status::Skip, summary)
    }

    pub fn warn(summary: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(Status::Warn, summary).with_fix(fix)
    }

    pub fn fail(summary: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(Status::Fail, summary).with_fix(fix)
    }

    fn new(status: Status, summary: impl Into<String>) -> Check {
        Check {
            status,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
        }
    }

    /// The same check with one more detail line.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Check {
        self.details.push(detail.into());
        self
    }

    fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Indentation of the lines under a summary: past the status column.
const BODY_INDENT: &str = "      ";

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<5} {}", self.status.word(), self.summary)?;
        for detail in &self.details {
            writeln!(f, "{BODY_INDENT}{detail}")?;
        }
        if let Some(fix) = &self.fix {
            let mut lines = fix.lines();
            if let Some(first) = lines.next() {
                writeln!(f, "{BODY_INDENT}fix: {first}")?;
            }
            for line in lines {
                writeln!(f, "{BODY_INDENT}  {line}")?;
            }
        }
        Ok(())
    }
}

/// The checks so far, printed as they come (a slow check shows where the
/// run stands).
pub(crate) struct Checklist<W: Write> {
    out: W,
    counts: [usize; 4],
}

impl<W: Write> Checklist<W> {
    pub fn new(out: W) -> Checklist<W> {
        Checklist {
            out,
            counts: [0; 4],
        }
    }

    /// Prints `check` and counts it.
    pub fn push(&mut self, check: Check) {
        self.counts[index(check.status)] += 1;
        // A closed stdout (`| head`) must not stop the checks; the exit
        // code still tells.
        let _ = write!(self.out, "{check}");
        let _ = self.out.flush();
    }

    /// How many checks came out `status`.
    pub fn count(&self, status: Status) -> usize {
        self.counts[index(status)]
    }

    /// Whether every check passed (warnings and skips allowed).
    pub(crate) fn all_passed(&self) -> bool {
        self.count(Status::Fail) == 0
    }

    /// Prints the closing count; gives the output back.
    pub fn finish(mut self) -> W {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let _ = writeln!(
            self.out,
            "preflight: {} ok, {} failed, {}, {} skipped",
            self.count(Status::Ok),
            self.count(Status::Fail),
            plural(self.count(Status::Warn), "warning", "warnings"),
            self.count(Status::Skip),
        );
        let _ = self.out.flush();
        self.out
    }
}

fn index(status: Status) -> usize {
    match status {
        Status::Ok => 0,
        Status::Fail => 1,
        Status::Warn => 2,
        Status::Skip => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_status_summary_details_and_fix() {
        let mut list = Checklist::new(Vec::new());
        list.push(Check::ok("RBAC: get pods in fns"));
        list.push(
            Check::fail("RBAC: watch pods in fns: denied", "add:\n- rule")
                .with_detail("reason: none"),
        );
        list.push(Check::warn("no file", "create it"));
        list.push(Check::skip("not used"));
        assert!(!list.all_passed());
        let text = String::from_utf8(list.finish()).expect("UTF-8");
        assert_eq!(
            text,
            "ok    RBAC: get pods in fns\n\
             FAIL  RBAC: watch pods in fns: denied\n\
             \x20     reason: none\n\
             \x20     fix: add:\n\
             \x20       - rule\n\
             warn  no file\n\
             \x20     fix: create it\n\
             skip  not used\n\
             preflight: 1 ok, 1 failed, 1 warning, 1 skipped\n"
        );
    }

    #[test]
    fn warnings_and_skips_pass() {
        let mut list = Checklist::new(Vec::new());
        list.push(Check::warn("w", "f"));
        list.push(Check::skip("s"));
        list.push(Check::ok("o"));
        assert!(list.all_passed());
    }
}
