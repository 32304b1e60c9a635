//! Transport: our HTTP/2 + gRPC server and client against real peers
//! (grpcio, h2load) and a raw-frame client; health; shutdown.

mod binary;
mod grpcio_client;
mod h2load;
mod our_client;
mod raw_frames;
mod server_behaviour;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use fn_runner::evaluator::{Chain, Evaluator};
use fn_runner::grpc::{Health, ServerConfig, ServerHandle};
use fn_runner::serve;

/// Our server on 127.0.0.1:0 with the empty evaluator chain and health;
/// shut down on drop.
pub struct TestServer {
    handle: Option<ServerHandle>,
    /// The health registry the server answers from.
    pub health: Health,
    pub addr: String,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> TestServer {
        Self::with_evaluator(Arc::new(Chain::new(Vec::new())), config)
    }

    pub fn with_evaluator(evaluator: Arc<dyn Evaluator>, config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let health = Health::new(&serve::HEALTH_SERVICES);
        let handle =
            serve::serve_evaluator(listener, evaluator, health.clone(), config).expect("serve");
        let addr = handle.local_addr().to_string();
        TestServer {
            handle: Some(handle),
            health,
            addr,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown(Duration::from_secs(1));
        }
    }
}
