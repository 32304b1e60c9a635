//! The image's file tree without Docker: `image/layout.sh` run on a binary
//! (what the Dockerfile does in its build stage), the static build of the
//! binary the smoke test runs in an empty root, a static test function, and
//! [`ImageRoot`]: an empty root holding the image's files, to `chroot` into.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::registry::run;
use super::tempdir::TempDir;

/// distroless/static's PATH (its image config): where `cp` is looked up.
pub const DISTROLESS_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An empty root with the image's own files (`image/layout.sh` on the
/// static binary), or with nothing ([`ImageRoot::empty`], for another
/// image's files): nothing of the host's /etc, /usr, /lib, no /proc, /dev
/// or /tmp. Programs run in it with `chroot` (the tests run as root, as CI
/// does), with a cleared environment and distroless's PATH. Removed on drop.
pub struct ImageRoot {
    dir: TempDir,
}

impl ImageRoot {
    /// A root holding the fn-runner image's files.
    pub fn new(label: &str) -> ImageRoot {
        let root = ImageRoot::empty(label);
        lay_out(&static_binary(), root.path());
        root.assert_holds_nothing_of_the_host();
        root
    }

    /// A root holding nothing yet (readable by anyone, as an image's `/`).
    pub fn empty(label: &str) -> ImageRoot {
        let dir = TempDir::new(label);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod root");
        ImageRoot { dir }
    }

    /// The root on the host.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the absolute image path `path` is on the host.
    pub fn host_path(&self, path: &str) -> PathBuf {
        in_root(self.path(), path)
    }

    pub fn assert_holds_nothing_of_the_host(&self) {
        for dir in ["etc", "usr", "lib", "lib64", "proc", "dev", "tmp"] {
            assert!(!self.path().join(dir).exists(), "/{dir} in the empty root");
        }
    }

    /// Writes `bytes` at the absolute image path `path` (parents created),
    /// readable by anyone, as a mounted Secret is.
    pub fn put(&self, path: &str, bytes: &[u8]) {
        let host = self.host_path(path);
        let parent = host.parent().expect("parent");
        std::fs::create_dir_all(parent).expect("dirs");
        std::fs::write(&host, bytes).expect("write");
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    }

    /// `chroot --userspec=USER ROOT PROGRAM ARGS...` with only PATH set.
    pub fn command(&self, user: &str, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(format!("--userspec={user}"))
            .arg(self.path())
            .arg(program)
            .args(args)
            .env_clear()
            .env("PATH", DISTROLESS_PATH);
        cmd
    }

    /// Runs [`command`](Self::command) with stdin closed.
    pub fn run(&self, user: &str, program: &str, args: &[&str]) -> Output {
        self.command(user, program, args)
            .stdin(Stdio::null())
            .output()
            .expect("run chroot (tests/run.sh runs the tests as root)")
    }
}

/// `root` + an absolute image path.
pub fn in_root(root: &Path, image_path: &str) -> PathBuf {
    root.join(image_path.trim_start_matches('/'))
}

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
