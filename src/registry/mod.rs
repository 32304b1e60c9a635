//! Container registry client (OCI distribution v2) with the TLS ladder of
//! compat §5.4. Work in progress.

pub mod credentials;
pub mod inspect;
pub mod reference;

pub use credentials::{Credential, Credentials, DockerConfig};
pub use reference::{Digest, Reference};
