//! The binary called as `cp` (the function pod's init container): the
//! copy it makes, its usage errors (exit 1 with the usage, as coreutils),
//! and its messages. Running it as a non-root user is in `smoke.rs`.

use std::os::unix::fs::PermissionsExt as _;

use super::{run, stderr, stdout};
use crate::support::multicall::MultiCallDir;
use crate::support::tempdir::TempDir;

#[test]
fn copies_a_tree_with_links_and_modes() {
    let bins = MultiCallDir::new();
    let dir = TempDir::new("cp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).expect("dirs");
    std::fs::write(src.join("tool"), b"#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(src.join("tool"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
    std::os::unix::fs::symlink("tool", src.join("alias")).expect("symlink");
    std::fs::write(src.join("a/b/c"), b"c").expect("write");
    let dst = dir.path().join("dst");
    std::fs::create_dir(&dst).expect("dst");

    let out = run(
        &bins.path("cp"),
        &["-a".as_ref(), src.join(".").as_os_str(), dst.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "silent on success"
    );
    let mode = std::fs::metadata(dst.join("tool"))
        .expect("tool")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    assert_eq!(
        std::fs::read_link(dst.join("alias")).expect("link"),
        std::path::Path::new("tool")
    );
    assert_eq!(std::fs::read(dst.join("a/b/c")).expect("nested"), b"c");
}

#[test]
fn usage_errors_exit_1_with_the_usage() {
    let bins = MultiCallDir::new();
    let cp = bins.path("cp");
    for (args, message) in [
        (&["-r", "a", "b"][..], "cp: unsupported option '-r'"),
        (
            &["--recursive", "a", "b"],
            "cp: unsupported option '--recursive'",
        ),
        (
            &["a", "b"],
            "cp: only 'cp -a' is supported (the -a option is missing)",
        ),
        (
            &["-a", "a"],
            "cp: missing destination file operand after 'a'",
        ),
        (
            &["-a", "a", "b", "c"],
            "cp: extra operand 'c': only one SOURCE is supported",
        ),
        (
            &[],
            "cp: only 'cp -a' is supported (the -a option is missing)",
        ),
    ] {
        let out = run(&cp, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("{message}\nUsage: cp -a SOURCE DEST\n")),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = run(&cp, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("Usage: cp -a SOURCE DEST\n"));
}

#[test]
fn a_failed_copy_says_what_and_why() {
    let bins = MultiCallDir::new();
    let dir = TempDir::new("cp");
    let missing = dir.path().join("wrapper-server");
    let out = run(
        &bins.path("cp"),
        &[
            "-a".as_ref(),
            missing.join(".").as_os_str(),
            dir.path().join("tools").as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "cp: cannot stat '{}/.': No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}
