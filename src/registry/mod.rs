//! Container registry client (OCI distribution v2, compat §5) with the TLS
//! ladder of compat §5.4.
//!
//! - [`reference`]: image references as docker/distribution normalizes them;
//! - [`credentials`]: the docker `config.json` of `--registry-auth-secret-path`;
//! - [`ladder`]: the strict CA check and the HTTPS-custom-CA -> HTTPS-public-roots
//!   -> plain-HTTP ladder;
//! - [`auth`]: `WWW-Authenticate` challenges and the token cache;
//! - [`manifest`]: manifests, indexes, platform choice, image config;
//! - [`client`]: the HTTP side (the only file here that names `ureq`);
//! - `redirect`: where a `Location` points, and whether it is another host;
//! - `watch`: change detection for mounted files (docker config, CA);
//! - `session`: one resolve after the ladder settled: auth, manifests, blobs;
//! - [`inspect`]: `fn-runner inspect IMAGE`.
//!
//! For the pod runtime:
//!
//! ```no_run
//! # fn demo(settings: &fn_runner::flags::RegistrySettings) -> Result<(), fn_runner::registry::Error> {
//! let client = fn_runner::registry::Client::new(settings)?; // checks the CA dir at once
//! let info = client.resolve("ghcr.io/team/set-namespace:v1")?; // digest, entrypoint, transport
//! if client.applies_credentials(&info.image) {
//!     // compat §5.3: replicate these bytes as the pod namespace's imagePullSecret.
//!     if let Some(credentials) = client.credentials() {
//!         let _bytes: Vec<u8> = credentials.load()?.bytes().to_vec();
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod auth;
pub mod client;
pub mod credentials;
mod error;
pub mod inspect;
pub mod ladder;
pub mod manifest;
mod redirect;
pub mod reference;
mod session;
mod watch;

pub use client::{Client, Error, ImageInfo};
pub use credentials::{Credential, Credentials, DockerConfig};
pub use ladder::Rung;
pub use reference::{Digest, Reference};
