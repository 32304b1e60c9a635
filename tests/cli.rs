//! The binary starts and exits.

use crate::support::process::fn_runner_bin;

#[test]
fn binary_runs() {
    let status = std::process::Command::new(fn_runner_bin())
        .status()
        .expect("run fn-runner");
    assert!(status.success());
}
