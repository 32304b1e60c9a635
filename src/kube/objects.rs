//! The few core/v1 objects fn-runner reads and writes, as minimal serde
//! types.
//!
//! Only the fields the pod runtime looks at are typed. Everything else is
//! kept in a `rest` map (`#[serde(flatten)]`), so an object read from the
//! server and written back (update, apply) loses nothing the server or
//! another controller put there. A pod's `spec` stays a
//! [`serde_json::Value`]: the pod runtime builds it from a user's template
//! and must pass through whatever that template holds.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A core/v1 resource we address by its REST path segment.
pub trait Resource: serde::de::DeserializeOwned + Serialize {
    /// The plural REST name: `pods`, `secrets`, `configmaps`.
    const PLURAL: &'static str;
    /// The `kind` written into objects we create.
    const KIND: &'static str;
    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
}

/// `metadata` of any object (the fields we use; the rest kept verbatim).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Set when a graceful delete has begun (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields we do not type (ownerReferences, managedFields, ...).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl ObjectMeta {
    /// The name, or `""` when the object has none yet (generateName).
    pub(crate) fn name_or_empty(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// A Pod. `spec` is kept as JSON (see the module doc). `Default` is an
/// empty `v1` `Pod` (apiVersion and kind set: apply needs them).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    #[serde(default = "v1")]
    pub api_version: String,
    #[serde(default = "kind::<Pod>")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub spec: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Pod {
    /// Phase Running and condition Ready=True: the pod serves.
    pub fn is_ready(&self) -> bool {
        let Some(status) = &self.status else {
            return false;
        };
        status.phase.as_deref() == Some("Running")
            && status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    }

    /// Whether a graceful delete has begun.
    pub fn is_terminating(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }

    /// The pod IP once assigned.
    pub fn pod_ip(&self) -> Option<&str> {
        self.status.as_ref()?.pod_ip.as_deref()
    }

    /// Why this pod cannot start, when Kubernetes says it cannot: a
    /// container (init containers first: `copy-wrapper-server` pulls an
    /// image too) waiting for one of [`START_FAILURE_REASONS`], else phase
    /// Failed. `None` while it may still start (Pending, ContainerCreating,
    /// PodInitializing) or once it runs. The pod runtime fails a waiting
    /// call at once on `Some` instead of waiting out `--pod-ready-timeout`
    /// (compat.md §4.3).
    pub fn waiting_reason(&self) -> Option<StartFailure> {
        let status = self.status.as_ref()?;
        let waiting = status
            .init_container_statuses
            .iter()
            .chain(&status.container_statuses)
            .find_map(|c| {
                let waiting = c.state.as_ref()?.waiting.as_ref()?;
                let reason = waiting.reason.as_deref()?;
                START_FAILURE_REASONS
                    .contains(&reason)
                    .then(|| StartFailure {
                        container: Some(c.name.clone()),
                        reason: reason.to_owned(),
                        message: waiting.message.clone().unwrap_or_default(),
                    })
            });
        if waiting.is_some() {
            return waiting;
        }
        (status.phase.as_deref() == Some("Failed")).then(|| StartFailure {
            container: None,
            reason: status
                .reason
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "Failed".to_owned()),
            message: status.message.clone().unwrap_or_default(),
        })
    }
}

/// Waiting reasons after which a container will not start without a change
/// to the pod or its image (compat.md §4.3). Kubernetes keeps retrying some
/// of them (ErrImagePull becomes ImagePullBackOff, CrashLoopBackOff restarts
/// with backoff), but a caller waiting for a function pod is better served
/// by the reason now than by a timeout a minute later.
pub(crate) const START_FAILURE_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Why a pod cannot start (see [`Pod::waiting_reason`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartFailure {
    /// The container that cannot start; `None` when the pod failed as a
    /// whole (phase Failed).
    pub container: Option<String>,
    /// Kubernetes' reason, verbatim (`ErrImagePull`, ...), or the pod's
    /// `status.reason` for phase Failed (`Failed` when it gives none).
    pub reason: String,
    /// Kubernetes' message, whole (an `x509:` pull error keeps its text,
    /// for the pod runtime's hint); empty when it gave none.
    pub message: String,
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.container {
            Some(c) => write!(f, "container {c:?}: {}", self.reason)?,
            None => write!(f, "pod failed: {}", self.reason)?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// `status` of a Pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `podIP` (not camel-cased `podIp`: the API's spelling).
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PodCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One entry of `status.conditions`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One entry of `status.containerStatuses`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub restart_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerState>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `state` of a container: at most one of the three is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<StateReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<StateReason>,
}

/// `reason` and `message` of a waiting or terminated container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StateReason {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A Secret. `data` values are the decoded bytes; the wire form is base64.
/// `Debug` never prints them.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default = "v1")]
    pub api_version: String,
    #[serde(default = "kind::<Secret>")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(
        default,
        with = "base64_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data: BTreeMap<String, Vec<u8>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the whole metadata: `kubectl apply` leaves the Secret, data
        // included, in the last-applied-configuration annotation.
        let keys: Vec<&String> = self.data.keys().collect();
        let annotations: Vec<&String> = self.metadata.annotations.keys().collect();
        f.debug_struct("Secret")
            .field("name", &self.metadata.name)
            .field("namespace", &self.metadata.namespace)
            .field("resource_version", &self.metadata.resource_version)
            .field("annotation keys", &annotations)
            .field("type", &self.type_)
            .field("data keys", &keys)
            .field("data", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A ConfigMap (read only: the pod template).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default = "v1")]
    pub api_version: String,
    #[serde(default = "kind::<ConfigMap>")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Implements [`Resource`] for a core/v1 object type and a `Default` that
/// is an empty object of that kind (`apiVersion: v1` and `kind` set: apply
/// needs them; every other field empty).
macro_rules! core_v1_resource {
    ($ty:ident, $plural:literal, [$($field:ident),*]) => {
        impl Resource for $ty {
            const PLURAL: &'static str = $plural;
            const KIND: &'static str = stringify!($ty);
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self {
                    api_version: v1(),
                    kind: kind::<$ty>(),
                    metadata: ObjectMeta::default(),
                    $($field: Default::default(),)*
                    rest: Map::new(),
                }
            }
        }
    };
}

core_v1_resource!(Pod, "pods", [spec, status]);
core_v1_resource!(Secret, "secrets", [type_, data]);
core_v1_resource!(ConfigMap, "configmaps", [data]);

/// A list answer: items and the collection's resourceVersion (watch from it).
#[derive(Deserialize, Clone, Debug)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
pub struct List<T> {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default)]
    pub items: Vec<T>,
}

/// `metadata` of a list.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(default)]
    pub resource_version: Option<String>,
    #[serde(default, rename = "continue")]
    pub continue_: Option<String>,
}

/// A `meta/v1 Status` as the server sends it with an error (and in a watch
/// ERROR event).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub details: Option<StatusDetails>,
}

/// `details` of a Status (we use `retryAfterSeconds`).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusDetails {
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
}

fn v1() -> String {
    "v1".to_owned()
}
fn kind<T: Resource>() -> String {
    T::KIND.to_owned()
}

/// `map[string][]byte` as Kubernetes writes it: base64 strings.
mod base64_map {
    use std::collections::BTreeMap;

    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        map: &BTreeMap<String, Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k, STANDARD.encode(v))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let raw = Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default();
        raw.into_iter()
            .map(|(k, v)| {
                STANDARD
                    .decode(v.as_bytes())
                    .map(|bytes| (k.clone(), bytes))
                    // The key is safe to name; the value never appears.
                    .map_err(|_| D::Error::custom(format!("data[{k}] is not base64")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_round_trip_keeps_unknown_fields() {
        let raw = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","ownerReferences":[{"x":1}]},
            "spec":{"containers":[{"name":"c"}]},"status":{"phase":"Running","hostIP":"1.2.3.4",
            "conditions":[{"type":"Ready","status":"True","lastProbeTime":null}]},"extra":true}"#;
        let pod: Pod = serde_json::from_str(raw).expect("pod");
        assert!(pod.is_ready());
        let back = serde_json::to_value(&pod).expect("json");
        assert_eq!(back["metadata"]["ownerReferences"][0]["x"], 1);
        assert_eq!(back["status"]["hostIP"], "1.2.3.4");
        let with_ip: Pod = serde_json::from_str(r#"{"status":{"podIP":"10.0.0.1"}}"#).expect("pod");
        assert_eq!(with_ip.pod_ip(), Some("10.0.0.1"));
        assert_eq!(back["extra"], true);
    }

    /// A pod whose container `name` (an init container when `init`) waits
    /// with `reason` and `message`.
    fn waiting(init: bool, name: &str, reason: &str, message: &str) -> Pod {
        let statuses = serde_json::json!([{"name": name, "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}}]);
        let key = if init {
            "initContainerStatuses"
        } else {
            "containerStatuses"
        };
        serde_json::from_value(serde_json::json!({"status": {"phase": "Pending", key: statuses}}))
            .expect("pod")
    }

    #[test]
    fn waiting_reason_names_each_start_failure() {
        // One case per reason, with messages as the kubelet writes them.
        let cases = [
            ("ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image \"example.com/fn:v9\": not found"),
            ("ImagePullBackOff", "Back-off pulling image \"example.com/fn:v9\""),
            ("InvalidImageName", "Failed to apply default image tag \"Example.com/FN\": couldn't parse image name"),
            ("CrashLoopBackOff", "back-off 10s restarting failed container=function pod=fn-x_porch-fn-system(uid)"),
            ("CreateContainerConfigError", "secret \"auth\" not found"),
            ("CreateContainerError", "context deadline exceeded"),
        ];
        let covered: Vec<&str> = cases.iter().map(|(reason, _)| *reason).collect();
        assert_eq!(covered, START_FAILURE_REASONS);
        for (reason, message) in cases {
            assert_eq!(
                waiting(false, "function", reason, message).waiting_reason(),
                Some(StartFailure {
                    container: Some("function".to_owned()),
                    reason: reason.to_owned(),
                    message: message.to_owned(),
                }),
                "{reason}"
            );
        }
    }

    #[test]
    fn waiting_reason_err_image_pull_keeps_an_x509_message_whole() {
        let message = "Failed to pull image \"reg.example:5000/fn:v1\": rpc error: code = Unknown desc = failed to do request: Head \"https://reg.example:5000/v2/fn/manifests/v1\": tls: failed to verify certificate: x509: certificate signed by unknown authority";
        let failure = waiting(false, "function", "ErrImagePull", message)
            .waiting_reason()
            .expect("failure");
        assert_eq!(failure.message, message);
        assert_eq!(
            failure.to_string(),
            format!("container \"function\": ErrImagePull: {message}")
        );
    }

    #[test]
    fn waiting_reason_of_the_init_container_comes_first() {
        let mut pod = waiting(
            true,
            "copy-wrapper-server",
            "ImagePullBackOff",
            "init image",
        );
        let main = waiting(false, "function", "PodInitializing", "");
        if let (Some(status), Some(main)) = (pod.status.as_mut(), main.status) {
            status.container_statuses = main.container_statuses;
        }
        let failure = pod.waiting_reason().expect("failure");
        assert_eq!(failure.container.as_deref(), Some("copy-wrapper-server"));
        assert_eq!(failure.reason, "ImagePullBackOff");
        assert_eq!(failure.message, "init image");
    }

    #[test]
    fn waiting_reason_of_a_failed_pod_is_its_own() {
        let pod: Pod = serde_json::from_str(
            r#"{"status":{"phase":"Failed","reason":"Evicted","message":"The node was low on resource: memory."}}"#,
        )
        .expect("pod");
        let failure = pod.waiting_reason().expect("failure");
        assert_eq!(
            failure.to_string(),
            "pod failed: Evicted: The node was low on resource: memory."
        );
        assert_eq!(failure.container, None);
        let bare: Pod = serde_json::from_str(r#"{"status":{"phase":"Failed"}}"#).expect("pod");
        assert_eq!(
            bare.waiting_reason().map(|f| f.to_string()).as_deref(),
            Some("pod failed: Failed")
        );
    }

    #[test]
    fn waiting_reason_is_none_while_a_pod_may_still_start() {
        for reason in ["ContainerCreating", "PodInitializing", ""] {
            assert_eq!(
                waiting(false, "function", reason, "").waiting_reason(),
                None
            );
            assert_eq!(
                waiting(true, "copy-wrapper-server", reason, "").waiting_reason(),
                None
            );
        }
        let running: Pod = serde_json::from_str(
            r#"{"status":{"phase":"Running","containerStatuses":[{"name":"function","ready":true,"state":{"running":{"startedAt":"2026-01-01T00:00:00Z"}}}]}}"#,
        )
        .expect("pod");
        assert_eq!(running.waiting_reason(), None);
        assert_eq!(Pod::default().waiting_reason(), None);
        let succeeded: Pod =
            serde_json::from_str(r#"{"status":{"phase":"Succeeded"}}"#).expect("pod");
        assert_eq!(succeeded.waiting_reason(), None);
    }

    #[test]
    fn defaults_carry_api_version_and_kind() {
        let v = serde_json::to_value(Pod::default()).expect("json");
        assert_eq!(
            (v["apiVersion"].as_str(), v["kind"].as_str()),
            (Some("v1"), Some("Pod"))
        );
        assert_eq!(Secret::default().kind, "Secret");
        assert_eq!(ConfigMap::default().kind, "ConfigMap");
    }

    #[test]
    fn secret_data_is_base64_and_redacted() {
        let raw = r#"{"metadata":{"name":"s"},"type":"Opaque","data":{"k":"c2VjcmV0"}}"#;
        let s: Secret = serde_json::from_str(raw).expect("secret");
        assert_eq!(s.data["k"], b"secret");
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("secret\"") && dbg.contains("<redacted>"),
            "{dbg}"
        );
        let back = serde_json::to_value(&s).expect("json");
        assert_eq!(back["data"]["k"], "c2VjcmV0");
    }

    #[test]
    fn secret_debug_leaves_out_annotation_values() {
        let raw = r#"{"metadata":{"name":"s","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"k\":\"aHVudGVyMg==\"}}"}},"data":{"k":"aHVudGVyMg=="}}"#;
        let s: Secret = serde_json::from_str(raw).expect("secret");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("aHVudGVyMg"), "{dbg}");
        assert!(dbg.contains("last-applied-configuration"), "{dbg}");
    }

    #[test]
    fn secret_with_bad_base64_names_only_the_key() {
        let raw = r#"{"data":{"k":"%%%hunter2"}}"#;
        let err = serde_json::from_str::<Secret>(raw).expect_err("bad base64");
        assert!(!err.to_string().contains("hunter2"));
    }
}
