//! Starting and stopping processes that tests need (our binary, peers).

use std::path::PathBuf;

/// Path of the `fn-runner` binary cargo built for this test run.
pub fn fn_runner_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fn-runner"))
}

/// The Python interpreter of the venv that `tests/run.sh` prepared, with
/// grpcio installed. Fails (never skips) when it is missing.
pub fn python() -> PathBuf {
    let path = std::env::var_os("FN_RUNNER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python")));
    assert!(
        path.exists(),
        "no Python with grpcio at {}: run the tests through tests/run.sh",
        path.display()
    );
    path
}
