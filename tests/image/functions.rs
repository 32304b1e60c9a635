//! `image/functions.sh`, the catalog-functions stage's filter: the config it
//! writes loads in the exec runtime and names exactly the binaries kept.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use fn_runner::evaluator::exec::ExecEvaluator;

use crate::support::image::repo;
use crate::support::tempdir::TempDir;

const NAMES: [&str; 12] = [
    "apply-setters",
    "apply-setters-v1",
    "ensure-name-substring",
    "search-replace",
    "set-annotations",
    "set-image",
    "set-labels",
    "set-namespace",
    "set-namespace-v3",
    "set-project-id",
    "starlark",
    "upsert-resource",
];

/// A /functions directory as the COPY lines leave it: every catalog binary.
fn functions_dir() -> TempDir {
    let dir = TempDir::new("catalog-functions");
    for name in NAMES {
        let path = dir.path().join(name);
        std::fs::write(&path, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    }
    dir
}

/// Runs the script; (exit code, stdout, stderr).
fn select(dir: &Path, list: &str) -> (Option<i32>, String, String) {
    let out = Command::new(repo().join("image/functions.sh"))
        .arg(repo().join("image/catalog.yaml"))
        .arg(dir)
        .arg(list)
        .output()
        .expect("run image/functions.sh");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn left(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Loads `config` as `serve` would; returns how many images it knows.
fn load(dir: &Path, config: &str) -> usize {
    let path = dir.with_extension("config.yaml");
    std::fs::write(&path, config).expect("write config");
    let loaded = ExecEvaluator::load(&path, dir, 1 << 20).expect("the exec runtime loads it");
    assert!(loaded.warnings().is_empty(), "{:?}", loaded.warnings());
    let _ = std::fs::remove_file(&path);
    loaded.image_count()
}

#[test]
fn all_keeps_every_catalog_function() {
    let dir = functions_dir();
    let (code, config, err) = select(dir.path(), "all");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(left(dir.path()), NAMES);
    // A tag and a digest for each; apply-setters-v1 has two tags.
    assert_eq!(load(dir.path(), &config), NAMES.len() * 2 + 1);
}

#[test]
fn a_list_keeps_only_those() {
    let dir = functions_dir();
    let (code, config, err) = select(dir.path(), "set-namespace, starlark");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(left(dir.path()), ["set-namespace", "starlark"]);
    assert_eq!(load(dir.path(), &config), 4);
    assert!(
        config.contains("gcr.io/kpt-fn/set-namespace:v0.2.0"),
        "{config}"
    );
    assert!(!config.contains("set-labels"), "{config}");
}

#[test]
fn none_is_an_empty_valid_config() {
    let dir = functions_dir();
    let (code, config, err) = select(dir.path(), "none");
    assert_eq!(code, Some(0), "{err}");
    assert!(left(dir.path()).is_empty());
    assert_eq!(load(dir.path(), &config), 0);
}

#[test]
fn unknown_names_and_missing_binaries_fail_by_name() {
    let dir = functions_dir();
    let (code, _, err) = select(dir.path(), "set-namespace,set-nothing");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("set-nothing is not a catalog function"),
        "{err}"
    );
    assert_eq!(
        left(dir.path()).len(),
        NAMES.len(),
        "nothing removed on error"
    );

    std::fs::remove_file(dir.path().join("starlark")).expect("remove");
    let (code, _, err) = select(dir.path(), "all");
    assert_eq!(code, Some(1));
    assert!(err.contains("starlark is missing"), "{err}");
}
