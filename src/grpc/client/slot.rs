//! The one connection a [`Client`](super::Client) keeps, made on demand.
//!
//! ```text
//!  Empty --first call--> Connecting (a "grpc-connect" thread) --ok--> Ready
//!    ^                       |  every caller that finds the slot empty or   |
//!    |                       |  connecting waits for that one attempt,      |
//!    |                       |  each within its own deadline and cancel     |
//!    +------- failed: each waiter gets UNAVAILABLE ----+                    |
//!    +------- closed, GOAWAY or idle-closed: the next call connects again --+
//! ```
//!
//! No lock is held across the connect: it runs on its own thread, so a
//! caller with a short deadline is never stuck behind another caller's
//! connect timeout, and a cancel wakes the waiter at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use super::response::interrupted;
use crate::call::{wait_until, CallContext};
use crate::grpc::status::{Code, Status};
use crate::h2::io::{ClientConnection, ConnectError, ResponseBody};
use crate::h2::limits::Limits;

/// How to connect: the address and everything the connection is made with.
pub(super) struct Target {
    pub(super) addr: String,
    pub(super) connect_timeout: Duration,
    pub(super) limits: Limits,
    pub(super) body: ResponseBody,
}

/// Makes a connection to a target (a socket, except in tests).
type Connector = dyn Fn(&Target) -> Result<ClientConnection, ConnectError> + Send + Sync;

/// The client's connection, or the attempt to make one.
pub(super) struct Slot {
    target: Target,
    connector: Box<Connector>,
    state: Mutex<State>,
    /// Notified when an attempt finishes, and by a waiter's cancel hook.
    changed: Condvar,
}

struct State {
    conn: Option<ClientConnection>,
    /// An attempt is under way on its own thread.
    connecting: bool,
    /// Attempts finished so far; a waiter waits for a given one.
    attempts: u64,
    /// How the last finished attempt failed, if it did.
    last_error: Option<Status>,
    /// The client is gone: a connection made now is closed at once.
    dropped: bool,
}

impl Slot {
    /// An empty slot: no I/O until the first [`Slot::connection`].
    pub(super) fn new(target: Target) -> Slot {
        Slot::with_connector(
            target,
            Box::new(|t: &Target| {
                ClientConnection::connect(&t.addr, t.connect_timeout, t.limits.clone(), t.body)
            }),
        )
    }

    fn with_connector(target: Target, connector: Box<Connector>) -> Slot {
        Slot {
            target,
            connector,
            state: Mutex::new(State {
                conn: None,
                connecting: false,
                attempts: 0,
                last_error: None,
                dropped: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// A usable connection: the current one, or the one the attempt under
    /// way makes (started now if none is). Waits within `ctx`'s deadline
    /// and cancel; a failed attempt is UNAVAILABLE.
    pub(super) fn connection(
        self: &Arc<Self>,
        ctx: &CallContext,
    ) -> Result<ClientConnection, Status> {
        let awaited = {
            let mut state = self.lock();
            if let Some(conn) = state.conn.as_ref().filter(|c| c.is_usable()) {
                return Ok(conn.clone());
            }
            if !state.connecting {
                if let Some(old) = state.conn.take() {
                    old.close_when_idle();
                }
                self.spawn_attempt()?;
                state.connecting = true;
            }
            state.attempts + 1
        };
        self.wait_for(awaited, ctx)
    }

    /// Forgets `conn` if it is the current connection (it failed to take a
    /// stream): the next call connects again.
    pub(super) fn discard(&self, conn: &ClientConnection) {
        let mut state = self.lock();
        if state.conn.as_ref().is_some_and(|c| c.same_as(conn)) {
            if let Some(old) = state.conn.take() {
                old.close_when_idle();
            }
        }
    }

    /// The client is gone: closes the connection, and the one an attempt
    /// under way makes.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.dropped = true;
        if let Some(conn) = state.conn.take() {
            conn.close();
        }
    }

    fn spawn_attempt(self: &Arc<Self>) -> Result<(), Status> {
        let slot = Arc::clone(self);
        thread::Builder::new()
            .name("grpc-connect".to_owned())
            .spawn(move || slot.attempt())
            .map(drop)
            .map_err(|e| {
                Status::new(
                    Code::UNAVAILABLE,
                    format!("cannot start a connect thread: {e}"),
                )
            })
    }

    /// One connect attempt, on its own thread; wakes every waiter.
    fn attempt(&self) {
        let result = (self.connector)(&self.target);
        let mut state = self.lock();
        state.connecting = false;
        state.attempts += 1;
        match result {
            Ok(conn) if state.dropped => conn.close(),
            Ok(conn) => {
                state.conn = Some(conn);
                state.last_error = None;
            }
            Err(e) => state.last_error = Some(connect_error(&e)),
        }
        self.changed.notify_all();
    }

    /// Waits for attempt number `awaited` to finish.
    fn wait_for(
        self: &Arc<Self>,
        awaited: u64,
        ctx: &CallContext,
    ) -> Result<ClientConnection, Status> {
        // Registered before the lock is taken: it runs at once when the
        // call is already cancelled, and it takes the lock to wake us.
        let slot = Arc::clone(self);
        let _hook = ctx.cancel.on_cancel(Arc::new(move || {
            let _state = slot.lock();
            slot.changed.notify_all();
        }));
        let mut state = self.lock();
        loop {
            if state.attempts >= awaited {
                return match (&state.conn, &state.last_error) {
                    (Some(conn), _) => Ok(conn.clone()),
                    (None, Some(e)) => Err(e.clone()),
                    (None, None) => Err(Status::new(Code::UNAVAILABLE, "client closed")),
                };
            }
            if let Some(interrupt) = ctx.interrupted() {
                return Err(interrupted(interrupt));
            }
            state = wait_until(&self.changed, state, ctx.deadline);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn connect_error(e: &ConnectError) -> Status {
    let cause = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    Status::new(Code::UNAVAILABLE, format!("{e}{cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A slot whose connect attempts each block until the test releases
    /// them, then fail; `started` tells of each attempt.
    fn blocking_slot() -> (Arc<Slot>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let started_tx = Mutex::new(started_tx);
        let release_rx = Mutex::new(release_rx);
        let target = Target {
            addr: "pod.invalid:9446".to_owned(),
            connect_timeout: CONNECT_TIMEOUT_IN_TEST,
            limits: Limits::default(),
            body: ResponseBody {
                max_bytes: 1024,
                size_hint: |_| None,
            },
        };
        let connector = Box::new(move |t: &Target| {
            let _ = started_tx.lock().map(|tx| tx.send(()));
            let _ = release_rx
                .lock()
                .map(|rx| rx.recv_timeout(Duration::from_secs(30)));
            Err(ConnectError::Connect {
                addr: t.addr.clone(),
                source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
            })
        });
        (
            Arc::new(Slot::with_connector(target, connector)),
            started,
            release,
        )
    }

    const CONNECT_TIMEOUT_IN_TEST: Duration = Duration::from_secs(5);

    #[test]
    fn waiters_share_one_attempt_each_within_its_own_deadline_and_cancel() {
        let (slot, started, release) = blocking_slot();
        let first = Arc::clone(&slot);
        let patient = thread::spawn(move || first.connection(&CallContext::background()));
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("the first call starts an attempt");
        // A short deadline ends the wait while the attempt is still
        // blocked (it is released only below).
        let short = CallContext::with_timeout(Duration::from_millis(20));
        let err = slot.connection(&short).err().expect("deadline");
        assert_eq!(err.code, Code::DEADLINE_EXCEEDED);
        // A cancel from another thread wakes a waiter without deadline.
        let ctx = CallContext::background();
        let token = ctx.cancel.clone();
        let waiter = Arc::clone(&slot);
        let cancelled = thread::spawn(move || waiter.connection(&ctx));
        token.cancel();
        let err = cancelled.join().expect("thread").err().expect("cancelled");
        assert_eq!(err.code, Code::CANCELLED);
        // No second attempt was started for them.
        assert!(started.try_recv().is_err());
        release.send(()).expect("release");
        let err = patient.join().expect("thread").err().expect("refused");
        assert_eq!(err.code, Code::UNAVAILABLE);
        assert!(err.message.contains("pod.invalid:9446"), "{err}");
        // The next call tries again.
        let next = Arc::clone(&slot);
        let again = thread::spawn(move || next.connection(&CallContext::background()));
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("a new attempt");
        release.send(()).expect("release");
        assert!(again.join().expect("thread").is_err());
    }
}
