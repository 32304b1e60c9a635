//! Harnesses shared by the integration tests: process helpers, the Python
//! gRPC peers, the registry launcher, the fake Kubernetes API, and the
//! pod-runtime environment built from them (`pods`).
#![allow(
    dead_code,
    reason = "each test area uses a different part of the harness"
)]

pub mod elf;
pub mod exec;
pub mod fakekube;
pub mod grpc_py;
pub mod h2raw;
pub mod http1;
pub mod image;
pub mod kubectl;
pub mod loglines;
pub mod multicall;
pub mod pods;
pub mod process;
pub mod prometheus;
pub mod registry;
pub mod registry_http;
pub mod tempdir;
