//! Kubernetes API client over HTTPS with the service-account token: the
//! handful of core/v1 calls the pod runtime makes (compat.md §4-5,
//! `docs/kube.md` lists them for RBAC), no client-go, no kube-rs.
//!
//! - [`config`]: where the server is and how we authenticate (in-cluster,
//!   kubeconfig, exec plugins, client certificates);
//! - `credentials`: the bearer token per request (rotation, exec cache);
//! - [`client`]: typed calls with retries, bounded answers, timeouts;
//! - [`watch`]: a watched, in-memory store of pods;
//! - [`objects`]: minimal serde types that keep unknown fields;
//! - [`Error`]: the server's `Status` as a typed error.

pub mod client;
pub mod config;
mod credentials;
mod error;
pub mod objects;
pub mod time;
pub mod watch;

pub use client::{Api, Client, ClientOptions, RetryPolicy, FIELD_MANAGER};
pub use config::{Auth, Config};
pub use error::{ApiStatus, Error};
pub use objects::{ConfigMap, List, ObjectMeta, Pod, PodStatus, Secret};
pub use watch::{PodWatch, Store, WatchOptions, WatchStats};
