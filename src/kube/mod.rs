//! Kubernetes API client over HTTPS with the service-account token: the
//! handful of core/v1 calls the pod runtime makes (compat.md §4-5,
//! `docs/kube.md` lists them for RBAC), no client-go, no kube-rs.
//!
//! From the bottom up (each file imports only the ones above it):
//! - `config`: where the server is and how we authenticate (in-cluster,
//!   kubeconfig, exec plugins, client certificates);
//! - `credentials`: the bearer token per request (rotation, exec cache);
//! - [`time`]: RFC 3339 timestamps;
//! - `objects`: minimal serde types that keep unknown fields;
//! - `error`: [`Error`], the server's `Status` as a typed error;
//! - `rbac`: [`PERMISSIONS`], every verb the client may use (the Role);
//! - `request`: one request described (verb, path, body, bound);
//! - `retry`: when a failed call is tried again, inside its deadline;
//! - `client`: the HTTPS edge ([`Client`]): token, retries, timeouts;
//! - `api`: typed calls ([`Api`]) under the caller's deadline;
//! - `access_review`: SelfSubjectAccessReview ([`AccessReview`]), the one
//!   call outside the Role (`fn-runner preflight`);
//! - `store`: the watched pods in memory ([`Store`]), indexed by a label,
//!   with a [`Subscription`] per pod or pod id that wakes on its changes;
//! - `watch`: the list + watch thread that keeps a store current
//!   ([`PodWatch`]);
//! - [`metrics`]: requests by verb, resource and code; watch restarts.

mod access_review;
mod api;
mod client;
mod config;
mod credentials;
mod error;
pub mod metrics;
mod objects;
mod rbac;
mod request;
mod retry;
mod store;
pub mod time;
mod watch;

pub use access_review::AccessReview;
pub use api::Api;
pub use client::{Client, ClientOptions};
pub use config::{Config, Error as ConfigError, Origin};
pub use error::{ApiStatus, Error};
pub use objects::{ConfigMap, List, ObjectMeta, Pod, PodStatus, Secret, StartFailure};
pub use rbac::{Permission, Scope, Verb, PERMISSIONS};
pub use retry::RetryPolicy;
pub use store::{Interrupter, Store, Subscription, Waited, WatchStats};
pub use watch::{PodWatch, WatchOptions, IMAGE_LABEL};
