//! The bearer token for the next request, from an [`Auth`] source.
//!
//! - A token file is re-read when its modification time or length changes
//!   (bound service-account tokens rotate about hourly, and the kubelet
//!   swaps the file) and whenever the client saw a 401.
//! - An exec plugin runs once and its token is cached until its
//!   `expirationTimestamp` (or forever when it has none), and again after a
//!   401. It gets `KUBERNETES_EXEC_INFO` like kubectl gives it, stdin closed,
//!   and [`EXEC_TIMEOUT`] to answer. It runs through the crate's process
//!   runner: its own process group (killed, helpers included, at the
//!   deadline), its stdout and stderr each capped at [`EXEC_OUTPUT_BYTES`].
//!
//! Tokens never appear in `Debug`, logs or errors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::config::{self, read_bounded, Auth, ExecConfig, MAX_CONFIG_FILE_BYTES};
use super::time::parse_rfc3339;
use crate::buffers;
use crate::call::CallContext;
use crate::process::{self, Runner};

/// How long an exec credential plugin may take (kubectl has none; a hung
/// plugin must not hang the runner).
pub(crate) const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an exec plugin's stderr goes into our error message.
const EXEC_STDERR_BYTES: usize = 4096;

/// Cap on each of an exec plugin's stdout and stderr: a config file's
/// bound, which an ExecCredential (a small JSON document) is far below.
pub(crate) const EXEC_OUTPUT_BYTES: usize = MAX_CONFIG_FILE_BYTES as usize;

/// A token this close to its expiry is refreshed before use.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// Produces the bearer token for each request.
pub(crate) struct Credentials {
    auth: Auth,
    cached: Mutex<Option<Cached>>,
    /// Runs the exec plugin.
    runner: Runner,
}

struct Cached {
    token: String,
    /// (mtime, length) of the token file when it was read.
    file_stamp: Option<(SystemTime, u64)>,
    /// When an exec credential stops being valid.
    expires: Option<SystemTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub(crate) fn new(auth: Auth) -> Self {
        Self {
            auth,
            cached: Mutex::new(None),
            runner: Runner::new(process::Options {
                output_limit_bytes: EXEC_OUTPUT_BYTES,
                buffers: buffers::Pool::unpooled(),
            }),
        }
    }

    /// The token to send now; `None` when this source has no token.
    pub(crate) fn token(&self) -> Result<Option<String>, config::Error> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Token(t) => Ok(Some(t.clone())),
            Auth::TokenFile(path) => {
                let stamp = file_stamp(path);
                let fresh =
                    matches!(&*cached, Some(c) if c.file_stamp.is_some() && c.file_stamp == stamp);
                if !fresh {
                    let bytes = read_bounded(path)?;
                    let token = String::from_utf8_lossy(&bytes).trim().to_owned();
                    *cached = Some(Cached {
                        token,
                        file_stamp: stamp,
                        expires: None,
                    });
                }
                Ok(cached
                    .as_ref()
                    .map(|c| c.token.clone())
                    .filter(|t| !t.is_empty()))
            }
            Auth::Exec(exec) => {
                let now = SystemTime::now();
                let valid = matches!(&*cached, Some(c) if c.expires.is_none_or(|e| now + EXPIRY_MARGIN < e));
                if !valid {
                    let (token, expires) = run_exec(&self.runner, exec)?;
                    *cached = Some(Cached {
                        token,
                        file_stamp: None,
                        expires,
                    });
                }
                Ok(cached.as_ref().map(|c| c.token.clone()))
            }
        }
    }

    /// Forgets the cached token (after a 401): the next [`token`](Self::token)
    /// re-reads the file or re-runs the plugin. Returns whether a retry
    /// could change anything (false for a fixed token or none).
    pub(crate) fn invalidate(&self) -> bool {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        matches!(self.auth, Auth::TokenFile(_) | Auth::Exec(_))
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[derive(Deserialize)]
struct ExecCredential {
    #[serde(default)]
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration_timestamp: Option<String>,
}

fn run_exec(
    runner: &Runner,
    exec: &ExecConfig,
) -> Result<(String, Option<SystemTime>), config::Error> {
    let fail = |message: String| config::Error::Exec {
        command: PathBuf::from(&exec.command),
        message,
    };
    let info = format!(
        r#"{{"apiVersion":"{}","kind":"ExecCredential","spec":{{"interactive":false}}}}"#,
        exec.api_version
    );
    let mut cmd = Command::new(&exec.command);
    cmd.args(&exec.args).env("KUBERNETES_EXEC_INFO", info);
    for e in &exec.env {
        cmd.env(&e.name, &e.value);
    }
    let ctx = CallContext::with_timeout(EXEC_TIMEOUT);
    // No input: the plugin's stdin is closed at once.
    let out = match runner.run(cmd, &mut [], &ctx) {
        Ok(out) => out,
        Err(process::Error::Spawn { source, .. }) => {
            let hint = exec.install_hint.as_deref().unwrap_or("");
            return Err(fail(
                format!("cannot start: {source} {hint}")
                    .trim_end()
                    .to_owned(),
            ));
        }
        Err(process::Error::Interrupted(_)) => {
            return Err(fail(format!("no answer within {EXEC_TIMEOUT:?}")))
        }
        Err(process::Error::OutputTooLarge {
            stream,
            limit_bytes,
        }) => return Err(fail(format!("{stream} larger than {limit_bytes} bytes"))),
        Err(e @ (process::Error::Io { .. } | process::Error::ShutDown)) => {
            return Err(fail(e.to_string()))
        }
    };
    if !out.status.success() {
        // Its stderr is the plugin's own diagnostics (kubectl prints it too).
        let err = out.stderr.get(..EXEC_STDERR_BYTES).unwrap_or(&out.stderr);
        let err = String::from_utf8_lossy(err);
        return Err(fail(format!("{}: {}", out.status, err.trim())));
    }
    // Never quote the output: it holds the token.
    let cred: ExecCredential = serde_json::from_slice(&out.stdout).map_err(|e| {
        fail(format!(
            "output is not an ExecCredential (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let st = cred
        .status
        .ok_or_else(|| fail("ExecCredential has no status".to_owned()))?;
    let token = st
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail("ExecCredential has no status.token (client certificates from plugins are not supported)".to_owned()))?;
    let expires = match st.expiration_timestamp.as_deref() {
        None | Some("") => None,
        Some(ts) => {
            Some(parse_rfc3339(ts).ok_or_else(|| fail(format!("bad expirationTimestamp {ts:?}")))?)
        }
    };
    Ok((token, expires))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::config::ExecEnv;

    fn plugin(script: &str) -> Credentials {
        Credentials::new(Auth::Exec(ExecConfig {
            command: "/bin/sh".to_owned(),
            args: vec!["-c".to_owned(), script.to_owned()],
            env: vec![ExecEnv {
                name: "TOKEN".to_owned(),
                value: "t0ken".to_owned(),
            }],
            api_version: "client.authentication.k8s.io/v1".to_owned(),
            install_hint: None,
        }))
    }

    #[test]
    fn a_plugin_gets_its_env_and_exec_info() {
        let creds = plugin(
            r#"case "$KUBERNETES_EXEC_INFO" in *'"kind":"ExecCredential"'*) ;; *) exit 1;; esac
               echo "{\"status\":{\"token\":\"$TOKEN\"}}""#,
        );
        assert_eq!(creds.token().expect("runs").as_deref(), Some("t0ken"));
    }

    #[test]
    fn a_helper_left_holding_the_output_does_not_keep_us_waiting() {
        // The helper keeps stdout open; the plugin's group is killed when
        // the plugin exits, so its answer is read at once, not after
        // EXEC_TIMEOUT.
        let creds = plugin(r#"sleep 300 & echo "{\"status\":{\"token\":\"$TOKEN\"}}""#);
        assert_eq!(creds.token().expect("runs").as_deref(), Some("t0ken"));
    }

    #[test]
    fn a_failing_plugin_reports_its_exit_and_stderr() {
        let err = plugin("echo nope >&2; exit 3").token().expect_err("fails");
        let text = err.to_string();
        assert!(
            text.contains("exit status: 3") && text.contains("nope"),
            "{text}"
        );
    }

    #[test]
    fn output_past_the_cap_is_refused() {
        let script = format!("head -c {} /dev/zero", EXEC_OUTPUT_BYTES + 1);
        let err = plugin(&script).token().expect_err("too large");
        let text = err.to_string();
        assert!(
            text.contains(&format!("stdout larger than {EXEC_OUTPUT_BYTES} bytes")),
            "{text}"
        );
    }
}
