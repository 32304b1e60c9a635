//! The `--pod-cache-config` file (compat §4.6): which images get a pod at
//! start (warm-up) and, per image, the pod TTL and the parallel-pod limits.
//!
//! Two formats are in the wild and each Porch release reads only its own;
//! **ours** reads both:
//!
//! ```yaml
//! # v4: a map of image to TTL (a Go duration)
//! gcr.io/kpt-fn/set-namespace:v0.4.1: 30m
//! ---
//! # v1.5: a list with per-image limits (0 or missing: the flag's value)
//! - name: gcr.io/kpt-fn/set-namespace:v0.4.1
//!   timeToLive: 30m
//!   maxWaitlistLength: 1
//!   maxParallelPodsPerFunction: 2
//! ```
//!
//! A TTL that does not parse (or is not positive) falls back to `--pod-ttl`
//! with a warning, as both originals do; a missing file is a warning, not
//! an error (the runner starts without warm-up).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::cache::Limits;

/// Most images one file may list: far beyond Porch's catalog (~60), small
/// enough that a wrong file cannot make us start thousands of pods.
pub(crate) const MAX_ENTRIES: usize = 1_000;

/// The per-image settings the file gives (or the flags' defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub image: String,
    pub ttl: Duration,
    pub limits: Limits,
}

/// The file, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CacheConfig {
    /// The v1.5 list in file order, the v4 map sorted by image (warm-up
    /// starts them all at once anyway).
    entries: Vec<Entry>,
    by_image: HashMap<String, usize>,
    /// What was wrong but not fatal, for the caller to log.
    warnings: Vec<String>,
}

/// Why the file cannot be used at all.
#[derive(Debug)]
pub enum Error {
    /// Not YAML, or too large.
    Yaml(crate::yaml::Error),
    /// YAML, but neither a map nor a list.
    Shape { path: String, found: &'static str },
    /// More than [`MAX_ENTRIES`] images.
    TooManyEntries { path: String, count: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Yaml(e) => write!(f, "pod cache config: {e}"),
            Error::Shape { path, found } => write!(
                f,
                "pod cache config {path}: expected a map of image to TTL (Porch v4) or a list \
                 of {{name, timeToLive, ...}} (Porch v1.5), found {found}"
            ),
            Error::TooManyEntries { path, count } => write!(
                f,
                "pod cache config {path}: {count} images, more than the {MAX_ENTRIES} allowed"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Yaml(e) => Some(e),
            Error::Shape { .. } | Error::TooManyEntries { .. } => None,
        }
    }
}

/// The values a missing or bad field falls back to (the flags).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Defaults {
    /// `--pod-ttl`.
    pub ttl: Duration,
    /// `--max-parallel-pods-per-function`, `--max-waitlist-length`.
    pub limits: Limits,
}

impl CacheConfig {
    /// Reads `path`. A missing file is an empty config with a warning.
    pub fn load(path: &Path, defaults: Defaults) -> Result<CacheConfig, Error> {
        if !path.exists() {
            let mut config = CacheConfig::default();
            config.warnings.push(format!(
                "pod cache config {} does not exist: no pods are warmed up",
                path.display()
            ));
            return Ok(config);
        }
        let value: Value = crate::yaml::from_file(path).map_err(Error::Yaml)?;
        Self::from_value(&path.display().to_string(), &value, defaults)
    }

    /// Interprets a parsed file (`path` names it in messages).
    pub fn from_value(path: &str, value: &Value, defaults: Defaults) -> Result<CacheConfig, Error> {
        let mut config = CacheConfig::default();
        let count = match value {
            Value::Object(map) => map.len(),
            Value::Array(list) => list.len(),
            Value::Null => 0,
            other => {
                return Err(Error::Shape {
                    path: path.to_owned(),
                    found: kind_of(other),
                })
            }
        };
        if count > MAX_ENTRIES {
            return Err(Error::TooManyEntries {
                path: path.to_owned(),
                count,
            });
        }
        match value {
            Value::Object(map) => {
                for (image, ttl) in map {
                    let ttl = config.ttl(path, image, Some(ttl), defaults.ttl);
                    config.push(path, image.clone(), ttl, defaults.limits);
                }
            }
            Value::Array(list) => {
                for (index, item) in list.iter().enumerate() {
                    config.push_v15(path, index, item, defaults);
                }
            }
            _ => {}
        }
        Ok(config)
    }

    /// Every image to warm up.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The settings of `image`: its entry, else the defaults.
    pub(crate) fn for_image(&self, image: &str) -> Option<&Entry> {
        self.by_image.get(image).map(|&i| &self.entries[i])
    }

    /// Non-fatal problems found while reading, for the caller to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn push_v15(&mut self, path: &str, index: usize, item: &Value, defaults: Defaults) {
        let Some(image) = item
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            self.warnings.push(format!(
                "pod cache config {path}: entry {index} has no name: skipped"
            ));
            return;
        };
        let ttl = self.ttl(path, image, item.get("timeToLive"), defaults.ttl);
        let count = |field: &str, default: usize| -> usize {
            match item.get(field).and_then(Value::as_u64) {
                // v1.5: 0 (or absent) means the flag's value.
                Some(0) | None => default,
                Some(n) => usize::try_from(n).unwrap_or(default),
            }
        };
        let limits = Limits {
            max_waitlist: count("maxWaitlistLength", defaults.limits.max_waitlist),
            max_pods: count("maxParallelPodsPerFunction", defaults.limits.max_pods),
        };
        self.push(path, image.to_owned(), ttl, limits);
    }

    fn push(&mut self, path: &str, image: String, ttl: Duration, limits: Limits) {
        if self.by_image.contains_key(&image) {
            self.warnings.push(format!(
                "pod cache config {path}: {image} is listed twice; keeping the first entry"
            ));
            return;
        }
        self.by_image.insert(image.clone(), self.entries.len());
        self.entries.push(Entry { image, ttl, limits });
    }

    /// A TTL field: a positive Go duration, else `default` with a warning.
    fn ttl(
        &mut self,
        path: &str,
        image: &str,
        field: Option<&Value>,
        default: Duration,
    ) -> Duration {
        let text = match field {
            None | Some(Value::Null) => return default,
            Some(Value::String(s)) => s.clone(),
            // YAML `30` is a number; Go reads it into a string, then fails
            // to parse it as a duration (no unit).
            Some(other) => other.to_string(),
        };
        match crate::duration::parse(text.as_bytes()) {
            Ok(nanos) if nanos > 0 => Duration::from_nanos(nanos.unsigned_abs()),
            Ok(_) | Err(_) => {
                self.warnings.push(format!(
                    "pod cache config {path}: TTL {text:?} of {image} is not a positive Go \
                     duration: using --pod-ttl ({})",
                    format_args!("{default:?}")
                ));
                default
            }
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Defaults = Defaults {
        ttl: Duration::from_secs(1800),
        limits: Limits {
            max_pods: 1,
            max_waitlist: 2,
        },
    };

    fn parse(yaml: &str) -> CacheConfig {
        let value: Value = crate::yaml::from_slice(
            yaml.as_bytes(),
            crate::yaml::Source::Named("test".into()),
            1 << 20,
        )
        .expect("test YAML parses");
        CacheConfig::from_value("test.yaml", &value, DEFAULTS).expect("config reads")
    }

    #[test]
    fn reads_the_v4_map() {
        let config = parse("gcr.io/kpt-fn/set-namespace:v0.4.1: 5m\nexample.com/fn:v1: 1h30m\n");
        assert_eq!(
            config.entries(),
            [
                Entry {
                    image: "example.com/fn:v1".into(),
                    ttl: Duration::from_secs(5400),
                    limits: DEFAULTS.limits,
                },
                Entry {
                    image: "gcr.io/kpt-fn/set-namespace:v0.4.1".into(),
                    ttl: Duration::from_secs(300),
                    limits: DEFAULTS.limits,
                },
            ]
        );
        assert!(config.warnings().is_empty());
    }

    #[test]
    fn reads_the_v15_list_with_per_image_limits() {
        let config = parse(
            "- name: a:v1\n  timeToLive: 10s\n  maxWaitlistLength: 1\n  maxParallelPodsPerFunction: 3\n\
             - name: b:v1\n  maxWaitlistLength: 0\n",
        );
        let a = config.for_image("a:v1").expect("a");
        assert_eq!(a.ttl, Duration::from_secs(10));
        assert_eq!(
            a.limits,
            Limits {
                max_pods: 3,
                max_waitlist: 1
            }
        );
        let b = config.for_image("b:v1").expect("b");
        assert_eq!((b.ttl, b.limits), (DEFAULTS.ttl, DEFAULTS.limits));
        assert!(config.for_image("c:v1").is_none());
    }

    #[test]
    fn a_bad_ttl_falls_back_to_the_flag_with_a_warning() {
        for bad in [
            "a:v1: soon",
            "a:v1: 30",
            "a:v1: -5m",
            "- {name: a:v1, timeToLive: 0}",
        ] {
            let config = parse(bad);
            assert_eq!(
                config.for_image("a:v1").expect("entry").ttl,
                DEFAULTS.ttl,
                "{bad}"
            );
            assert_eq!(config.warnings().len(), 1, "{bad}");
            assert!(config.warnings()[0].contains("a:v1"), "{bad}");
        }
    }

    #[test]
    fn nameless_and_duplicate_entries_are_warned_about() {
        let config = parse("- {timeToLive: 1m}\n- {name: a:v1}\n- {name: a:v1, timeToLive: 1m}\n");
        assert_eq!(config.entries().len(), 1);
        assert_eq!(config.for_image("a:v1").expect("a").ttl, DEFAULTS.ttl);
        assert_eq!(config.warnings().len(), 2, "{:?}", config.warnings());
    }

    #[test]
    fn a_missing_file_is_a_warning() {
        let config = CacheConfig::load(Path::new("/nonexistent/pod-cache-config.yaml"), DEFAULTS)
            .expect("not an error");
        assert!(config.entries().is_empty());
        assert!(config.warnings()[0].contains("does not exist"));
    }

    #[test]
    fn other_shapes_are_errors() {
        let value = Value::String("x".into());
        let err = CacheConfig::from_value("p.yaml", &value, DEFAULTS).expect_err("a string");
        assert!(err.to_string().contains("found a string"), "{err}");
        let many: serde_json::Map<String, Value> = (0..=MAX_ENTRIES)
            .map(|i| (format!("img{i}:v1"), Value::from("1m")))
            .collect();
        let err = CacheConfig::from_value("p.yaml", &Value::Object(many), DEFAULTS)
            .expect_err("too many");
        assert!(matches!(err, Error::TooManyEntries { .. }));
    }
}
