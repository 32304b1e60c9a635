//! fn-runner: a synchronous, dependency-light Rust replacement for Porch's
//! KRM function runner (`/server`), its wrapper server and `grpc-health-probe`.
//!
//! The map of the modules is `docs/design.md`; the contract they keep is
//! `docs/compat.md` (copied from the project's shared docs).
#![deny(unsafe_code)]

pub mod buffers;
pub mod call;
pub mod cp;
pub mod duration;
pub mod eval;
pub mod evaluator;
pub mod exporter;
pub mod flags;
pub mod grpc;
pub mod h2;
pub mod image_layout;
pub mod inspect;
pub mod kube;
pub mod log;
pub mod metrics;
pub mod preflight;
pub mod probe;
pub mod process;
pub mod proto;
pub mod registry;
pub mod resourcelist;
pub mod serve;
pub mod sys;
pub mod tls;
pub mod wrapper;
pub mod yaml;
