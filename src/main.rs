//! The `fn-runner` binary: dispatches on the name it was called by
//! (`server`, `wrapper-server`, `grpc-health-probe`) or on a subcommand
//! (`serve`, `wrapper-server`, `health-probe`, `eval`, `inspect`), and maps
//! every outcome to an exit code in [`exit_code`].

use std::io::Write as _;
use std::process::ExitCode;

use fn_runner::flags::{self, Command, Failure, Invocation, Mode};
use fn_runner::log;

fn main() -> ExitCode {
    match flags::parse(std::env::args_os()) {
        Ok(Invocation::Help(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Invocation::Version) => {
            println!("fn-runner {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
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
            ExitCode::from(exit_code(&failure))
        }
    }
}

/// Runs a mode with its verbosity set; the mode's own result is the exit code.
fn run(command: &Command) -> ExitCode {
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
            ExitCode::from(fn_runner::probe::run(settings))
        }
        Command::Eval(settings) => ExitCode::from(fn_runner::eval::run(settings)),
        Command::Inspect(settings) => ExitCode::from(fn_runner::registry::inspect::run(settings)),
    }
}

fn io_result(mode: &str, result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            fn_runner::error!("{mode}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The one place that maps a command-line failure to an exit code: Go's
/// `flag` exits 2 on a usage error; grpc-health-probe exits 1 for bad
/// arguments (compat §1, its 0-4 codes).
fn exit_code(failure: &Failure) -> u8 {
    match failure.mode {
        Some(Mode::HealthProbe) => 1,
        Some(Mode::Serve | Mode::WrapperServer | Mode::Eval | Mode::Inspect) | None => 2,
    }
}
