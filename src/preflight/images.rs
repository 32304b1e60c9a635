//! The image checks of `fn-runner preflight`: the `--pod-cache-config`
//! file (both formats, read by the runtime's own [`CacheConfig`]), and
//! every warm-up image and the `--show-pod` image resolved through the
//! registry client as the pod runtime resolves them, each line naming the
//! digest and the TLS ladder rung the registry settled on.

use std::time::{Duration, Instant};

use super::report::Check;
use crate::evaluator::pod::cache::Limits;
use crate::evaluator::pod::cache_config::{CacheConfig, Defaults};
use crate::flags::ServeSettings;
use crate::registry::{self, ImageInfo};

/// How long one image may take to resolve: what a pod start gives it at
/// most by default (`--pod-ready-timeout`'s 60 s) would make a preflight
/// of many unreachable images crawl; 30 s covers a slow registry's token
/// round trip and manifest fetches.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry client, or why it could not be built (its CA).
pub type Registry<'a> = Result<&'a registry::Client, &'a registry::Error>;

/// The `--pod-cache-config` file as the pod runtime reads it at start:
/// its per-image TTL and limits apply to every pod of those images, and
/// with `--warm-up-pod-cache` its images get a pod at start. A missing
/// file is what serve only warns about; one it cannot use at all (serve:
/// "no per-image settings, no warm-up") fails.
pub fn cache_config(settings: &ServeSettings) -> (Vec<Check>, CacheConfig) {
    let path = &settings.pod_cache_config;
    if !path.exists() {
        let check = if settings.warm_up_pod_cache {
            Check::warn(
                format!(
                    "pod cache config {} does not exist: serve starts without warm-up",
                    path.display()
                ),
                "mount the warm-up list there or pass --pod-cache-config PATH; \
                 --warm-up-pod-cache=false if no warm-up is wanted",
            )
        } else {
            Check::skip(format!(
                "pod cache config {}: none (no per-image settings, no warm-up)",
                path.display()
            ))
        };
        return (vec![check], CacheConfig::default());
    }
    let defaults = Defaults {
        ttl: settings.pod_ttl,
        limits: Limits {
            max_pods: settings.max_parallel_pods_per_function,
            max_waitlist: settings.max_waitlist_length,
        },
    };
    let config = match CacheConfig::load(path, defaults) {
        Ok(config) => config,
        Err(e) => {
            return (
                vec![Check::fail(
                    format!(
                        "pod cache config {}: unusable, serve would ignore it (no per-image \
                         settings, no warm-up)",
                        path.display()
                    ),
                    "write it as a YAML map of image to TTL (Porch v4) or a list of {name, \
                     timeToLive, maxWaitlistLength, maxParallelPodsPerFunction} (Porch v1.5)",
                )
                .with_detail(e.to_string())],
                CacheConfig::default(),
            )
        }
    };
    let count = config.entries().len();
    let mut checks = vec![Check::ok(format!(
        "pod cache config {}: {count} image{} with per-image settings{}",
        path.display(),
        if count == 1 { "" } else { "s" },
        if settings.warm_up_pod_cache {
            ", warmed up at start"
        } else {
            " (--warm-up-pod-cache=false: no warm-up)"
        }
    ))];
    checks.extend(config.warnings().iter().map(|warning| {
        Check::warn(
            warning.clone(),
            "serve logs the same warning and goes on; fix the entry if it matters",
        )
    }));
    (checks, config)
}

/// With `--warm-up-pod-cache`, one check per image of `config`; the
/// images that resolved, in file order.
pub(crate) fn warm_up(
    settings: &ServeSettings,
    config: &CacheConfig,
    registry: Registry<'_>,
) -> (Vec<Check>, Vec<ImageInfo>) {
    if !settings.warm_up_pod_cache {
        return (
            vec![Check::skip(
                "warm-up: --warm-up-pod-cache=false: no pods are made at start",
            )],
            Vec::new(),
        );
    }
    let mut checks = Vec::new();
    let mut resolved = Vec::new();
    for entry in config.entries() {
        let (check, info) = resolve("warm-up image", &entry.image, registry);
        checks.push(check);
        resolved.extend(info);
    }
    (checks, resolved)
}

/// Resolves `image` (`what` says why it is asked: "warm-up image",
/// "--show-pod image").
pub fn resolve(what: &str, image: &str, registry: Registry<'_>) -> (Check, Option<ImageInfo>) {
    let registry = match registry {
        Ok(registry) => registry,
        Err(e) => {
            return (
                Check::fail(
                    format!("{what} {image}: not resolved, the registry client cannot start"),
                    "fix the registry settings (see the registry lines above)",
                )
                .with_detail(e.to_string()),
                None,
            )
        }
    };
    match registry.resolve_by(image, Some(Instant::now() + RESOLVE_TIMEOUT)) {
        Ok(info) => (
            Check::ok(format!(
                "{what} {image}: {} via {}{}",
                info.digest,
                info.transport.as_str(),
                if info.authenticated {
                    ", with credentials"
                } else {
                    ""
                }
            )),
            Some(info),
        ),
        Err(e) => (
            Check::fail(
                format!("{what} {image}: does not resolve"),
                format!(
                    "check the reference and the registry flags; `fn-runner inspect [registry \
                     flags] {image}` resolves it the same way"
                ),
            )
            .with_detail(e.to_string()),
            None,
        ),
    }
}
