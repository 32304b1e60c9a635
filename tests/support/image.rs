//! The image's file tree without Docker: `image/layout.sh` run on a binary
//! (what the Dockerfile does in its build stage), the static build of the
//! binary the smoke test runs in an empty root, and a static test function.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::registry::run;

/// The repository's root (where the Dockerfile is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `image/layout.sh BINARY ROOT`: the image's own files under `root`.
pub fn lay_out(binary: &Path, root: &Path) {
    run(Command::new(repo().join("image/layout.sh"))
        .arg(binary)
        .arg(root));
}

/// The static target of the smoke test: glibc's, since the musl target
/// cannot be installed here (the image itself is built for musl).
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// `fn-runner` built with `-C target-feature=+crt-static` (dev profile),
/// in its own target directory so that the normal build is not redone;
/// built once per test process (a no-op when it is up to date).
pub fn static_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target_dir = repo().join("target/static");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            run(Command::new(cargo)
                .current_dir(repo())
                .args(["build", "--quiet", "--locked", "--bin", "fn-runner"])
                .args(["--target", STATIC_TARGET])
                .arg("--target-dir")
                .arg(&target_dir)
                // With --target, RUSTFLAGS reach only the target's crates,
                // not build scripts or proc macros (which stay dynamic).
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("CARGO_TARGET_DIR"));
            target_dir.join(STATIC_TARGET).join("debug/fn-runner")
        })
        .clone()
}

/// Compiles `testdata/static-function.rs` (echoes the ResourceList, logs
/// its size) into a static executable at `out`.
pub fn static_function(out: &Path) {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    run(Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "opt-level=1",
        ])
        .args(["--target", STATIC_TARGET])
        .arg(repo().join("testdata/static-function.rs"))
        .arg("-o")
        .arg(out));
}
