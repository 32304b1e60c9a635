//! What the registry client is told: which docker config applies (compat
//! §5.1), which CA the first rung of the TLS ladder trusts (§5.4), and
//! which images are always pulled anonymously (§5.2). `flags` builds it
//! from the command line (`flags::registry_config`); nothing in `registry`
//! reads flags.
//!
//! The name of the Secret the pod runtime replicates
//! (`--registry-auth-secret-name`) is not here: it is the pod runtime's
//! business, not the registry client's.

use std::fmt;
use std::path::PathBuf;

/// kpt's public function catalog. The Go runner never sends private
/// credentials for images under it, whatever `--default-image-prefix` says
/// (its hard-coded `defaultRegistry`); it is also that flag's default.
pub(crate) const KPT_FN_PREFIX: &str = "gcr.io/kpt-fn/";

/// The registry client's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The docker `config.json` whose credentials private images use:
    /// `Some` only with `--enable-private-registry`
    /// (`--registry-auth-secret-path`, or the default `flags` picked).
    /// `None`: every pull is anonymous.
    pub auth_file: Option<PathBuf>,
    /// The CA directory of the first ladder rung: `Some`
    /// (`--tls-secret-path`) only with `--enable-private-registry-tls`.
    /// `None`: no custom-CA rung.
    pub ca_dir: Option<PathBuf>,
    /// `--default-image-prefix`: images under it never use credentials.
    pub default_image_prefix: String,
}

/// Anonymous pulls only, public roots (plus plain HTTP on loopback), and
/// the flags' default prefix.
impl Default for Config {
    fn default() -> Self {
        Self {
            auth_file: None,
            ca_dir: None,
            default_image_prefix: KPT_FN_PREFIX.to_owned(),
        }
    }
}

impl Config {
    /// Whether compat §5.2 lets `image` use the docker config: private
    /// registries enabled, and the image neither under
    /// `--default-image-prefix` nor under [`KPT_FN_PREFIX`]. The pod
    /// runtime gives such pods the replicated `imagePullSecret`.
    pub(crate) fn applies_credentials(&self, image: &str) -> bool {
        self.anonymous_because(image).is_none()
    }

    /// Why `image` is pulled anonymously; `None` when credentials apply.
    pub(crate) fn anonymous_because(&self, image: &str) -> Option<Anonymous> {
        if self.auth_file.is_none() {
            Some(Anonymous::PrivateRegistryOff)
        } else if image.starts_with(&self.default_image_prefix) {
            Some(Anonymous::UnderDefaultPrefix(
                self.default_image_prefix.clone(),
            ))
        } else if image.starts_with(KPT_FN_PREFIX) {
            Some(Anonymous::KptCatalog)
        } else {
            None
        }
    }
}

/// Why an image gets no credentials (compat §5.2); its `Display` ends the
/// "no credentials apply: ..." of an authentication error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Anonymous {
    /// `--enable-private-registry` is off.
    PrivateRegistryOff,
    /// The image is under `--default-image-prefix` (the prefix).
    UnderDefaultPrefix(String),
    /// The image is under [`KPT_FN_PREFIX`] (another prefix was given).
    KptCatalog,
}

impl fmt::Display for Anonymous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anonymous::PrivateRegistryOff => f.write_str("--enable-private-registry is off"),
            Anonymous::UnderDefaultPrefix(prefix) => write!(
                f,
                "the image is under --default-image-prefix {prefix:?}, which is always pulled anonymously"
            ),
            Anonymous::KptCatalog => write!(
                f,
                "the image is under {KPT_FN_PREFIX:?} (kpt's public catalog), which is always pulled anonymously"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(prefix: &str) -> Config {
        Config {
            auth_file: Some("/auth/.dockerconfigjson".into()),
            default_image_prefix: prefix.to_owned(),
            ..Config::default()
        }
    }

    #[test]
    fn credentials_apply_only_outside_the_default_prefix() {
        assert!(!Config::default().applies_credentials("ghcr.io/a/b"));
        let on = private(KPT_FN_PREFIX);
        assert!(on.applies_credentials("ghcr.io/a/b"));
        assert!(!on.applies_credentials("gcr.io/kpt-fn/set-namespace:v0.4"));
    }

    #[test]
    fn the_kpt_catalog_stays_anonymous_under_another_prefix() {
        let on = private("reg.example/fns/");
        assert!(!on.applies_credentials("reg.example/fns/x:v1"));
        assert!(on.applies_credentials("reg.example/other/x:v1"));
        assert_eq!(
            on.anonymous_because("gcr.io/kpt-fn/set-namespace:v0.4"),
            Some(Anonymous::KptCatalog)
        );
    }

    #[test]
    fn each_reason_names_its_flag() {
        let off = Config::default().anonymous_because("ghcr.io/a/b").unwrap();
        assert_eq!(off.to_string(), "--enable-private-registry is off");
        let under = private("reg.example/fns/")
            .anonymous_because("reg.example/fns/x")
            .unwrap();
        assert!(under
            .to_string()
            .contains("--default-image-prefix \"reg.example/fns/\""));
    }
}
