//! The one bounded YAML entry point (design.md "Dependencies"): every YAML
//! input of fn-runner (the exec config, pod templates, kubeconfig, function
//! output ResourceLists) goes through here, over serde-saphyr.
//!
//! Bounds: a size cap checked before parsing, and serde-saphyr budgets
//! against alias bombs and deep nesting. Errors name the input (a file
//! path, or what the bytes are, e.g. "the output of function X").
//! serde-saphyr types stop at this file.
//!
//! The other direction, YAML text from a JSON value, is [`emit`] (no
//! parser involved; `fn-runner preflight --show-pod` uses it).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub(crate) mod emit;

/// Largest YAML file we read from disk (config files, templates,
/// kubeconfig): our own choice, far above any real one, small enough that a
/// wrong path (a log file, a binary) fails fast.
pub(crate) const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting accepted. Kubernetes objects rarely pass 20 levels; the
/// budget protects the stack against `[[[[...]]]]`.
const MAX_DEPTH: usize = 64;
/// Alias (`*ref`) events accepted in one input. Real configs use a few;
/// each expansion is bounded again by [`MAX_REPLAYED_EVENTS`].
const MAX_ALIASES: usize = 10_000;
/// Events replayed through aliases in one input: the alias-bomb bound
/// (a billion-laughs input dies here, long before memory does).
const MAX_REPLAYED_EVENTS: usize = 100_000;

/// What the bytes are, for error messages: a file, or a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// In-memory bytes, described (e.g. `the output of function "x"`).
    Named(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Named(name) => f.write_str(name),
        }
    }
}

/// Why YAML could not be read.
#[derive(Debug)]
pub enum Error {
    /// The file could not be opened or read.
    Read {
        source_name: Source,
        source: std::io::Error,
    },
    /// The input is larger than the limit.
    TooLarge {
        source_name: Source,
        limit_bytes: usize,
    },
    /// The input is not valid YAML for the expected shape, or broke a budget.
    Parse {
        source_name: Source,
        source: Box<serde_saphyr::Error>,
    },
}

impl Error {
    /// What the bytes were.
    pub fn source_name(&self) -> &Source {
        match self {
            Error::Read { source_name, .. }
            | Error::TooLarge { source_name, .. }
            | Error::Parse { source_name, .. } => source_name,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read {
                source_name,
                source,
            } => write!(f, "reading {source_name}: {source}"),
            Error::TooLarge {
                source_name,
                limit_bytes,
            } => write!(
                f,
                "{source_name} is larger than the YAML limit of {limit_bytes} bytes"
            ),
            // The cause's text is part of what a user needs here (line,
            // column, what was expected), so it is shown, and kept as source.
            Error::Parse {
                source_name,
                source,
            } => write!(f, "parsing {source_name}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } => Some(source),
            Error::Parse { source, .. } => Some(source.as_ref()),
            Error::TooLarge { .. } => None,
        }
    }
}

/// Reads and parses the YAML file `path` (at most [`MAX_FILE_BYTES`]).
pub(crate) fn from_file<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let source_name = Source::File(path.to_owned());
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        source_name: source_name.clone(),
        source,
    })?;
    let mut bytes = Vec::new();
    // Read one byte past the limit to tell "at the limit" from "over it".
    let cap = u64::try_from(MAX_FILE_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            source_name: source_name.clone(),
            source,
        })?;
    from_slice(&bytes, source_name, MAX_FILE_BYTES)
}

/// Parses `bytes` (at most `limit_bytes`) as one YAML document.
pub fn from_slice<T: DeserializeOwned>(
    bytes: &[u8],
    source_name: Source,
    limit_bytes: usize,
) -> Result<T, Error> {
    if bytes.len() > limit_bytes {
        return Err(Error::TooLarge {
            source_name,
            limit_bytes,
        });
    }
    serde_saphyr::from_slice_with_options(bytes, options(bytes.len())).map_err(|source| {
        Error::Parse {
            source_name,
            source: Box::new(source),
        }
    })
}

/// The budgets for an input of `len` bytes. Event and node counts scale
/// with the input (a node costs at least one byte of input unless it comes
/// from an alias, which [`MAX_REPLAYED_EVENTS`] bounds), so a large but
/// honest ResourceList is never refused, while expansion stays bounded.
fn options(len: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_aliases = MAX_ALIASES;
    budget.max_events = budget
        .max_events
        .max(len.saturating_mul(2).saturating_add(MAX_REPLAYED_EVENTS));
    budget.max_nodes = budget
        .max_nodes
        .max(len.saturating_add(MAX_REPLAYED_EVENTS));
    budget.max_recorded_anchor_events = MAX_REPLAYED_EVENTS;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options.with_snippet = false;
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn named() -> Source {
        Source::Named("test input".to_owned())
    }

    #[test]
    fn parses_a_mapping() {
        let m: BTreeMap<String, u32> = from_slice(b"a: 1\nb: 2\n", named(), 100).expect("valid");
        assert_eq!(m.get("b"), Some(&2));
    }

    #[test]
    fn size_limit_at_n_and_n_plus_one() {
        let input = b"a: 1\n";
        let ok: Result<BTreeMap<String, u32>, _> = from_slice(input, named(), input.len());
        assert!(ok.is_ok());
        let err = from_slice::<BTreeMap<String, u32>>(input, named(), input.len() - 1)
            .expect_err("over the limit");
        assert!(matches!(err, Error::TooLarge { .. }));
        assert_eq!(
            err.to_string(),
            "test input is larger than the YAML limit of 4 bytes"
        );
    }

    #[test]
    fn refuses_an_alias_bomb() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let err = from_slice::<serde_json::Value>(doc.as_bytes(), named(), 1 << 20)
            .expect_err("alias bomb refused");
        assert!(err.to_string().starts_with("parsing test input: "), "{err}");
    }

    #[test]
    fn refuses_deep_nesting() {
        let doc = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(from_slice::<serde_json::Value>(doc.as_bytes(), named(), 1 << 20).is_err());
    }

    #[test]
    fn read_error_names_the_file() {
        let err = from_file::<serde_json::Value>(Path::new("/nonexistent/config.yaml"))
            .expect_err("missing file");
        assert!(
            err.to_string()
                .starts_with("reading /nonexistent/config.yaml: "),
            "{err}"
        );
    }

    #[test]
    fn parse_error_names_the_source_and_never_panics_on_prefixes() {
        let input = b"functions:\n  - function: x\n    images: [a, b]\n";
        for n in 0..input.len() {
            let _ = from_slice::<serde_json::Value>(&input[..n], named(), 1 << 20);
        }
        let err = from_slice::<BTreeMap<String, u32>>(b"a: [", named(), 100).expect_err("bad");
        assert!(err.to_string().starts_with("parsing test input: "), "{err}");
    }
}
