//! The fake's object store: objects by (resource, namespace, name), one
//! global resourceVersion counter, and the event history watches replay.
//!
//! Semantics follow the real API server for the calls fn-runner makes:
//! create (name or generateName with a random 5-char suffix, uid,
//! creationTimestamp, pods start `Pending`), update with resourceVersion
//! conflict detection (status of pods is kept: it is a subresource),
//! merge patch, apply (create when absent; see `merge::apply_merge`),
//! graceful pod delete (deletionTimestamp, then gone) and immediate delete
//! for the rest, and a bounded event window (older resourceVersions: 410).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::merge::{apply_merge, merge_patch};
use super::resources;
use super::selector::{FieldSelector, Selector};
use fn_runner::kube::time::format_rfc3339;

/// An error the fake answers with, rendered as a `Status`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        Self {
            code,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(resource: &str, name: &str) -> Self {
        Self::new(404, format!("{resource} \"{name}\" not found"))
    }

    pub fn already_exists(resource: &str, name: &str) -> Self {
        let mut e = Self::new(409, format!("{resource} \"{name}\" already exists"));
        e.reason = "AlreadyExists";
        e
    }

    pub fn conflict(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut details = json!({});
        if let Some(s) = self.retry_after {
            details["retryAfterSeconds"] = json!(s);
        }
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": details,
            "code": self.code,
        })
    }
}

/// One change, as a watch sends it.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    /// When the store made the change (wall clock: compared with the klog
    /// times of the runner's and the wrappers' logs, as the request log's
    /// `at` is).
    pub at: SystemTime,
    pub kind: &'static str,
    pub resource: String,
    pub namespace: String,
    pub object: Value,
    /// For MODIFIED: the object before, so a watch can turn a change that
    /// leaves (or enters) its selector into DELETED (or ADDED), as the real
    /// server does.
    pub prev: Option<Value>,
}

type Key = (String, String, String);

#[derive(Clone)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    events: VecDeque<Event>,
    /// Watches from a resourceVersion below this get 410.
    pub oldest_watchable: u64,
    /// Events kept for watches.
    pub window: usize,
    /// Pods being deleted: when they go.
    pub pending_deletions: Vec<(Instant, Key)>,
    /// How long a graceful pod delete takes (the real one: up to the grace
    /// period; tests want it short).
    pub pod_deletion_delay: Duration,
}

impl Store {
    pub fn new(window: usize, pod_deletion_delay: Duration) -> Self {
        Self {
            objects: BTreeMap::new(),
            rv: 1,
            events: VecDeque::new(),
            oldest_watchable: 1,
            window,
            pending_deletions: Vec::new(),
            pod_deletion_delay,
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Forgets all history: every older resourceVersion now gets 410.
    pub fn compact(&mut self) {
        self.events.clear();
        self.oldest_watchable = self.rv;
    }

    fn bump(&mut self, kind: &'static str, key: &Key, object: &mut Value) {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let prev = if kind == "MODIFIED" {
            self.objects.get(key).cloned()
        } else {
            None
        };
        self.events.push_back(Event {
            prev,
            rv: self.rv,
            at: SystemTime::now(),
            kind,
            resource: key.0.clone(),
            namespace: key.1.clone(),
            object: object.clone(),
        });
        while self.events.len() > self.window {
            if let Some(old) = self.events.pop_front() {
                self.oldest_watchable = old.rv;
            }
        }
    }

    /// Events after `rv`, or 410 when they are no longer all kept.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Event>, ApiError> {
        if rv < self.oldest_watchable {
            return Err(ApiError::new(
                410,
                format!("too old resource version: {rv} ({})", self.oldest_watchable),
            ));
        }
        Ok(self.events.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&(resource.to_owned(), ns.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))
    }

    /// Objects of `resource` (in `ns`, or all namespaces) matching.
    pub fn list(
        &self,
        resource: &str,
        ns: Option<&str>,
        labels: &Selector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((r, n, name), obj)| {
                r == resource
                    && ns.is_none_or(|want| want == n)
                    && labels.matches(&labels_of(obj))
                    && fields.matches(name, n)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn create(&mut self, resource: &str, ns: &str, mut obj: Value) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::new(
                400,
                "the body of the request was not an object",
            ));
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        if let Some(body_ns) = obj["metadata"]["namespace"].as_str() {
            if body_ns != ns {
                return Err(ApiError::new(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let name = match obj["metadata"]["name"].as_str() {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => match obj["metadata"]["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => loop {
                    let candidate = format!("{prefix}{}", random_suffix());
                    let key = (resource.to_owned(), ns.to_owned(), candidate.clone());
                    if !self.objects.contains_key(&key) {
                        break candidate;
                    }
                },
                _ => {
                    return Err(ApiError::new(
                        422,
                        format!(
                            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                            kind_of(resource)
                        ),
                    ))
                }
            },
        };
        let key = (resource.to_owned(), ns.to_owned(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(resource, &name));
        }
        obj["apiVersion"] = json!(api_version_of(resource));
        obj["kind"] = json!(kind_of(resource));
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        meta["namespace"] = json!(ns);
        meta["uid"] = json!(random_uid());
        meta["creationTimestamp"] = json!(format_rfc3339(SystemTime::now()));
        if let Some(m) = meta.as_object_mut() {
            m.remove("deletionTimestamp");
            m.remove("resourceVersion");
        }
        if resource == "pods" {
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        if resource == "secrets" && obj["type"].is_null() {
            obj["type"] = json!("Opaque");
        }
        if let Some(string_data) = obj.get("stringData").cloned() {
            if let Some(m) = string_data.as_object() {
                use base64::Engine as _;
                for (k, v) in m {
                    let enc = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or("").as_bytes());
                    obj["data"][k] = json!(enc);
                }
            }
            if let Some(m) = obj.as_object_mut() {
                m.remove("stringData");
            }
        }
        self.bump("ADDED", &key, &mut obj);
        self.objects.insert(key, obj.clone());
        Ok(obj)
    }

    pub fn update(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        let (key, live) = self.live(resource, ns, name)?;
        if obj["metadata"]["name"].as_str() != Some(name) {
            return Err(ApiError::new(
                400,
                "the name of the object does not match the name on the URL",
            ));
        }
        check_resource_version(&live, &obj, resource, name)?;
        Ok(self.replace_main_resource(key, &live, obj))
    }

    pub fn patch_merge(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, ApiError> {
        let (key, live) = self.live(resource, ns, name)?;
        check_resource_version(&live, patch, resource, name)?;
        let mut obj = live.clone();
        merge_patch(&mut obj, patch);
        Ok(self.replace_main_resource(key, &live, obj))
    }

    /// The stored object (resource, ns, name) and its key, or NotFound.
    fn live(&self, resource: &str, ns: &str, name: &str) -> Result<(Key, Value), ApiError> {
        let key = (resource.to_owned(), ns.to_owned(), name.to_owned());
        match self.objects.get(&key) {
            Some(live) => {
                let live = live.clone();
                Ok((key, live))
            }
            None => Err(ApiError::not_found(resource, name)),
        }
    }

    /// Stores `obj` as the next version of `live` after a PUT or a merge
    /// patch of the main resource: system fields kept, rv bumped, and pod
    /// status unchanged (it is a subresource).
    fn replace_main_resource(&mut self, key: Key, live: &Value, mut obj: Value) -> Value {
        keep_system_fields(live, &mut obj, &key.0);
        if key.0 == "pods" {
            obj["status"] = live["status"].clone();
        }
        self.bump("MODIFIED", &key, &mut obj);
        self.objects.insert(key, obj.clone());
        obj
    }

    pub fn apply(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        applied: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let missing = |f: &str| applied[f].as_str().is_none_or(str::is_empty);
        if missing("apiVersion") || missing("kind") {
            return Err(ApiError::new(
                400,
                "error decoding patch: apiVersion and kind are required in an apply configuration",
            ));
        }
        if let Some(body_name) = applied["metadata"]["name"].as_str() {
            if body_name != name {
                return Err(ApiError::new(
                    400,
                    "the name of the object does not match the name on the URL",
                ));
            }
        }
        let managed = json!([{
            "manager": manager,
            "operation": "Apply",
            "apiVersion": api_version_of(resource),
            "time": format_rfc3339(SystemTime::now()),
            "fieldsType": "FieldsV1",
            "fieldsV1": {},
        }]);
        let key = (resource.to_owned(), ns.to_owned(), name.to_owned());
        match self.objects.get(&key).cloned() {
            None => {
                let mut obj = applied.clone();
                obj["metadata"]["name"] = json!(name);
                obj["metadata"]["managedFields"] = managed;
                self.create(resource, ns, obj)
            }
            Some(live) => {
                let mut obj = live.clone();
                let mut applied = applied.clone();
                if resource == "pods" {
                    if let Some(m) = applied.as_object_mut() {
                        m.remove("status");
                    }
                }
                apply_merge(&mut obj, &applied);
                keep_system_fields(&live, &mut obj, resource);
                obj["metadata"]["managedFields"] = managed;
                if obj == live {
                    // No change: the real server does not bump the rv.
                    return Ok(live);
                }
                self.bump("MODIFIED", &key, &mut obj);
                self.objects.insert(key, obj.clone());
                Ok(obj)
            }
        }
    }

    /// Starts (pods with a grace period) or completes a delete.
    pub fn delete(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        grace_seconds: Option<i64>,
        precondition_rv: Option<&str>,
        precondition_uid: Option<&str>,
    ) -> Result<Value, ApiError> {
        let (key, live) = self.live(resource, ns, name)?;
        if let Some(rv) = precondition_rv {
            if live["metadata"]["resourceVersion"].as_str() != Some(rv) {
                return Err(ApiError::new(
                    409,
                    format!(
                        "Operation cannot be fulfilled on {resource} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        live["metadata"]["resourceVersion"].as_str().unwrap_or("")
                    ),
                ));
            }
        }
        if let Some(uid) = precondition_uid {
            if live["metadata"]["uid"].as_str() != Some(uid) {
                return Err(ApiError::new(
                    409,
                    format!("Operation cannot be fulfilled on {resource} \"{name}\": Precondition failed: UID in precondition: {uid}"),
                ));
            }
        }
        let grace = grace_seconds.unwrap_or_else(|| {
            live["spec"]["terminationGracePeriodSeconds"]
                .as_i64()
                .unwrap_or(30)
        });
        if resource == "pods" && grace > 0 {
            if !live["metadata"]["deletionTimestamp"].is_null() {
                return Ok(live);
            }
            let mut obj = live;
            let at = SystemTime::now() + Duration::from_secs(grace.unsigned_abs());
            obj["metadata"]["deletionTimestamp"] = json!(format_rfc3339(at));
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            self.bump("MODIFIED", &key, &mut obj);
            self.objects.insert(key.clone(), obj.clone());
            self.pending_deletions
                .push((Instant::now() + self.pod_deletion_delay, key));
            return Ok(obj);
        }
        self.remove(&key)
            .ok_or_else(|| ApiError::not_found(resource, name))
    }

    /// Removes an object now (the final step of a delete).
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut obj = self.objects.remove(key)?;
        self.pending_deletions.retain(|(_, k)| k != key);
        self.bump("DELETED", key, &mut obj);
        Some(obj)
    }

    /// Removes pods whose graceful delete is due; returns the next due time.
    pub fn reap(&mut self, now: Instant) -> Option<Instant> {
        let due: Vec<Key> = self
            .pending_deletions
            .iter()
            .filter(|(t, _)| *t <= now)
            .map(|(_, k)| k.clone())
            .collect();
        for key in due {
            self.remove(&key);
        }
        self.pending_deletions.iter().map(|(t, _)| *t).min()
    }

    /// Replaces a pod's status (the kubelet's job); bumps rv.
    pub fn set_pod_status(&mut self, ns: &str, name: &str, status: Value) -> Option<Value> {
        let key = ("pods".to_owned(), ns.to_owned(), name.to_owned());
        let mut obj = self.objects.get(&key)?.clone();
        obj["status"] = status;
        self.bump("MODIFIED", &key, &mut obj);
        self.objects.insert(key, obj.clone());
        Some(obj)
    }
}

/// Labels of an object as a map.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn kind_of(resource: &str) -> &'static str {
    resources::by_name(resource).map_or("Unknown", |r| r.kind)
}

/// `v1`, `apps/v1`, ...: what objects of `resource` carry.
pub fn api_version_of(resource: &str) -> String {
    resources::by_name(resource).map_or_else(|| "v1".to_owned(), |r| r.api_version())
}

/// Fields only the server sets survive a client's write.
/// Conflict when `sent` names a resourceVersion other than the live one
/// (optimistic concurrency of PUT and PATCH).
fn check_resource_version(
    live: &Value,
    sent: &Value,
    resource: &str,
    name: &str,
) -> Result<(), ApiError> {
    match sent["metadata"]["resourceVersion"].as_str() {
        Some(rv) if rv != live["metadata"]["resourceVersion"].as_str().unwrap_or("") => {
            Err(ApiError::conflict(resource, name))
        }
        _ => Ok(()),
    }
}

fn keep_system_fields(live: &Value, obj: &mut Value, resource: &str) {
    obj["apiVersion"] = json!(api_version_of(resource));
    obj["kind"] = json!(kind_of(resource));
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
    ] {
        match live["metadata"].get(f) {
            Some(v) => obj["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    if resource == "pods" && obj.get("status").is_none_or(Value::is_null) {
        obj["status"] = live["status"].clone();
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system RNG");
    b
}

/// The real server's alphabet for generateName suffixes (no vowels, no
/// look-alikes): k8s.io/apimachinery/pkg/util/rand.
fn random_suffix() -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random_bytes::<5>()
        .iter()
        .map(|b| char::from(ALPHANUMS[usize::from(*b) % ALPHANUMS.len()]))
        .collect()
}

fn random_uid() -> String {
    let b = random_bytes::<16>();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
