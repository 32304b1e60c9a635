//! The bearer token for the next request, from an [`Auth`] source.
//!
//! - A token file is re-read when its modification time or length changes
//!   (bound service-account tokens rotate about hourly, and the kubelet
//!   swaps the file) and whenever the client saw a 401.
//! - An exec plugin runs once and its token is cached until its
//!   `expirationTimestamp` (or forever when it has none), and again after a
//!   401. It gets `KUBERNETES_EXEC_INFO` like kubectl gives it, stdin closed,
//!   and [`EXEC_TIMEOUT`] to answer.
//!
//! Tokens never appear in `Debug`, logs or errors.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::config::{self, read_bounded, Auth, ExecConfig, MAX_CONFIG_FILE_BYTES};
use super::time::parse_rfc3339;

/// How long an exec credential plugin may take (kubectl has none; a hung
/// plugin must not hang the runner).
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an exec plugin's stderr goes into our error message.
const EXEC_STDERR_BYTES: u64 = 4096;

/// A token this close to its expiry is refreshed before use.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// Produces the bearer token for each request.
pub(crate) struct Credentials {
    auth: Auth,
    cached: Mutex<Option<Cached>>,
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
                    let (token, expires) = run_exec(exec)?;
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

fn run_exec(exec: &ExecConfig) -> Result<(String, Option<SystemTime>), config::Error> {
    let fail = |message: String| config::Error::Exec {
        command: PathBuf::from(&exec.command),
        message,
    };
    let info = format!(
        r#"{{"apiVersion":"{}","kind":"ExecCredential","spec":{{"interactive":false}}}}"#,
        exec.api_version
    );
    let mut cmd = Command::new(&exec.command);
    cmd.args(&exec.args)
        .env("KUBERNETES_EXEC_INFO", info)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for e in &exec.env {
        cmd.env(&e.name, &e.value);
    }
    let mut child = cmd.spawn().map_err(|e| {
        let hint = exec.install_hint.as_deref().unwrap_or("");
        fail(format!("cannot start: {e} {hint}").trim_end().to_owned())
    })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(fail("no pipes to the plugin".to_owned()));
    };
    let (tx, rx) = mpsc::channel();
    // stderr on its own thread, drained to the end (keeping the first
    // EXEC_STDERR_BYTES), so a chatty plugin never blocks on a full pipe.
    let stderr_reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        let mut stderr = stderr;
        let _ = (&mut stderr).take(EXEC_STDERR_BYTES).read_to_end(&mut err);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        err
    });
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let r = stdout.take(MAX_CONFIG_FILE_BYTES + 1).read_to_end(&mut out);
        let err = stderr_reader.join().unwrap_or_default();
        let _ = tx.send(r.map(|_| (out, err)));
    });
    let output = match rx.recv_timeout(EXEC_TIMEOUT) {
        Ok(r) => r,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("no answer within {EXEC_TIMEOUT:?}")));
        }
    };
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    let (out, err) = output.map_err(|e| fail(format!("reading its output: {e}")))?;
    if !status.success() {
        // Its stderr is the plugin's own diagnostics (kubectl prints it too).
        let err = String::from_utf8_lossy(&err);
        return Err(fail(format!("{status}: {}", err.trim())));
    }
    if out.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(fail(format!(
            "output larger than {MAX_CONFIG_FILE_BYTES} bytes"
        )));
    }
    // Never quote the output: it holds the token.
    let cred: ExecCredential = serde_json::from_slice(&out).map_err(|e| {
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
