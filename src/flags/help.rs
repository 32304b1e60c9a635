//! Usage texts: the flags of a mode with their defaults (laid out like Go's
//! `flag.PrintDefaults`, plus the aliases), and the list of modes.

use std::fmt::Write as _;

use super::spec::{self, Kind};
use super::Mode;

/// The usage of `mode`, headed by `program` (`server`, `fn-runner serve`).
pub(crate) fn usage(mode: Mode, program: &str) -> String {
    let mut out = String::new();
    let synopsis = match mode {
        Mode::Serve => "[flags]",
        Mode::WrapperServer => "[flags] -- ENTRYPOINT [ARGS...]",
        Mode::HealthProbe => "-addr HOST:PORT [flags]",
        Mode::Eval => "-image IMAGE [flags] [FILE | -]",
        Mode::Inspect => "[flags] IMAGE",
        Mode::Preflight => "[serve flags] [-show-pod IMAGE]",
    };
    let _ = writeln!(out, "Usage: {program} {synopsis}");
    let _ = writeln!(out, "{}", mode.summary());
    let _ = writeln!(
        out,
        "Flags take Go syntax: -name value, -name=value, --name value, --name=value; \
         bools: -name, -name=false."
    );
    for spec in spec::tables(mode).iter().flat_map(|t| t.iter()) {
        let _ = write!(out, "  -{}", spec.name());
        for alias in &spec.names[1..] {
            let _ = write!(out, ", -{alias}");
        }
        match spec.kind {
            Kind::Bool => {}
            Kind::Int => out.push_str(" int"),
            Kind::Str => out.push_str(" string"),
            Kind::Duration => out.push_str(" duration"),
        }
        let _ = write!(out, "\n    \t{}", spec.usage);
        if !spec.default.is_empty() && spec.default != "false" {
            if spec.kind == Kind::Str {
                let _ = write!(out, " (default {:?})", spec.default);
            } else {
                let _ = write!(out, " (default {})", spec.default);
            }
        }
        out.push('\n');
    }
    out
}

/// The list of modes, for `fn-runner`, `fn-runner help`.
pub(crate) fn modes(program: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Usage: {program} MODE [flags] [args]");
    let _ = writeln!(out, "\nModes:");
    for mode in Mode::ALL {
        let _ = writeln!(out, "  {:<15} {}", mode.name(), mode.summary());
    }
    let _ = writeln!(
        out,
        "\nCalled as `server`, `wrapper-server` or `grpc-health-probe` (a symlink or copy),\n\
         the binary runs that mode directly.\n\
         `{program} help MODE` or `{program} MODE -h` shows the flags of MODE; \
         `{program} --version` prints the version."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_flag_and_alias_with_defaults() {
        let text = usage(Mode::Serve, "server");
        for needle in [
            "Usage: server [flags]",
            "  -port int\n    \tgRPC listen port, on -bind-address (0..65535) (default 9445)",
            "  -bind-address string\n    \tIP address to listen on; 0.0.0.0: all IPv4 interfaces (default \"0.0.0.0\")",
            "-enable-private-registry, -enable-private-registries\n",
            "-enable-private-registry-tls, -enable-private-registries-tls, -enable-tls-registry\n",
            "-log-level, -v int",
            "(default \"porch-fn-system\")",
            "-pod-ttl duration",
            "(default 30m0s)",
            "-warm-up-pod-cache\n",
            "(default true)",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn lists_every_mode() {
        let text = modes("fn-runner");
        for mode in Mode::ALL {
            assert!(text.contains(mode.name()));
        }
    }
}
