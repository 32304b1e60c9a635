//! Registry credentials from a docker `config.json` (compat §5.1), the file
//! mounted from the Secret that `--registry-auth-secret-path` names.
//!
//! ```json
//! {"auths": {"https://index.docker.io/v1/": {"auth": "<base64 user:pass>"},
//!            "ghcr.io": {"username": "u", "password": "p"},
//!            "reg:5000": {"identitytoken": "<OAuth refresh token>"},
//!            "other.io": {"registrytoken": "<bearer token>"}}}
//! ```
//!
//! Keys are normalized like the docker CLI (`ConvertToHostname`): scheme
//! and path stripped, and `docker.io`, `index.docker.io`,
//! `registry-1.docker.io` are one registry, so the user guide's
//! `https://index.docker.io/v1/` key matches `docker.io/...` images (the
//! original compared strings and never matched it). An exact key wins over
//! a normalized one.
//!
//! [`Credentials`] re-reads the file when it changes: on each use it stats
//! the path (following symlinks: Kubernetes swaps a `..data` symlink when a
//! Secret changes) and re-parses when device, inode, size or mtime differ
//! (`watch.rs`, shared with the CA of `--tls-secret-path`).
//! Secret values never appear in `Debug`, `Display` or errors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

use super::reference::DOCKER_HUB;
use super::watch::{FileStamp, Watched};

/// Largest docker config we read: a Kubernetes Secret holds at most 1 MiB.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The secret a registry entry holds.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// `auth` (base64 `user:pass`) or `username` + `password`.
    Basic { username: String, password: String },
    /// `identitytoken`: an OAuth2 refresh token, exchanged at the token realm.
    IdentityToken { username: String, token: String },
    /// `registrytoken`: a bearer token sent as is.
    RegistryToken(String),
}

/// Never prints a password or token.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credential::IdentityToken { username, .. } => {
                write!(
                    f,
                    "IdentityToken {{ username: {username:?}, token: <redacted> }}"
                )
            }
            Credential::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// A parsed docker config: normalized registry -> credential, plus the
/// bytes as read (the pod runtime replicates them into a Secret, compat §5.3).
pub struct DockerConfig {
    /// (key as written, normalized key, credential), in key order.
    entries: Vec<(String, String, Credential)>,
    bytes: Arc<[u8]>,
}

impl DockerConfig {
    /// Parses the bytes of a `config.json`. Errors name the entry, never its value.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            auths: BTreeMap<String, RawEntry>,
        }
        #[derive(serde::Deserialize)]
        struct RawEntry {
            auth: Option<String>,
            username: Option<String>,
            password: Option<String>,
            identitytoken: Option<String>,
            registrytoken: Option<String>,
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| Error::Json {
            line: e.line(),
            column: e.column(),
        })?;
        let mut entries = Vec::new();
        for (key, entry) in raw.auths {
            let bad = |why| Error::Entry {
                key: key.clone(),
                why,
            };
            let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
            let username = nonempty(entry.username);
            let credential = if let Some(token) = nonempty(entry.registrytoken) {
                Credential::RegistryToken(token)
            } else if let Some(token) = nonempty(entry.identitytoken) {
                Credential::IdentityToken {
                    username: username.unwrap_or_default(),
                    token,
                }
            } else if let Some(auth) = nonempty(entry.auth) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| bad("\"auth\" is not base64"))?;
                let decoded =
                    String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not UTF-8"))?;
                let (username, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| bad("\"auth\" does not decode to user:password"))?;
                Credential::Basic {
                    username: username.to_owned(),
                    password: password.to_owned(),
                }
            } else if let (Some(username), Some(password)) = (username, nonempty(entry.password)) {
                Credential::Basic { username, password }
            } else {
                // An entry with nothing usable (e.g. only "email"): skip it,
                // like the docker CLI does.
                continue;
            };
            let normalized = normalize_key(&key);
            entries.push((key, normalized, credential));
        }
        Ok(Self {
            entries,
            bytes: bytes.into(),
        })
    }

    /// The credential for `registry` (a normalized registry name as
    /// [`super::Reference::registry`] gives it): an exact key first, then
    /// the first key that normalizes to it.
    pub(crate) fn lookup(&self, registry: &str) -> Option<&Credential> {
        let wanted = normalize_key(registry);
        self.entries
            .iter()
            .find(|(key, _, _)| key == registry)
            .or_else(|| self.entries.iter().find(|(_, norm, _)| *norm == wanted))
            .map(|(_, _, credential)| credential)
    }

    /// The file's bytes as read.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The normalized registries that have credentials.
    pub(crate) fn registries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, norm, _)| norm.as_str())
    }
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("registries", &self.registries().collect::<Vec<_>>())
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// The docker config at a path, re-read when the file changes.
#[derive(Debug)]
pub struct Credentials {
    path: PathBuf,
    cached: Watched<DockerConfig>,
}

impl Credentials {
    /// Credentials from the file at `path` (read lazily, on first use).
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cached: Watched::default(),
        }
    }

    /// The path this reads.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The current config: the cached one when the file has not changed
    /// since it was read, else a fresh read.
    pub fn load(&self) -> Result<Arc<DockerConfig>, Error> {
        let io = |cause| Error::Io {
            path: self.path.clone(),
            cause,
        };
        let stamp = FileStamp::of(&self.path).map_err(io)?;
        self.cached.get(vec![Some(stamp)], || {
            if stamp.len > MAX_CONFIG_BYTES {
                return Err(Error::TooLarge {
                    path: self.path.clone(),
                    bytes: stamp.len,
                });
            }
            let bytes = read_bounded(&self.path).map_err(io)?;
            DockerConfig::parse(&bytes).map_err(|e| Error::InFile {
                path: self.path.clone(),
                cause: Box::new(e),
            })
        })
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The docker CLI's `ConvertToHostname`, plus one name for Docker Hub.
pub(crate) fn normalize_key(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or_default();
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        host => host.to_owned(),
    }
}

/// Why the docker config could not be used.
#[derive(Debug)]
pub enum Error {
    /// The file could not be read.
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    TooLarge { path: PathBuf, bytes: u64 },
    /// Not JSON of the docker config shape (position only: serde's text
    /// can quote values, which may be secrets).
    Json { line: usize, column: usize },
    /// An `auths` entry is malformed.
    Entry { key: String, why: &'static str },
    /// A parse error in a named file.
    InFile { path: PathBuf, cause: Box<Error> },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, cause } => write!(
                f,
                "cannot read the registry credentials {} (--registry-auth-secret-path): {cause}",
                path.display()
            ),
            Error::TooLarge { path, bytes } => write!(
                f,
                "registry credentials {}: {bytes} bytes > limit {MAX_CONFIG_BYTES}",
                path.display()
            ),
            Error::Json { line, column } => write!(
                f,
                "not a docker config.json ({{\"auths\": {{...}}}}): syntax or type error at line {line} column {column}"
            ),
            Error::Entry { key, why } => write!(f, "entry {key:?} of \"auths\": {why}"),
            Error::InFile { path, cause } => {
                write!(f, "registry credentials {}: {cause}", path.display())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The user guide's example file, verbatim.
    const GUIDE: &str = r#"{
    "auths": {
        "https://index.docker.io/v1/": {
            "auth": "bXlfdXNlcm5hbWU6bXlfcGFzc3dvcmQ="
        },
        "ghcr.io": {
            "auth": "bXlfdXNlcm5hbWU6bXlfcGFzc3dvcmQ="
        }
    }
}"#;

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn guide_example_resolves_docker_hub_and_ghcr() {
        let config = DockerConfig::parse(GUIDE.as_bytes()).unwrap();
        let want = basic("my_username", "my_password");
        for image in [
            "ubuntu",
            "docker.io/library/ubuntu:1",
            "index.docker.io/a/b",
            "ghcr.io/private-registry/set-namespace:customv2",
        ] {
            let r = super::super::Reference::parse(image).unwrap();
            assert_eq!(config.lookup(r.registry()), Some(&want), "{image}");
        }
        assert_eq!(config.lookup("gcr.io"), None);
    }

    #[test]
    fn normalizes_keys_like_the_docker_cli() {
        for (key, want) in [
            ("https://index.docker.io/v1/", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("http://docker.io/v2/", "docker.io"),
            ("https://ghcr.io", "ghcr.io"),
            ("ghcr.io/", "ghcr.io"),
            ("myreg:5000", "myreg:5000"),
            ("http://myreg:5000/v2/", "myreg:5000"),
            ("[::1]:5000", "[::1]:5000"),
        ] {
            assert_eq!(normalize_key(key), want, "{key}");
        }
    }

    #[test]
    fn reads_every_entry_form() {
        let json = r#"{"auths": {
            "a.io": {"auth": "dTpwOnE="},
            "b.io": {"username": "u", "password": "p"},
            "c.io": {"identitytoken": "refresh", "username": "<token>"},
            "d.io": {"registrytoken": "bearer"},
            "e.io": {"email": "x@example.com"},
            "f.io": {"auth": "", "username": "u2", "password": "p2"}
        }}"#;
        let c = DockerConfig::parse(json.as_bytes()).unwrap();
        assert_eq!(c.lookup("a.io"), Some(&basic("u", "p:q")));
        assert_eq!(c.lookup("b.io"), Some(&basic("u", "p")));
        assert_eq!(
            c.lookup("c.io"),
            Some(&Credential::IdentityToken {
                username: "<token>".into(),
                token: "refresh".into()
            })
        );
        assert_eq!(
            c.lookup("d.io"),
            Some(&Credential::RegistryToken("bearer".into()))
        );
        assert_eq!(c.lookup("e.io"), None);
        assert_eq!(c.lookup("f.io"), Some(&basic("u2", "p2")));
    }

    #[test]
    fn exact_key_wins_over_normalized_one() {
        let json =
            r#"{"auths": {"https://reg.io/v1/": {"auth": "YTpi"}, "reg.io": {"auth": "Yzpk"}}}"#;
        let c = DockerConfig::parse(json.as_bytes()).unwrap();
        assert_eq!(c.lookup("reg.io"), Some(&basic("c", "d")));
    }

    #[test]
    fn errors_and_debug_never_show_secrets() {
        let secret = "s3cr3t-value";
        let cases = [
            format!(r#"{{"auths": {{"a.io": "{secret}"}}}}"#),
            format!(r#"{{"auths": {{"a.io": {{"auth": "{secret}!"}}}}}}"#),
            format!(r#"{{"auths": {{"a.io": {{"auth": 5, "password": "{secret}"}}}}}}"#),
        ];
        for json in cases {
            let err = DockerConfig::parse(json.as_bytes()).unwrap_err();
            assert!(!err.to_string().contains(secret), "{err}");
            assert!(!format!("{err:?}").contains(secret), "{err:?}");
        }
        let c = DockerConfig::parse(
            format!(r#"{{"auths": {{"a.io": {{"username": "u", "password": "{secret}"}}}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert!(!format!("{c:?} {:?}", c.lookup("a.io")).contains(secret));
    }

    #[test]
    fn rereads_the_file_when_a_symlink_swap_changes_it() {
        let dir = std::env::temp_dir().join(format!("fn-runner-creds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("v1")).unwrap();
        std::fs::create_dir_all(dir.join("v2")).unwrap();
        std::fs::write(
            dir.join("v1/config.json"),
            r#"{"auths": {"a.io": {"auth": "YTpi"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("v2/config.json"),
            r#"{"auths": {"a.io": {"auth": "YTpj"}}}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/config.json", dir.join(".dockerconfigjson")).unwrap();
        let creds = Credentials::new(dir.join(".dockerconfigjson"));
        let first = creds.load().unwrap();
        assert_eq!(first.lookup("a.io"), Some(&basic("a", "b")));
        assert!(
            Arc::ptr_eq(&first, &creds.load().unwrap()),
            "unchanged file is not re-read"
        );
        // Kubernetes' atomic update: a new symlink renamed over ..data.
        std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert_eq!(creds.load().unwrap().lookup("a.io"), Some(&basic("a", "c")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_error_names_the_path_and_flag() {
        let err = Credentials::new("/nonexistent/.dockerconfigjson")
            .load()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/.dockerconfigjson")
                && text.contains("--registry-auth-secret-path"),
            "{text}"
        );
    }
}
