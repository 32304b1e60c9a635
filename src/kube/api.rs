//! Typed calls on one resource type in one namespace, under a deadline.
//!
//! ```text
//! client.pods(ns).with_deadline(call.deadline).get(name)
//! ```
//!
//! Every call ends by its deadline: the caller's (`with_deadline`), and in
//! any case [`ClientOptions::call_timeout`](super::ClientOptions) after it
//! starts, retries and their waits included. Past it the call fails with
//! [`Error::DeadlineExceeded`], naming the request.
//!
//! Each method is one RBAC verb on the resource (`rbac.rs`); the request
//! builder checks the pair against [`PERMISSIONS`](super::PERMISSIONS) in
//! debug builds.

use std::marker::PhantomData;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::client::{Client, MAX_LIST_BYTES, MAX_OBJECT_BYTES};
use super::error::Error;
use super::objects::{ConfigMap, List, Pod, Resource, Secret};
use super::rbac::Verb;
use super::request::{collection_path, encode, Req};

/// The field manager of our server-side applies (compat.md §4.3).
const FIELD_MANAGER: &str = "krm-function-runner";

/// Calls on one resource type in one namespace.
pub struct Api<'a, K> {
    client: &'a Client,
    namespace: String,
    deadline: Option<Instant>,
    kind: PhantomData<K>,
}

impl Client {
    /// Pods in `namespace`.
    pub fn pods<'a>(&'a self, namespace: &str) -> Api<'a, Pod> {
        Api::new(self, namespace)
    }

    /// Secrets in `namespace`.
    pub fn secrets<'a>(&'a self, namespace: &str) -> Api<'a, Secret> {
        Api::new(self, namespace)
    }

    /// ConfigMaps in `namespace`.
    pub fn config_maps<'a>(&'a self, namespace: &str) -> Api<'a, ConfigMap> {
        Api::new(self, namespace)
    }
}

impl<'a, K: Resource> Api<'a, K> {
    fn new(client: &'a Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            deadline: None,
            kind: PhantomData,
        }
    }

    /// The same calls, each ending by `deadline` (a gRPC caller's, say);
    /// `None` leaves only the client's own `call_timeout`.
    pub fn with_deadline(self, deadline: Option<Instant>) -> Self {
        Self { deadline, ..self }
    }

    /// GET one object.
    pub fn get(&self, name: &str) -> Result<K, Error> {
        self.run(Req::new(
            Verb::Get,
            K::PLURAL,
            self.item_path(name),
            MAX_OBJECT_BYTES,
        ))
    }

    /// LIST objects matching `label_selector` (`""`: all). The list's
    /// `metadata.resourceVersion` is where a watch should start.
    pub fn list(&self, label_selector: &str) -> Result<List<K>, Error> {
        let mut path = collection_path(&self.namespace, K::PLURAL);
        if !label_selector.is_empty() {
            path.push_str("?labelSelector=");
            path.push_str(&encode(label_selector));
        }
        self.run(Req::new(Verb::List, K::PLURAL, path, MAX_LIST_BYTES))
    }

    /// POST a new object (`metadata.generateName` gives it a fresh name).
    /// Never retried once it may have reached the server.
    pub fn create(&self, object: &K) -> Result<K, Error> {
        self.create_at(collection_path(&self.namespace, K::PLURAL), object)
    }

    /// POST `object` with `dryRun=All`: the server authorizes, admits and
    /// validates the create as it would the real one (the namespace must
    /// exist, RBAC must allow it, the object must be valid) and answers the
    /// object it would have stored, storing nothing (`fn-runner preflight`).
    pub(crate) fn create_dry_run(&self, object: &K) -> Result<K, Error> {
        let path = format!("{}?dryRun=All", collection_path(&self.namespace, K::PLURAL));
        self.create_at(path, object)
    }

    fn create_at(&self, path: String, object: &K) -> Result<K, Error> {
        self.run(
            Req::new(Verb::Create, K::PLURAL, path, MAX_OBJECT_BYTES)
                .with_body(json(object)?, "application/json"),
        )
    }

    /// PUT an object read earlier; its `metadata.resourceVersion` makes the
    /// server refuse (Conflict) when someone changed it meanwhile.
    pub fn update(&self, object: &K) -> Result<K, Error> {
        self.run(
            Req::new(
                Verb::Update,
                K::PLURAL,
                self.item_path(object.metadata().name_or_empty()),
                MAX_OBJECT_BYTES,
            )
            .with_body(json(object)?, "application/json"),
        )
    }

    /// Server-side apply as field manager `krm-function-runner` (created
    /// when absent). `force=true`: these objects are ours. The body gets
    /// `metadata.name` (and `apiVersion`/`kind` when empty), as the server
    /// requires of an apply configuration.
    pub fn apply(&self, name: &str, object: &K) -> Result<K, Error> {
        let mut body = serde_json::to_value(object).map_err(Error::Encode)?;
        if let Some(map) = body.as_object_mut() {
            for (field, value) in [("apiVersion", "v1"), ("kind", K::KIND)] {
                if map
                    .get(field)
                    .and_then(|v| v.as_str())
                    .is_none_or(str::is_empty)
                {
                    map.insert(field.to_owned(), value.into());
                }
            }
            let meta = map
                .entry("metadata")
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.entry("name").or_insert_with(|| name.into());
            }
        }
        let path = format!(
            "{}?fieldManager={FIELD_MANAGER}&force=true",
            self.item_path(name)
        );
        self.run(
            Req::new(Verb::Patch, K::PLURAL, path, MAX_OBJECT_BYTES)
                // JSON is YAML: the server accepts it as an apply patch.
                .with_body(json(&body)?, "application/apply-patch+yaml"),
        )
    }

    /// JSON merge patch (RFC 7386).
    pub fn patch_merge(&self, name: &str, patch: &serde_json::Value) -> Result<K, Error> {
        self.run(
            Req::new(
                Verb::Patch,
                K::PLURAL,
                self.item_path(name),
                MAX_OBJECT_BYTES,
            )
            .with_body(json(patch)?, "application/merge-patch+json"),
        )
    }

    /// DELETE (graceful for pods). NotFound means it is already gone.
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        self.delete_with(name, None)
    }

    /// DELETE only if the object still has `resource_version` (Conflict
    /// otherwise): never delete what someone else just changed.
    pub fn delete_if_unchanged(&self, name: &str, resource_version: &str) -> Result<(), Error> {
        self.delete_with(name, Some(resource_version))
    }

    fn delete_with(&self, name: &str, resource_version: Option<&str>) -> Result<(), Error> {
        let mut req = Req::new(
            Verb::Delete,
            K::PLURAL,
            self.item_path(name),
            MAX_OBJECT_BYTES,
        );
        if let Some(rv) = resource_version {
            let opts = serde_json::json!({
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "preconditions": {"resourceVersion": rv},
            });
            req = req.with_body(opts.to_string().into_bytes(), "application/json");
        }
        self.client
            .execute(&req, self.client.call_deadline(self.deadline))
            .map(|_| ())
    }

    fn item_path(&self, name: &str) -> String {
        format!(
            "{}/{}",
            collection_path(&self.namespace, K::PLURAL),
            encode(name)
        )
    }

    fn run<T: DeserializeOwned>(&self, req: Req) -> Result<T, Error> {
        let body = self
            .client
            .execute(&req, self.client.call_deadline(self.deadline))?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            request: req.describe(),
            source,
        })
    }
}

fn json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(Error::Encode)
}
