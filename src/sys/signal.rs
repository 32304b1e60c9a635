//! Signals (issue 14): the set a server blocks and waits for, their
//! names, the handler that forwards one reaching a thread starting a
//! child, and the signals a server inherited as ignored. Part of `sys`:
//! each `unsafe` block says why it is sound.

use std::io;

/// A signal number, as the kernel numbers them.
pub type Signal = libc::c_int;
/// Stops a server gracefully (Kubernetes sends it first).
pub const SIGTERM: Signal = libc::SIGTERM;
/// Stops a server gracefully (Ctrl-C).
pub const SIGINT: Signal = libc::SIGINT;
/// A child exited (or stopped): the reaper's wake-up.
pub const SIGCHLD: Signal = libc::SIGCHLD;

/// The conventional name of `sig` for log lines (`SIGTERM`), or `signal
/// N` for a real-time one.
pub fn signal_name(sig: Signal) -> String {
    const NAMES: [(Signal, &str); 31] = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGCHLD, "SIGCHLD"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGTTIN, "SIGTTIN"),
        (libc::SIGTTOU, "SIGTTOU"),
        (libc::SIGURG, "SIGURG"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == sig)
        .map_or_else(|| format!("signal {sig}"), |(_, name)| (*name).to_owned())
}

fn sigset(signals: &[Signal]) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it fully
    // before any other use, and zeroed bytes are a valid starting value.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    if unsafe { libc::sigemptyset(&mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for &sig in signals {
        // SAFETY: `set` is a valid, initialized sigset_t; an invalid
        // signal number is refused with EINVAL, not undefined behaviour.
        if unsafe { libc::sigaddset(&mut set, sig) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
}

/// Blocks `signals` in the calling thread. Call it on the main thread
/// before any other thread starts: threads inherit the mask, so the
/// signals stay pending until [`wait_signal`] takes them. (Children do
/// not: std's spawn gives them an empty mask.)
pub fn block_signals(signals: &[Signal]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: `set` is a valid sigset_t; the old-mask pointer may be null.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits until one of `signals` arrives (they must be blocked in every
/// thread, see [`block_signals`]) and returns it; `None` once `timeout`
/// passed (`None`: wait as long as it takes).
pub fn wait_signal(
    signals: &[Signal],
    timeout: Option<std::time::Duration>,
) -> io::Result<Option<Signal>> {
    let set = sigset(signals)?;
    loop {
        let rc = match timeout {
            // SAFETY: `set` is valid for the call; no siginfo is asked for.
            None => unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) },
            Some(timeout) => {
                let ts = libc::timespec {
                    tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
                    tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
                };
                // SAFETY: `set` and `ts` are valid for the call; no siginfo
                // is asked for.
                unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) }
            }
        };
        if rc >= 0 {
            return Ok(Some(rc));
        }
        let err = io::Error::last_os_error();
        match (err.raw_os_error(), timeout) {
            (Some(libc::EAGAIN), Some(_)) => return Ok(None),
            // Interrupted by another signal's handler (we install none):
            // wait again (a timed wait starts its timeout again, which
            // only its callers' idle work notices).
            (Some(libc::EINTR), _) => {}
            _ => return Err(err),
        }
    }
}

/// Signals whose disposition [`reset_ignored_signals`] leaves alone:
/// SIGKILL and SIGSTOP cannot be changed, SIGPIPE we ignore on purpose
/// (`init_process`; std gives children the default back).
const KEEP_DISPOSITION: [Signal; 3] = [libc::SIGKILL, libc::SIGSTOP, libc::SIGPIPE];
/// Signal numbers are 1 to 64 on Linux (NSIG - 1).
const LAST_SIGNAL: Signal = 64;

/// Per signal number, the thread (its tid) [`on_signal`] forwards the
/// signal to; 0: none (the handler does nothing).
static FORWARD_TO: [std::sync::atomic::AtomicI32; 65] =
    [const { std::sync::atomic::AtomicI32::new(0) }; 65];

/// The handler of the signals a server waits for or ignores (see
/// [`forward_signals`]): sends the signal on to the thread that waits for
/// it, or does nothing. It runs only in a thread that had the signal
/// unblocked, which is a thread starting a child
/// ([`with_empty_signal_mask`]); a handled signal, unlike an ignored or
/// blocked one, is reset to its default in the child.
extern "C" fn on_signal(sig: libc::c_int) {
    let target = usize::try_from(sig)
        .ok()
        .and_then(|i| FORWARD_TO.get(i))
        .map_or(0, |t| t.load(std::sync::atomic::Ordering::Relaxed));
    if target == 0 {
        return;
    }
    // SAFETY: getpid, the tgkill syscall and errno's location are
    // async-signal-safe; errno is put back as it was, so the interrupted
    // code never sees ours.
    unsafe {
        let errno = *libc::__errno_location();
        libc::syscall(libc::SYS_tgkill, libc::getpid(), target, sig);
        *libc::__errno_location() = errno;
    }
}

/// Installs [`on_signal`] for `signals` (SA_RESTART, every signal blocked
/// while it runs).
fn handle_signals(signals: &[Signal]) -> io::Result<()> {
    for &sig in signals {
        // SAFETY: sigaction is plain data; zeroed bytes are valid, and the
        // fields that matter are set below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid sigset_t to fill.
        unsafe { libc::sigfillset(&mut action.sa_mask) };
        // SAFETY: `action` is a valid sigaction for the call; `on_signal`
        // is async-signal-safe and lives as long as the program.
        if unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's id (gettid(2)), for [`forward_signals`].
pub fn current_thread_id() -> i32 {
    // SAFETY: gettid takes nothing and cannot fail.
    unsafe { libc::gettid() }
}

/// Makes `signals` go to `thread` (a [`current_thread_id`]) even when one
/// reaches a thread that has them unblocked for a moment (one starting a
/// child, [`with_empty_signal_mask`]): there a handler forwards them, so
/// they are neither lost nor left to their default action (SIGTERM's
/// would end the process at once). `thread` waits for them with
/// [`wait_signal`]; every thread blocks them.
pub fn forward_signals(signals: &[Signal], thread: i32) -> io::Result<()> {
    for &sig in signals {
        if let Some(target) = usize::try_from(sig).ok().and_then(|i| FORWARD_TO.get(i)) {
            target.store(thread, std::sync::atomic::Ordering::Relaxed);
        }
    }
    handle_signals(signals)
}

/// Runs `f` (which starts a child) with no signal blocked in the calling
/// thread, then restores its mask: children inherit the mask of the
/// thread that starts them (neither std nor glibc's posix_spawn clears
/// it), and a function must start with none blocked, or it could not be
/// stopped with SIGTERM (issue 14). Signals a server waits for that
/// arrive meanwhile are forwarded ([`forward_signals`]).
pub fn with_empty_signal_mask<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data; zeroed bytes are a valid value for
    // the kernel to overwrite.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    let empty = sigset(&[]);
    // SAFETY: `empty` and `old` are valid sigset_t for the call.
    let swapped = empty.is_ok_and(|empty| unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, &mut old) == 0
    });
    let result = f();
    if swapped {
        // SAFETY: `old` holds the mask pthread_sigmask returned above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    result
}

/// Stops ignoring every signal this process inherited as ignored (SIG_IGN:
/// SIGINT and SIGQUIT for a shell's background job, SIGHUP under nohup,
/// any signal a careless parent ignored), and returns them. Children
/// inherit ignored signals, which an exec keeps, so the functions we start
/// would ignore them too. They get a handler that does nothing instead
/// (a handled signal is reset to its default in a child) and are blocked,
/// so that this process still ignores them in effect. Call it on the main
/// thread before any other thread starts.
pub fn reset_ignored_signals() -> io::Result<Vec<Signal>> {
    let mut reset = Vec::new();
    for sig in 1..=LAST_SIGNAL {
        if KEEP_DISPOSITION.contains(&sig) {
            continue;
        }
        // SAFETY: sigaction is plain data; zeroed bytes are a valid value
        // for the kernel to overwrite.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one into `old`,
        // which lives across the call. glibc refuses its own reserved
        // real-time signals with EINVAL: skipped.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
            continue;
        }
        // A signal whose handler cannot be set (one a debugger or
        // valgrind keeps for itself: EINVAL) stays ignored.
        if old.sa_sigaction == libc::SIG_IGN && handle_signals(&[sig]).is_ok() {
            reset.push(sig);
        }
    }
    block_signals(&reset)?;
    Ok(reset)
}
