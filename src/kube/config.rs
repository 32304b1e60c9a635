//! Where the API server is and how we prove who we are.
//!
//! Order, as client-go's `BuildConfigFromFlags` + loading rules:
//! 1. `--kubeconfig PATH` when given;
//! 2. in-cluster: `KUBERNETES_SERVICE_HOST`/`_PORT` (IPv6 hosts bracketed)
//!    with `/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}`;
//! 3. `KUBECONFIG` (**ours:** its first file only; client-go merges all);
//! 4. `~/.kube/config`.
//!
//! From a kubeconfig we read the current context's cluster (`server`,
//! `certificate-authority[-data]`, `insecure-skip-tls-verify`,
//! `tls-server-name` is not supported) and user (`token`, `tokenFile`,
//! `client-certificate[-data]` + `client-key[-data]`, `exec` plugins of
//! `client.authentication.k8s.io/v1` and `v1beta1`). Relative paths are
//! relative to the kubeconfig's directory, as in client-go. Basic auth and
//! auth-provider plugins are not supported and say so.
//!
//! Nothing here talks to the network; `credentials.rs` turns [`Auth`] into
//! a bearer token per request.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

/// The service-account directory the kubelet mounts into every pod.
pub(crate) const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Largest kubeconfig, CA, token or key file we read (our choice: real ones
/// are a few KiB; this keeps a wrong path from filling memory).
pub(crate) const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// How to reach and authenticate to one API server.
#[derive(Clone, Debug)]
pub struct Config {
    /// `https://host:port` (no trailing slash; a path prefix is kept).
    pub(crate) server: String,
    /// PEM CA bundle to trust; `None`: the public web roots.
    pub(crate) ca_pem: Option<Vec<u8>>,
    /// `insecure-skip-tls-verify: true` (development only).
    pub(crate) danger_insecure_skip_tls_verify: bool,
    /// Client certificate and key (PEM) for mutual TLS.
    pub(crate) identity: Option<Identity>,
    /// How requests prove who we are.
    pub(crate) auth: Auth,
    /// The namespace of the service account (in-cluster) or the context.
    pub(crate) namespace: Option<String>,
    /// Where this configuration came from (for log lines).
    pub origin: Origin,
}

/// Where a [`Config`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    InCluster,
    Kubeconfig(PathBuf),
}

/// A client certificate chain and its private key, both PEM.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Where the bearer token comes from.
#[derive(Clone)]
pub(crate) enum Auth {
    /// No bearer token (client certificate only, or anonymous).
    None,
    /// A fixed token from the kubeconfig.
    Token(String),
    /// A token file, re-read when it changes and after a 401.
    TokenFile(PathBuf),
    /// An exec credential plugin.
    Exec(ExecConfig),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
            Auth::TokenFile(p) => f.debug_tuple("TokenFile").field(p).finish(),
            Auth::Exec(e) => f.debug_tuple("Exec").field(e).finish(),
        }
    }
}

/// `users[].user.exec` of a kubeconfig.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecConfig {
    pub(crate) command: String,
    #[serde(default)]
    pub(crate) args: Vec<String>,
    #[serde(default)]
    pub(crate) env: Vec<ExecEnv>,
    #[serde(default = "exec_v1")]
    pub(crate) api_version: String,
    #[serde(default)]
    pub(crate) install_hint: Option<String>,
}

impl fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Arguments and env values may carry secrets: names only.
        let env: Vec<&str> = self.env.iter().map(|e| e.name.as_str()).collect();
        f.debug_struct("ExecConfig")
            .field("command", &self.command)
            .field("args", &self.args.len())
            .field("env names", &env)
            .field("api_version", &self.api_version)
            .finish()
    }
}

/// One `env` entry of an exec plugin.
#[derive(Clone, Deserialize)]
pub(crate) struct ExecEnv {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) value: String,
}

fn exec_v1() -> String {
    "client.authentication.k8s.io/v1".to_owned()
}

/// Why no usable configuration could be loaded.
#[derive(Debug)]
pub enum Error {
    /// Nothing found anywhere; lists where we looked.
    NotFound { tried: Vec<String> },
    /// A file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file exceeds [`MAX_CONFIG_FILE_BYTES`].
    TooLarge { path: PathBuf, limit_bytes: u64 },
    /// The kubeconfig is not valid YAML of the expected shape.
    Parse { path: PathBuf, message: String },
    /// No `current-context` and no single context to fall back on.
    NoCurrentContext { path: PathBuf },
    /// A context, cluster or user named by the kubeconfig is missing.
    Missing {
        path: PathBuf,
        what: &'static str,
        name: String,
    },
    /// A `*-data` field is not base64.
    BadBase64 { path: PathBuf, field: &'static str },
    /// A feature of the kubeconfig we do not implement.
    Unsupported { path: PathBuf, what: &'static str },
    /// `KUBERNETES_SERVICE_HOST` is set but `_PORT` is not (or empty).
    InClusterEnv { missing: &'static str },
    /// The CA, client certificate or key is unusable (`tls::Error` says
    /// which and why).
    Tls {
        origin: String,
        source: crate::tls::Error,
    },
    /// An exec credential plugin failed (its output is never quoted: it
    /// holds the token).
    Exec { command: PathBuf, message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { tried } => write!(
                f,
                "no Kubernetes configuration found (tried {})",
                tried.join(", ")
            ),
            Error::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            Error::TooLarge { path, limit_bytes } => {
                write!(f, "{} is larger than {limit_bytes} bytes", path.display())
            }
            Error::Parse { path, message } => {
                write!(f, "{} is not a valid kubeconfig: {message}", path.display())
            }
            Error::NoCurrentContext { path } => {
                write!(f, "{} has no current-context", path.display())
            }
            Error::Missing { path, what, name } => {
                write!(f, "{}: {what} {name:?} not found", path.display())
            }
            Error::BadBase64 { path, field } => {
                write!(f, "{}: {field} is not valid base64", path.display())
            }
            Error::Unsupported { path, what } => {
                write!(f, "{}: {what} is not supported", path.display())
            }
            Error::InClusterEnv { missing } => {
                write!(f, "in-cluster configuration: {missing} is not set")
            }
            Error::Tls { origin, .. } => {
                write!(f, "{origin}: unusable CA, client certificate or key")
            }
            Error::Exec { command, message } => {
                write!(f, "exec credential plugin {}: {message}", command.display())
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Read { source, .. } => Some(source),
            Error::Tls { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Config {
    /// Loads the configuration in client-go's order (module doc).
    pub fn load(explicit_kubeconfig: Option<&Path>) -> Result<Config, Error> {
        if let Some(path) = explicit_kubeconfig {
            return Config::from_kubeconfig(path);
        }
        let mut tried = Vec::new();
        match std::env::var("KUBERNETES_SERVICE_HOST") {
            Ok(host) if !host.is_empty() => {
                let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_default();
                if port.is_empty() {
                    return Err(Error::InClusterEnv {
                        missing: "KUBERNETES_SERVICE_PORT",
                    });
                }
                let dir = Path::new(SERVICE_ACCOUNT_DIR);
                if dir.join("token").exists() {
                    return Config::in_cluster_at(dir, &host, &port);
                }
                tried.push(format!("in-cluster ({} has no token)", dir.display()));
            }
            _ => tried.push("in-cluster (KUBERNETES_SERVICE_HOST not set)".to_owned()),
        }
        if let Some(list) = std::env::var_os("KUBECONFIG") {
            let first = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty());
            if let Some(path) = first {
                return Config::from_kubeconfig(&path);
            }
        }
        tried.push("KUBECONFIG (not set)".to_owned());
        if let Some(home) = std::env::var_os("HOME") {
            let path = Path::new(&home).join(".kube").join("config");
            if path.exists() {
                return Config::from_kubeconfig(&path);
            }
            tried.push(path.display().to_string());
        }
        Err(Error::NotFound { tried })
    }

    /// In-cluster configuration from a service-account directory holding
    /// `token`, `ca.crt` and `namespace` (the kubelet's mount, or a test's
    /// temp dir). The token is re-read as it rotates.
    pub fn in_cluster_at(dir: &Path, host: &str, port: &str) -> Result<Config, Error> {
        if host.is_empty() {
            return Err(Error::InClusterEnv {
                missing: "KUBERNETES_SERVICE_HOST",
            });
        }
        if port.is_empty() {
            return Err(Error::InClusterEnv {
                missing: "KUBERNETES_SERVICE_PORT",
            });
        }
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let ca_pem = read_bounded(&dir.join("ca.crt"))?;
        let namespace = match read_bounded(&dir.join("namespace")) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
            Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                None
            }
            Err(e) => return Err(e),
        };
        Ok(Config {
            server: format!("https://{host}:{port}"),
            ca_pem: Some(ca_pem),
            danger_insecure_skip_tls_verify: false,
            identity: None,
            auth: Auth::TokenFile(dir.join("token")),
            namespace: namespace.filter(|n| !n.is_empty()),
            origin: Origin::InCluster,
        })
    }

    /// The current context of one kubeconfig file.
    pub fn from_kubeconfig(path: &Path) -> Result<Config, Error> {
        let bytes = read_bounded(path)?;
        let text = String::from_utf8_lossy(&bytes);
        let kc: Kubeconfig = serde_saphyr::from_str(&text).map_err(|e| Error::Parse {
            path: path.to_owned(),
            // Without the source snippet: it would quote tokens and keys.
            message: e.without_snippet().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let missing = |what: &'static str, name: &str| Error::Missing {
            path: path.to_owned(),
            what,
            name: name.to_owned(),
        };
        let ctx_name = match (&kc.current_context, kc.contexts.as_slice()) {
            (Some(c), _) if !c.is_empty() => c.clone(),
            (_, [only]) => only.name.clone(),
            _ => {
                return Err(Error::NoCurrentContext {
                    path: path.to_owned(),
                })
            }
        };
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == ctx_name)
            .ok_or_else(|| missing("context", &ctx_name))?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .ok_or_else(|| missing("cluster", &ctx.context.cluster))?;
        let cl = &cluster.cluster;
        let empty_user = NamedUser::default();
        let user = match ctx.context.user.as_deref() {
            None | Some("") => &empty_user,
            Some(name) => kc
                .users
                .iter()
                .find(|u| u.name == name)
                .ok_or_else(|| missing("user", name))?,
        };
        let u = &user.user;
        // `X-data` (base64) wins over the file `X`, as in client-go.
        let data_or_file = |field: &'static str,
                            data: &Option<String>,
                            file: &Option<String>|
         -> Result<Option<Vec<u8>>, Error> {
            match (data.as_deref(), file.as_deref()) {
                (Some(d), _) if !d.is_empty() => STANDARD
                    .decode(d.trim().as_bytes())
                    .map(Some)
                    .map_err(|_| Error::BadBase64 {
                        path: path.to_owned(),
                        field,
                    }),
                (_, Some(f)) if !f.is_empty() => read_bounded(&resolve(f)).map(Some),
                _ => Ok(None),
            }
        };
        let ca_pem = data_or_file(
            "certificate-authority-data",
            &cl.certificate_authority_data,
            &cl.certificate_authority,
        )?;
        let cert = data_or_file(
            "client-certificate-data",
            &u.client_certificate_data,
            &u.client_certificate,
        )?;
        let key = data_or_file("client-key-data", &u.client_key_data, &u.client_key)?;
        let identity =
            match (cert, key) {
                (Some(cert_pem), Some(key_pem)) => Some(Identity { cert_pem, key_pem }),
                (None, None) => None,
                _ => return Err(Error::Unsupported {
                    path: path.to_owned(),
                    what: "a client certificate without its key (or a key without its certificate)",
                }),
            };
        if u.username.is_some() || u.password.is_some() {
            return Err(Error::Unsupported {
                path: path.to_owned(),
                what: "basic auth (username/password)",
            });
        }
        if u.auth_provider.is_some() {
            return Err(Error::Unsupported {
                path: path.to_owned(),
                what: "auth-provider (use an exec plugin)",
            });
        }
        let auth = match (&u.token, &u.token_file, &u.exec) {
            (Some(t), _, _) if !t.is_empty() => Auth::Token(t.trim().to_owned()),
            (_, Some(f), _) if !f.is_empty() => Auth::TokenFile(resolve(f)),
            (_, _, Some(exec)) => Auth::Exec(exec.clone()),
            _ => Auth::None,
        };
        if cl.server.is_empty() {
            return Err(missing("server of cluster", &cluster.name));
        }
        Ok(Config {
            server: cl.server.trim_end_matches('/').to_owned(),
            ca_pem,
            danger_insecure_skip_tls_verify: cl.insecure_skip_tls_verify,
            identity,
            auth,
            namespace: ctx.context.namespace.clone().filter(|n| !n.is_empty()),
            origin: Origin::Kubeconfig(path.to_owned()),
        })
    }
}

/// Reads a whole file, refusing more than [`MAX_CONFIG_FILE_BYTES`].
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut buf = Vec::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            limit_bytes: MAX_CONFIG_FILE_BYTES,
        });
    }
    Ok(buf)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default)]
    server: String,
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: User,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    exec: Option<ExecConfig>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth_provider: Option<BTreeMap<String, serde_json::Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory, removed on drop (also when an assertion fails).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let d =
                std::env::temp_dir().join(format!("fn-runner-kcfg-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("mkdir");
            TempDir(d)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).expect("write");
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Loads `yaml` as a kubeconfig file of its own.
    fn load_kubeconfig(name: &str, yaml: &str) -> Result<Config, Error> {
        let d = TempDir::new(name);
        Config::from_kubeconfig(&d.write("config", yaml))
    }

    #[test]
    fn kubeconfig_current_context_with_relative_paths() {
        let d = TempDir::new("rel");
        d.write("ca.pem", "CA");
        d.write("tok", "t\n");
        let kc = d.write(
            "config",
            "apiVersion: v1\nkind: Config\ncurrent-context: b\ncontexts:\n- name: a\n  context: {cluster: x, user: u}\n- name: b\n  context: {cluster: c, user: u, namespace: ns}\nclusters:\n- name: c\n  cluster: {server: 'https://[::1]:6443/', certificate-authority: ca.pem}\nusers:\n- name: u\n  user: {tokenFile: tok}\n",
        );
        let c = Config::from_kubeconfig(&kc).expect("config");
        assert_eq!(c.server, "https://[::1]:6443");
        assert_eq!(c.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert!(matches!(&c.auth, Auth::TokenFile(p) if p == &d.0.join("tok")));
        assert_eq!(c.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn token_never_in_debug() {
        let c = load_kubeconfig(
            "dbg",
            "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://h:1', insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: hunter2}}]\n",
        ).expect("config");
        assert!(c.danger_insecure_skip_tls_verify);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn in_cluster_brackets_ipv6() {
        let d = TempDir::new("ic");
        d.write("ca.crt", "CA");
        d.write("token", "t");
        d.write("namespace", "porch-system\n");
        let c = Config::in_cluster_at(&d.0, "fd00::1", "443").expect("config");
        assert_eq!(c.server, "https://[fd00::1]:443");
        assert_eq!(c.namespace.as_deref(), Some("porch-system"));
    }

    #[test]
    fn missing_user_is_named() {
        let e = load_kubeconfig(
            "mu",
            "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: nobody}}]\nclusters: [{name: c, cluster: {server: 'https://h:1'}}]\n",
        ).expect_err("missing user");
        assert!(e.to_string().contains("user \"nobody\" not found"), "{e}");
    }

    #[test]
    fn parse_error_names_the_place_but_never_quotes_the_file() {
        // serde-saphyr's Display would print the offending lines (token
        // included) as a snippet.
        let e = load_kubeconfig(
            "leak",
            "users:\n- name: u\n  user:\n    token: hunter2\n    client-key-data: [1]\n",
        )
        .expect_err("bad shape");
        let msg = e.to_string();
        assert!(msg.contains("line 5"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
