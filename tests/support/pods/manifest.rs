//! The function pod as compat §4.2 describes it (inline template
//! `inline-v1`), built by hand: what tests create to exercise the node
//! without a runner, and what they compare the runner's pods with.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::node::{INIT_CONTAINER, TOOLS_DIR, TOOLS_VOLUME, WRAPPER_PATH};

/// Label holding the pod id (compat §4.2).
pub const IMAGE_LABEL: &str = "fn.kpt.dev/image";
/// Annotation: unix seconds after which an idle pod may be deleted.
pub const RECLAIM_AFTER: &str = "fn.kpt.dev/reclaim-after";
/// Annotation: the template version the pod was made from.
pub const TEMPLATE_VERSION: &str = "fn.kpt.dev/template-version";
/// The inline template's version string.
pub const INLINE_TEMPLATE_VERSION: &str = "inline-v1";
/// Annotation that lets the cluster autoscaler evict function pods.
pub const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";

/// The pod id of compat §4.2: the repository's last path segment with `_`
/// turned into `-`, `-`, the first 8 hex digits of `digest`
/// (`.../set_namespace:v1`, `sha256:0ec0fb23...` -> `set-namespace-0ec0fb23`).
pub fn pod_id(image: &str, digest: &str) -> String {
    let name = image.rsplit('/').next().unwrap_or(image);
    let name = name.split(['@', ':']).next().unwrap_or(name);
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("{}-{}", name.replace('_', "-"), &hex[..hex.len().min(8)])
}

/// What a compat §4.2 pod is made from.
#[derive(Debug, Clone)]
pub struct PodInput<'a> {
    pub image: &'a str,
    pub digest: &'a str,
    /// The image's entrypoint (Entrypoint, else Cmd).
    pub entrypoint: &'a [String],
    pub namespace: &'a str,
    /// `$WRAPPER_SERVER_IMAGE`.
    pub wrapper_image: &'a str,
    /// `--max-request-body-size`.
    pub max_request_body_size: usize,
    /// `--registry-auth-secret-name`, for a private image.
    pub pull_secret: Option<&'a str>,
    /// `--pod-ttl`.
    pub ttl: Duration,
}

/// The pod (to create with `generateName: <pod id>-`).
pub fn compat_pod(input: &PodInput<'_>) -> Value {
    let id = pod_id(input.image, input.digest);
    let reclaim_after = (SystemTime::now() + input.ttl)
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let mount = json!([{"name": TOOLS_VOLUME, "mountPath": TOOLS_DIR}]);
    let mut args = vec![
        "--port".to_owned(),
        "9446".to_owned(),
        "--max-request-body-size".to_owned(),
        input.max_request_body_size.to_string(),
        "--".to_owned(),
    ];
    args.extend(input.entrypoint.iter().cloned());
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{id}-"),
            "namespace": input.namespace,
            "labels": {IMAGE_LABEL: id},
            "annotations": {
                RECLAIM_AFTER: reclaim_after.to_string(),
                TEMPLATE_VERSION: INLINE_TEMPLATE_VERSION,
                SAFE_TO_EVICT: "true",
            },
        },
        "spec": {
            "initContainers": [{
                "name": INIT_CONTAINER,
                "image": input.wrapper_image,
                "command": fn_runner::image_layout::COPY_COMMAND,
                "volumeMounts": mount,
            }],
            "containers": [{
                "name": "function",
                "image": input.image,
                "command": [WRAPPER_PATH],
                "args": args,
                "readinessProbe": {"exec": {"command": [
                    fn_runner::image_layout::POD_HEALTH_PROBE, "-addr", "localhost:9446",
                ]}},
                "volumeMounts": mount,
            }],
            "volumes": [{"name": TOOLS_VOLUME, "emptyDir": {}}],
        },
    });
    if let Some(secret) = input.pull_secret {
        pod["spec"]["imagePullSecrets"] = json!([{"name": secret}]);
    }
    pod
}

/// A `--function-pod-template` pod as a user writes one: the parts of the
/// inline pod (compat §4.2) the wrapper server needs, plus the label
/// `team: TEAM` to tell two versions apart.
pub fn template_pod_yaml(team: &str) -> String {
    let wrapper_image = super::WRAPPER_SERVER_IMAGE;
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  labels: {{team: {team}}}
spec:
  initContainers:
    - name: {INIT_CONTAINER}
      image: {wrapper_image}
      command: [cp, -a, /wrapper-server/., {TOOLS_DIR}]
      volumeMounts: [{{name: {TOOLS_VOLUME}, mountPath: {TOOLS_DIR}}}]
  containers:
    - name: function
      image: to-be-replaced
      command: [{WRAPPER_PATH}]
      volumeMounts: [{{name: {TOOLS_VOLUME}, mountPath: {TOOLS_DIR}}}]
  volumes:
    - {{name: {TOOLS_VOLUME}, emptyDir: {{}}}}
"
    )
}

/// The ConfigMap `name` (in the runner's namespace) holding `template` as
/// its `data.template`.
pub fn template_config_map(name: &str, template: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": super::RUNNER_NAMESPACE},
        "data": {"template": template},
    })
}

/// The strings of a manifest's JSON array (a container's `command`,
/// `args`; empty when absent). Panics on another value: the manifests
/// the tests read are well-formed.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_id_as_compat_spells_it() {
        let digest = "sha256:0ec0fb23aaaaaaaa";
        assert_eq!(
            pod_id("gcr.io/kpt-fn/set_namespace:v1", digest),
            "set-namespace-0ec0fb23"
        );
        assert_eq!(
            pod_id("127.0.0.1:5000/kpt-fn/set_namespace:v1", digest),
            "set-namespace-0ec0fb23"
        );
        assert_eq!(
            pod_id("127.0.0.1:5000/fn@sha256:0ec0fb23aaaaaaaa", digest),
            "fn-0ec0fb23"
        );
    }
}
