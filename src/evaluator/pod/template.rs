//! The function pod's manifest (compat §4.2): its id, the base template
//! (inline, or a ConfigMap's `data.template`) and what the runner writes
//! into it for one image.
//!
//! ```text
//! base template ---+--> metadata: namespace, label fn.kpt.dev/image = pod id,
//! (inline-v1 or    |    annotations reclaim-after, template-version
//!  ConfigMap rv)   +--> container "function": image, args += --port 9446
//!                  |    --max-request-body-size N -- <entrypoint...>
//!                  +--> imagePullSecrets += the auth Secret (private images)
//! ```
//!
//! The template is a user's pod: everything we do not set is passed
//! through untouched (`kube::Pod` keeps unknown fields, `spec` is JSON).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::kube::{ObjectMeta, Pod};
use crate::registry::reference::{Digest, Reference};

/// Label whose value is the pod id (compat §4.2); the GC and the watch
/// select function pods by this key.
pub const IMAGE_LABEL: &str = "fn.kpt.dev/image";
/// Annotation: unix seconds after which the pod may be collected.
pub(crate) const RECLAIM_AFTER_ANNOTATION: &str = "fn.kpt.dev/reclaim-after";
/// Annotation: the template version the pod was made from.
pub(crate) const TEMPLATE_VERSION_ANNOTATION: &str = "fn.kpt.dev/template-version";
/// The version of the inline template (the Go original's string).
pub const INLINE_TEMPLATE_VERSION: &str = "inline-v1";
/// The container the runner fills in; a template without it is refused.
pub(crate) const FUNCTION_CONTAINER: &str = "function";
/// The key of the template in the `--function-pod-template` ConfigMap.
pub(crate) const CONFIG_MAP_KEY: &str = "template";
/// Port of the wrapper server inside every function pod (compat §6).
pub use crate::image_layout::WRAPPER_SERVER_PORT;
use crate::image_layout::{
    COPY_COMMAND, INIT_CONTAINER_NAME, POD_HEALTH_PROBE, POD_WRAPPER_SERVER, TOOLS_DIR,
    TOOLS_VOLUME,
};

/// Longest label value (Kubernetes `validation.LabelValueMaxLength`).
const MAX_LABEL_VALUE_BYTES: usize = 63;
/// Hex digits of the digest in a pod id (compat §4.2).
const POD_ID_DIGEST_HEX: usize = 8;

/// A pod id: `<last repository segment, '_' -> '-'>-<8 hex of the digest>`,
/// always a valid label value and pod name prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodId(String);

impl PodId {
    /// The id of `reference` resolved to `digest`. The name part is cut so
    /// that the whole stays within a label value's 63 bytes, and never
    /// ends in a separator (label values end alphanumeric).
    pub fn new(reference: &Reference, digest: &Digest) -> PodId {
        let segment = reference
            .repository()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .replace('_', "-");
        let hex: String = digest.hex().chars().take(POD_ID_DIGEST_HEX).collect();
        let room = MAX_LABEL_VALUE_BYTES - 1 - hex.len();
        // Repository segments are ASCII (distribution's grammar), so byte
        // indices are char boundaries.
        let mut name = segment.get(..room.min(segment.len())).unwrap_or("fn");
        name = name.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        if name.is_empty() {
            name = "fn";
        }
        PodId(format!("{name}-{hex}"))
    }

    /// The id as written in the label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A base pod and its version string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pod: Pod,
    version: String,
}

/// Why a `--function-pod-template` ConfigMap cannot be used.
#[derive(Debug)]
pub enum Error {
    /// The ConfigMap has no `data.template`.
    MissingKey { config_map: String },
    /// `data.template` is neither YAML nor JSON of a pod.
    Parse {
        config_map: String,
        source: crate::yaml::Error,
    },
    /// The pod has no container named `function`.
    NoFunctionContainer { config_map: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingKey { config_map } => write!(
                f,
                "function pod template ConfigMap {config_map} has no data.{CONFIG_MAP_KEY}"
            ),
            Error::Parse { config_map, .. } => write!(
                f,
                "function pod template ConfigMap {config_map}: data.{CONFIG_MAP_KEY} is not a \
                 pod manifest (YAML or JSON)"
            ),
            Error::NoFunctionContainer { config_map } => write!(
                f,
                "function pod template ConfigMap {config_map}: the pod has no container named \
                 {FUNCTION_CONTAINER:?} (the runner puts the function image there)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Parse { source, .. } => Some(source),
            Error::MissingKey { .. } | Error::NoFunctionContainer { .. } => None,
        }
    }
}

/// What the runner writes into a template for one image.
#[derive(Debug, Clone)]
pub struct PodSpec<'a> {
    /// The image string as porch-server sent it (the container's image).
    pub image: &'a str,
    pub pod_id: &'a PodId,
    /// The effective entrypoint (image config Entrypoint, else Cmd).
    pub entrypoint: &'a [String],
    /// `--pod-namespace`.
    pub namespace: &'a str,
    /// Time to live from `now` for the reclaim-after annotation.
    pub ttl: Duration,
    /// `--max-request-body-size`, passed to the wrapper server.
    pub max_message_bytes: usize,
    /// The auth Secret's name for a private image (`imagePullSecrets`).
    pub pull_secret: Option<&'a str>,
    /// How the pod gets its name (requests: generated; warm-up: fixed).
    pub naming: Naming,
}

/// How a new pod is named (compat §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `generateName: <pod id>-` (for requests: a pod of that id may still
    /// be terminating).
    Generated,
    /// `name: <pod id>`, created by server-side apply (warm-up).
    Fixed,
}

impl Template {
    /// The inline template (compat §4.2, version `inline-v1`), with the
    /// wrapper server copied from `wrapper_server_image`
    /// (`$WRAPPER_SERVER_IMAGE`).
    pub fn inline(wrapper_server_image: &str) -> Template {
        let tools_mount = json!([{ "name": TOOLS_VOLUME, "mountPath": TOOLS_DIR }]);
        let spec = json!({
            "initContainers": [{
                "name": INIT_CONTAINER_NAME,
                "image": wrapper_server_image,
                "command": COPY_COMMAND,
                "volumeMounts": tools_mount,
            }],
            "containers": [{
                "name": FUNCTION_CONTAINER,
                "image": "to-be-replaced",
                "command": [POD_WRAPPER_SERVER],
                "readinessProbe": {
                    "exec": {
                        "command": [
                            POD_HEALTH_PROBE,
                            "-addr",
                            format!("localhost:{WRAPPER_SERVER_PORT}"),
                        ],
                    },
                },
                "volumeMounts": tools_mount,
            }],
            "volumes": [{ "name": TOOLS_VOLUME, "emptyDir": {} }],
        });
        let mut metadata = ObjectMeta::default();
        metadata.annotations.insert(
            "cluster-autoscaler.kubernetes.io/safe-to-evict".to_owned(),
            "true".to_owned(),
        );
        Template {
            pod: Pod {
                metadata,
                spec,
                ..Pod::default()
            },
            version: INLINE_TEMPLATE_VERSION.to_owned(),
        }
    }

    /// The template in a ConfigMap's `data.template` (YAML or JSON of a
    /// pod); its version is the ConfigMap's resourceVersion. `config_map`
    /// names it in errors (`namespace/name`).
    pub(crate) fn from_config_map(
        config_map: &str,
        data: &std::collections::BTreeMap<String, String>,
        resource_version: &str,
    ) -> Result<Template, Error> {
        let name = || config_map.to_owned();
        let text = data
            .get(CONFIG_MAP_KEY)
            .ok_or_else(|| Error::MissingKey { config_map: name() })?;
        let source =
            crate::yaml::Source::Named(format!("data.{CONFIG_MAP_KEY} of ConfigMap {config_map}"));
        let pod: Pod =
            crate::yaml::from_slice(text.as_bytes(), source, crate::yaml::MAX_FILE_BYTES).map_err(
                |source| Error::Parse {
                    config_map: name(),
                    source,
                },
            )?;
        if function_container(&pod.spec).is_none() {
            return Err(Error::NoFunctionContainer { config_map: name() });
        }
        Ok(Template {
            pod,
            version: resource_version.to_owned(),
        })
    }

    /// The template version written into every pod made from it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The pod to create for `spec` at `now`.
    pub fn pod_for(&self, spec: &PodSpec<'_>, now: SystemTime) -> Pod {
        let mut pod = self.pod.clone();
        let meta = &mut pod.metadata;
        meta.namespace = Some(spec.namespace.to_owned());
        // Whatever identity the template carried is not this pod's.
        meta.uid = None;
        meta.resource_version = None;
        meta.creation_timestamp = None;
        meta.deletion_timestamp = None;
        match spec.naming {
            Naming::Generated => {
                meta.name = None;
                meta.generate_name = Some(format!("{}-", spec.pod_id));
            }
            Naming::Fixed => {
                meta.name = Some(spec.pod_id.to_string());
                meta.generate_name = None;
            }
        }
        meta.labels
            .insert(IMAGE_LABEL.to_owned(), spec.pod_id.to_string());
        meta.annotations.insert(
            RECLAIM_AFTER_ANNOTATION.to_owned(),
            reclaim_after(now, spec.ttl),
        );
        meta.annotations
            .insert(TEMPLATE_VERSION_ANNOTATION.to_owned(), self.version.clone());
        pod.status = None;
        if let Some(container) = function_container_mut(&mut pod.spec) {
            container.insert("image".to_owned(), Value::from(spec.image));
            let args = container
                .entry("args")
                .or_insert_with(|| Value::Array(Vec::new()));
            if !args.is_array() {
                *args = Value::Array(Vec::new());
            }
            if let Value::Array(args) = args {
                args.extend(
                    [
                        "--port".to_owned(),
                        WRAPPER_SERVER_PORT.to_string(),
                        "--max-request-body-size".to_owned(),
                        spec.max_message_bytes.to_string(),
                        "--".to_owned(),
                    ]
                    .into_iter()
                    .chain(spec.entrypoint.iter().cloned())
                    .map(Value::from),
                );
            }
        }
        if let Some(secret) = spec.pull_secret {
            add_pull_secret(&mut pod.spec, secret);
        }
        pod
    }
}

/// `reclaim-after` for a pod used at `now` with `ttl`: unix seconds.
pub fn reclaim_after(now: SystemTime, ttl: Duration) -> String {
    let at = now
        .checked_add(ttl)
        .unwrap_or(now)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    at.as_secs().to_string()
}

/// The `function` container of a pod spec.
fn function_container(spec: &Value) -> Option<&Map<String, Value>> {
    spec.get("containers")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(FUNCTION_CONTAINER))
}

fn function_container_mut(spec: &mut Value) -> Option<&mut Map<String, Value>> {
    spec.get_mut("containers")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(FUNCTION_CONTAINER))
}

/// Adds `secret` to `imagePullSecrets` unless it is there (compat §4.2: once).
fn add_pull_secret(spec: &mut Value, secret: &str) {
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let list = spec
        .entry("imagePullSecrets")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(list) = list {
        let present = list
            .iter()
            .any(|s| s.get("name").and_then(Value::as_str) == Some(secret));
        if !present {
            list.push(json!({ "name": secret }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(image: &str, hex: &str) -> PodId {
        let reference = Reference::parse(image).expect("test image parses");
        let digest = Digest::parse(&format!("sha256:{hex}")).expect("test digest parses");
        PodId::new(&reference, &digest)
    }

    const HEX: &str = "0ec0fb23aabbccddeeff00112233445566778899aabbccddeeff001122334455";

    #[test]
    fn pod_id_is_last_segment_and_digest_prefix() {
        assert_eq!(
            id("gcr.io/kpt-fn/set_namespace:v1", HEX).as_str(),
            "set-namespace-0ec0fb23"
        );
        assert_eq!(id("alpine", HEX).as_str(), "alpine-0ec0fb23");
        assert_eq!(
            id(&format!("example.com/a/b/apply-setters@sha256:{HEX}"), HEX).as_str(),
            "apply-setters-0ec0fb23"
        );
    }

    #[test]
    fn pod_id_is_always_a_label_value() {
        let long = format!("example.com/fn/{}_x", "a".repeat(120));
        let cut = id(&long, HEX);
        assert!(cut.as_str().len() <= MAX_LABEL_VALUE_BYTES, "{cut}");
        assert!(cut.as_str().ends_with("-0ec0fb23"));
        // A cut that lands on a separator drops it.
        let sep = format!("example.com/fn/{}.bcd", "a".repeat(53));
        let cut = id(&sep, HEX);
        let name = cut.as_str().trim_end_matches("-0ec0fb23");
        assert!(name.ends_with(|c: char| c.is_ascii_alphanumeric()), "{cut}");
    }

    fn spec<'a>(pod_id: &'a PodId, entrypoint: &'a [String]) -> PodSpec<'a> {
        PodSpec {
            image: "example.com/fn/set-namespace:v1",
            pod_id,
            entrypoint,
            namespace: "porch-fn-system",
            ttl: Duration::from_secs(1800),
            max_message_bytes: 6_291_456,
            pull_secret: Some("auth-secret"),
            naming: Naming::Generated,
        }
    }

    #[test]
    fn inline_pod_has_every_field_of_compat_4_2() {
        let pod_id = id("example.com/fn/set-namespace:v1", HEX);
        let entrypoint = vec!["/usr/local/bin/function".to_owned()];
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let pod =
            Template::inline("example.com/fn-runner:v1").pod_for(&spec(&pod_id, &entrypoint), now);
        let v = serde_json::to_value(&pod).expect("pod serializes");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Pod");
        assert_eq!(v["metadata"]["namespace"], "porch-fn-system");
        assert_eq!(v["metadata"]["generateName"], "set-namespace-0ec0fb23-");
        assert!(v["metadata"].get("name").is_none());
        assert_eq!(
            v["metadata"]["labels"][IMAGE_LABEL],
            "set-namespace-0ec0fb23"
        );
        let ann = &v["metadata"]["annotations"];
        assert_eq!(ann[RECLAIM_AFTER_ANNOTATION], "2800");
        assert_eq!(ann[TEMPLATE_VERSION_ANNOTATION], "inline-v1");
        assert_eq!(
            ann["cluster-autoscaler.kubernetes.io/safe-to-evict"],
            "true"
        );
        let init = &v["spec"]["initContainers"][0];
        assert_eq!(init["name"], "copy-wrapper-server");
        assert_eq!(init["image"], "example.com/fn-runner:v1");
        assert_eq!(
            init["command"],
            json!(["cp", "-a", "/wrapper-server/.", "/wrapper-server-tools"])
        );
        let function = &v["spec"]["containers"][0];
        assert_eq!(function["name"], "function");
        assert_eq!(function["image"], "example.com/fn/set-namespace:v1");
        assert_eq!(
            function["command"],
            json!(["/wrapper-server-tools/wrapper-server"])
        );
        assert_eq!(
            function["args"],
            json!([
                "--port",
                "9446",
                "--max-request-body-size",
                "6291456",
                "--",
                "/usr/local/bin/function"
            ])
        );
        assert_eq!(
            function["readinessProbe"]["exec"]["command"],
            json!([
                "/wrapper-server-tools/grpc-health-probe",
                "-addr",
                "localhost:9446"
            ])
        );
        assert_eq!(
            function["volumeMounts"],
            json!([{ "name": "wrapper-server-tools", "mountPath": "/wrapper-server-tools" }])
        );
        assert_eq!(
            v["spec"]["volumes"],
            json!([{ "name": "wrapper-server-tools", "emptyDir": {} }])
        );
        assert_eq!(
            v["spec"]["imagePullSecrets"],
            json!([{ "name": "auth-secret" }])
        );
    }

    #[test]
    fn fixed_name_for_warm_up_and_no_secret_for_public_images() {
        let pod_id = id("gcr.io/kpt-fn/set-namespace:v1", HEX);
        let mut s = spec(&pod_id, &[]);
        s.naming = Naming::Fixed;
        s.pull_secret = None;
        let pod = Template::inline("w").pod_for(&s, UNIX_EPOCH);
        assert_eq!(pod.metadata.name.as_deref(), Some("set-namespace-0ec0fb23"));
        assert_eq!(pod.metadata.generate_name, None);
        assert!(pod.spec.get("imagePullSecrets").is_none());
    }

    fn config_map(template: &str) -> std::collections::BTreeMap<String, String> {
        [(CONFIG_MAP_KEY.to_owned(), template.to_owned())]
            .into_iter()
            .collect()
    }

    #[test]
    fn config_map_template_keeps_what_it_holds_and_adds_ours() {
        let yaml = "\
apiVersion: v1
kind: Pod
metadata:
  name: template-name
  labels: {team: a}
spec:
  serviceAccountName: fn
  imagePullSecrets: [{name: auth-secret}]
  containers:
    - name: sidecar
      image: busybox
    - name: function
      image: x
      command: [/wrapper-server-tools/wrapper-server]
      args: [--verbosity, '3']
";
        let template =
            Template::from_config_map("porch-system/tpl", &config_map(yaml), "42").expect("parses");
        assert_eq!(template.version(), "42");
        let pod_id = id("example.com/fn/set-namespace:v1", HEX);
        let entrypoint = vec!["/fn".to_owned()];
        let pod = template.pod_for(&spec(&pod_id, &entrypoint), UNIX_EPOCH);
        let v = serde_json::to_value(&pod).expect("pod serializes");
        assert!(
            v["metadata"].get("name").is_none(),
            "generateName replaces the template's name"
        );
        assert_eq!(v["metadata"]["labels"]["team"], "a");
        assert_eq!(
            v["metadata"]["annotations"][TEMPLATE_VERSION_ANNOTATION],
            "42"
        );
        assert_eq!(v["spec"]["serviceAccountName"], "fn");
        assert_eq!(v["spec"]["containers"][0]["image"], "busybox");
        assert_eq!(
            v["spec"]["containers"][1]["args"],
            json!([
                "--verbosity",
                "3",
                "--port",
                "9446",
                "--max-request-body-size",
                "6291456",
                "--",
                "/fn"
            ])
        );
        assert_eq!(
            v["spec"]["imagePullSecrets"],
            json!([{ "name": "auth-secret" }])
        );
    }

    #[test]
    fn config_map_template_in_json() {
        let json = r#"{"spec": {"containers": [{"name": "function", "image": "x"}]}}"#;
        let template =
            Template::from_config_map("ns/tpl", &config_map(json), "7").expect("JSON parses");
        assert_eq!(template.version(), "7");
    }

    #[test]
    fn config_map_template_errors_name_the_config_map() {
        let no_key = Template::from_config_map("ns/tpl", &Default::default(), "1")
            .expect_err("no data.template");
        assert!(no_key.to_string().contains("ns/tpl"), "{no_key}");
        let no_function = Template::from_config_map(
            "ns/tpl",
            &config_map("spec: {containers: [{name: other}]}"),
            "1",
        )
        .expect_err("no function container");
        assert!(matches!(no_function, Error::NoFunctionContainer { .. }));
        assert!(
            no_function.to_string().contains("\"function\""),
            "{no_function}"
        );
        let garbage =
            Template::from_config_map("ns/tpl", &config_map("[: x"), "1").expect_err("not YAML");
        assert!(matches!(garbage, Error::Parse { .. }), "{garbage}");
    }
}
