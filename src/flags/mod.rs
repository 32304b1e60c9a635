//! Command-line flags, Go `flag` package style (compat §1), in three steps
//! (style.md §1):
//!
//! ```text
//! argv --lexopt--> tokens --lowargs--> LowArgs (aliases folded, values raw)
//!      --hiargs--> ServeSettings / WrapperSettings / ProbeSettings / ...
//! ```
//!
//! The mode comes from argv[0]'s file name (`server`, `wrapper-server`,
//! `grpc-health-probe`: the multi-call names of compat §6) or, for any
//! other name (`fn-runner`), from the first argument. `spec` holds every
//! flag of every mode in one place; `strconv` (and `crate::duration`) are Go's
//! value syntaxes; `help` renders usage. What goes wrong is an [`Error`];
//! `main` maps it to an exit code (2, or 1 for the health probe).

mod error;
mod help;
mod hiargs;
mod lowargs;
mod settings;
mod spec;
mod strconv;

use std::ffi::OsString;
use std::path::Path;

pub use error::{Error, ValueError};
pub use hiargs::{registry_config, DEFAULT_AUTH_FILES};
pub use settings::{
    Command, ConnectionSettings, EvalSettings, InspectSettings, PreflightSettings, ProbeSettings,
    RegistrySettings, Runtimes, ServeSettings, WrapperSettings, DEFAULT_BIND_ADDRESS,
    DEFAULT_MAX_MESSAGE_BYTES,
};

/// The binary's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    WrapperServer,
    HealthProbe,
    Eval,
    Inspect,
    Preflight,
}

impl Mode {
    /// Every mode, in the order `fn-runner help` lists them.
    pub const ALL: [Mode; 6] = [
        Mode::Serve,
        Mode::WrapperServer,
        Mode::HealthProbe,
        Mode::Eval,
        Mode::Inspect,
        Mode::Preflight,
    ];

    /// The subcommand name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Serve => "serve",
            Mode::WrapperServer => "wrapper-server",
            Mode::HealthProbe => "health-probe",
            Mode::Eval => "eval",
            Mode::Inspect => "inspect",
            Mode::Preflight => "preflight",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            Mode::Serve => "Run the function runner gRPC server (Porch's /server).",
            Mode::WrapperServer => "Serve one function inside its pod (Porch's wrapper-server).",
            Mode::HealthProbe => "Check a gRPC server's health (grpc-health-probe).",
            Mode::Eval => "Send one EvaluateFunction call to a function runner.",
            Mode::Inspect => "Resolve an image's digest and entrypoint from its registry.",
            Mode::Preflight => {
                "Check serve's setup (Kubernetes, RBAC, registry, templates), fixes included."
            }
        }
    }

    /// The mode a multi-call name selects (argv[0]'s file name).
    fn from_program(name: &str) -> Option<Mode> {
        match name {
            "server" => Some(Mode::Serve),
            "wrapper-server" => Some(Mode::WrapperServer),
            "grpc-health-probe" => Some(Mode::HealthProbe),
            _ => None,
        }
    }

    /// The mode a subcommand selects; the multi-call names work too.
    fn from_subcommand(name: &str) -> Option<Mode> {
        match name {
            "serve" | "server" => Some(Mode::Serve),
            "wrapper-server" => Some(Mode::WrapperServer),
            "health-probe" | "grpc-health-probe" => Some(Mode::HealthProbe),
            "eval" => Some(Mode::Eval),
            "inspect" => Some(Mode::Inspect),
            "preflight" => Some(Mode::Preflight),
            _ => None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per process; boxing would only add noise at the call site"
)]
pub enum Invocation {
    /// Run a mode.
    Run(Command),
    /// Print this usage text on stdout and exit 0 (`-h`, `help`).
    Help(String),
    /// Print the version and exit 0.
    Version,
}

/// A command line that could not be parsed, with what `main` needs to
/// report it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The mode being parsed; `None` when no mode was found.
    pub mode: Option<Mode>,
    pub error: Error,
    /// The usage text to print after the error, when the error calls for it.
    pub usage: String,
}

/// Parses the whole argv, program name first.
pub fn parse<I>(argv: I) -> Result<Invocation, Box<Failure>>
where
    I: IntoIterator<Item = OsString>,
{
    let mut argv = argv.into_iter();
    let argv0 = argv.next().unwrap_or_default();
    let program = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fn-runner".to_owned());
    let mut rest: Vec<OsString> = argv.collect();

    let (mode, shown) = match Mode::from_program(&program) {
        Some(mode) => (mode, program.clone()),
        None => {
            let Some(first) = rest.first().map(|a| a.to_string_lossy().into_owned()) else {
                return Err(Box::new(Failure {
                    mode: None,
                    error: Error::NoMode,
                    usage: help::modes(&program),
                }));
            };
            rest.remove(0);
            match first.as_str() {
                "help" | "-h" | "-help" | "--help" => {
                    let text = match rest
                        .first()
                        .and_then(|m| m.to_str())
                        .and_then(Mode::from_subcommand)
                    {
                        Some(mode) => help::usage(mode, &format!("{program} {}", mode.name())),
                        None => help::modes(&program),
                    };
                    return Ok(Invocation::Help(text));
                }
                "version" | "-version" | "--version" => return Ok(Invocation::Version),
                name => match Mode::from_subcommand(name) {
                    Some(mode) => (mode, format!("{program} {}", mode.name())),
                    None => {
                        return Err(Box::new(Failure {
                            mode: None,
                            error: Error::UnknownMode {
                                name: name.to_owned(),
                            },
                            usage: help::modes(&program),
                        }))
                    }
                },
            }
        }
    };
    parse_mode(mode, rest)
        .map_err(|error| {
            Box::new(Failure {
                mode: Some(mode),
                error,
                usage: help::usage(mode, &shown),
            })
        })
        .map(|parsed| match parsed {
            Some(command) => Invocation::Run(command),
            None => Invocation::Help(help::usage(mode, &shown)),
        })
}

/// Parses the arguments of one mode; `Ok(None)` when help was asked for.
pub(crate) fn parse_mode(mode: Mode, args: Vec<OsString>) -> Result<Option<Command>, Error> {
    let low = lowargs::parse(mode, args)?;
    if low.help {
        return Ok(None);
    }
    Ok(Some(match mode {
        Mode::Serve => Command::Serve(hiargs::serve(low)?),
        Mode::WrapperServer => Command::WrapperServer(hiargs::wrapper(low)?),
        Mode::HealthProbe => Command::HealthProbe(hiargs::probe(low)?),
        Mode::Eval => Command::Eval(hiargs::eval(low)?),
        Mode::Inspect => Command::Inspect(hiargs::inspect(low)?),
        Mode::Preflight => Command::Preflight(hiargs::preflight(low)?),
    }))
}

#[cfg(test)]
mod tests;
