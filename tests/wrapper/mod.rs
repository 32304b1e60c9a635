//! Wrapper-server mode (issue 6, compat §6): first through the library
//! (`fn_runner::wrapper::WrapperEvaluator`), then through gRPC.

mod grpc;
mod library;
