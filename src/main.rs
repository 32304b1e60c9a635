//! The `fn-runner` binary: dispatches on the name it was called by
//! (`server`, `wrapper-server`, `grpc-health-probe`, `cp`) or on a subcommand
//! (`serve`, `wrapper-server`, `health-probe`, `eval`, `inspect`,
//! `preflight`), and maps
//! every outcome to an exit code in [`exit_code`].
//!
//! `#![no_main]`: Rust's runtime set-up before `main` is not run. On glibc
//! it looks up the main thread's stack bounds by reading /proc/self/maps
//! (`pthread_getattr_np`: fopen, getline, sscanf), which leaves that part
//! of libc mapped for the life of the server (~180 KiB of an idle server's
//! RSS, docs/perf.md "Idle RSS"). What that set-up does that we need is
//! done in [`main`] and `sys`: arguments read from `argv`, SIGPIPE
//! ignored, closed standard descriptors reopened on /dev/null, a panic
//! turned into exit code 101, stdout flushed at the end. Not done: the
//! handler that reports a stack overflow by name (one is now a plain
//! SIGSEGV).

// The test harness brings its own `main` (the binary is tested from the
// outside, tests/).
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

use std::io::Write as _;

use fn_runner::flags::{self, Command, Failure, Invocation, Mode};
use fn_runner::log;

/// The entry point the C runtime calls (see the module doc). The
/// arguments are read from `argv` (`std::env::args_os` is only filled
/// without Rust's runtime set-up on glibc, not on musl).
// SAFETY: `#[no_mangle]` exports this as the C `main`; `#![no_main]` makes
// it the only one.
#[cfg(not(test))]
#[allow(
    unsafe_code,
    reason = "the process entry point: `#[no_mangle]` exports the C `main`, and argv is read \
              through sys::args_of_main; an entry point cannot move into sys.rs"
)]
#[no_mangle]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    fn_runner::sys::init_process();
    // SAFETY: `argc` and `argv` are what the C runtime passes to `main`.
    let args = unsafe { fn_runner::sys::args_of_main(argc, argv) };
    // The panic hook has printed the message; 101 is Rust's code for it.
    let code = std::panic::catch_unwind(move || run_invocation(args)).unwrap_or(101);
    let _ = std::io::stdout().flush();
    std::ffi::c_int::from(code)
}

fn run_invocation(args: Vec<std::ffi::OsString>) -> u8 {
    // `cp` takes coreutils' command line, not Go flags (src/cp.rs).
    if let Some((program, rest)) = args.split_first() {
        if fn_runner::cp::is_program(program) {
            return fn_runner::cp::run(rest);
        }
    }
    match flags::parse(args) {
        Ok(Invocation::Help(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            0
        }
        Ok(Invocation::Version) => {
            println!("fn-runner {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Invocation::Run(command)) => run(&command),
        Err(failure) => {
            let mut stderr = std::io::stderr().lock();
            if failure.error.shows_usage() {
                let _ = writeln!(stderr, "{}", failure.error);
                let _ = stderr.write_all(failure.usage.as_bytes());
            } else {
                // grpc-health-probe's own checks: `error: -addr not specified`.
                let _ = writeln!(stderr, "error: {}", failure.error);
            }
            exit_code(&failure)
        }
    }
}

/// Runs a mode with its verbosity set; the mode's own result is the exit code.
fn run(command: &Command) -> u8 {
    match command {
        Command::Serve(settings) => {
            log::set_verbosity(settings.log_level);
            io_result("serve", fn_runner::serve::run(settings))
        }
        Command::WrapperServer(settings) => {
            log::set_verbosity(settings.verbosity);
            io_result("wrapper-server", fn_runner::wrapper::run(settings))
        }
        Command::HealthProbe(settings) => {
            log::set_verbosity(u8::from(settings.verbose));
            fn_runner::probe::run(settings)
        }
        Command::Eval(settings) => fn_runner::eval::run(settings),
        Command::Inspect(settings) => fn_runner::inspect::run(settings),
        Command::Preflight(settings) => {
            log::set_verbosity(settings.serve.log_level);
            fn_runner::preflight::run(settings)
        }
    }
}

fn io_result(mode: &str, result: std::io::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(err) => {
            fn_runner::error!("{mode}: {err}");
            1
        }
    }
}

/// The one place that maps a command-line failure to an exit code: Go's
/// `flag` exits 2 on a usage error; grpc-health-probe exits 1 for bad
/// arguments (compat §1, its 0-4 codes).
fn exit_code(failure: &Failure) -> u8 {
    match failure.mode {
        Some(Mode::HealthProbe) => 1,
        Some(Mode::Serve | Mode::WrapperServer | Mode::Eval | Mode::Inspect | Mode::Preflight)
        | None => 2,
    }
}
