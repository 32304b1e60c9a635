//! `fn-runner health-probe` / `grpc-health-probe` (compat §1). Work in progress.

use crate::flags::ProbeSettings;

/// Probes once; returns the exit code of compat §1 (0 SERVING, 1 bad
/// arguments, 2 connection failure, 3 RPC failure, 4 not SERVING).
pub fn run(_settings: &ProbeSettings) -> u8 {
    2
}
