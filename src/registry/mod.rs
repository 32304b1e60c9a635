//! Container registry client (OCI distribution v2, compat §5) with the TLS
//! ladder of compat §5.4. A stack, each file importing only those below it:
//!
//! ```text
//! client      Client: Config, docker config, CA, agents, token cache
//!   |
//! session     one resolve: manifest -> index child -> config blob; challenges, tokens
//!   |
//! http        the HTTP edge (the only file naming ureq): send, climb the ladder, follow redirects
//!   |
//! ladder, redirect, auth, manifest, credentials, config, reference, watch, error: no I/O but files
//! ```
//!
//! - [`Config`]: what the client is told (`flags` builds it; nothing here
//!   reads the command line);
//! - [`reference`]: image references as docker/distribution normalizes them;
//! - `credentials`: the docker `config.json` of `--registry-auth-secret-path`;
//! - `ladder`: the strict CA check and the HTTPS-custom-CA -> HTTPS-public-roots
//!   -> plain-HTTP ladder;
//! - [`auth`]: `WWW-Authenticate` challenges and the token cache;
//! - [`manifest`]: manifests, indexes, platform choice, image config;
//! - `redirect`: where a `Location` points, and whether it is another host;
//! - `watch`: change detection for mounted files (docker config, CA);
//! - [`metrics`]: resolutions by ladder rung and outcome.
//!
//! For the pod runtime:
//!
//! ```no_run
//! # fn demo(config: &fn_runner::registry::Config) -> Result<(), fn_runner::registry::Error> {
//! let client = fn_runner::registry::Client::new(config)?; // checks the CA dir at once
//! let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
//! // Digest, entrypoint, and the ladder rung the registry settled on.
//! let info = client.resolve_by("ghcr.io/team/set-namespace:v1", Some(deadline))?;
//! let _rung: fn_runner::registry::Rung = info.transport;
//! if client.applies_credentials(&info.image) {
//!     // compat §5.3: replicate these bytes as the pod namespace's imagePullSecret.
//!     if let Some(credentials) = client.credentials() {
//!         let _bytes: Vec<u8> = credentials.load()?.bytes().to_vec();
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod auth;
mod client;
mod config;
mod credentials;
mod error;
mod http;
mod ladder;
pub mod manifest;
pub mod metrics;
mod redirect;
pub mod reference;
mod session;
mod watch;

pub use client::Client;
pub use config::Config;
pub(crate) use config::KPT_FN_PREFIX;
pub use credentials::{Credentials, DockerConfig, Error as AuthFileError};
pub use error::Error;
pub use ladder::{check_ca_dir, CaError, CaFile, Rung};
pub use manifest::Platform;
pub use reference::{Digest, Reference};
pub use session::{ImageInfo, MAX_MANIFEST_BYTES};
