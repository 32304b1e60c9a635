//! The two Secrets the runner mounts for private registries (README
//! "Private registries"), checked by `fn-runner preflight` as the registry
//! client reads them:
//! - with `--enable-private-registry`, the docker `config.json` of
//!   `--registry-auth-secret-path` parses, and which registries it has
//!   credentials for (names only: no credential is ever printed);
//! - with `--enable-private-registry-tls`, `--tls-secret-path` holds the
//!   CA as `ca.crt` or `ca.pem` ([`check_ca_dir`], the client's own
//!   strict check).

use std::path::Path;

use super::report::Check;
use crate::registry::{check_ca_dir, Credentials};

/// The docker config at `path` (`None`: private registries are off).
pub fn auth_file(path: Option<&Path>) -> Check {
    let Some(path) = path else {
        return Check::skip(
            "registry auth file: private registries are off (--enable-private-registry): \
             images are pulled anonymously",
        );
    };
    let shown = path.display();
    match Credentials::new(path).load() {
        Ok(config) => {
            let mut registries: Vec<&str> = config.registries().collect();
            registries.sort_unstable();
            registries.dedup();
            if registries.is_empty() {
                Check::warn(
                    format!("registry auth file {shown}: parses, but holds no credentials"),
                    "give each private registry an entry under \"auths\" with \"auth\" \
                     (base64 user:password), \"username\" and \"password\", or a token",
                )
            } else {
                Check::ok(format!(
                    "registry auth file {shown}: credentials for {}",
                    registries.join(", ")
                ))
            }
        }
        // The error names the file, never a value from it.
        Err(e) => Check::fail(
            format!("registry auth file {shown}: unusable"),
            format!(
                "mount the docker config.json Secret at {shown} (README \"Private \
                 registries\"), or pass --registry-auth-secret-path; it must be JSON: \
                 {{\"auths\": {{\"REGISTRY\": {{\"auth\": \"BASE64(user:password)\"}}}}}}"
            ),
        )
        .with_detail(e.to_string()),
    }
}

/// The CA directory (`None`: the TLS flag is off).
pub fn ca_dir(dir: Option<&Path>) -> Check {
    let Some(dir) = dir else {
        return Check::skip(
            "registry CA: --enable-private-registry-tls is off (public roots, and plain HTTP \
             for loopback registries)",
        );
    };
    match check_ca_dir(dir) {
        Ok(found) => Check::ok(format!(
            "registry CA {} ({} certificate{})",
            found.path.display(),
            found.certificates,
            if found.certificates == 1 { "" } else { "s" }
        )),
        Err(e) => Check::fail(
            format!("registry CA in {}: unusable", dir.display()),
            format!(
                "mount the CA Secret at {} with the CA certificate (PEM) under the key ca.crt \
                 or ca.pem (README \"Registries with a private CA\"), or pass --tls-secret-path",
                dir.display()
            ),
        )
        .with_detail(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::report::Status;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("fn-runner-preflight-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn names_the_registries_never_the_credentials() {
        let dir = temp_dir("auth");
        let path = dir.join(".dockerconfigjson");
        std::fs::write(
            &path,
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpzM2NyZXQ="},
                          "ghcr.io": {"username": "u", "password": "s3cret"}}}"#,
        )
        .expect("write");
        let text = auth_file(Some(&path)).to_string();
        assert!(
            text.starts_with("ok    registry auth file ")
                && text.contains("credentials for docker.io, ghcr.io"),
            "{text}"
        );
        assert!(!text.contains("s3cret") && !text.contains("dTpz"), "{text}");
        std::fs::write(&path, r#"{"auths": {"ghcr.io": {"password": "s3cret"}}}"#).expect("write");
        assert_eq!(auth_file(Some(&path)).status, Status::Warn);
        std::fs::write(&path, r#"{"auths": {"ghcr.io": {"auth": "s3cret"}}}"#).expect("write");
        let check = auth_file(Some(&path));
        assert_eq!(check.status, Status::Fail);
        assert!(!check.to_string().contains("s3cret"), "{check}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_missing_file_or_ca_is_a_failure_with_its_fix() {
        let dir = temp_dir("missing");
        let check = auth_file(Some(&dir.join("nope.json")));
        assert_eq!(check.status, Status::Fail);
        assert!(check
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("mount the docker config.json"));
        let check = ca_dir(Some(&dir));
        assert_eq!(check.status, Status::Fail);
        assert!(check.to_string().contains("ca.crt or ca.pem"), "{check}");
        assert_eq!(auth_file(None).status, Status::Skip);
        assert_eq!(ca_dir(None).status, Status::Skip);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
