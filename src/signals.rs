//! The signals of a server process (`serve`, `wrapper-server`), and its
//! duties as PID 1: in the image it runs as PID 1 with no init, in every
//! function pod too (issue 14).
//!
//! ```text
//!   Signals::start()  first thing in the mode, before any thread:
//!     signals inherited as ignored -> a handler that does nothing, blocked
//!                                     (sys::reset_ignored_signals: the
//!                                     functions we start get the defaults)
//!     SIGTERM, SIGINT, SIGCHLD blocked (every thread inherits the mask;
//!                                     a thread starting a child clears it
//!                                     for the child, and a signal that
//!                                     comes meanwhile is forwarded:
//!                                     sys::forward_signals)
//!     child subreaper (sys::become_child_subreaper; PID 1 is one already)
//!     the reaper thread (process::Reaper: orphans reaped)
//!     the signal thread:
//!        Starting --SIGTERM/SIGINT--> exit 0 at once: start-up may block
//!                                     (a config on a FIFO or a hung mount)
//!        Starting --serving()-------> Serving
//!        Serving  --SIGTERM/SIGINT--> the main thread shuts down gracefully
//!                                     (wait_shutdown returns): Draining
//!        Draining --SIGTERM/SIGINT--> every child killed, exit 1 at once
//! ```
//!
//! A second signal ends a drain at once, as most servers do (Kubernetes'
//! own exit 1 on the second signal: an operator who presses Ctrl-C twice,
//! or a kubelet whose grace period is shorter than ours). Before this
//! module the signals were blocked before the config was read and only
//! taken once serving: a read that blocked made the process deaf to both.

use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::process;
use crate::sys::{self, Signal, SIGCHLD, SIGINT, SIGTERM};

/// Exit code after a second SIGTERM/SIGINT cut the drain short (what
/// Kubernetes' own servers exit with then).
pub(crate) const EXIT_SECOND_SIGNAL: i32 = 1;
/// Exit code after SIGTERM/SIGINT during start-up: a stop that was asked
/// for, with no call to lose.
pub(crate) const EXIT_DURING_START_UP: i32 = 0;

/// The signals that stop a server.
const SHUTDOWN: [Signal; 2] = [SIGTERM, SIGINT];

/// Where the server is, as the signal thread sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Serving,
    Draining,
}

/// The running signal thread; see the module doc.
#[derive(Debug)]
pub struct Signals {
    phase: Arc<Mutex<Phase>>,
    /// The first SIGTERM/SIGINT once serving.
    shutdown: mpsc::Receiver<Signal>,
}

impl Signals {
    /// Sets the process up (module doc) and starts the signal and reaper
    /// threads. Call it first, on the main thread, before any other
    /// thread exists.
    pub fn start() -> io::Result<Signals> {
        let reset = sys::reset_ignored_signals()?;
        sys::block_signals(&[SIGTERM, SIGINT, SIGCHLD])?;
        // PID 1 of a namespace adopts every orphan already.
        if std::process::id() != 1 {
            if let Err(e) = sys::become_child_subreaper() {
                crate::warn!(
                    "cannot become a child subreaper ({e}): helpers that functions leave \
                     running are re-parented to PID 1 instead of being killed by us"
                );
            }
        }
        process::Reaper::start()?;
        let phase = Arc::new(Mutex::new(Phase::Starting));
        let (tx, shutdown) = mpsc::channel();
        let p = Arc::clone(&phase);
        let (tid_tx, tid_rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || {
                let _ = tid_tx.send(sys::current_thread_id());
                take_signals(&p, &tx);
            })?;
        let tid = tid_rx
            .recv()
            .map_err(|_| io::Error::other("the signal thread ended at once"))?;
        // A thread starting a child has them unblocked for a moment.
        sys::forward_signals(&SHUTDOWN, tid)?;
        if !reset.is_empty() {
            let names: Vec<String> = reset.iter().map(|&s| sys::signal_name(s)).collect();
            crate::v!(
                2,
                "signals inherited as ignored, back to their defaults for the functions: {}",
                names.join(", ")
            );
        }
        Ok(Signals { phase, shutdown })
    }

    /// Start-up is over: the next SIGTERM or SIGINT begins a graceful
    /// shutdown instead of ending the process.
    pub fn serving(&self) {
        let mut phase = lock(&self.phase);
        if *phase == Phase::Starting {
            *phase = Phase::Serving;
        }
    }

    /// Waits up to `timeout` for the SIGTERM or SIGINT that starts the
    /// graceful shutdown; `Ok(None)` when none came.
    pub(crate) fn wait_shutdown(&self, timeout: Duration) -> io::Result<Option<Signal>> {
        match self.shutdown.recv_timeout(timeout) {
            Ok(sig) => Ok(Some(sig)),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(io::Error::other("the signal thread ended"))
            }
        }
    }
}

/// The signal thread's body: waits for SIGTERM/SIGINT, for ever.
fn take_signals(phase: &Mutex<Phase>, shutdown: &mpsc::Sender<Signal>) {
    loop {
        let sig = match sys::wait_signal(&SHUTDOWN, None) {
            Ok(Some(sig)) => sig,
            Ok(None) => continue,
            Err(e) => {
                crate::error!("cannot wait for SIGTERM/SIGINT any more: {e}");
                return;
            }
        };
        let name = sys::signal_name(sig);
        let mut phase = lock(phase);
        match *phase {
            Phase::Starting => {
                crate::info!("received {name} during start-up: exiting");
                process::kill_all();
                std::process::exit(EXIT_DURING_START_UP);
            }
            Phase::Serving => {
                *phase = Phase::Draining;
                let _ = shutdown.send(sig);
            }
            Phase::Draining => {
                crate::warn!(
                    "received {name} again while shutting down: killing the functions still \
                     running and exiting now"
                );
                process::kill_all();
                std::process::exit(EXIT_SECOND_SIGNAL);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
