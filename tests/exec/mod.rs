//! The exec runtime (issue 3, compat §3): first through the library
//! (`fn_runner::evaluator` directly), then through gRPC.

mod grpc;
mod library;
