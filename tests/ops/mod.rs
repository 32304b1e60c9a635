//! Operating the server (issue 14): its duties as PID 1 and child
//! subreaper, its signals, where it listens (IPv6, loopback down), its
//! start-up checks and evaluation log, and the leftover check of
//! `tests/run.sh`. Each test runs our binary as a process.

mod evaluation_log;
mod leftovers;
mod listen;
mod pid1;
mod signals;
mod startup;

use std::ffi::OsStr;

use crate::support::exec::{testdata, RunnerProcess};

/// `serve` with the sample functions' config (exec runtime only) and
/// `extra` flags, on a free port.
fn serve(extra: &[&str]) -> RunnerProcess {
    RunnerProcess::start(&serve_args(extra))
}

/// `wrapper-server` for the sample function `function`, on a free port.
fn wrapper_server(function: &str) -> RunnerProcess {
    let function = testdata().join("functions").join(function);
    RunnerProcess::start(&[
        "wrapper-server".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--".as_ref(),
        function.as_os_str(),
    ])
}

/// The arguments of [`serve`] (after the binary).
fn serve_args(extra: &[&str]) -> Vec<std::ffi::OsString> {
    let config = testdata().join("config.yaml");
    let functions = testdata().join("functions");
    let mut args: Vec<std::ffi::OsString> = ["serve", "--port", "0", "--disable-runtimes=pod"]
        .iter()
        .map(|s| s.into())
        .collect();
    args.extend([OsStr::new("--config").into(), config.into_os_string()]);
    args.extend([OsStr::new("--functions").into(), functions.into_os_string()]);
    args.extend(extra.iter().map(|s| s.into()));
    args
}
