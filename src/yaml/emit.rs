//! YAML text for a [`serde_json::Value`], in block style, the way kubectl
//! prints objects: `fn-runner preflight --show-pod` prints the pod the
//! runner would create with it, for an operator to read and `kubectl
//! apply --dry-run` (issue 13).
//!
//! The one promise: the text parses back (through [`super::from_slice`],
//! or any YAML 1.1 or 1.2 parser) to the same value. So a string is
//! written plain only when it cannot be read as anything else; every
//! other string is double-quoted with JSON's escapes, which YAML's
//! double-quoted style shares (YAML 1.2 is a superset of JSON). Plain means:
//! - only ASCII letters, digits and `-_./:@+=`, not empty, no `:` at the end;
//! - starts with a letter, `_` or `/`, or with dashes followed by one of
//!   those (so `--port` is plain; `-`, `--` and `-1` are not);
//! - not a word that YAML 1.1 or 1.2 reads as null or a boolean (`null`,
//!   `~`, `true`, `yes`, `on`, `n`, ... in any case).
//!
//! Numbers therefore always come out quoted when they are strings
//! (`"9446"`), and so does every string with a space, a `#`, a quote or a
//! line break. Keys follow the same rule. Empty maps and lists are `{}`
//! and `[]`; a list under a key starts at the key's indentation, as
//! kubectl writes it. No anchors, tags, comments or flow style.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Spaces per nesting level.
const INDENT: usize = 2;

/// `value` as a YAML document (ending in a newline).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(list) if !list.is_empty() => write_list(&mut out, list, 0),
        scalar => {
            write_scalar(&mut out, scalar);
            out.push('\n');
        }
    }
    out
}

/// The entries of `map` at `indent`; the first one goes on the current
/// line when `inline_first` (after a list's `- `).
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, inline_first: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        write_string(out, key);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, indent + INDENT, false);
            }
            // kubectl's style: a list under a key at the key's indentation.
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(out, inner, indent);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

/// The items of `list`, each `- ` at `indent`.
fn write_list(out: &mut String, list: &[Value], indent: usize) {
    for item in list {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                out.push(' ');
                write_map(out, inner, indent + INDENT, true);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(out, inner, indent + INDENT);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

/// A value with no block form: null, a boolean, a number, a string, or
/// an empty map or list.
fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // serde_json writes integers as digits and floats in a form YAML
        // 1.2's core schema reads as the same float (`0.5`, `1e300`).
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A string, plain when that is safe (see the module doc), else quoted.
fn write_string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        // JSON's string syntax is YAML's double-quoted style; serializing
        // a `str` cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
    }
}

/// Words YAML 1.1 (`yes`, `on`, `y`, ...) or 1.2 reads as null or a
/// boolean; compared without case.
const RESERVED_WORDS: [&str; 13] = [
    "null", "true", "false", "yes", "no", "on", "off", "y", "n", "~", "nan", "inf", "infinity",
];

fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let starts_word = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b'/';
    // Leading dashes are fine when a word follows (`--port`); `-`, `--`
    // or `---` alone are not (a list item, a document marker).
    let first_ok = bytes
        .iter()
        .find(|&&b| b != b'-')
        .is_some_and(|&b| starts_word(b));
    first_ok
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@+=".contains(b))
        && !s.ends_with(':')
        && !RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        super::super::from_slice(
            text.as_bytes(),
            super::super::Source::Named("emitted YAML".to_owned()),
            1 << 20,
        )
        .unwrap_or_else(|e| panic!("{e}:\n{text}"))
    }

    fn assert_round_trips(value: &Value) {
        let text = to_string(value);
        assert_eq!(&parse(&text), value, "through:\n{text}");
    }

    /// Strings that a careless emitter turns into something else.
    const TRICKY: &[&str] = &[
        "",
        " ",
        "true",
        "True",
        "FALSE",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "N",
        "null",
        "Null",
        "~",
        "nan",
        ".nan",
        "inf",
        "-inf",
        ".inf",
        "-.inf",
        "9446",
        "6291456",
        "0",
        "-1",
        "+1",
        "1.5",
        ".5",
        "1e3",
        "0x1F",
        "0o17",
        "1_000",
        "12:30",
        "-",
        "--",
        "---",
        "...",
        "- a",
        "-a",
        "--port",
        "a: b",
        "a:",
        "a:b",
        ":a",
        "# x",
        "x #y",
        "x#y",
        "@x",
        "`x",
        "'x'",
        "\"x\"",
        "&a",
        "*a",
        "!tag",
        "%x",
        "|",
        ">",
        "?",
        "? x",
        ",",
        "[x]",
        "{x}",
        "{}",
        "[]",
        "<<",
        "=",
        "a b",
        " lead",
        "trail ",
        "multi\nline",
        "tab\there",
        "cr\r",
        "ünïcode",
        "emoji 🦀",
        "nul\u{0}",
        "bell\u{7}",
        "back\\slash",
        "/wrapper-server-tools/wrapper-server",
        "fn.kpt.dev/image",
        "127.0.0.1:5000/kpt-fn/set_namespace:v1",
        "localhost:9446",
        "sha256:0ec0fb23",
        "a=b",
        "user@host",
    ];

    #[test]
    fn tricky_strings_round_trip_as_values_and_keys() {
        for s in TRICKY {
            assert_round_trips(&json!(s));
            assert_round_trips(&json!([s]));
            assert_round_trips(&json!({ *s: s }));
            assert_round_trips(&json!({"k": {*s: [s, {*s: s}]}}));
        }
    }

    #[test]
    fn scalars_and_empties_round_trip() {
        for value in [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-17),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(0.5),
            json!(-2.25),
            json!(1e300),
            json!({}),
            json!([]),
            json!({"a": {}, "b": [], "c": null, "d": [[]], "e": [{}]}),
            json!([[1, [2, [3]]], [], [[]], {"x": []}]),
        ] {
            assert_round_trips(&value);
        }
    }

    #[test]
    fn writes_block_style_as_kubectl_does() {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "fn-0ec0fb23-", "labels": {"fn.kpt.dev/image": "fn-0ec0fb23"}},
            "spec": {"containers": [{"name": "function", "args": ["--port", "9446", "--"],
                                     "readinessProbe": {"exec": {"command": ["probe"]}}}],
                     "volumes": [{"name": "tools", "emptyDir": {}}]},
        });
        assert_eq!(
            to_string(&pod),
            "apiVersion: v1\n\
             kind: Pod\n\
             metadata:\n\
             \x20 generateName: fn-0ec0fb23-\n\
             \x20 labels:\n\
             \x20   fn.kpt.dev/image: fn-0ec0fb23\n\
             spec:\n\
             \x20 containers:\n\
             \x20 - args:\n\
             \x20   - --port\n\
             \x20   - \"9446\"\n\
             \x20   - \"--\"\n\
             \x20   name: function\n\
             \x20   readinessProbe:\n\
             \x20     exec:\n\
             \x20       command:\n\
             \x20       - probe\n\
             \x20 volumes:\n\
             \x20 - emptyDir: {}\n\
             \x20   name: tools\n"
        );
        assert_round_trips(&pod);
    }

    #[test]
    fn random_documents_round_trip() {
        // A small deterministic generator (xorshift): nested maps and lists
        // of the tricky strings and numbers, a few thousand documents.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| -> usize {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n as u64).expect("below n")
        };
        fn build(next: &mut dyn FnMut(usize) -> usize, depth: usize) -> Value {
            match if depth == 0 { next(4) } else { next(6) } {
                0 => json!(TRICKY[next(TRICKY.len())]),
                1 => json!(next(100_000)),
                2 => json!(next(2) == 0),
                3 => Value::Null,
                4 => Value::Array((0..next(4)).map(|_| build(next, depth - 1)).collect()),
                _ => Value::Object(
                    (0..next(4))
                        .map(|_| {
                            (
                                TRICKY[next(TRICKY.len())].to_owned(),
                                build(next, depth - 1),
                            )
                        })
                        .collect(),
                ),
            }
        }
        for _ in 0..2_000 {
            assert_round_trips(&build(&mut next, 4));
        }
    }
}
