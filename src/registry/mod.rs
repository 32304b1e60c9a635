//! Container registry client (OCI distribution v2) with the TLS ladder. Work in progress.
