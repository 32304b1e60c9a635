//! Step two of three: lexopt's tokens -> [`LowArgs`], a list that stays
//! close to argv, in which every spelling of a flag is already folded into
//! its one logical [`Flag`](super::spec::Flag). Values stay raw bytes here;
//! `hiargs` types them.
//!
//! Go `flag` syntax (Go 1.19 `flag.go` `parseOne`), not GNU syntax:
//! - `-name` and `--name` are the same; there are no short-option clusters
//!   (lexopt reports `-name` as `Short('n')` + the rest, which we rejoin;
//!   `short_equals` is off so the rest arrives byte for byte);
//! - `-name=value`, `-name value` for non-bool flags (the next argument is
//!   taken even if it starts with `-`);
//! - bool flags take `=value` only: `--x false` leaves `false` as an argument;
//! - `--` ends the flags; so does the first non-flag argument (`-` alone is
//!   an argument), and everything after it is positional;
//! - `-h`/`-help` (when no flag has that name) asks for usage.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::spec::{self, Kind, Spec};
use super::{Error, Mode};

/// A flag's raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Raw {
    /// A bool flag given as `-x`: true.
    Bare,
    /// `-x=value` or, for non-bool flags, `-x value`.
    Given(OsString),
}

/// One flag on the command line.
#[derive(Debug, Clone)]
pub(crate) struct Occurrence {
    pub spec: &'static Spec,
    /// The spelling used, for messages (Go names the flag as typed).
    pub name: String,
    pub value: Raw,
}

/// The command line of one mode, folded but untyped.
#[derive(Debug, Clone, Default)]
pub(crate) struct LowArgs {
    /// In command-line order: later occurrences win, as in Go.
    pub flags: Vec<Occurrence>,
    /// Everything from the first non-flag argument (or after `--`) on.
    pub positionals: Vec<OsString>,
    /// `-h`/`-help` was given; parsing stopped there, as Go's does.
    pub help: bool,
}

/// Parses `args` (without the program name or mode) for `mode`.
pub(crate) fn parse(mode: Mode, args: Vec<OsString>) -> Result<LowArgs, Error> {
    let mut low = LowArgs::default();
    let mut parser = lexopt::Parser::from_args(args);
    parser.set_short_equals(false);
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            // Every option's value is consumed below, so lexopt has no
            // pending value to complain about; keep its word if it does.
            Err(err) => {
                return Err(Error::BadSyntax {
                    arg: err.to_string(),
                })
            }
        };
        // The flag name as typed and its `=value`, if attached.
        let (name, attached) = match arg {
            lexopt::Arg::Value(first) => {
                low.positionals.push(first);
                match parser.raw_args() {
                    Ok(rest) => low.positionals.extend(rest),
                    Err(err) => {
                        return Err(Error::BadSyntax {
                            arg: err.to_string(),
                        })
                    }
                }
                break;
            }
            lexopt::Arg::Long(long) => {
                let long = long.to_owned();
                let attached = parser.optional_value();
                if long.is_empty() || long.starts_with('-') {
                    return Err(Error::BadSyntax {
                        arg: display_arg("--", &long, attached.as_ref()),
                    });
                }
                (long, attached)
            }
            lexopt::Arg::Short(first) => {
                // Rejoin `-name=value`: lexopt saw `n` then the rest "ame=value".
                let mut text = first.to_string().into_bytes();
                if let Some(rest) = parser.optional_value() {
                    text.extend_from_slice(rest.as_bytes());
                }
                // Go: "equals cannot be first"; a name starting with '=' is bad syntax.
                let (name, attached) = match text.iter().skip(1).position(|&b| b == b'=') {
                    Some(i) => {
                        let value = text[i + 2..].to_vec();
                        text.truncate(i + 1);
                        (text, Some(OsString::from_vec(value)))
                    }
                    None => (text, None),
                };
                let name = String::from_utf8_lossy(&name).into_owned();
                if name.starts_with('=') {
                    return Err(Error::BadSyntax {
                        arg: display_arg("-", &name, attached.as_ref()),
                    });
                }
                (name, attached)
            }
        };
        let Some(spec) = spec::lookup(mode, &name) else {
            if name == "h" || name == "help" {
                low.help = true;
                return Ok(low);
            }
            return Err(Error::UnknownFlag { name });
        };
        let value = match (spec.kind, attached) {
            (_, Some(value)) => Raw::Given(value),
            (Kind::Bool, None) => Raw::Bare,
            (_, None) => match parser.value() {
                Ok(value) => Raw::Given(value),
                Err(_) => return Err(Error::MissingValue { name }),
            },
        };
        low.flags.push(Occurrence { spec, name, value });
    }
    Ok(low)
}

fn display_arg(dashes: &str, name: &str, value: Option<&OsString>) -> String {
    match value {
        Some(value) => format!("{dashes}{name}={}", value.to_string_lossy()),
        None => format!("{dashes}{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::spec::Flag;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn flags(low: &LowArgs) -> Vec<(Flag, String, Option<String>)> {
        low.flags
            .iter()
            .map(|o| {
                let value = match &o.value {
                    Raw::Bare => None,
                    Raw::Given(v) => Some(v.to_string_lossy().into_owned()),
                };
                (o.spec.flag, o.name.clone(), value)
            })
            .collect()
    }

    #[test]
    fn accepts_all_four_value_syntaxes() {
        for form in [
            &["-port", "1"][..],
            &["-port=1"],
            &["--port", "1"],
            &["--port=1"],
        ] {
            let low = parse(Mode::Serve, args(form)).expect("parses");
            assert_eq!(
                flags(&low),
                vec![(Flag::Port, "port".into(), Some("1".into()))],
                "{form:?}"
            );
        }
    }

    #[test]
    fn folds_aliases_into_one_flag() {
        let low = parse(
            Mode::Serve,
            args(&[
                "--enable-private-registries",
                "-enable-tls-registry=false",
                "--enable-private-registries-tls",
                "-v=4",
            ]),
        )
        .expect("parses");
        let got: Vec<Flag> = low.flags.iter().map(|o| o.spec.flag).collect();
        assert_eq!(
            got,
            [
                Flag::EnablePrivateRegistry,
                Flag::EnablePrivateRegistryTls,
                Flag::EnablePrivateRegistryTls,
                Flag::LogLevel
            ]
        );
        assert_eq!(low.flags[1].name, "enable-tls-registry");
    }

    #[test]
    fn bool_flags_take_no_separate_value() {
        let low = parse(Mode::Serve, args(&["--warm-up-pod-cache", "false"])).expect("parses");
        assert_eq!(
            flags(&low),
            vec![(Flag::WarmUpPodCache, "warm-up-pod-cache".into(), None)]
        );
        assert_eq!(low.positionals, args(&["false"]));
    }

    #[test]
    fn value_flags_take_the_next_argument_even_with_a_dash() {
        let low = parse(
            Mode::Serve,
            args(&["-pod-ttl", "-1h", "--functions", "--x"]),
        )
        .expect("parses");
        assert_eq!(
            flags(&low),
            vec![
                (Flag::PodTtl, "pod-ttl".into(), Some("-1h".into())),
                (Flag::Functions, "functions".into(), Some("--x".into())),
            ]
        );
    }

    #[test]
    fn keeps_equals_and_empty_values() {
        let low = parse(
            Mode::Serve,
            args(&["-config=a=b", "--functions=", "-pod-namespace="]),
        )
        .expect("parses");
        assert_eq!(
            flags(&low),
            vec![
                (Flag::Config, "config".into(), Some("a=b".into())),
                (Flag::Functions, "functions".into(), Some("".into())),
                (Flag::PodNamespace, "pod-namespace".into(), Some("".into())),
            ]
        );
    }

    #[test]
    fn one_letter_flags_with_equals() {
        let low = parse(Mode::HealthProbe, args(&["-v=false", "-addr=x:1"])).expect("parses");
        assert_eq!(
            flags(&low),
            vec![
                (Flag::Verbose, "v".into(), Some("false".into())),
                (Flag::Addr, "addr".into(), Some("x:1".into())),
            ]
        );
        // Go has no short clusters: -v3 is the (unknown) flag "v3".
        assert_eq!(
            parse(Mode::HealthProbe, args(&["-v3"])).expect_err("unknown"),
            Error::UnknownFlag { name: "v3".into() }
        );
    }

    #[test]
    fn double_dash_ends_flags() {
        let low = parse(
            Mode::WrapperServer,
            args(&["--port", "1", "--", "/fn", "--port", "--"]),
        )
        .expect("parses");
        assert_eq!(low.flags.len(), 1);
        assert_eq!(low.positionals, args(&["/fn", "--port", "--"]));
    }

    #[test]
    fn first_non_flag_ends_flags() {
        let low = parse(
            Mode::Eval,
            args(&["-image", "x", "file.yaml", "--timeout", "1s"]),
        )
        .expect("parses");
        assert_eq!(low.flags.len(), 1);
        assert_eq!(low.positionals, args(&["file.yaml", "--timeout", "1s"]));
        let low = parse(Mode::Eval, args(&["-", "-image=x"])).expect("parses");
        assert!(low.flags.is_empty());
        assert_eq!(low.positionals, args(&["-", "-image=x"]));
    }

    #[test]
    fn rejects_unknown_flags_and_bad_syntax() {
        let err = |list: &[&str]| parse(Mode::Serve, args(list)).expect_err("must fail");
        assert_eq!(
            err(&["--nope"]),
            Error::UnknownFlag {
                name: "nope".into()
            }
        );
        assert_eq!(
            err(&["-nope=1"]),
            Error::UnknownFlag {
                name: "nope".into()
            }
        );
        assert_eq!(
            err(&["---port"]),
            Error::BadSyntax {
                arg: "---port".into()
            }
        );
        assert_eq!(err(&["--=1"]), Error::BadSyntax { arg: "--=1".into() });
        assert_eq!(err(&["-=1"]), Error::BadSyntax { arg: "-=1".into() });
        assert_eq!(
            err(&["--port"]),
            Error::MissingValue {
                name: "port".into()
            }
        );
        assert_eq!(
            err(&["-port"]),
            Error::MissingValue {
                name: "port".into()
            }
        );
    }

    #[test]
    fn help_stops_parsing() {
        for form in [
            &["-h"][..],
            &["--help"],
            &["-help", "--nope"],
            &["--port=1", "-h"],
        ] {
            let low = parse(Mode::Serve, args(form)).expect("parses");
            assert!(low.help, "{form:?}");
        }
        assert!(parse(Mode::Serve, args(&["--nope", "-h"])).is_err());
    }

    #[test]
    fn keeps_non_utf8_values() {
        use std::os::unix::ffi::OsStringExt;
        let raw = OsString::from_vec(b"-functions=/a\xff".to_vec());
        let low = parse(Mode::Serve, vec![raw]).expect("parses");
        assert_eq!(
            low.flags[0].value,
            Raw::Given(OsString::from_vec(b"/a\xff".to_vec()))
        );
    }
}
