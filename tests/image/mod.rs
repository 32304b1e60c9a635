//! The image without Docker (issue 15, "Prove it"): the Dockerfile's paths
//! against what the binary dispatches on and what the runner writes into
//! function pods (`src/image_layout.rs`), the catalog-functions stage, the
//! `cp` name, and the static binary run in an empty root.

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod cp;
mod dockerfile;
mod functions;
mod layout;
mod pod;
mod smoke;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `program ARGS` with stdin closed.
fn run<S: AsRef<std::ffi::OsStr>>(program: &Path, args: &[S]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

pub use crate::support::image::in_root;
