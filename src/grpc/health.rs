//! The gRPC health service `grpc.health.v1.Health` (compat §2): Check,
//! Watch (server streaming: the current status at once, then every change)
//! and List. Known names are given at construction; other names get
//! NOT_FOUND from Check and SERVICE_UNKNOWN from Watch, as the health
//! protocol says.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::server::{Handler, MessageSink, Server};
use super::status::{Code, Status};
use crate::call::{wait_until, CallContext, Interrupt};
use crate::proto::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse, Message,
    ServingStatus,
};

/// `:path` of Check.
pub(crate) const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// `:path` of Watch.
pub const WATCH_PATH: &str = "/grpc.health.v1.Health/Watch";
/// `:path` of List.
pub(crate) const LIST_PATH: &str = "/grpc.health.v1.Health/List";

/// Health statuses shared by the service and whoever changes them
/// (shutdown, warm-up). Cheap to clone.
#[derive(Clone)]
pub struct Health {
    shared: Arc<(Mutex<State>, Condvar)>,
}

struct State {
    statuses: BTreeMap<String, ServingStatus>,
    /// Set at shutdown: open Watch streams end after their last update.
    closing: bool,
}

impl Health {
    /// A registry where each of `services` is SERVING.
    pub fn new(services: &[&str]) -> Health {
        let statuses = services
            .iter()
            .map(|s| ((*s).to_owned(), ServingStatus::SERVING))
            .collect();
        Health {
            shared: Arc::new((
                Mutex::new(State {
                    statuses,
                    closing: false,
                }),
                Condvar::new(),
            )),
        }
    }

    /// Sets one known service's status (unknown names are ignored).
    pub fn set(&self, service: &str, status: ServingStatus) {
        let mut state = self.lock();
        if let Some(s) = state.statuses.get_mut(service) {
            *s = status;
        }
        self.shared.1.notify_all();
    }

    /// Sets every service's status.
    pub fn set_all(&self, status: ServingStatus) {
        let mut state = self.lock();
        for s in state.statuses.values_mut() {
            *s = status;
        }
        self.shared.1.notify_all();
    }

    /// NOT_SERVING everywhere, and open Watch streams end.
    pub fn shutdown(&self) {
        let mut state = self.lock();
        for s in state.statuses.values_mut() {
            *s = ServingStatus::NOT_SERVING;
        }
        state.closing = true;
        self.shared.1.notify_all();
    }

    /// The status of `service`, `None` when unknown.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.lock().statuses.get(service).copied()
    }

    /// Adds Check, Watch and List to `server`.
    pub(crate) fn register(&self, server: &mut Server) {
        let h = self.clone();
        server.route(
            CHECK_PATH,
            Handler::Inline(Arc::new(move |req: &[u8], _: &CallContext| h.check(req))),
        );
        let h = self.clone();
        server.route(
            LIST_PATH,
            Handler::Inline(Arc::new(move |req: &[u8], _: &CallContext| h.list(req))),
        );
        let h = self.clone();
        server.route(
            WATCH_PATH,
            Handler::ServerStreaming(Arc::new(
                move |req: &[u8], ctx: &CallContext, sink: &mut MessageSink| {
                    h.watch(req, ctx, sink)
                },
            )),
        );
    }

    fn check(&self, request: &[u8]) -> Result<Vec<u8>, Status> {
        let req = HealthCheckRequest::decode(request).map_err(unmarshal)?;
        match self.status(&req.service) {
            Some(status) => Ok(HealthCheckResponse { status }.encode_to_vec()),
            None => Err(Status::new(Code::NOT_FOUND, "unknown service")),
        }
    }

    fn list(&self, request: &[u8]) -> Result<Vec<u8>, Status> {
        HealthListRequest::decode(request).map_err(unmarshal)?;
        let statuses = self
            .lock()
            .statuses
            .iter()
            .map(|(name, status)| (name.clone(), HealthCheckResponse { status: *status }))
            .collect();
        Ok(HealthListResponse { statuses }.encode_to_vec())
    }

    fn watch(
        &self,
        request: &[u8],
        ctx: &CallContext,
        sink: &mut MessageSink,
    ) -> Result<(), Status> {
        let req = HealthCheckRequest::decode(request).map_err(unmarshal)?;
        // A cancel (RST_STREAM, connection lost) wakes the wait below. The
        // hook is registered before the lock is taken: it runs at once
        // when the call is already cancelled, and it takes the lock.
        let shared = Arc::clone(&self.shared);
        let _hook = ctx.cancel.on_cancel(Arc::new(move || {
            let _state = shared.0.lock().unwrap_or_else(|p| p.into_inner());
            shared.1.notify_all();
        }));
        let mut last = None;
        let mut state = self.lock();
        loop {
            let current = state
                .statuses
                .get(&req.service)
                .copied()
                .unwrap_or(ServingStatus::SERVICE_UNKNOWN);
            let closing = state.closing;
            if last != Some(current) {
                last = Some(current);
                drop(state);
                sink.send(&HealthCheckResponse { status: current }.encode_to_vec())?;
                state = self.lock();
                continue;
            }
            if closing {
                return Ok(());
            }
            match ctx.interrupted() {
                Some(Interrupt::Cancelled) => {
                    return Err(Status::new(Code::CANCELLED, "watch cancelled"))
                }
                Some(Interrupt::DeadlineExceeded) => {
                    return Err(Status::new(Code::DEADLINE_EXCEEDED, "watch deadline"))
                }
                None => {}
            }
            // Woken by a status change, shutdown or cancel; else at the deadline.
            state = wait_until(&self.shared.1, state, ctx.deadline);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn unmarshal(e: crate::proto::Error) -> Status {
    Status::new(
        Code::INTERNAL,
        format!("grpc: error unmarshalling request: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_known_unknown_and_not_serving() {
        let h = Health::new(&["", "evaluator.FunctionEvaluator"]);
        let req = HealthCheckRequest {
            service: String::new(),
        }
        .encode_to_vec();
        let resp = HealthCheckResponse::decode(&h.check(&req).expect("known")).expect("valid");
        assert_eq!(resp.status, ServingStatus::SERVING);
        let unknown = HealthCheckRequest {
            service: "nope".to_owned(),
        }
        .encode_to_vec();
        assert_eq!(h.check(&unknown).map_err(|s| s.code), Err(Code::NOT_FOUND));
        h.shutdown();
        let resp = HealthCheckResponse::decode(&h.check(&req).expect("known")).expect("valid");
        assert_eq!(resp.status, ServingStatus::NOT_SERVING);
        assert_eq!(h.check(b"\xff").map_err(|s| s.code), Err(Code::INTERNAL));
    }

    #[test]
    fn list_names_every_service() {
        let h = Health::new(&["", "evaluator.FunctionEvaluator"]);
        let list = HealthListResponse::decode(&h.list(&[]).expect("list")).expect("valid");
        assert_eq!(list.statuses.len(), 2);
        assert_eq!(
            list.statuses["evaluator.FunctionEvaluator"].status,
            ServingStatus::SERVING
        );
    }
}
