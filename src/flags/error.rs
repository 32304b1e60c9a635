//! What can be wrong with a command line. The messages follow Go's `flag`
//! package word for word where Go has one (`flag provided but not defined:
//! -x`, `invalid value "X" for flag -name: ...`), because operators grep
//! logs of the Go runner for them. `main` maps these to exit codes.

use std::error::Error as StdError;
use std::fmt;

use super::strconv;
use crate::duration;

/// A command-line error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `-name` is no flag of this mode.
    UnknownFlag { name: String },
    /// `---x`, `--=x`, `-=x`: not a flag and not an argument.
    BadSyntax { arg: String },
    /// A non-bool flag at the end of the command line.
    MissingValue { name: String },
    /// A value that does not parse or is out of range for its flag.
    BadValue {
        name: String,
        value: String,
        reason: ValueError,
    },
    /// A bool flag given a value that is not Go's `strconv.ParseBool` syntax.
    BadBool { name: String, value: String },
    /// A required flag was not given (`-addr`, `-image`).
    MissingRequired { name: &'static str },
    /// A required positional argument was not given (`IMAGE`).
    MissingArgument { what: &'static str },
    /// A positional argument this mode does not take.
    UnexpectedArgument { arg: String },
    /// `wrapper-server` without `-- ENTRYPOINT...`.
    MissingEntrypoint,
    /// A grpc-health-probe transport flag (TLS, ALTS, SPIFFE) we do not implement.
    Unsupported { name: String },
    /// `fn-runner` with no mode.
    NoMode,
    /// `fn-runner NAME` where NAME is no mode.
    UnknownMode { name: String },
}

impl Error {
    /// Whether the mode's usage should follow the message: Go's `flag`
    /// prints it after every parse error; grpc-health-probe's own checks
    /// (`-addr not specified`) print one line.
    pub fn shows_usage(&self) -> bool {
        !matches!(
            self,
            Error::MissingRequired { .. } | Error::Unsupported { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownFlag { name } => write!(f, "flag provided but not defined: -{name}"),
            Error::BadSyntax { arg } => write!(f, "bad flag syntax: {arg}"),
            Error::MissingValue { name } => write!(f, "flag needs an argument: -{name}"),
            Error::BadValue {
                name,
                value,
                reason,
            } => write!(f, "invalid value {value:?} for flag -{name}: {reason}"),
            Error::BadBool { name, value } => {
                write!(
                    f,
                    "invalid boolean value {value:?} for -{name}: parse error"
                )
            }
            Error::MissingRequired { name } => write!(f, "-{name} not specified"),
            Error::MissingArgument { what } => write!(f, "missing argument {what}"),
            Error::UnexpectedArgument { arg } => write!(f, "unexpected argument {arg:?}"),
            Error::MissingEntrypoint => f.write_str(
                "missing the function's entrypoint: wrapper-server [flags] -- ENTRYPOINT [ARGS...]",
            ),
            Error::Unsupported { name } => write!(
                f,
                "-{name} is not supported by this health probe (plaintext h2c only)"
            ),
            Error::NoMode => f.write_str("no mode given"),
            Error::UnknownMode { name } => write!(f, "unknown mode {name:?}"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::BadValue { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Why a flag's value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// Not a Go integer (`strconv.ParseInt(s, 0, 64)`).
    Int(strconv::Error),
    /// Not a Go duration (`time.ParseDuration`).
    Duration(duration::Error),
    /// An integer outside what the setting can hold.
    OutOfRange { min: i64, max: i64 },
    /// A negative duration where only >= 0 makes sense (TTLs).
    Negative,
    /// Zero or negative where only > 0 makes sense (intervals, timeouts).
    NotPositive,
    /// Empty where a name is needed.
    Empty,
    /// A `--disable-runtimes` item other than `exec` or `pod`.
    UnknownRuntime(String),
    /// Not UTF-8 where text is needed (paths may be any bytes).
    NotUtf8,
    /// Not an IP address literal (`--bind-address`).
    NotAnIp,
    /// Not `IP:PORT` or `:PORT` (`--metrics-address`).
    NotAnAddress,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Int(e) => write!(f, "parse error: {e}"),
            ValueError::Duration(e) => write!(f, "{e}"),
            ValueError::OutOfRange { min, max } => {
                write!(f, "value out of range: must be {min}..{max}")
            }
            ValueError::Negative => f.write_str("must not be negative"),
            ValueError::NotPositive => f.write_str("must be greater than zero"),
            ValueError::Empty => f.write_str("must not be empty"),
            ValueError::UnknownRuntime(name) => {
                write!(f, "unknown runtime {name:?} (known: exec, pod)")
            }
            ValueError::NotUtf8 => f.write_str("not valid UTF-8"),
            ValueError::NotAnIp => {
                f.write_str("not an IP address (such as 0.0.0.0, 127.0.0.2 or ::1)")
            }
            ValueError::NotAnAddress => {
                f.write_str("not IP:PORT (such as 0.0.0.0:9464, [::1]:9464 or :9464)")
            }
        }
    }
}

impl StdError for ValueError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ValueError::Int(e) => Some(e),
            ValueError::Duration(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_go_flag() {
        let e = Error::UnknownFlag {
            name: "nope".into(),
        };
        assert_eq!(e.to_string(), "flag provided but not defined: -nope");
        let e = Error::MissingValue {
            name: "port".into(),
        };
        assert_eq!(e.to_string(), "flag needs an argument: -port");
        let e = Error::BadSyntax { arg: "---x".into() };
        assert_eq!(e.to_string(), "bad flag syntax: ---x");
        let e = Error::BadBool {
            name: "tls".into(),
            value: "yes".into(),
        };
        assert_eq!(
            e.to_string(),
            r#"invalid boolean value "yes" for -tls: parse error"#
        );
        let e = Error::BadValue {
            name: "port".into(),
            value: "70000".into(),
            reason: ValueError::OutOfRange { min: 0, max: 65535 },
        };
        assert_eq!(
            e.to_string(),
            r#"invalid value "70000" for flag -port: value out of range: must be 0..65535"#
        );
    }

    #[test]
    fn errors_stay_small() {
        assert!(
            std::mem::size_of::<Error>() <= 96,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
