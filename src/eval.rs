//! `fn-runner eval`: sends one EvaluateFunction call, like Porch's test client. Work in progress.

use crate::flags::EvalSettings;

/// Sends the call; returns the process exit code (0 ok, 1 failure).
pub fn run(_settings: &EvalSettings) -> u8 {
    1
}
