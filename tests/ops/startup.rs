//! Start-up checks (issue 14): what can never work stops the server at
//! start with a clear message (exit 1); what may be meant warns and
//! serves. Each mistake an operator made gets its own message.

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fn_runner::proto::ServingStatus;

use super::serve_args;
use crate::support::exec::{function, testdata, RunnerProcess, TempDir};
use crate::support::fakekube::FakeKube;
use crate::support::pods::evaluate::{connect, health};
use crate::support::process::fn_runner_bin;

const WAIT: Duration = Duration::from_secs(30);

/// Runs our binary to its end (a start that fails); its output.
fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(fn_runner_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fn-runner")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `serve` with `config` (YAML text) and `--functions functions`, which
/// must fail at start; its stderr.
fn serve_fails(config: &str, functions: &std::path::Path) -> String {
    let dir = TempDir::new("startup-config");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).expect("write config");
    let out = run(&[
        "serve".as_ref(),
        "--port=0".as_ref(),
        "--disable-runtimes=pod".as_ref(),
        "--config".as_ref(),
        path.as_os_str(),
        "--functions".as_ref(),
        functions.as_os_str(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("serving gRPC"), "{err}");
    err
}

#[test]
fn a_misspelt_key_is_an_error() {
    let functions = testdata().join("functions");
    let err = serve_fails("funtions:\n  - function: cat\n", &functions);
    assert!(err.contains("unknown field `funtions`"), "{err}");
    let err = serve_fails(
        "functions:\n  - function: cat\n    imagse: [example.com/fn/cat:v1]\n",
        &functions,
    );
    assert!(err.contains("unknown field `imagse`"), "{err}");
}

#[test]
fn every_binary_that_cannot_run_is_an_error() {
    let dir = TempDir::new("startup-binaries");
    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::create_dir(dir.path().join("a-directory")).expect("mkdir");
    std::fs::copy(function("cat"), dir.path().join("cat")).expect("copy cat");
    let err = serve_fails(
        "functions:\n\
         - function: cat\n  images: [a]\n\
         - function: missing\n  images: [b]\n\
         - function: not-executable\n  images: [c]\n\
         - function: a-directory\n  images: [d]\n",
        dir.path(),
    );
    let d = dir.path().display();
    assert!(err.contains("3 of its functions cannot run:"), "{err}");
    for line in [
        format!("functions[1].function \"missing\": {d}/missing does not exist"),
        format!("functions[2].function \"not-executable\": {d}/not-executable is not executable (mode 0644)"),
        format!("functions[3].function \"a-directory\": {d}/a-directory is not a regular file"),
    ] {
        assert!(err.contains(&line), "{line:?} in\n{err}");
    }
    assert!(!err.contains("functions[0]"), "{err}");
}

#[test]
fn entries_without_a_functions_directory_are_an_error() {
    let err = serve_fails(
        "functions:\n  - function: cat\n    images: [a]\n",
        std::path::Path::new("/nonexistent/functions"),
    );
    assert!(
        err.contains(
            "the 1 functions it lists cannot run: --functions /nonexistent/functions is not a \
             directory"
        ),
        "{err}"
    );
}

#[test]
fn both_runtimes_disabled_is_an_error() {
    let out = run(&[
        "serve".as_ref(),
        "--port=0".as_ref(),
        "--disable-runtimes=exec,pod".as_ref(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "no runtime can evaluate a function: the exec runtime is off (disabled by \
             --disable-runtimes), the pod runtime is off (disabled by --disable-runtimes)"
        ),
        "{err}"
    );
}

#[test]
fn a_wrapper_server_entrypoint_that_cannot_run_is_an_error() {
    for (entrypoint, why) in [
        ("/nonexistent/function", "does not exist"),
        ("no-such-function-in-path", "is in no directory of PATH"),
    ] {
        let out = run(&[
            "wrapper-server".as_ref(),
            "--port=0".as_ref(),
            "--".as_ref(),
            entrypoint.as_ref(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "wrapper-server: the function's entrypoint {entrypoint:?} {why}"
            )),
            "{err}"
        );
    }
}

/// Warnings leave the server serving, SERVING: a config entry without
/// images, an image listed twice.
#[test]
fn warnings_leave_it_serving() {
    let dir = TempDir::new("startup-warnings");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "functions:\n\
         - function: cat\n  images: [example.com/fn/cat:v1]\n\
         - function: fail\n  images: [example.com/fn/cat:v1]\n\
         - function: sleep\n",
    )
    .expect("write config");
    let functions = testdata().join("functions");
    let server = RunnerProcess::start(&[
        "serve".as_ref(),
        "--port=0".as_ref(),
        "--disable-runtimes=pod".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--functions".as_ref(),
        functions.as_os_str(),
    ]);
    let log = server.log();
    assert!(
        log.contains("image \"example.com/fn/cat:v1\" is listed again"),
        "{log}"
    );
    assert!(
        log.contains("functions[2] (\"sleep\") lists no images: it is never used"),
        "{log}"
    );
    let client = connect(&server.addr);
    assert_eq!(health(&client, "").expect("health"), ServingStatus::SERVING);
}

/// Porch's image ships the file its Deployment names in `--config`; ours
/// may not: a missing one warns and the pod runtime serves.
#[test]
fn a_missing_named_config_warns_and_the_pod_runtime_serves() {
    let kube = FakeKube::start();
    let kubeconfig = kube.kubeconfig_with_token();
    let mut args = serve_args(&[]);
    // serve_args turns the pod runtime off: on here, without an exec config.
    args.retain(|a| a != "--disable-runtimes=pod");
    let config = args.iter().position(|a| a == "--config").expect("--config") + 1;
    args[config] = "/nonexistent/config.yaml".into();
    args.push("--kubeconfig".into());
    args.push(kubeconfig.into_os_string());
    let mut cmd = Command::new(fn_runner_bin());
    cmd.args(&args)
        .env("WRAPPER_SERVER_IMAGE", "example.com/fn-runner:test");
    let server = RunnerProcess::spawn(cmd);
    let log = server.log();
    assert!(
        log.contains(
            "the exec runtime config /nonexistent/config.yaml (--config) does not exist: the \
             exec runtime is off"
        ),
        "{log}"
    );
    assert!(
        log.contains("pod runtime: function pods in namespace"),
        "{log}"
    );
    let client = connect(&server.addr);
    assert!(
        crate::support::exec::wait_for(WAIT, || health(&client, "") == Ok(ServingStatus::SERVING)),
        "the pod runtime never got ready:\n{}",
        server.log()
    );
}
