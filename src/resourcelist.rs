//! A KRM function's ResourceList (`config.kubernetes.io/v1`), as far as the
//! wrapper server needs it (compat §6): that the bytes are one, and its
//! `results`, rendered the way the kpt function SDK's `Results.Error()`
//! renders them:
//!
//! ```text
//! [error] v1/ConfigMap/ns/name spec.x: message
//!
//! [info]: message without reference or field
//! ```
//!
//! One line per result, joined by blank lines; the reference is
//! `apiVersion/kind/namespace/name` with empty parts left out, the field
//! path only when set, a missing severity shown as `info`. `items` are not
//! modelled: the bytes are passed on untouched.
//!
//! Speed: a function's output may be near the 6 MB message limit, almost
//! all of it `items`. When the output has the block layout kpt and kyaml
//! write (top-level keys at column 0, nothing else there but `- ` entries
//! and comments), the `items` and `functionConfig` sections are cut out
//! before parsing ([`skim`]); anything else is parsed whole. **Ours:** the
//! skipped sections are not checked for YAML validity (the Go original
//! parses everything; porch-server parses the items itself anyway).

use std::fmt;

use serde::Deserialize;

use crate::yaml;

/// The parts of a ResourceList that fn-runner looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ResourceList {
    /// `kind`; must be `ResourceList`.
    #[serde(default)]
    pub kind: String,
    /// `results`: structured results of the function.
    #[serde(default)]
    pub results: Vec<FunctionResult>,
}

/// One structured result (`results[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResult {
    /// `message`.
    #[serde(default)]
    pub message: String,
    /// `severity`: `error`, `warning`, `info`; empty means `info`.
    #[serde(default)]
    pub severity: String,
    /// `resourceRef`: the object the result is about.
    #[serde(default)]
    pub resource_ref: Option<ResourceRef>,
    /// `field`: the field the result is about.
    #[serde(default)]
    pub field: Option<Field>,
    /// `file`: the file the result is about.
    #[serde(default)]
    pub file: Option<File>,
}

/// `resourceRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// `field` (its `currentValue`/`proposedValue` are not needed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Field {
    #[serde(default)]
    pub path: String,
}

/// `file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct File {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub index: i64,
}

/// Why bytes are not a ResourceList.
#[derive(Debug)]
pub enum Error {
    /// Nothing (or only whitespace) was given.
    Empty,
    /// Not YAML of an object, or over a bound.
    Yaml(yaml::Error),
    /// An object of another kind.
    UnexpectedKind { kind: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => f.write_str("input is empty; expected a ResourceList"),
            Error::Yaml(e) => write!(f, "failed to parse input bytes: {e}"),
            // The kpt function SDK's wording (fn.ParseResourceList).
            Error::UnexpectedKind { kind } => {
                write!(
                    f,
                    "input was of unexpected kind {kind:?}; expected ResourceList"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Yaml(e) => Some(e),
            _ => None,
        }
    }
}

impl ResourceList {
    /// Parses `bytes` (at most `limit_bytes`; `what` names them in errors)
    /// through the bounded YAML parser.
    pub fn decode(bytes: &[u8], what: &str, limit_bytes: usize) -> Result<Self, Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::Empty);
        }
        if bytes.len() > limit_bytes {
            return Err(Error::Yaml(yaml::Error::TooLarge {
                source_name: yaml::Source::Named(what.to_owned()),
                limit_bytes,
            }));
        }
        let parse = |input: &[u8]| {
            yaml::from_slice::<ResourceList>(
                input,
                yaml::Source::Named(what.to_owned()),
                limit_bytes,
            )
        };
        // The cut-down document when the layout allows; the whole one when
        // not, or when the cut-down one fails (its error is the one to show).
        let parsed = match skim(bytes) {
            Some(small) => parse(&small).or_else(|_| parse(bytes)),
            None => parse(bytes),
        };
        let list = parsed.map_err(Error::Yaml)?;
        if list.kind != "ResourceList" {
            return Err(Error::UnexpectedKind { kind: list.kind });
        }
        Ok(list)
    }

    /// Whether any result has severity `error` (the SDK's non-zero `ExitCode()`).
    pub(crate) fn has_errors(&self) -> bool {
        self.results.iter().any(|r| r.severity == "error")
    }

    /// The results rendered as compat §6 says, joined by blank lines.
    pub fn render_results(&self) -> String {
        let lines: Vec<String> = self.results.iter().map(ToString::to_string).collect();
        lines.join("\n\n")
    }
}

/// Top-level sections fn-runner never reads.
const SKIPPED_SECTIONS: [&[u8]; 2] = [b"items", b"functionConfig"];

/// `bytes` without the [`SKIPPED_SECTIONS`], when the document is a block
/// mapping in which every line at column 0 is a plain top-level key
/// (`name:`), a sequence entry (`- `), a comment or blank; `None` (parse
/// everything) for any other layout: flow style, JSON, several documents,
/// directives, anchors or quoted keys at the top level.
fn skim(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut skipping = false;
    let mut seen_key = false;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match line.first().copied() {
            None | Some(b'\n' | b'\r' | b'#') => {}
            // A continuation of the current section.
            Some(b' ') if seen_key => {}
            Some(b'-') if seen_key && (line.starts_with(b"- ") || is_blank(&line[1..])) => {}
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let key = top_level_key(line)?;
                seen_key = true;
                skipping = SKIPPED_SECTIONS.contains(&key);
            }
            _ => return None,
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    seen_key.then_some(out)
}

/// The key of a `name:` line (`name` of letters, digits, `_`, `-`, `.`,
/// followed by `:` and a space or the line end); `None` for anything else.
fn top_level_key(line: &[u8]) -> Option<&[u8]> {
    let end = line
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))?;
    let (key, rest) = line.split_at(end);
    let after_colon = rest.strip_prefix(b":")?;
    match after_colon.first() {
        None | Some(b' ' | b'\n' | b'\r') => Some(key),
        _ => None,
    }
}

fn is_blank(rest: &[u8]) -> bool {
    rest.iter().all(|b| matches!(b, b'\n' | b'\r' | b' '))
}

impl fmt::Display for FunctionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = if self.severity.is_empty() {
            "info"
        } else {
            &self.severity
        };
        write!(f, "[{severity}]")?;
        if let Some(r) = &self.resource_ref {
            let parts: Vec<&str> = [&r.api_version, &r.kind, &r.namespace, &r.name]
                .into_iter()
                .map(String::as_str)
                .filter(|p| !p.is_empty())
                .collect();
            if !parts.is_empty() {
                write!(f, " {}", parts.join("/"))?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, " {}", field.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    #[test]
    fn renders_full_and_partial_results() {
        let input = br#"
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
results:
- message: bad value
  severity: error
  resourceRef: {apiVersion: v1, kind: ConfigMap, name: name, namespace: ns}
  field: {path: spec.x, currentValue: 3}
- message: no namespace
  severity: warning
  resourceRef: {apiVersion: v1, kind: ConfigMap, name: name}
- message: just a note
"#;
        let list = ResourceList::decode(input, "test", LIMIT).expect("a ResourceList");
        assert!(list.has_errors());
        assert_eq!(
            list.render_results(),
            "[error] v1/ConfigMap/ns/name spec.x: bad value\n\n\
             [warning] v1/ConfigMap/name: no namespace\n\n\
             [info]: just a note"
        );
    }

    #[test]
    fn skims_kyaml_layout_and_declines_everything_else() {
        let input = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- a: 1\n  b: [1,\n    2]\n-\n  c: 3\n# note\nresults:\n- message: m\nfunctionConfig:\n  data: {}\n";
        let small = skim(input).expect("kyaml layout");
        assert_eq!(
            small,
            b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nresults:\n- message: m\n"
        );
        for other in [
            &b"{kind: ResourceList, items: []}"[..],
            b"---\nkind: ResourceList\n",
            b"kind: ResourceList\n---\nkind: ResourceList\n",
            b"\"kind\": ResourceList\n",
            b"%YAML 1.2\n---\nkind: ResourceList\n",
            b"  kind: ResourceList\n",
            b"kind: ResourceList\nitems: &a\n- x\n\"results\": *a\n",
            b"kind:ResourceList\n",
        ] {
            assert_eq!(skim(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn skimmed_and_whole_parses_agree() {
        let input = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: ConfigMap\n  metadata: {name: x}\nresults:\n- message: bad\n  severity: error\n  field: {path: a.b}\n";
        let skimmed = ResourceList::decode(input, "t", LIMIT).expect("valid");
        let whole: ResourceList =
            yaml::from_slice(input, yaml::Source::Named("t".into()), LIMIT).expect("valid");
        assert_eq!(skimmed, whole);
        // Every prefix: an answer or an error, never a panic.
        for n in 0..input.len() {
            let _ = ResourceList::decode(&input[..n], "t", LIMIT);
        }
    }

    #[test]
    fn limit_applies_to_the_whole_output() {
        let input = b"kind: ResourceList\nitems:\n- 0123456789\n";
        assert!(ResourceList::decode(input, "t", input.len()).is_ok());
        let err = ResourceList::decode(input, "t", input.len() - 1).expect_err("over");
        assert!(
            err.to_string().contains("larger than the YAML limit"),
            "{err}"
        );
    }

    #[test]
    fn no_results_render_empty() {
        let list =
            ResourceList::decode(b"kind: ResourceList\nitems: []\n", "t", LIMIT).expect("valid");
        assert_eq!(list.render_results(), "");
        assert!(!list.has_errors());
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let err = ResourceList::decode(b"kind: ConfigMap\n", "t", LIMIT).expect_err("kind");
        assert_eq!(
            err.to_string(),
            "input was of unexpected kind \"ConfigMap\"; expected ResourceList"
        );
        let err = ResourceList::decode(b"this is not yaml: [", "t", LIMIT).expect_err("bad");
        assert!(err
            .to_string()
            .starts_with("failed to parse input bytes: parsing t: "));
        assert!(matches!(
            ResourceList::decode(b"  \n", "t", LIMIT),
            Err(Error::Empty)
        ));
        assert!(ResourceList::decode(b"just words", "t", LIMIT).is_err());
    }
}
