//! `image/layout.sh` (the Dockerfile's build stage) against
//! `src/image_layout.rs` and the binary's dispatch: every path Porch calls
//! exists, reaches the one binary through relative symlinks, and selects the
//! right mode; the init container's copy gives a working function pod.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use fn_runner::image_layout as layout;

use super::{in_root, run, stderr, stdout};
use crate::support::exec::RunnerProcess;
use crate::support::image::lay_out;
use crate::support::process::fn_runner_bin;
use crate::support::tempdir::TempDir;

/// What each mode prints as the second line of its `-h` (its summary), or
/// `cp`'s first line.
const SERVE: &str = "Run the function runner gRPC server (Porch's /server).";
const PROBE: &str = "Check a gRPC server's health (grpc-health-probe).";
const WRAPPER: &str = "Serve one function inside its pod (Porch's wrapper-server).";
const CP: &str = "Usage: cp -a SOURCE DEST";

/// Every path the image must answer at, and the mode it must select.
fn entry_points() -> Vec<(String, &'static str)> {
    let join = |dir: &str, name: &str| format!("{dir}/{name}");
    vec![
        (layout::SERVER.to_owned(), SERVE),
        (layout::HEALTH_PROBE.to_owned(), PROBE),
        (layout::NONROOT_SERVER.to_owned(), SERVE),
        (layout::NONROOT_HEALTH_PROBE.to_owned(), PROBE),
        (
            join(layout::WRAPPER_SERVER_DIR, layout::WRAPPER_SERVER_NAME),
            WRAPPER,
        ),
        (
            join(layout::WRAPPER_SERVER_DIR, layout::HEALTH_PROBE_NAME),
            PROBE,
        ),
        (
            join(
                layout::NONROOT_WRAPPER_SERVER_DIR,
                layout::WRAPPER_SERVER_NAME,
            ),
            WRAPPER,
        ),
        (
            join(
                layout::NONROOT_WRAPPER_SERVER_DIR,
                layout::HEALTH_PROBE_NAME,
            ),
            PROBE,
        ),
        (layout::CP.to_owned(), CP),
    ]
}

/// Every symlink under `dir` is relative (so it resolves under any root
/// and survives `cp -a` into a pod); returns how many regular files there are.
fn check_tree(dir: &Path) -> usize {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).expect("read link");
            assert!(
                target.is_relative(),
                "{} -> {} is absolute",
                path.display(),
                target.display()
            );
        } else if meta.is_dir() {
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o755,
                "{}",
                path.display()
            );
            files += check_tree(&path);
        } else {
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o755,
                "{}",
                path.display()
            );
            files += 1;
        }
    }
    files
}

#[test]
fn every_path_porch_calls_reaches_the_binary_and_selects_its_mode() {
    let root = TempDir::new("image-layout");
    lay_out(&fn_runner_bin(), root.path());
    assert_eq!(
        check_tree(root.path()),
        1,
        "one binary, everything else a link"
    );
    let binary = std::fs::canonicalize(in_root(
        root.path(),
        &format!(
            "{}/{}",
            layout::WRAPPER_SERVER_DIR,
            layout::WRAPPER_SERVER_NAME
        ),
    ))
    .expect("the binary");
    for (path, summary) in entry_points() {
        let host = in_root(root.path(), &path);
        assert_eq!(
            std::fs::canonicalize(&host).unwrap_or_else(|e| panic!("{path}: {e}")),
            binary,
            "{path}"
        );
        let out = run(&host, &["--help"]);
        assert_eq!(out.status.code(), Some(0), "{path}: {}", stderr(&out));
        let text = stdout(&out);
        let mut lines = text.lines();
        let (first, second) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        assert!(
            first == summary || second == summary,
            "{path} is not {summary:?}:\n{text}"
        );
    }
    // Newer Porch's --config and --functions lead to the same files.
    std::fs::write(in_root(root.path(), layout::CONFIG), "functions: []\n").expect("config");
    std::fs::create_dir(in_root(root.path(), layout::FUNCTIONS)).expect("functions");
    for (nonroot, path) in [
        (layout::NONROOT_CONFIG, layout::CONFIG),
        (layout::NONROOT_FUNCTIONS, layout::FUNCTIONS),
    ] {
        assert_eq!(
            std::fs::canonicalize(in_root(root.path(), nonroot)).expect(nonroot),
            std::fs::canonicalize(in_root(root.path(), path)).expect(path),
        );
    }
}

#[test]
fn the_init_containers_copy_gives_a_working_function_pod() {
    let root = TempDir::new("image-layout");
    lay_out(&fn_runner_bin(), root.path());
    let pod = TempDir::new("function-pod");
    // Both releases' copies: v4's /wrapper-server/. and newer /home/nonroot/wrapper-server/.
    for (from, tools) in [
        (layout::WRAPPER_SERVER_DIR, "v4"),
        (layout::NONROOT_WRAPPER_SERVER_DIR, "nonroot"),
    ] {
        let tools = pod
            .path()
            .join(tools)
            .join(layout::TOOLS_DIR.trim_start_matches('/'));
        // The emptyDir: there, and writable by anyone.
        std::fs::create_dir_all(&tools).expect("emptyDir");
        std::fs::set_permissions(&tools, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let [program, flag, source, _] = layout::COPY_COMMAND;
        let source = source.replacen(layout::WRAPPER_SERVER_DIR, from, 1);
        let out = run(
            &in_root(root.path(), &format!("/bin/{program}")),
            &[flag.into(), in_root(root.path(), &source), tools.clone()],
        );
        assert_eq!(out.status.code(), Some(0), "{from}: {}", stderr(&out));
        assert_eq!(
            check_tree(&tools),
            1,
            "{from}: the binary and a relative link"
        );

        let wrapper_server = tools.join(layout::WRAPPER_SERVER_NAME);
        let function = crate::support::exec::function("cat");
        let mut cmd = std::process::Command::new(&wrapper_server);
        cmd.args(["--port", "0", "--"]).arg(function);
        let server = RunnerProcess::spawn(cmd);
        let port = server
            .addr
            .rsplit_once(':')
            .map(|(_, p)| p.to_owned())
            .expect("port");
        let out = run(
            &tools.join(layout::HEALTH_PROBE_NAME),
            &["-addr", &format!("localhost:{port}")],
        );
        assert_eq!(out.status.code(), Some(0), "{from}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "status: SERVING");
    }
}
