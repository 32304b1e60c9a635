//! Container registry client (OCI distribution v2) with the TLS ladder of
//! compat §5.4. Work in progress.

pub mod inspect;
