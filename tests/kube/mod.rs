//! The Kubernetes client (`fn_runner::kube`) against the fake API server
//! over HTTPS, and the fake's own fidelity (kubectl, selectors, kubelet).

mod client;
mod config;
mod deadline;
mod fake;
mod kubectl;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use fn_runner::kube::{Client, ClientOptions, Config, RetryPolicy};

use crate::support::fakekube::FakeKube;

/// Retries as in production but with short delays.
fn fast_retry() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        },
        ..ClientOptions::default()
    }
}

/// A kubeconfig using the fake's token file (so rotation is visible).
fn token_file_kubeconfig(fake: &FakeKube) -> std::path::PathBuf {
    fake.write_kubeconfig(
        "kubeconfig-tokenfile",
        &format!("tokenFile: {}", fake.token_path().display()),
    )
}

/// A client for the fake through a kubeconfig with a token file.
fn client(fake: &FakeKube) -> Arc<Client> {
    let config = Config::from_kubeconfig(&token_file_kubeconfig(fake)).expect("kubeconfig");
    Arc::new(Client::with_options(config, fast_retry()).expect("client"))
}
