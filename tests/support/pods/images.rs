//! The function registry of the pod-runtime tests: Debian's
//! `docker-registry` on HTTPS (the test CA of [`Pki`]) with htpasswd basic
//! auth, holding function images whose image config names a test function
//! of `testdata/functions` by its absolute path, so that the wrapper server
//! the kubelet simulator starts can run it on this host:
//!
//! | field | repository | manifest | config |
//! |---|---|---|---|
//! | `set_namespace` | `kpt-fn/set_namespace:v1` | Docker schema2 | Entrypoint `set-namespace` |
//! | `slow` | `kpt-fn/slow:v1` | OCI | Entrypoint `slow` |
//! | `sleep` | `kpt-fn/sleep:v1` | OCI | Entrypoint `sleep` |
//! | `results` | `kpt-fn/results:v1` | OCI | Entrypoint `results` (fails with structured results on input `fail`) |
//! | `cmd_only` | `kpt-fn/set-labels:v1` | OCI | Cmd `set-labels`, no Entrypoint |
//! | `multi_platform` | `kpt-fn/multi-platform:v1` | OCI index | this machine's child: `set-namespace`; another platform's: `/wrong-platform/set-namespace` |
//! | `cat` | `kpt-fn/cat:v1` | OCI | Entrypoint `cat` (echo, for sizes) |
//! | `team_set_namespace` | `team/set-namespace:v1` | OCI | Entrypoint `set-namespace` (the README swap guide's example image) |
//!
//! Every repository needs the credentials, so every image is private. One
//! registry serves every environment of the test process that is alive at
//! the same time ([`FnRegistry::shared`]); it stops with the last of them.

use std::sync::{Arc, Mutex, Weak};

use fn_runner::registry::manifest::Platform;

use crate::support::exec::function;
use crate::support::registry::{Auth, ImageSpec, OciImage, Pki, Registry};

/// The registry user the images are pushed and pulled as.
pub const USER: &str = "fn-puller";
/// Its password: secret-ish on purpose, so tests can check it never shows
/// in a log.
pub const PASSWORD: &str = "pull-S3cret-wörd";

/// What the wrapper server answers (INTERNAL) when `results` (`image`)
/// fails on the input `fail`, up to the stderr it ends with.
pub fn results_failure_prefix(image: &str) -> String {
    format!(
        "failed to evaluate function \"{image}\" with structured results: [error] \
         apps/v1/Deployment/prod/app spec.replicas: replicas must be positive"
    )
}

/// References (`127.0.0.1:PORT/kpt-fn/NAME:v1`) of the pushed images.
#[derive(Debug, Clone)]
pub struct Images {
    pub set_namespace: String,
    pub slow: String,
    pub sleep: String,
    pub results: String,
    pub cmd_only: String,
    pub multi_platform: String,
    pub cat: String,
    /// `team/set-namespace:v1`: the name the README's swap guide uses.
    pub team_set_namespace: String,
}

/// What was pushed under one reference.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: String,
    /// Digest of the manifest the tag names (the index for
    /// `multi_platform`), then those of an index's children.
    pub digests: Vec<String>,
    /// The command the image runs on this machine (Entrypoint, else Cmd).
    pub entrypoint: Vec<String>,
}

/// The running registry and what it holds.
pub struct FnRegistry {
    pub pki: Pki,
    registry: Registry,
    pub images: Images,
    pushed: Vec<Pushed>,
}

impl FnRegistry {
    /// The registry of this test process, started on first use; it stops
    /// when the last `Arc` is dropped (the next caller starts another).
    pub fn shared() -> Arc<FnRegistry> {
        static CURRENT: Mutex<Weak<FnRegistry>> = Mutex::new(Weak::new());
        let mut current = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = current.upgrade() {
            return live;
        }
        let fresh = Arc::new(FnRegistry::start());
        *current = Arc::downgrade(&fresh);
        fresh
    }

    fn start() -> FnRegistry {
        let pki = Pki::new();
        let registry = Registry::start(
            Some(&pki),
            Auth::Basic(vec![(USER.to_owned(), PASSWORD.to_owned())]),
        );
        let here = Platform::runner();
        let path = |name: &str| function(name).to_string_lossy().into_owned();
        let single = |entrypoint: Option<&[&str]>, cmd: Option<&[&str]>| {
            OciImage::single(&ImageSpec {
                architecture: &here.architecture,
                variant: here.variant.as_deref(),
                entrypoint,
                cmd,
            })
        };
        let (set_namespace, slow, sleep, results, set_labels, cat) = (
            path("set-namespace"),
            path("slow"),
            path("sleep"),
            path("results"),
            path("set-labels"),
            path("cat"),
        );
        // Another platform than this machine's, whose child must not be picked.
        let (other_arch, other_variant) = match here.architecture.as_str() {
            "amd64" => ("arm64", Some("v8")),
            _ => ("amd64", None),
        };
        let wrong = "/wrong-platform/set-namespace";
        let uploads: Vec<(OciImage, &str, Option<&str>)> = vec![
            (
                single(Some(&[&set_namespace]), None),
                "kpt-fn/set_namespace",
                Some("v2s2"),
            ),
            (single(Some(&[&slow]), None), "kpt-fn/slow", None),
            (single(Some(&[&sleep]), None), "kpt-fn/sleep", None),
            (single(Some(&[&results]), None), "kpt-fn/results", None),
            (
                single(None, Some(&[&set_labels])),
                "kpt-fn/set-labels",
                None,
            ),
            (
                OciImage::index(&[
                    ImageSpec {
                        architecture: other_arch,
                        variant: other_variant,
                        entrypoint: Some(&[wrong]),
                        cmd: None,
                    },
                    ImageSpec {
                        architecture: &here.architecture,
                        variant: here.variant.as_deref(),
                        entrypoint: Some(&[&set_namespace]),
                        cmd: None,
                    },
                ]),
                "kpt-fn/multi-platform",
                None,
            ),
            (single(Some(&[&cat]), None), "kpt-fn/cat", None),
            (
                single(Some(&[&set_namespace]), None),
                "team/set-namespace",
                None,
            ),
        ];
        // skopeo runs take a while each: push them side by side.
        let references: Vec<String> = std::thread::scope(|s| {
            let pushes: Vec<_> = uploads
                .iter()
                .map(|(image, repo, format)| {
                    let (registry, pki) = (&registry, &pki);
                    s.spawn(move || {
                        registry.push_as(
                            image,
                            repo,
                            "v1",
                            Some((USER, PASSWORD)),
                            Some(pki),
                            *format,
                        )
                    })
                })
                .collect();
            pushes
                .into_iter()
                .map(|p| p.join().expect("push thread"))
                .collect()
        });
        let entrypoints = [
            vec![set_namespace.clone()],
            vec![slow],
            vec![sleep],
            vec![results],
            vec![set_labels],
            vec![set_namespace.clone()],
            vec![cat],
            vec![set_namespace],
        ];
        let pushed: Vec<Pushed> = references
            .iter()
            .zip(entrypoints)
            .map(|(reference, entrypoint)| Pushed {
                reference: reference.clone(),
                digests: digests(&registry, &pki, reference),
                entrypoint,
            })
            .collect();
        let r = |i: usize| references[i].clone();
        let images = Images {
            set_namespace: r(0),
            slow: r(1),
            sleep: r(2),
            results: r(3),
            cmd_only: r(4),
            multi_platform: r(5),
            cat: r(6),
            team_set_namespace: r(7),
        };
        FnRegistry {
            pki,
            registry,
            images,
            pushed,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.registry.host()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every pushed image.
    pub fn pushed(&self) -> &[Pushed] {
        &self.pushed
    }

    /// What a pod's `image` names, as a node would pull it: a pushed tag,
    /// or `REPO@DIGEST` with one of that repository's digests.
    pub fn lookup(&self, image: &str) -> Option<&Pushed> {
        self.pushed.iter().find(|p| p.is_named_by(image))
    }
}

impl Pushed {
    /// Whether a pod's `image` names this push: its tag, or `REPO@DIGEST`
    /// with one of its digests.
    pub fn is_named_by(&self, image: &str) -> bool {
        self.reference == image
            || image.split_once('@').is_some_and(|(repo, digest)| {
                self.reference.rsplit_once(':').map(|(r, _)| r) == Some(repo)
                    && self.digests.iter().any(|d| d == digest)
            })
    }
}

/// A second registry, without auth (every pull anonymous), on the same
/// test CA: the public registry of `--default-image-prefix` tests. It
/// holds one image, `fn/set-namespace:v1` (Entrypoint `set-namespace`).
/// Started per env that asks for it (`PodEnv::public_registry`).
pub struct PublicRegistry {
    registry: Registry,
    pub pushed: Pushed,
}

impl PublicRegistry {
    /// Starts it with `pki`'s server certificate and pushes the image.
    pub fn start(pki: &Pki) -> PublicRegistry {
        let registry = Registry::start(Some(pki), Auth::Anonymous);
        let here = Platform::runner();
        let entrypoint = function("set-namespace").to_string_lossy().into_owned();
        let image = OciImage::single(&ImageSpec {
            architecture: &here.architecture,
            variant: here.variant.as_deref(),
            entrypoint: Some(&[&entrypoint]),
            cmd: None,
        });
        let reference = registry.push(&image, "fn/set-namespace", "v1", None, Some(pki));
        let raw = registry.skopeo_raw(&reference, None, Some(pki));
        let pushed = Pushed {
            digests: vec![fn_runner::registry::Digest::sha256(&raw).to_string()],
            reference,
            entrypoint: vec![entrypoint],
        };
        PublicRegistry { registry, pushed }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.registry.host()
    }
}

/// The digest of the manifest `reference` names, then those of an index's
/// children, as skopeo reads them.
fn digests(registry: &Registry, pki: &Pki, reference: &str) -> Vec<String> {
    let raw = registry.skopeo_raw(reference, Some((USER, PASSWORD)), Some(pki));
    let mut digests = vec![fn_runner::registry::Digest::sha256(&raw).to_string()];
    if let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&raw) {
        digests.extend(
            manifest["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["digest"].as_str().map(str::to_owned)),
        );
    }
    digests
}
