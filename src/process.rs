//! Running child processes: the one process runner of the crate
//! (design.md "Layering rules"). The exec runtime (compat §3) and the
//! wrapper server (compat §6) run functions through it; the Kubernetes
//! client runs exec credential plugins through it.
//!
//! ```text
//!   caller thread
//!   spawn child (own process group), pidfd_open
//!   poll(2): stdin writable, stdout, stderr readable, pidfd (child exited);
//!            and an eventfd a cancel makes readable; timeout: the deadline
//!     -> cancelled or deadline: SIGKILL the whole group
//!   child exited -> SIGKILL leftovers, drain the pipes, stop
//!   output over the cap -> SIGKILL group
//!   EOF on stdout+stderr -> reap (waitpid)
//!
//!   without a pidfd (Linux < 5.3), a watcher thread waits on the
//!   CancelToken and kills the group instead, and is joined before the reap
//! ```
//!
//! - stdin is written while stdout and stderr are read, all non-blocking
//!   under one poll(2), so no size of either can deadlock. A function that
//!   never reads stdin is fine: EPIPE on stdin closes it, output is still
//!   read.
//! - Each child leads its own process group, so a kill reaches the helpers
//!   it forked. When the child itself exits, helpers left in its group are
//!   killed and what the pipes hold is read; we never wait on a helper
//!   that kept the pipes open (the Go original would wait forever).
//! - The child is always reaped, after the watcher is joined, so the group
//!   id cannot be reused while a kill may still be sent to it.
//! - What is read from the child is capped at `output_limit_bytes` per
//!   stream ([`Error::OutputTooLarge`]).
//! - The children belong to the [`Runner`] that started them, not to the
//!   process: [`Runner::shutdown`] kills the groups of its own children
//!   still running (a runtime's shutdown), and nothing else.
//! - The process's own view of its children (every Runner's, and orphans
//!   re-parented to a server: reaping, killing what functions left behind)
//!   is `process/children.rs`; whether a program can run at all (start-up
//!   checks) is `process/program.rs`.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::buffers;
use crate::call::{CallContext, Interrupt};
use crate::sys::{self, PollFd};

mod children;
pub mod program;

pub use children::{kill_adopted_all, kill_all, Reaper};

/// What a finished child left: its exit status and everything it wrote.
#[derive(Debug)]
pub struct Output {
    /// How the child ended (exit code or signal).
    pub status: ExitStatus,
    /// Everything written to stdout, at most the output limit.
    pub stdout: Vec<u8>,
    /// Everything written to stderr, at most the output limit.
    pub stderr: Vec<u8>,
}

/// Which output stream of the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

/// Why a run produced no [`Output`].
#[derive(Debug)]
pub enum Error {
    /// The program could not be started (missing, not executable, ...).
    Spawn { program: PathBuf, source: io::Error },
    /// Talking to the child (poll, pipes, wait) failed.
    Io { program: PathBuf, source: io::Error },
    /// The call was cancelled or its deadline passed; the group was killed.
    Interrupted(Interrupt),
    /// The child wrote more than the limit to one stream; the group was killed.
    OutputTooLarge { stream: Stream, limit_bytes: usize },
    /// The runner was shut down; a child started meanwhile was killed.
    ShutDown,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The Go original's wording (os/exec), so messages stay familiar.
            Error::Spawn { program, source } => {
                write!(f, "fork/exec {}: {source}", program.display())
            }
            Error::Io { program, source } => {
                write!(f, "talking to {}: {source}", program.display())
            }
            Error::Interrupted(Interrupt::DeadlineExceeded) => f.write_str("deadline exceeded"),
            Error::Interrupted(Interrupt::Cancelled) => f.write_str("call cancelled"),
            Error::OutputTooLarge {
                stream,
                limit_bytes,
            } => write!(
                f,
                "function {stream} larger than the limit of {limit_bytes} bytes"
            ),
            Error::ShutDown => f.write_str("the process runner is shut down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn { source, .. } | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How a [`Runner`] runs its children.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cap on each of the child's stdout and stderr, in bytes (a function's
    /// output must fit a reply: the message limit).
    pub output_limit_bytes: usize,
    /// Where a large stdout's buffer comes from, and whose count of calls
    /// in flight decides whether a fed input is given back to the kernel
    /// (`crate::buffers`).
    pub buffers: buffers::Pool,
}

/// Starts children and owns them while they run. Shared by the threads
/// that run calls (`&self` everywhere).
#[derive(Debug)]
pub struct Runner {
    options: Options,
    running: Mutex<Running>,
}

/// The children of one runner not yet reaped.
#[derive(Debug, Default)]
struct Running {
    /// Their process groups (a child's pid is its group id). An entry is
    /// removed before its child is reaped, so a kill through this set
    /// never reaches a reused id.
    groups: BTreeSet<u32>,
    /// Set by [`Runner::shutdown`]: a child started afterwards is killed
    /// at once.
    closed: bool,
}

impl Runner {
    /// A runner with no children yet.
    pub fn new(options: Options) -> Runner {
        Runner {
            options,
            running: Mutex::new(Running::default()),
        }
    }

    /// What this runner was built with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `command` with `stdin` as its standard input until it exits,
    /// the call is interrupted or an output stream exceeds the output
    /// limit. Its stdio and process group are set here; the environment
    /// and working directory are what `command` says (inherited unless it
    /// changes them, as Go's `exec.Command` does).
    ///
    /// `stdin` is consumed: while other calls are in flight, the pages of a
    /// large input are given back to the kernel as the function reads them
    /// (they read as zeros afterwards), so that concurrent large calls do
    /// not each hold their whole input until their function exits.
    pub fn run(
        &self,
        mut command: Command,
        stdin: &mut [u8],
        ctx: &CallContext,
    ) -> Result<Output, Error> {
        let output_limit_bytes = self.options.output_limit_bytes;
        if let Some(why) = ctx.interrupted() {
            return Err(Error::Interrupted(why));
        }
        let program = PathBuf::from(command.get_program());
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let (mut child, call) = children::spawn(&mut command).map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = child.id();
        if !self.track(pid) {
            kill_and_reap(&mut child, call);
            return Err(Error::ShutDown);
        }
        let io_error = |source| Error::Io {
            program: program.clone(),
            source,
        };

        // Without a pidfd (old kernel) we only learn of the exit by EOF.
        let pidfd = sys::pidfd_open(pid).ok();
        let shared = Arc::new(Shared::default());
        // With a pidfd the pump's poll(2) wakes for the child's exit and checks
        // the deadline and cancellation itself; a watcher thread is needed only
        // when we may wait for an exit outside that loop.
        let watcher = if pidfd.is_some() {
            None
        } else {
            match spawn_watcher(pid, ctx.clone(), Arc::clone(&shared)) {
                Ok(w) => Some(w),
                Err(e) => {
                    self.untrack(pid);
                    kill_and_reap(&mut child, call);
                    return Err(io_error(e));
                }
            }
        };

        let pipes = Pipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            pidfd,
        };
        let pumped = pump(pipes, stdin, &self.options, pid, ctx);

        if pumped.is_err() {
            let _ = sys::kill_process_group(pid);
        }
        // Usually the child has exited already (the pidfd said so); without a
        // pidfd it may still run after closing its output. The watcher still
        // guards the deadline meanwhile.
        // If waitid fails we still kill and reap below; only leftovers' fate
        // differs.
        let _ = sys::wait_exited_no_reap(pid);
        // No process of the group outlives the call: after a normal exit this
        // only reaches helpers the function left behind.
        let _ = sys::kill_process_group(pid);
        if let Some(watcher) = watcher {
            shared.done.store(true, Ordering::SeqCst);
            ctx.cancel.notify();
            let _ = watcher.join();
        }
        self.untrack(pid);
        // Reap only now: neither the watcher nor `shutdown` can signal the
        // group id any more.
        let status = children::reap(&mut child, call).map_err(io_error);

        if let Some(why) = *lock(&shared.killed_for) {
            return Err(Error::Interrupted(why));
        }
        let (stdout, stderr) = pumped.map_err(|e| match e {
            PumpError::Interrupted(why) => Error::Interrupted(why),
            PumpError::TooLarge(stream) => Error::OutputTooLarge {
                stream,
                limit_bytes: output_limit_bytes,
            },
            PumpError::Io(source) => io_error(source),
        })?;
        Ok(Output {
            status: status?,
            stdout,
            stderr,
        })
    }

    /// Kills the process group of every child of this runner still
    /// running, and of any it starts from now on: for a server that exits
    /// after its shutdown grace period, so that no function outlives the
    /// runner (in a pod its PID namespace would do this; on a laptop
    /// nothing else would). The calls they belong to end as their child
    /// was killed.
    pub fn shutdown(&self) {
        let mut running = lock(&self.running);
        running.closed = true;
        for &pid in &running.groups {
            let _ = sys::kill_process_group(pid);
        }
    }

    /// Records a new child; false when the runner is shut down (the caller
    /// kills it).
    fn track(&self, pid: u32) -> bool {
        let mut running = lock(&self.running);
        if running.closed {
            return false;
        }
        running.groups.insert(pid);
        true
    }

    fn untrack(&self, pid: u32) {
        lock(&self.running).groups.remove(&pid);
    }
}

/// Renders an exit status as Go's `os.ProcessState.String()` does, which
/// the exec runtime's error message quotes (compat §3): `exit status 1`,
/// `signal: killed`, `signal: segmentation fault (core dumped)`.
pub(crate) fn describe_exit(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            format!("signal: {}{core}", signal_name(sig))
        }
        None => "exit status unknown".to_owned(),
    }
}

/// Go's `syscall.Signal.String()` names on Linux.
fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        10 => "user defined signal 1",
        11 => "segmentation fault",
        12 => "user defined signal 2",
        13 => "broken pipe",
        14 => "alarm clock",
        15 => "terminated",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}

/// State shared with the watcher thread.
#[derive(Default)]
struct Shared {
    /// Set by the caller thread when the child's I/O is over.
    done: AtomicBool,
    /// Set by the watcher when it killed the group, with the reason.
    killed_for: Mutex<Option<Interrupt>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The longest single wait of the watcher when the call has no deadline;
/// it waits again afterwards (a bound against timer overflow, not a poll).
const WATCHER_MAX_WAIT: Duration = Duration::from_secs(3600);

/// Starts the thread that kills the group `pid` when `ctx` is cancelled or
/// its deadline passes, and returns as soon as `shared.done` is set.
fn spawn_watcher(
    pid: u32,
    ctx: CallContext,
    shared: Arc<Shared>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fn-watcher".to_owned())
        .spawn(move || loop {
            let wait_for = ctx.remaining().unwrap_or(WATCHER_MAX_WAIT);
            ctx.cancel
                .wait_timeout_until(wait_for, || shared.done.load(Ordering::SeqCst));
            if shared.done.load(Ordering::SeqCst) {
                return;
            }
            if let Some(why) = ctx.interrupted() {
                *lock(&shared.killed_for) = Some(why);
                let _ = sys::kill_process_group(pid);
                return;
            }
        })
}

/// Used when the run cannot go on: no process of the group survives and
/// the child is reaped.
fn kill_and_reap(child: &mut Child, call: children::CallId) {
    let _ = sys::kill_process_group(child.id());
    let _ = children::reap(child, call);
}

/// The child's ends of the run, closed (dropped) as each one finishes.
struct Pipes {
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    pidfd: Option<OwnedFd>,
}

enum PumpError {
    /// The deadline passed or the call was cancelled; the group was killed.
    Interrupted(Interrupt),
    TooLarge(Stream),
    Io(io::Error),
}

/// Room reserved before a read from a child pipe; the output buffer grows
/// by doubling, and a read takes what fits (up to the limit).
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// The buffer a stdout past 64 KiB moves to (see `pump`).
const LARGE_OUTPUT_BYTES: usize = 2 << 20;
/// Room reserved before the first read of a stream.
const FIRST_READ_BYTES: usize = 16 * 1024;
/// How often the pump checks for a cancelled call while the child runs when
/// no eventfd could be made to wake it (the deadline itself wakes it exactly).
const INTERRUPT_CHECK: Duration = Duration::from_millis(50);
/// Fed input is given back to the kernel in steps of at least this much.
const RELEASE_STEP_BYTES: usize = 256 * 1024;
/// Linux's default pipe buffer.
const DEFAULT_PIPE_BYTES: usize = 64 * 1024;
/// The pipe buffer asked for stdout and a large stdin: the unprivileged
/// maximum (/proc/sys/fs/pipe-max-size) by default.
const BIG_PIPE_BYTES: usize = 1 << 20;

/// Moves bytes until stdout and stderr reach EOF and the child has exited
/// (when a pidfd tells us). Returns what was read.
fn pump(
    mut pipes: Pipes,
    input: &mut [u8],
    options: &Options,
    pid: u32,
    ctx: &CallContext,
) -> Result<(Vec<u8>, Vec<u8>), PumpError> {
    let limit_bytes = options.output_limit_bytes;
    for fd in [
        pipes.stdin.as_ref().map(|p| p.as_fd()),
        pipes.stdout.as_ref().map(|p| p.as_fd()),
        pipes.stderr.as_ref().map(|p| p.as_fd()),
    ]
    .into_iter()
    .flatten()
    {
        sys::set_nonblocking(fd).map_err(PumpError::Io)?;
    }
    if input.is_empty() {
        pipes.stdin = None;
    }
    // Bigger pipes for big inputs and for output: fewer wake-ups of the
    // child and of us per megabyte (best effort: the default stays).
    if let Some(p) = pipes
        .stdin
        .as_ref()
        .filter(|_| input.len() > DEFAULT_PIPE_BYTES)
    {
        let _ = sys::set_pipe_size(p.as_fd(), BIG_PIPE_BYTES);
    }
    // stdout grows its pipe once the output passes the default size
    // (a small output does not pay for the resize).
    let mut stdout_pipe_grown = false;
    let mut written = 0usize;
    // Input bytes up to here were given back to the kernel (or skipped).
    let mut released = 0usize;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut exited = false;
    // With a pidfd this loop is also the watcher: a cancellation wakes its
    // poll(2) at once through an eventfd (without one, it looks every
    // INTERRUPT_CHECK); the deadline is its poll timeout.
    let wake = match &pipes.pidfd {
        Some(_) => sys::eventfd().ok().map(Arc::new),
        None => None,
    };
    let _wake_on_cancel = wake.as_ref().map(|fd| {
        let fd = Arc::clone(fd);
        ctx.cancel
            .on_cancel(Arc::new(move || sys::eventfd_signal(fd.as_fd())))
    });
    loop {
        let outputs_open = pipes.stdout.is_some() || pipes.stderr.is_some();
        let may_still_run = pipes.pidfd.is_some() && !exited;
        if !outputs_open && !may_still_run {
            return Ok((stdout, stderr));
        }
        // Slots: 0 stdin, 1 stdout, 2 stderr, 3 pidfd, 4 cancel wake-up
        // (present ones only).
        let watching = pipes.pidfd.is_some() && !exited;
        let mut fds: Vec<PollFd> = Vec::with_capacity(5);
        let mut slots: [Option<usize>; 5] = [None; 5];
        if let Some(p) = &pipes.stdin {
            slots[0] = Some(fds.len());
            fds.push(PollFd::writable(p.as_fd()));
        }
        if let Some(p) = &pipes.stdout {
            slots[1] = Some(fds.len());
            fds.push(PollFd::readable(p.as_fd()));
        }
        if let Some(p) = &pipes.stderr {
            slots[2] = Some(fds.len());
            fds.push(PollFd::readable(p.as_fd()));
        }
        if let (Some(p), false) = (&pipes.pidfd, exited) {
            slots[3] = Some(fds.len());
            fds.push(PollFd::readable(p.as_fd()));
        }
        if let (Some(fd), true) = (&wake, watching) {
            slots[4] = Some(fds.len());
            fds.push(PollFd::readable(fd.as_fd()));
        }
        let timeout = match (watching, &wake) {
            (false, _) => None,
            (true, Some(_)) => ctx.remaining(),
            (true, None) => Some(
                ctx.remaining()
                    .map_or(INTERRUPT_CHECK, |r| r.min(INTERRUPT_CHECK)),
            ),
        };
        sys::poll(&mut fds, timeout).map_err(PumpError::Io)?;
        if watching {
            if let Some(why) = ctx.interrupted() {
                let _ = sys::kill_process_group(pid);
                return Err(PumpError::Interrupted(why));
            }
        }
        let ready = |slot: usize| slots[slot].is_some_and(|i| fds[i].is_ready());

        if ready(0) {
            if let Some(p) = pipes.stdin.as_mut() {
                let rest = input.get(written..).unwrap_or_default();
                match p.write(rest) {
                    Ok(n) => {
                        written = written.saturating_add(n);
                        if written >= input.len() {
                            pipes.stdin = None;
                        }
                        if options.buffers.is_concurrent() {
                            release_written(input, &mut released, written);
                        }
                    }
                    // The function does not read its input: fine (module doc).
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => pipes.stdin = None,
                    Err(e) if is_transient(&e) => {}
                    Err(e) => return Err(PumpError::Io(e)),
                }
            }
        }
        if ready(1) {
            if let Some(p) = pipes.stdout.as_mut() {
                if !read_some(p.as_fd(), &mut stdout, limit_bytes, Stream::Stdout)? {
                    pipes.stdout = None;
                } else if !stdout_pipe_grown && stdout.len() >= DEFAULT_PIPE_BYTES {
                    stdout_pipe_grown = true;
                    let _ = sys::set_pipe_size(p.as_fd(), BIG_PIPE_BYTES);
                    // A large output gets its own mapping at once (above
                    // malloc's mmap threshold, then grown by mremap): grown
                    // step by step in the worker's malloc arena, its
                    // half-megabyte steps would stay cached there after
                    // the call, in every worker thread.
                    //
                    // It is sized for an output as large as the input (a
                    // function mostly edits its ResourceList), and is a
                    // kept one when there is one (crate::buffers): pages
                    // already faulted in, so a read does not fault inside
                    // the pipe's lock while the function spins on it.
                    let want = LARGE_OUTPUT_BYTES
                        .max(input.len().saturating_add(READ_CHUNK_BYTES))
                        .min(limit_bytes.saturating_add(1));
                    let mut large = options.buffers.take(want);
                    large.extend_from_slice(&stdout);
                    stdout = large;
                }
            }
        }
        if ready(2) {
            if let Some(p) = pipes.stderr.as_mut() {
                if !read_some(p.as_fd(), &mut stderr, limit_bytes, Stream::Stderr)? {
                    pipes.stderr = None;
                }
            }
        }
        if ready(3) {
            // The child exited: everything it wrote is in the pipes now.
            // Helpers it left in its group are killed; one that escaped
            // the group (setsid) may hold the pipes open forever, so we
            // take what is there and stop reading.
            exited = true;
            pipes.stdin = None;
            let _ = sys::kill_process_group(pid);
            if let Some(p) = pipes.stdout.take() {
                drain(p.as_fd(), &mut stdout, limit_bytes, Stream::Stdout)?;
            }
            if let Some(p) = pipes.stderr.take() {
                drain(p.as_fd(), &mut stderr, limit_bytes, Stream::Stderr)?;
            }
        }
    }
}

/// Gives back the pages of the input the function has been fed, in steps of
/// [`RELEASE_STEP_BYTES`], when the input is large. Called only while other
/// calls are in flight (otherwise its buffer is worth keeping whole:
/// `crate::buffers`).
fn release_written(input: &mut [u8], released: &mut usize, written: usize) {
    if input.len() < buffers::MIN_POOLED_BYTES
        || written.saturating_sub(*released) < RELEASE_STEP_BYTES
    {
        return;
    }
    if let Some(fed) = input.get_mut(*released..written) {
        *released += sys::discard_pages(fed);
    }
}

/// Reads what a (non-blocking) pipe holds, until EOF or "would block".
fn drain(
    pipe: BorrowedFd<'_>,
    out: &mut Vec<u8>,
    limit_bytes: usize,
    stream: Stream,
) -> Result<(), PumpError> {
    loop {
        match read_into(pipe, out, limit_bytes, stream) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(PumpError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(PumpError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// One read into `out`; false at EOF.
fn read_some(
    pipe: BorrowedFd<'_>,
    out: &mut Vec<u8>,
    limit_bytes: usize,
    stream: Stream,
) -> Result<bool, PumpError> {
    match read_into(pipe, out, limit_bytes, stream) {
        Ok(0) => Ok(false),
        Ok(_) => Ok(true),
        Err(PumpError::Io(e)) if is_transient(&e) => Ok(true),
        Err(e) => Err(e),
    }
}

/// One read(2) straight into `out` (no bounce buffer): at most one byte
/// past `limit_bytes` is read, which makes the stream too large.
fn read_into(
    pipe: BorrowedFd<'_>,
    out: &mut Vec<u8>,
    limit_bytes: usize,
    stream: Stream,
) -> Result<usize, PumpError> {
    let room = limit_bytes.saturating_sub(out.len()).saturating_add(1);
    // Small outputs (the usual case) start small; large ones double.
    let chunk = if out.capacity() == 0 {
        FIRST_READ_BYTES
    } else {
        READ_CHUNK_BYTES
    };
    out.reserve(room.min(chunk));
    let n = sys::read_to_spare(pipe, out, room).map_err(PumpError::Io)?;
    if out.len() > limit_bytes {
        return Err(PumpError::TooLarge(stream));
    }
    Ok(n)
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(output_limit_bytes: usize) -> Runner {
        Runner::new(Options {
            output_limit_bytes,
            buffers: buffers::Pool::unpooled(),
        })
    }

    fn sh_on(
        runner: &Runner,
        script: &str,
        input: &[u8],
        ctx: &CallContext,
    ) -> Result<Output, Error> {
        let mut input = input.to_vec();
        let mut command = Command::new("/bin/sh");
        command.args(["-c", script]);
        runner.run(command, &mut input, ctx)
    }

    fn sh(script: &str, input: &[u8], ctx: &CallContext) -> Result<Output, Error> {
        sh_on(&runner(1 << 20), script, input, ctx)
    }

    #[test]
    fn a_large_input_is_given_back_as_fed_while_other_calls_run() {
        // Two calls in flight: inputs are released as they are consumed.
        let buffers = buffers::Pool::new();
        let _calls = (buffers.start_call(), buffers.start_call());
        let original: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
        let mut input = original.clone();
        let runner = Runner::new(Options {
            output_limit_bytes: 4 << 20,
            buffers,
        });
        let out = runner
            .run(
                Command::new("/bin/cat"),
                &mut input,
                &CallContext::background(),
            )
            .expect("cat runs");
        assert!(out.stdout == original, "the function got every byte");
        let zeroed = input[..1 << 20].iter().filter(|&&b| b == 0).count();
        assert!(zeroed > 1 << 19, "the fed input was given back: {zeroed}");
    }

    #[test]
    fn round_trips_through_cat() {
        let out = sh("cat", b"hello", &CallContext::background()).expect("cat runs");
        assert_eq!(out.stdout, b"hello");
        assert!(out.status.success());
    }

    #[test]
    fn describes_exit_like_go() {
        let out = sh("echo oops >&2; exit 3", b"", &CallContext::background()).expect("runs");
        assert_eq!(describe_exit(&out.status), "exit status 3");
        assert_eq!(out.stderr, b"oops\n");
        let out = sh("kill -9 $$", b"", &CallContext::background()).expect("runs");
        assert_eq!(describe_exit(&out.status), "signal: killed");
    }

    #[test]
    fn closing_output_early_is_not_the_end() {
        let out = sh(
            "echo early; exec >&- 2>&-; sleep 0.2; exit 4",
            b"",
            &CallContext::background(),
        )
        .expect("runs");
        assert_eq!(out.stdout, b"early\n");
        assert_eq!(describe_exit(&out.status), "exit status 4");
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = runner(10)
            .run(
                Command::new("/nonexistent/fn"),
                &mut [],
                &CallContext::background(),
            )
            .expect_err("cannot spawn");
        assert!(matches!(err, Error::Spawn { .. }), "{err}");
        assert!(err.to_string().starts_with("fork/exec /nonexistent/fn: "));
    }

    #[test]
    fn output_at_limit_passes_and_one_more_byte_fails() {
        let ctx = CallContext::background();
        let runner = runner(100);
        let cat = || Command::new("/bin/cat");
        let ok = runner.run(cat(), &mut [7u8; 100], &ctx).expect("at limit");
        assert_eq!(ok.stdout.len(), 100);
        let err = runner.run(cat(), &mut [7u8; 101], &ctx).expect_err("over");
        assert!(matches!(
            err,
            Error::OutputTooLarge {
                stream: Stream::Stdout,
                limit_bytes: 100
            }
        ));
    }

    #[test]
    fn cancelled_before_start_spawns_nothing() {
        let ctx = CallContext::background();
        ctx.cancel.cancel();
        let err = sh("cat", b"x", &ctx).expect_err("cancelled");
        assert!(matches!(err, Error::Interrupted(Interrupt::Cancelled)));
    }

    #[test]
    fn a_helper_that_escaped_the_group_does_not_keep_us_waiting() {
        let dir = std::env::temp_dir().join(format!("fn-runner-setsid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pidfile = dir.join("pid");
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 30' & echo out; head -c 100000 /dev/zero",
            pidfile.display()
        );
        let out = sh(&script, b"", &CallContext::background()).expect("runs");
        assert!(out.stdout.starts_with(b"out\n"));
        assert_eq!(out.stdout.len(), 4 + 100_000, "all the child wrote is kept");
        // Clean up the escaped helper (it is not ours to keep).
        for _ in 0..500 {
            if let Ok(pid) = std::fs::read_to_string(&pidfile) {
                if let Ok(pid) = pid.trim().parse::<u32>() {
                    let _ = crate::sys::kill_process_group(pid);
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn shutdown_kills_the_runners_own_functions_and_refuses_new_ones() {
        let dir = std::env::temp_dir().join(format!("fn-runner-shutdown-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let marker = dir.join("started");
        let script = format!(": > {}; exec sleep 30", marker.display());
        let runner = Arc::new(runner(1 << 20));
        let r = Arc::clone(&runner);
        let ran = std::thread::spawn(move || sh_on(&r, &script, b"", &CallContext::background()));
        // The script may run before spawn() returns and the group is
        // registered: wait for both.
        let started = || marker.exists() && !lock(&runner.running).groups.is_empty();
        for _ in 0..1000 {
            if started() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(started(), "the function never started");
        runner.shutdown();
        let out = ran.join().expect("runner thread").expect("ran");
        assert_eq!(describe_exit(&out.status), "signal: killed");
        let err = sh_on(&runner, "exit 0", b"", &CallContext::background()).expect_err("shut down");
        assert!(matches!(err, Error::ShutDown), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 48);
    }
}
