//! Protobuf messages of `proto/evaluator.proto` and `proto/health.proto`
//! (copied from the shared contract). The wire codec (encode/decode,
//! unknown fields skipped, wrong wire types rejected) lives here too.

/// `evaluator.EvaluateFunctionRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvaluateFunctionRequest {
    /// Field 1: the YAML ResourceList (config.kubernetes.io/v1).
    pub resource_list: Vec<u8>,
    /// Field 2: the function image, e.g. `gcr.io/kpt-fn/set-namespace:v0.4.1`.
    pub image: String,
}

/// `evaluator.EvaluateFunctionResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvaluateFunctionResponse {
    /// Field 1: the function's stdout, the output ResourceList.
    pub resource_list: Vec<u8>,
    /// Field 2: the function's stderr.
    pub log: Vec<u8>,
}
