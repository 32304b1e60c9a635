//! `fn-runner serve`: the function runner (compat §1-2). Assembles the gRPC
//! server: the listener on `--bind-address`:`--port` (0.0.0.0:9445 by
//! default), the health service, the runtimes behind
//! `/evaluator.FunctionEvaluator/EvaluateFunction`, and the graceful
//! shutdown on SIGTERM/SIGINT:
//!
//! ```text
//!   signals set up (crate::signals: a SIGTERM from here on is never lost)
//!   runtimes started (a bad config fails before we listen)
//!   health NOT_SERVING -> listening -> SERVING once the runtimes are ready
//!   SIGTERM/SIGINT -> listener closed, health NOT_SERVING, GOAWAY,
//!                     in-flight calls get SHUTDOWN_GRACE
//!                  -> the runtimes shut down (no function outlives us),
//!                     then what functions left running is killed
//!   a second SIGTERM/SIGINT meanwhile: everything killed, exit 1 at once
//! ```
//!
//! [`serve_until_signal`] is the reusable part: the wrapper server serves the
//! same FunctionEvaluator + health with its own runtime.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::buffers;
use crate::call::{CallContext, Interrupt};
use crate::evaluator::{self, Evaluator, Runtime, Runtimes};
use crate::flags::ServeSettings;
use crate::grpc::{
    Code, Handler, Health, OwnedMessage, Server, ServerConfig, ServerHandle, Status,
};
use crate::h2::limits::Limits;
use crate::proto::{EvaluateFunctionRequest, ServingStatus, EVALUATE_PATH};
use crate::signals::Signals;

/// The environment variable naming the wrapper server's image (compat §1).
pub(crate) const WRAPPER_SERVER_IMAGE_ENV: &str = "WRAPPER_SERVER_IMAGE";
/// The health names we answer for (compat §2): the server and the service.
pub const HEALTH_SERVICES: [&str; 2] = ["", "evaluator.FunctionEvaluator"];
/// How long in-flight calls may run after SIGTERM. Kubernetes kills the pod
/// 30 s after SIGTERM by default; we finish a little before that.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
/// How long the runtimes get to shut down after the calls: what is left of
/// Kubernetes' 30 s after [`SHUTDOWN_GRACE`], with a second to spare.
const RUNTIMES_SHUTDOWN: Duration = Duration::from_secs(4);
/// The longest single wait for the runtimes to be ready; the wait starts
/// again afterwards (a bound against timer overflow, not a poll).
const READY_WAIT_MAX: Duration = Duration::from_secs(3600);
/// Environment variable that adds the test-only slow method (never set in
/// production): `/fnrunner.test.Test/Sleep` sleeps the request's decimal
/// milliseconds, honouring deadline and cancellation.
pub const TEST_SLOW_METHOD_ENV: &str = "FN_RUNNER_TEST_SLOW_METHOD";
/// `:path` of the test-only slow method.
pub const TEST_SLOW_PATH: &str = "/fnrunner.test.Test/Sleep";

/// Runs the server until SIGTERM/SIGINT; returns after a graceful shutdown.
pub fn run(settings: &ServeSettings) -> io::Result<()> {
    // Before any thread starts, so every thread inherits the signal mask.
    let signals = Signals::start()?;
    crate::info!("fn-runner {} serve starting", env!("CARGO_PKG_VERSION"));
    // Before the runtimes, so that their start is counted (issue 16).
    let _metrics = crate::exporter::start(settings.metrics_address)?;
    // One pool of large buffers for the connections, the calls and the
    // functions' outputs (crate::buffers).
    let buffers = buffers::Pool::new();
    // The runtimes first, so that a bad config fails before we listen.
    let runtimes =
        Runtimes::start(settings.runtimes_config(buffers.clone(), wrapper_server_image()))
            .map_err(io::Error::other)?;
    let listener = listen(settings.bind_address, settings.port)?;
    let config = ServerConfig {
        max_message_bytes: settings.max_request_body_size,
        limits: settings.connections.limits(Limits {
            buffers,
            ..Limits::default()
        }),
        ..ServerConfig::default()
    };
    serve_until_signal(listener, Arc::new(runtimes), config, signals)
}

/// The image whose `/wrapper-server/` every function pod copies (compat
/// §1: `$WRAPPER_SERVER_IMAGE`), when set and not empty (`preflight`
/// reads it through here too).
pub(crate) fn wrapper_server_image() -> Option<String> {
    std::env::var(WRAPPER_SERVER_IMAGE_ENV)
        .ok()
        .filter(|image| !image.is_empty())
}

/// Binds `ip:port`: `--bind-address` and `--port`. The unspecified IPv6
/// address (`::`, the default) listens on every interface, IPv4 and IPv6
/// (IPV6_V6ONLY off), as Go's `net.Listen("tcp", ":9445")` does for the
/// Go runner: IPv6-only clusters exist. Where the host has no IPv6, it
/// falls back to 0.0.0.0 and says so. `0.0.0.0` listens on IPv4 only,
/// any other address on that address alone.
pub fn listen(ip: IpAddr, port: u16) -> io::Result<TcpListener> {
    let addr = SocketAddr::from((ip, port));
    let bound = match ip {
        IpAddr::V6(v6) if v6.is_unspecified() => listen_dual_stack(port),
        _ => TcpListener::bind(addr),
    };
    bound.map_err(|e| io::Error::new(e.kind(), format!("listen on {addr}: {e}")))
}

/// `[::]:port` with IPv4 too, or `0.0.0.0:port` without IPv6.
fn listen_dual_stack(port: u16) -> io::Result<TcpListener> {
    let any = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0);
    match crate::sys::listen_ipv6(any, false, LISTEN_BACKLOG) {
        Err(e) if crate::sys::is_ipv6_unavailable(&e) => {
            crate::warn!("IPv6 is not available here ({e}): listening on IPv4 only");
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
        }
        bound => bound,
    }
}

/// Connections waiting to be accepted at most: std's `TcpListener::bind`
/// value, which the other listeners keep.
const LISTEN_BACKLOG: u32 = 128;

/// What the log line says `listener` reaches: `[::]:9445 (IPv4 and
/// IPv6)`, `0.0.0.0:9445 (IPv4 only)`, or the address alone.
fn reach(listener: &TcpListener, addr: SocketAddr) -> String {
    use std::os::fd::AsFd as _;
    match addr.ip() {
        IpAddr::V6(ip) if ip.is_unspecified() => match crate::sys::is_ipv6_only(listener.as_fd()) {
            Ok(false) => format!("{addr} (IPv4 and IPv6)"),
            _ => format!("{addr} (IPv6 only)"),
        },
        IpAddr::V4(ip) if ip.is_unspecified() => format!("{addr} (IPv4 only)"),
        _ => addr.to_string(),
    }
}

/// What `serve` and `wrapper-server` share: serves `runtime` and the
/// health service on `listener` until SIGTERM/SIGINT, then shuts down
/// gracefully ([`SHUTDOWN_GRACE`]) and shuts `runtime` down. Health is
/// NOT_SERVING until `runtime` is ready. `signals` was started before any
/// thread; a SIGTERM/SIGINT before we listen ends the process at once.
pub(crate) fn serve_until_signal<R: Runtime + 'static>(
    listener: TcpListener,
    runtime: Arc<R>,
    config: ServerConfig,
    signals: Signals,
) -> io::Result<()> {
    // Megabyte bodies go back to the system when freed (sys::tune_malloc).
    crate::sys::tune_malloc();
    let buffers = config.limits.buffers.clone();
    let listening = listener
        .local_addr()
        .map(|addr| reach(&listener, addr))
        .unwrap_or_default();
    let health = Health::new(&HEALTH_SERVICES);
    health.set_all(ServingStatus::NOT_SERVING);
    let readiness = Readiness::start(Arc::clone(&runtime) as Arc<dyn Runtime>, health.clone())?;
    let served = serve_evaluator(
        listener,
        Arc::clone(&runtime) as Arc<dyn Evaluator>,
        health,
        config,
    );
    let result = served.and_then(|handle| {
        signals.serving();
        crate::info!("serving gRPC on {listening}");
        run_until_signal(handle, &readiness, &buffers, &signals, SHUTDOWN_GRACE)
    });
    readiness.close();
    // No function outlives the runner (calls cut off by the grace period).
    runtime.shutdown(Instant::now() + RUNTIMES_SHUTDOWN);
    // Nor a process one left running (a setsid daemon adopted by us).
    crate::process::kill_adopted_all();
    readiness.join();
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
    let buffers = config.limits.buffers.clone();
    let mut server = Server::new(config);
    server.route(EVALUATE_PATH, evaluate_handler(evaluator, buffers));
    health.register(&mut server);
    if std::env::var_os(TEST_SLOW_METHOD_ENV).is_some() {
        server.route(TEST_SLOW_PATH, slow_handler());
    }
    server.serve(listener)
}

/// Waits for SIGTERM/SIGINT, then shuts down: listener closed, health
/// NOT_SERVING, GOAWAY, in-flight calls get `grace` to finish.
fn run_until_signal(
    mut handle: ServerHandle,
    readiness: &Readiness,
    buffers: &buffers::Pool,
    signals: &Signals,
    grace: Duration,
) -> io::Result<()> {
    // Woken now and then to free the large buffers kept between calls.
    let sig = loop {
        if let Some(sig) = signals.wait_shutdown(buffers::IDLE_RELEASE)? {
            break sig;
        }
        buffers.release_idle();
    };
    crate::info!(
        "received {}, shutting down (a second SIGTERM or SIGINT exits at once)",
        crate::sys::signal_name(sig)
    );
    handle.begin_shutdown();
    readiness.close();
    crate::info!("listener closed, health NOT_SERVING, GOAWAY sent; waiting for in-flight calls");
    if handle.finish_shutdown(grace) {
        crate::info!("all calls finished; exiting");
    } else {
        crate::info!("calls still running after {grace:?}; closing them");
    }
    Ok(())
}

/// Turns health SERVING once the runtime is ready, and NOT_SERVING for
/// good at shutdown (a runtime that becomes ready later changes nothing).
struct Readiness {
    health: Health,
    /// Set by [`Readiness::close`]; the waiter checks it under this lock
    /// before it turns health SERVING.
    closed: Arc<Mutex<bool>>,
    /// Waits for a runtime that was not ready at once (a pod runtime's
    /// warm-up); none for one that was.
    waiter: Option<JoinHandle<()>>,
}

impl Readiness {
    fn start(runtime: Arc<dyn Runtime>, health: Health) -> io::Result<Readiness> {
        let closed = Arc::new(Mutex::new(false));
        if runtime.wait_ready(Duration::ZERO) {
            health.set_all(ServingStatus::SERVING);
            return Ok(Readiness {
                health,
                closed,
                waiter: None,
            });
        }
        crate::info!("health NOT_SERVING until the runtimes are ready");
        let (h, c) = (health.clone(), Arc::clone(&closed));
        let waiter = std::thread::Builder::new()
            .name("readiness".to_owned())
            .spawn(move || loop {
                let asked = Instant::now();
                let ready = runtime.wait_ready(READY_WAIT_MAX);
                let closed = c.lock().unwrap_or_else(|p| p.into_inner());
                if *closed {
                    return;
                }
                if ready {
                    h.set_all(ServingStatus::SERVING);
                    crate::info!("runtimes ready: health SERVING");
                    return;
                }
                // Not ready before the wait's end: the runtime is shut down.
                if asked.elapsed() < READY_WAIT_MAX {
                    return;
                }
            })?;
        Ok(Readiness {
            health,
            closed,
            waiter: Some(waiter),
        })
    }

    /// Health NOT_SERVING for good; open Watch streams end. Idempotent.
    fn close(&self) {
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        *closed = true;
        self.health.shutdown();
    }

    /// Waits for the waiter, which returns once the runtime is shut down.
    fn join(self) {
        if let Some(waiter) = self.waiter {
            let _ = waiter.join();
        }
    }
}

/// The EvaluateFunction handler: decode, evaluate on the pool, encode.
/// The call counts as in flight in `buffers` (whose policy that is), and
/// the request's buffer goes back there.
pub(crate) fn evaluate_handler(evaluator: Arc<dyn Evaluator>, buffers: buffers::Pool) -> Handler {
    // The request body becomes the ResourceList in place and the function's
    // stdout is sent as it is: no copy of either (docs/perf.md).
    Handler::UnaryOwned(Arc::new(move |request: OwnedMessage, ctx: &CallContext| {
        let _in_flight = buffers.start_call();
        let (buf, start) = request.into_buffer();
        let mut req = EvaluateFunctionRequest::decode_in_place(buf, start).map_err(|e| {
            Status::new(
                Code::INTERNAL,
                format!("grpc: error unmarshalling request: {e}"),
            )
        })?;
        let result = evaluator.evaluate(&mut req, ctx);
        // Free the input before the output is sent (kept for reuse when large).
        buffers.give(req.resource_list);
        match result {
            Ok(resp) => Ok(resp.into_parts()),
            Err(e) => Err(status_of(&e)),
        }
    }))
}

/// The one mapping from evaluator errors to gRPC status (style.md §3).
pub(crate) fn status_of(err: &evaluator::Error) -> Status {
    use evaluator::{Error, PodFailure};
    let code = match err {
        Error::UnknownImage { .. } => Code::NOT_FOUND,
        Error::FunctionFailed { .. } | Error::Process(_) => Code::INTERNAL,
        Error::Interrupted(Interrupt::DeadlineExceeded) => Code::DEADLINE_EXCEEDED,
        Error::Interrupted(Interrupt::Cancelled) => Code::CANCELLED,
        Error::OutputTooLarge { .. } => Code::RESOURCE_EXHAUSTED,
        Error::ShutDown => Code::UNAVAILABLE,
        Error::Pod { failure, .. } => match **failure {
            PodFailure::Busy { .. } => Code::RESOURCE_EXHAUSTED,
            PodFailure::Failed { .. } => Code::INTERNAL,
            PodFailure::Unreachable { .. } | PodFailure::NoPod { .. } => Code::UNAVAILABLE,
            PodFailure::Image { .. } => Code::INTERNAL,
            PodFailure::Function { code, .. } => Code(code),
        },
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
    use crate::evaluator::runtimes::Gate;

    fn serving(health: &Health) -> bool {
        health.status("") == Some(ServingStatus::SERVING)
    }

    fn not_serving() -> Health {
        let health = Health::new(&HEALTH_SERVICES);
        health.set_all(ServingStatus::NOT_SERVING);
        health
    }

    #[test]
    fn health_turns_serving_once_the_runtime_is_ready() {
        let gate = Arc::new(Gate::default());
        let health = not_serving();
        let mut readiness =
            Readiness::start(Arc::clone(&gate) as Arc<dyn Runtime>, health.clone()).expect("start");
        assert!(!serving(&health), "NOT_SERVING while warming up");
        gate.open();
        // The waiter returns right after turning health SERVING.
        readiness
            .waiter
            .take()
            .expect("a waiter")
            .join()
            .expect("waiter");
        assert!(serving(&health));
        readiness.close();
        assert!(!serving(&health), "NOT_SERVING for good at shutdown");
    }

    #[test]
    fn a_runtime_ready_at_once_needs_no_waiter() {
        let gate = Arc::new(Gate::default());
        gate.open();
        let health = not_serving();
        let readiness = Readiness::start(gate as Arc<dyn Runtime>, health.clone()).expect("start");
        assert!(readiness.waiter.is_none());
        assert!(serving(&health));
    }

    #[test]
    fn ready_after_shutdown_began_stays_not_serving() {
        let gate = Arc::new(Gate::default());
        let health = not_serving();
        let readiness =
            Readiness::start(Arc::clone(&gate) as Arc<dyn Runtime>, health.clone()).expect("start");
        readiness.close();
        gate.open();
        readiness.join();
        assert!(!serving(&health));
        // And a shutdown ends a wait that never saw the runtime ready.
        let gate = Arc::new(Gate::default());
        let readiness =
            Readiness::start(Arc::clone(&gate) as Arc<dyn Runtime>, not_serving()).expect("start");
        readiness.close();
        gate.shutdown(Instant::now());
        readiness.join();
    }

    /// Which variant `err` is. No wildcard: a new variant does not
    /// compile until it is named here, and the test below then wants a
    /// case for it.
    fn variant(err: &evaluator::Error) -> &'static str {
        use evaluator::{Error, PodFailure};
        match err {
            Error::UnknownImage { .. } => "UnknownImage",
            Error::FunctionFailed { .. } => "FunctionFailed",
            Error::Interrupted(Interrupt::DeadlineExceeded) => "Interrupted(DeadlineExceeded)",
            Error::Interrupted(Interrupt::Cancelled) => "Interrupted(Cancelled)",
            Error::OutputTooLarge { .. } => "OutputTooLarge",
            Error::Process(_) => "Process",
            Error::ShutDown => "ShutDown",
            Error::Pod { failure, .. } => match **failure {
                PodFailure::Busy { .. } => "Pod(Busy)",
                PodFailure::Failed { .. } => "Pod(Failed)",
                PodFailure::Unreachable { .. } => "Pod(Unreachable)",
                PodFailure::Image { .. } => "Pod(Image)",
                PodFailure::NoPod { .. } => "Pod(NoPod)",
                PodFailure::Function { .. } => "Pod(Function)",
            },
        }
    }

    #[test]
    fn maps_every_evaluator_error() {
        use evaluator::{Error, PodFailure};
        let pod = |failure| Error::Pod {
            image: "img".into(),
            failure: Box::new(failure),
        };
        let cases = [
            (Error::UnknownImage { image: "x".into() }, Code::NOT_FOUND),
            (
                Error::function_failed("m".into(), "exit status 1", Vec::new()),
                Code::INTERNAL,
            ),
            (
                Error::Interrupted(Interrupt::DeadlineExceeded),
                Code::DEADLINE_EXCEEDED,
            ),
            (Error::Interrupted(Interrupt::Cancelled), Code::CANCELLED),
            (
                Error::OutputTooLarge { limit_bytes: 1 },
                Code::RESOURCE_EXHAUSTED,
            ),
            (
                Error::Process(crate::process::Error::Io {
                    program: "/fn".into(),
                    source: io::Error::from(io::ErrorKind::BrokenPipe),
                }),
                Code::INTERNAL,
            ),
            (Error::ShutDown, Code::UNAVAILABLE),
            (
                pod(PodFailure::Busy {
                    waiting: 3,
                    limit: 2,
                }),
                Code::RESOURCE_EXHAUSTED,
            ),
            (
                pod(PodFailure::Failed {
                    pod: "p".into(),
                    reason: "ErrImagePull".into(),
                    message: "m".into(),
                }),
                Code::INTERNAL,
            ),
            (
                pod(PodFailure::Unreachable {
                    pod: "p".into(),
                    source: Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)),
                }),
                Code::UNAVAILABLE,
            ),
            (
                pod(PodFailure::Image {
                    source: Arc::new(io::Error::other("manifest unknown")),
                }),
                Code::INTERNAL,
            ),
            (
                pod(PodFailure::NoPod {
                    source: Arc::new(io::Error::other("pod p was not ready within 60s")),
                }),
                Code::UNAVAILABLE,
            ),
            (
                pod(PodFailure::Function {
                    code: Code::INVALID_ARGUMENT.0,
                    message: "bad input".into(),
                }),
                Code::INVALID_ARGUMENT,
            ),
        ];
        for (err, code) in &cases {
            let status = status_of(err);
            assert_eq!(status.code, *code, "{err}");
            assert_eq!(status.message, err.to_string());
        }
        let covered: std::collections::BTreeSet<_> =
            cases.iter().map(|(e, _)| variant(e)).collect();
        // 13: the arms of `variant`, each covered once.
        assert_eq!(covered.len(), 13, "one case per variant: {covered:?}");
        let failed = Error::function_failed(
            "Failed to execute function \"img\": exit status 1 (boom)".into(),
            "exit status 1",
            b"boom".to_vec(),
        );
        assert_eq!(
            status_of(&failed).message,
            "Failed to execute function \"img\": exit status 1 (boom)"
        );
    }
}
