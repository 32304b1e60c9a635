//! The evaluator chain (compat §2): exec runtime first, then the pod runtime.
//! Work in progress.
