//! The pod `fn-runner preflight` dry-runs and shows: the one the pod
//! runtime would create for an image's first call, built by the runtime's
//! own [`Template::pod_for`] from the same inputs (`start.rs`): the pod id
//! from the reference and digest, the entrypoint, `--pod-namespace`, the
//! image's TTL (its `--pod-cache-config` entry, else `--pod-ttl`),
//! `--max-request-body-size`, the pull Secret when credentials apply to
//! the image, and `generateName` naming.
//!
//! Without an image to make it for (no `--show-pod`, no warm-up image
//! resolved), the dry run uses a stand-in image: every field the template
//! and the flags decide is still the runner's.

use std::time::SystemTime;

use crate::evaluator::pod::cache_config::CacheConfig;
use crate::evaluator::pod::template::{Naming, PodId, PodSpec, Template};
use crate::flags::ServeSettings;
use crate::kube::Pod;
use crate::registry::{self, Digest, ImageInfo, Reference};

/// The image of the stand-in pod: a reserved name (`.invalid`, RFC 2606)
/// so it can never be pulled by mistake.
pub(crate) const STAND_IN_IMAGE: &str = "preflight.fn-runner.invalid/stand-in:v0";
/// The stand-in's entrypoint.
const STAND_IN_ENTRYPOINT: &str = "/stand-in";

/// What a pod is made for.
pub(crate) struct Subject<'a> {
    /// The image string as porch-server would send it.
    pub image: &'a str,
    pub digest: Digest,
    pub entrypoint: Vec<String>,
}

impl<'a> Subject<'a> {
    /// A resolved image.
    pub fn resolved(info: &'a ImageInfo) -> Subject<'a> {
        Subject {
            image: &info.image,
            digest: info.digest.clone(),
            entrypoint: info.entrypoint.clone(),
        }
    }

    /// The stand-in (see the module doc).
    pub(crate) fn stand_in() -> Subject<'static> {
        Subject {
            image: STAND_IN_IMAGE,
            digest: Digest::sha256(b""),
            entrypoint: vec![STAND_IN_ENTRYPOINT.to_owned()],
        }
    }
}

/// The pod the runtime would create for `subject` now, or why the image
/// string does not parse (a resolved image always does). `per_image` is
/// the `--pod-cache-config` file as read.
pub fn manifest(
    template: &Template,
    settings: &ServeSettings,
    per_image: &CacheConfig,
    registry: Option<&registry::Client>,
    subject: &Subject<'_>,
) -> Result<Pod, registry::reference::Error> {
    let reference = Reference::parse(subject.image)?;
    let pod_id = PodId::new(&reference, &subject.digest);
    // start.rs: the Secret is named when credentials apply and are configured.
    let pull_secret = registry
        .filter(|r| r.applies_credentials(subject.image) && r.credentials().is_some())
        .map(|_| settings.registry.registry_auth_secret_name.as_str());
    let spec = PodSpec {
        image: subject.image,
        pod_id: &pod_id,
        entrypoint: &subject.entrypoint,
        namespace: &settings.pod_namespace,
        ttl: per_image
            .for_image(subject.image)
            .map_or(settings.pod_ttl, |entry| entry.ttl),
        max_message_bytes: settings.max_request_body_size,
        pull_secret,
        naming: Naming::Generated,
    };
    Ok(template.pod_for(&spec, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_in_gets_everything_the_flags_and_template_decide() {
        let settings = ServeSettings {
            pod_namespace: "fns".into(),
            ..ServeSettings::default()
        };
        let pod = manifest(
            &Template::inline("wrapper:v1"),
            &settings,
            &CacheConfig::default(),
            None,
            &Subject::stand_in(),
        )
        .expect("the stand-in parses");
        assert_eq!(pod.metadata.namespace.as_deref(), Some("fns"));
        assert_eq!(
            pod.metadata.generate_name.as_deref(),
            Some("stand-in-e3b0c442-")
        );
        assert_eq!(pod.spec["containers"][0]["image"], STAND_IN_IMAGE);
        assert_eq!(pod.spec["initContainers"][0]["image"], "wrapper:v1");
        assert!(pod.spec.get("imagePullSecrets").is_none());
    }

    #[test]
    fn a_private_image_names_the_pull_secret() {
        let settings = ServeSettings::default();
        let registry = registry::Client::new(&registry::Config {
            auth_file: Some("/auth/.dockerconfigjson".into()),
            ..registry::Config::default()
        })
        .expect("client");
        let subject = Subject {
            image: "ghcr.io/team/fn:v1",
            digest: Digest::sha256(b"x"),
            entrypoint: vec!["/fn".into()],
        };
        let pod = manifest(
            &Template::inline("w"),
            &settings,
            &CacheConfig::default(),
            Some(&registry),
            &subject,
        )
        .expect("parses");
        assert_eq!(pod.spec["imagePullSecrets"][0]["name"], "auth-secret");
    }
}
