//! The pod template checks of `fn-runner preflight`: the template the pod
//! runtime would make pods from, read as it reads it. Inline: the
//! `WRAPPER_SERVER_IMAGE` environment variable must be set (serve refuses
//! to start the pod runtime without it). `--function-pod-template`: the
//! ConfigMap in the runner's namespace must exist, parse, and have a
//! container named `function` ([`Template::from_config_map`], the
//! runtime's own parser).

use super::cluster::Cluster;
use super::report::Check;
use crate::evaluator::pod::template::{self, Template, CONFIG_MAP_KEY, FUNCTION_CONTAINER};
use crate::kube;
use crate::log::chain;
use crate::serve::WRAPPER_SERVER_IMAGE_ENV;

/// The inline template, when `wrapper_server_image` (serve's reading of
/// `$WRAPPER_SERVER_IMAGE`) is set.
pub fn inline(wrapper_server_image: Option<&str>) -> (Check, Option<Template>) {
    match wrapper_server_image {
        Some(image) => (
            Check::ok(format!(
                "{WRAPPER_SERVER_IMAGE_ENV}={image}: the inline pod template copies the wrapper \
                 server from it"
            )),
            Some(Template::inline(image)),
        ),
        None => (
            Check::fail(
                format!(
                    "{WRAPPER_SERVER_IMAGE_ENV} is not set: serve refuses to start the pod \
                     runtime with the inline pod template"
                ),
                format!(
                    "set {WRAPPER_SERVER_IMAGE_ENV} in the runner's environment to the \
                     fn-runner image (README \"Swap fn-runner into Porch\"), or pass \
                     --function-pod-template"
                ),
            ),
            None,
        ),
    }
}

/// The `--function-pod-template` ConfigMap `name`, read and parsed as the
/// pod runtime reads it; `cluster` is `None` when the API cannot be asked.
pub fn config_map(cluster: Option<&Cluster>, name: &str) -> (Check, Option<Template>) {
    let Some(cluster) = cluster else {
        return (
            Check::skip(format!(
                "function pod template ConfigMap {name}: not checked (no Kubernetes API, above)"
            )),
            None,
        );
    };
    let namespace = &cluster.runner_namespace;
    let qualified = format!("{namespace}/{name}");
    let map = match cluster.client.config_maps(namespace).get(name) {
        Ok(map) => map,
        Err(e) => {
            let fix = match &e {
                kube::Error::NotFound(_) => format!(
                    "create it in the runner's namespace: kubectl -n {namespace} create \
                     configmap {name} --from-file={CONFIG_MAP_KEY}=pod.yaml (or pass the right \
                     --function-pod-template)"
                ),
                kube::Error::Forbidden(_) => {
                    format!("allow get on configmaps in {namespace} (see the RBAC lines above)")
                }
                _ => "see the error above".to_owned(),
            };
            return (
                Check::fail(
                    format!("function pod template ConfigMap {qualified}: cannot be read"),
                    fix,
                )
                .with_detail(chain(&e)),
                None,
            );
        }
    };
    let version = map.metadata.resource_version.clone().unwrap_or_default();
    match Template::from_config_map(&qualified, &map.data, &version) {
        Ok(template) => (
            Check::ok(format!(
                "function pod template ConfigMap {qualified} (version {version}): a pod with a \
                 {FUNCTION_CONTAINER:?} container"
            )),
            Some(template),
        ),
        Err(e) => {
            let fix = match &e {
                template::Error::MissingKey { .. } => {
                    format!("put the pod manifest under the key data.{CONFIG_MAP_KEY}")
                }
                template::Error::Parse { .. } => format!(
                    "data.{CONFIG_MAP_KEY} must be a pod manifest, in YAML or JSON (the error \
                     above gives the line)"
                ),
                template::Error::NoFunctionContainer { .. } => format!(
                    "name the container the runner fills in (image, args) {FUNCTION_CONTAINER:?}: \
                     spec.containers[].name: {FUNCTION_CONTAINER}"
                ),
            };
            (
                Check::fail(
                    format!("function pod template ConfigMap {qualified}: unusable"),
                    fix,
                )
                .with_detail(chain(&e)),
                None,
            )
        }
    }
}
