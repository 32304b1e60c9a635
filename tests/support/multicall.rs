//! A temporary directory of symlinks to our binary under its multi-call
//! names (`server`, `grpc-health-probe`, `wrapper-server`, `cp`), removed on drop.

use std::path::{Path, PathBuf};

use super::process::fn_runner_bin;
use super::tempdir::TempDir;

/// The names the binary answers to by argv[0] (compat §6).
pub const NAMES: [&str; 4] = ["server", "grpc-health-probe", "wrapper-server", "cp"];

/// A directory holding one symlink per multi-call name.
pub struct MultiCallDir {
    dir: TempDir,
}

impl MultiCallDir {
    /// Creates a fresh directory with the symlinks.
    pub fn new() -> Self {
        let dir = TempDir::new("multicall");
        for name in NAMES {
            std::os::unix::fs::symlink(fn_runner_bin(), dir.path().join(name)).expect("symlink");
        }
        Self { dir }
    }

    /// The path of the symlink called `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
