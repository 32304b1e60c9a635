//! `fn-runner serve`: the function runner (compat §1-2). Assembles the gRPC
//! server: the listener on `--bind-address`:`--port` (0.0.0.0:9445 by
//! default), the health service, the evaluator
//! chain behind `/evaluator.FunctionEvaluator/EvaluateFunction`, and the
//! graceful shutdown on SIGTERM/SIGINT.
//!
//! [`serve_evaluator`] is the reusable part: the wrapper server serves the
//! same FunctionEvaluator + health with its own evaluator.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use crate::call::{CallContext, Interrupt};
use crate::evaluator::{self, Evaluator};
use crate::flags::ServeSettings;
use crate::grpc::{
    Code, Handler, Health, OwnedMessage, Server, ServerConfig, ServerHandle, Status,
};
use crate::proto::EvaluateFunctionRequest;

/// `:path` of EvaluateFunction.
pub const EVALUATE_PATH: &str = "/evaluator.FunctionEvaluator/EvaluateFunction";
/// The health names we answer for (compat §2): the server and the service.
pub const HEALTH_SERVICES: [&str; 2] = ["", "evaluator.FunctionEvaluator"];
/// How long in-flight calls may run after SIGTERM. Kubernetes kills the pod
/// 30 s after SIGTERM by default; we finish a little before that.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
/// Environment variable that adds the test-only slow method (never set in
/// production): `/fnrunner.test.Test/Sleep` sleeps the request's decimal
/// milliseconds, honouring deadline and cancellation.
pub const TEST_SLOW_METHOD_ENV: &str = "FN_RUNNER_TEST_SLOW_METHOD";
/// `:path` of the test-only slow method.
pub const TEST_SLOW_PATH: &str = "/fnrunner.test.Test/Sleep";

/// Runs the server until SIGTERM/SIGINT; returns after a graceful shutdown.
pub fn run(settings: &ServeSettings) -> io::Result<()> {
    // Before any thread starts, so every thread inherits the blocked mask.
    crate::sys::block_shutdown_signals()?;
    // The runtimes first, so that a bad config fails before we listen.
    let chain: Arc<dyn Evaluator> =
        Arc::new(evaluator::serve_chain(settings).map_err(io::Error::other)?);
    let listener = listen(settings.bind_address, settings.port)?;
    let config = ServerConfig {
        max_message_bytes: settings.max_request_body_size,
        ..ServerConfig::default()
    };
    serve_until_signal(listener, chain, Health::new(&HEALTH_SERVICES), config)
}

/// Binds `ip:port`: `--bind-address` (default 0.0.0.0, all interfaces as
/// in compat §1) and `--port`.
pub fn listen(ip: IpAddr, port: u16) -> io::Result<TcpListener> {
    let addr = SocketAddr::from((ip, port));
    TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("listen on {addr}: {e}")))
}

/// What `serve` and `wrapper-server` share: serves `evaluator` and
/// `health` on `listener` until SIGTERM/SIGINT, then shuts down
/// gracefully ([`SHUTDOWN_GRACE`]). The caller must have called
/// `sys::block_shutdown_signals()` before starting any thread.
pub fn serve_until_signal(
    listener: TcpListener,
    evaluator: Arc<dyn Evaluator>,
    health: Health,
    config: ServerConfig,
) -> io::Result<()> {
    // Megabyte bodies go back to the system when freed (sys::tune_malloc).
    crate::sys::tune_malloc();
    let handle = serve_evaluator(listener, evaluator, health.clone(), config)?;
    crate::info!("serving gRPC on {}", handle.local_addr());
    let result = run_until_signal(handle, &health, SHUTDOWN_GRACE);
    // No function outlives the runner (calls cut off by the grace period).
    crate::evaluator::process::kill_all_running();
    result
}

/// Serves `/evaluator.FunctionEvaluator/EvaluateFunction` with `evaluator`
/// and the health service `health` on `listener`.
pub fn serve_evaluator(
    listener: TcpListener,
    evaluator: Arc<dyn Evaluator>,
    health: Health,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let mut server = Server::new(config);
    server.route(EVALUATE_PATH, evaluate_handler(evaluator));
    health.register(&mut server);
    if std::env::var_os(TEST_SLOW_METHOD_ENV).is_some() {
        server.route(TEST_SLOW_PATH, slow_handler());
    }
    server.serve(listener)
}

/// Waits for SIGTERM/SIGINT (blocked by the caller before threads
/// started), then shuts down: listener closed, health NOT_SERVING, GOAWAY,
/// in-flight calls get `grace` to finish.
pub fn run_until_signal(handle: ServerHandle, health: &Health, grace: Duration) -> io::Result<()> {
    // Woken now and then to free the large buffers kept between calls.
    let sig = loop {
        if let Some(sig) = crate::sys::wait_shutdown_signal_for(crate::buffers::IDLE_RELEASE)? {
            break sig;
        }
        crate::buffers::release_idle();
    };
    crate::info!("received signal {sig}, shutting down");
    shutdown(handle, health, grace);
    Ok(())
}

/// The graceful shutdown sequence.
pub fn shutdown(mut handle: ServerHandle, health: &Health, grace: Duration) {
    handle.begin_shutdown();
    health.shutdown();
    crate::info!("listener closed, health NOT_SERVING, GOAWAY sent; waiting for in-flight calls");
    if handle.finish_shutdown(grace) {
        crate::info!("all calls finished; exiting");
    } else {
        crate::info!("calls still running after {grace:?}; closing them");
    }
}

/// The EvaluateFunction handler: decode, evaluate on the pool, encode.
pub fn evaluate_handler(evaluator: Arc<dyn Evaluator>) -> Handler {
    // The request body becomes the ResourceList in place and the function's
    // stdout is sent as it is: no copy of either (docs/perf.md).
    Handler::UnaryOwned(Arc::new(move |request: OwnedMessage, ctx: &CallContext| {
        let _in_flight = crate::buffers::Call::start();
        let (buf, start) = request.into_buffer();
        let mut req = EvaluateFunctionRequest::decode_in_place(buf, start).map_err(|e| {
            Status::new(
                Code::INTERNAL,
                format!("grpc: error unmarshalling request: {e}"),
            )
        })?;
        let result = evaluator.evaluate(&mut req, ctx);
        // Free the input before the output is sent (kept for reuse when large).
        crate::buffers::give(req.resource_list);
        match result {
            Ok(resp) => Ok(resp.into_parts()),
            Err(e) => Err(status_of(&e)),
        }
    }))
}

/// The one mapping from evaluator errors to gRPC status (style.md §3).
pub fn status_of(err: &evaluator::Error) -> Status {
    let code = match err {
        evaluator::Error::UnknownImage { .. } => Code::NOT_FOUND,
        evaluator::Error::FunctionFailed { .. } => Code::INTERNAL,
        evaluator::Error::Interrupted(Interrupt::DeadlineExceeded) => Code::DEADLINE_EXCEEDED,
        evaluator::Error::Interrupted(Interrupt::Cancelled) => Code::CANCELLED,
        evaluator::Error::OutputTooLarge { .. } => Code::RESOURCE_EXHAUSTED,
        evaluator::Error::Runtime {
            unavailable: true, ..
        } => Code::UNAVAILABLE,
        evaluator::Error::Runtime {
            unavailable: false, ..
        } => Code::INTERNAL,
    };
    Status::new(code, err.to_string())
}

/// Test-only: sleeps the request's decimal milliseconds (capped at 60 s).
fn slow_handler() -> Handler {
    Handler::Unary(Arc::new(|request: &[u8], ctx: &CallContext| {
        let ms: u64 = std::str::from_utf8(request)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
            .min(60_000);
        crate::info!("test slow method: sleeping {ms} ms");
        match ctx.wait(Duration::from_millis(ms)) {
            Some(Interrupt::Cancelled) => Err(Status::new(Code::CANCELLED, "cancelled")),
            Some(Interrupt::DeadlineExceeded) => {
                Err(Status::new(Code::DEADLINE_EXCEEDED, "deadline"))
            }
            None => Ok(request.to_vec()),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_evaluator_error() {
        let cases = [
            (
                evaluator::Error::UnknownImage { image: "x".into() },
                Code::NOT_FOUND,
            ),
            (
                evaluator::Error::FunctionFailed {
                    message: "m".into(),
                },
                Code::INTERNAL,
            ),
            (
                evaluator::Error::Interrupted(Interrupt::DeadlineExceeded),
                Code::DEADLINE_EXCEEDED,
            ),
            (
                evaluator::Error::Interrupted(Interrupt::Cancelled),
                Code::CANCELLED,
            ),
            (
                evaluator::Error::OutputTooLarge { limit_bytes: 1 },
                Code::RESOURCE_EXHAUSTED,
            ),
            (
                evaluator::Error::Runtime {
                    message: "m".into(),
                    unavailable: true,
                },
                Code::UNAVAILABLE,
            ),
            (
                evaluator::Error::Runtime {
                    message: "m".into(),
                    unavailable: false,
                },
                Code::INTERNAL,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(status_of(&err).code, code, "{err}");
        }
        let failed = evaluator::Error::FunctionFailed {
            message: "Failed to execute function \"img\": exit status 1 (boom)".into(),
        };
        assert_eq!(
            status_of(&failed).message,
            "Failed to execute function \"img\": exit status 1 (boom)"
        );
    }
}
