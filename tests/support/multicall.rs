//! A temporary directory of symlinks to our binary under its multi-call
//! names (`server`, `grpc-health-probe`, `wrapper-server`), removed on drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::process::fn_runner_bin;

/// The names the binary answers to by argv[0] (compat §6).
pub const NAMES: [&str; 3] = ["server", "grpc-health-probe", "wrapper-server"];

/// A directory holding one symlink per multi-call name.
pub struct MultiCallDir {
    dir: PathBuf,
}

impl MultiCallDir {
    /// Creates a fresh directory with the symlinks.
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fn-runner-multicall-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        for name in NAMES {
            std::os::unix::fs::symlink(fn_runner_bin(), dir.join(name)).expect("symlink");
        }
        Self { dir }
    }

    /// The path of the symlink called `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for MultiCallDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
