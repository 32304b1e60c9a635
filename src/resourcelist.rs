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
        let list: ResourceList =
            yaml::from_slice(bytes, yaml::Source::Named(what.to_owned()), limit_bytes)
                .map_err(Error::Yaml)?;
        if list.kind != "ResourceList" {
            return Err(Error::UnexpectedKind { kind: list.kind });
        }
        Ok(list)
    }

    /// Whether any result has severity `error` (the SDK's non-zero `ExitCode()`).
    pub fn has_errors(&self) -> bool {
        self.results.iter().any(|r| r.severity == "error")
    }

    /// The results rendered as compat §6 says, joined by blank lines.
    pub fn render_results(&self) -> String {
        let lines: Vec<String> = self.results.iter().map(ToString::to_string).collect();
        lines.join("\n\n")
    }
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
