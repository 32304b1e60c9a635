//! The exec runtime (compat §3): functions cached as binaries in
//! `--functions`, mapped to images by the `--config` file:
//!
//! ```yaml
//! functions:
//!   - function: set-namespace          # file name inside --functions
//!     images:
//!       - gcr.io/kpt-fn/set-namespace:v0.2.0
//! ```
//!
//! Image strings match exactly; a duplicate image keeps its first entry
//! (with a warning). The binary runs with stdin = resource_list and no
//! arguments; stdout becomes resource_list, stderr becomes log. A non-zero
//! exit fails with `Failed to execute function "IMAGE": <exit status>
//! (<stderr>)`, the Go original's text.
//!
//! **Ours:** a `function` entry that leaves `--functions` (`../x`, an
//! absolute path) is refused at start-up. The check is lexical: a symlink
//! inside `--functions` is the operator's own choice and is followed.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::metrics::{self, ExecExits, Runtime};
use crate::buffers;
use crate::call::CallContext;
use crate::process::{self, Runner};
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse};
use crate::yaml;

/// What the exec runtime is started with (`flags` builds it from compat
/// §1's `--config`, `--functions` and `--max-request-body-size`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// The config file mapping images to binaries.
    pub config: PathBuf,
    /// The directory of the binaries.
    pub functions: PathBuf,
    /// Cap on each of a function's stdout and stderr, in bytes: the message
    /// limit, since the output must fit a reply.
    pub output_limit_bytes: usize,
    /// What a missing `config` file means.
    pub missing_config: MissingConfig,
}

/// What a missing exec config file means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingConfig {
    /// An error: the file was named on purpose.
    Fails,
    /// A warning, and an exec runtime that knows no images. Ours, for the
    /// default `./config.yaml`: a runner without cached functions is useful
    /// on a laptop, with the pod runtime.
    Warns,
}

/// Runs functions from cached binaries.
#[derive(Debug)]
pub struct ExecEvaluator {
    /// Image -> its binary.
    binaries: HashMap<String, Binary>,
    /// Runs the binaries and owns them while they run. Its output cap is
    /// the message limit (`--max-request-body-size`), since the output
    /// must fit a reply.
    runner: Runner,
    /// Warnings found while loading the config, for the caller to log.
    warnings: Vec<String>,
}

/// The binary that serves an image.
#[derive(Debug)]
struct Binary {
    /// `--functions` joined with the entry's `function`.
    path: PathBuf,
    /// The image's exit codes (metrics).
    exits: ExecExits,
}

/// Why the exec config cannot be used.
#[derive(Debug)]
pub enum Error {
    /// The file could not be read or parsed.
    Yaml(yaml::Error),
    /// Entry `index`'s `function` is empty, absolute or climbs out of the
    /// functions directory.
    EscapesFunctions {
        config: PathBuf,
        index: usize,
        function: String,
        functions_dir: PathBuf,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Yaml(e) => write!(f, "exec runtime config: {e}"),
            Error::EscapesFunctions {
                config,
                index,
                function,
                functions_dir,
            } => write!(
                f,
                "exec runtime config {}: functions[{index}].function {function:?} is not a \
                 file name inside --functions {}: it must be a relative path without \"..\"",
                config.display(),
                functions_dir.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Yaml(e) => Some(e),
            Error::EscapesFunctions { .. } => None,
        }
    }
}

/// The `--config` file.
#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    functions: Vec<Entry>,
}

/// One `functions[]` entry.
#[derive(Debug, Deserialize)]
struct Entry {
    function: String,
    #[serde(default)]
    images: Vec<String>,
}

impl ExecEvaluator {
    /// Loads `config` (compat §3) with binaries in `functions_dir`. Each
    /// child's stdout and stderr are capped at `output_limit_bytes`.
    pub fn load(
        config: &Path,
        functions_dir: &Path,
        output_limit_bytes: usize,
    ) -> Result<Self, Error> {
        let options = process::Options {
            output_limit_bytes,
            buffers: buffers::Pool::unpooled(),
        };
        Self::load_with(config, functions_dir, options)
    }

    /// [`load`](Self::load) with the process runner's options.
    fn load_with(
        config: &Path,
        functions_dir: &Path,
        options: process::Options,
    ) -> Result<Self, Error> {
        let parsed: Config = yaml::from_file(config).map_err(Error::Yaml)?;
        let mut binaries: HashMap<String, Binary> = HashMap::new();
        let mut warnings = Vec::new();
        for (index, entry) in parsed.functions.into_iter().enumerate() {
            if !is_inside(&entry.function) {
                return Err(Error::EscapesFunctions {
                    config: config.to_owned(),
                    index,
                    function: entry.function,
                    functions_dir: functions_dir.to_owned(),
                });
            }
            let binary = functions_dir.join(&entry.function);
            for image in entry.images {
                if let Some(first) = binaries.get(&image) {
                    warnings.push(format!(
                        "exec runtime config {}: image {image:?} is listed again for function \
                         {:?}; keeping the first entry, {}",
                        config.display(),
                        entry.function,
                        first.path.display()
                    ));
                    continue;
                }
                let path = binary.clone();
                let exits = ExecExits::default();
                binaries.insert(image, Binary { path, exits });
            }
        }
        Ok(Self {
            binaries,
            runner: Runner::new(options),
            warnings,
        })
    }

    /// Warnings found while loading (duplicate images), for the caller to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How many images this runtime knows.
    pub fn image_count(&self) -> usize {
        self.binaries.len()
    }

    /// Starts the exec runtime of `config`, logging what it found; `None`
    /// when an optional config file is missing (see [`MissingConfig`]).
    /// Large outputs use `buffers`.
    pub fn start(config: &ExecConfig, buffers: buffers::Pool) -> Result<Option<Self>, Error> {
        if config.missing_config == MissingConfig::Warns && !config.config.exists() {
            crate::warn!(
                "no exec runtime config at {} (--config): the exec runtime knows no images",
                config.config.display()
            );
            return Ok(None);
        }
        let options = process::Options {
            output_limit_bytes: config.output_limit_bytes,
            buffers,
        };
        let exec = Self::load_with(&config.config, &config.functions, options)?;
        for warning in exec.warnings() {
            crate::warn!("{warning}");
        }
        crate::info!(
            "exec runtime: {} images from {}, binaries in {}",
            exec.image_count(),
            config.config.display(),
            config.functions.display()
        );
        Ok(Some(exec))
    }
}

impl super::Evaluator for ExecEvaluator {
    fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, super::Error> {
        let Some(binary) = self.binaries.get(&request.image) else {
            return Err(super::Error::UnknownImage {
                image: request.image.clone(),
            });
        };
        let started = Instant::now();
        let result = self.run(binary, request, ctx);
        metrics::evaluated(Runtime::Exec, &result, started);
        result
    }
}

impl ExecEvaluator {
    /// Runs `binary` on the request (compat §3's wording of failures).
    fn run(
        &self,
        binary: &Binary,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, super::Error> {
        let failed = |what: String, stderr: &[u8]| super::Error::FunctionFailed {
            message: format!(
                "Failed to execute function {:?}: {what} ({})",
                request.image,
                String::from_utf8_lossy(stderr)
            ),
        };
        let out = match self
            .runner
            .run(Command::new(&binary.path), &mut request.resource_list, ctx)
        {
            Ok(out) => out,
            // Go's exec.Cmd.Run fails the same way when the binary is missing.
            Err(e @ process::Error::Spawn { .. }) => return Err(failed(e.to_string(), b"")),
            Err(e) => return Err(super::Error::from(e)),
        };
        binary.exits.record(&request.image, &out.status);
        if !out.status.success() {
            return Err(failed(process::describe_exit(&out.status), &out.stderr));
        }
        Ok(EvaluateFunctionResponse {
            resource_list: out.stdout,
            log: out.stderr,
        })
    }
}

impl super::Runtime for ExecEvaluator {
    /// Ready once loaded: there is nothing to warm up.
    fn wait_ready(&self, _timeout: Duration) -> bool {
        true
    }

    /// Kills the functions still running (at once: `deadline` is not needed).
    fn shutdown(&self, _deadline: Instant) {
        self.runner.shutdown();
    }
}

/// Whether `function` names a path inside the functions directory:
/// relative, not empty, no `..`.
fn is_inside(function: &str) -> bool {
    let path = Path::new(function);
    let mut normal = 0usize;
    for c in path.components() {
        match c {
            Component::Normal(_) => normal += 1,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    normal > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_accepts_names_and_subdirs_only() {
        for ok in ["set-namespace", "./fn", "dir/fn"] {
            assert!(is_inside(ok), "{ok}");
        }
        for bad in ["", ".", "../x", "/bin/sh", "dir/../../x", "a/.."] {
            assert!(!is_inside(bad), "{bad}");
        }
    }
}
