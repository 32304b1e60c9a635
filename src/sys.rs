//! The only place with `unsafe`: the libc calls that std does not offer
//! (signals and their handler, killing a process or a group, waitid and
//! waitpid, the subreaper prctl, sockets std cannot configure before bind,
//! shutdown of a listener). Each block says why it is sound.
#![allow(unsafe_code, reason = "this module wraps the libc calls that need it")]

use std::io;

/// Sends SIGKILL to every process in the process group `pgid`.
///
/// Children are started as leaders of their own group (std's
/// `CommandExt::process_group(0)`), so their pid is the group id and a
/// function that forks helpers dies with all of them. A group that is
/// already gone is not an error.
pub fn kill_process_group(pgid: u32) -> io::Result<()> {
    let pgid = libc::pid_t::try_from(pgid).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "process group id out of range")
    })?;
    if pgid <= 1 {
        // kill(-1) or kill(0) would hit far more than one group.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to kill process group <= 1",
        ));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(());
    }
    Err(err)
}

/// One entry of a [`poll`] set: the fd, the events wanted, the events seen.
#[derive(Debug, Clone, Copy)]
pub struct PollFd {
    fd: std::os::fd::RawFd,
    events: i16,
    revents: i16,
}

impl PollFd {
    /// Waits for `fd` to become readable (or hang up / fail).
    pub fn readable(fd: std::os::fd::BorrowedFd<'_>) -> Self {
        use std::os::fd::AsRawFd;
        Self {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }
    }

    /// Waits for `fd` to become writable (or hang up / fail).
    pub fn writable(fd: std::os::fd::BorrowedFd<'_>) -> Self {
        use std::os::fd::AsRawFd;
        Self {
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }
    }

    /// Whether the last [`poll`] saw this fd ready, hung up or in error:
    /// in each case the next read or write does not block.
    pub fn is_ready(&self) -> bool {
        self.revents != 0
    }
}

/// poll(2) over `fds`; `timeout` `None` waits forever. Returns how many fds
/// are ready (0 on timeout). EINTR is retried.
pub fn poll(fds: &mut [PollFd], timeout: Option<std::time::Duration>) -> io::Result<usize> {
    let timeout_ms: libc::c_int = match timeout {
        None => -1,
        // Round up so that a short remaining time does not become a busy 0.
        Some(t) => libc::c_int::try_from(t.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX),
    };
    let nfds = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many fds to poll"))?;
    let mut raw: Vec<libc::pollfd> = fds
        .iter()
        .map(|p| libc::pollfd {
            fd: p.fd,
            events: p.events,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `raw` is a valid, initialised array of `nfds` pollfd
        // structs that lives across the call; poll(2) only writes `revents`.
        let rc = unsafe { libc::poll(raw.as_mut_ptr(), nfds, timeout_ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        for (p, r) in fds.iter_mut().zip(raw.iter()) {
            p.revents = r.revents;
        }
        return Ok(usize::try_from(rc).unwrap_or(0));
    }
}

/// Sets O_NONBLOCK on `fd`, so that reads and writes answer `WouldBlock`
/// instead of blocking (the child pipes are driven by [`poll`]).
pub fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl(F_GETFL) on a borrowed, open fd touches no memory of ours.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; F_SETFL with the old flags plus O_NONBLOCK.
    let rc = unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pidfd (pidfd_open(2), Linux 5.3+) for the child `pid`: it polls
/// readable once the child has exited, so one poll(2) can wait for the
/// child's output and its exit together. `Err` on older kernels.
pub fn pidfd_open(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: the pidfd_open syscall takes two integers and returns a new fd.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = std::os::fd::RawFd::try_from(rc)
        .map_err(|_| io::Error::other("pidfd_open returned an fd out of range"))?;
    // SAFETY: `fd` was just returned by the kernel, is open and owned by no
    // one else; OwnedFd closes it exactly once.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// A non-blocking eventfd (close-on-exec): a file descriptor another thread
/// can make readable with [`eventfd_signal`], so a `poll(2)` loop wakes at
/// once (the exec runtime's pump, on a cancelled call).
pub fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: eventfd(2) takes two integers and returns a new fd.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel, is open and owned by no
    // one else; OwnedFd closes it exactly once.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Makes an [`eventfd`] readable. Best effort: a full counter (it cannot
/// be, at one signal per call) or a closed fd only means no wake-up.
pub fn eventfd_signal(fd: std::os::fd::BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    let one: u64 = 1;
    // SAFETY: writes the 8 bytes of `one`, which lives for the whole call,
    // to an fd the caller keeps open (BorrowedFd).
    let _ = unsafe {
        libc::write(
            fd.as_raw_fd(),
            std::ptr::addr_of!(one).cast::<libc::c_void>(),
            std::mem::size_of::<u64>(),
        )
    };
}

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

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`, Linux
/// 3.4): a descendant orphaned by its parent's exit is re-parented to us
/// instead of to PID 1, so that we can reap it and kill it (a helper a
/// function left running, even one that escaped its process group with
/// setsid). PID 1 of a PID namespace is its subreaper already.
pub fn become_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes integers only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The pid of one of our children that has exited and is not reaped
/// yet, left unreaped (waitid(2) `P_ALL`, `WNOHANG | WNOWAIT`); `None`
/// when none has (or we have no child).
pub fn exited_child() -> io::Result<Option<u32>> {
    // SAFETY: siginfo_t is plain data that waitid fills in; zeroed bytes
    // are a valid value for it (si_pid 0 when no child has exited).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid, exclusively borrowed siginfo_t that
        // lives across the call; the other arguments are integers.
        let rc = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::ECHILD) => return Ok(None),
            _ => return Err(err),
        }
    }
    // SAFETY: after a successful waitid, si_pid is the field it sets (0
    // when no child was waitable).
    let pid = unsafe { info.si_pid() };
    Ok(u32::try_from(pid).ok().filter(|&p| p > 0))
}

/// Reaps our exited child `pid` (waitpid(2) with `WNOHANG`): true when it
/// was reaped (or is no child of ours any more), false while it runs.
pub fn reap(pid: u32) -> io::Result<bool> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid int for the call to write.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::ECHILD) => return Ok(true),
            _ => return Err(err),
        }
    }
}

/// Sends SIGKILL to the process `pid` alone. A process already gone is
/// not an error; pids 0 and 1, and our own, are refused.
pub fn kill_process(pid: u32) -> io::Result<()> {
    let raw = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    if raw <= 1 || pid == std::process::id() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to kill pid <= 1 or ourselves",
        ));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(raw, libc::SIGKILL) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(());
    }
    Err(err)
}

/// The process group of `pid` (getpgid(2)).
pub fn process_group_of(pid: u32) -> io::Result<u32> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: getpgid takes an integer and touches no memory of ours.
    let rc = unsafe { libc::getpgid(pid) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(rc).map_err(|_| io::Error::other("getpgid returned a negative group"))
}

/// Stops a listening socket: a thread blocked in accept(2) on it returns
/// (EINVAL), and connections not yet accepted are reset. Linux does this
/// for shutdown(2) of a listener; it needs no connection to the socket,
/// so it works where loopback is down (a network namespace).
pub fn shutdown_listener(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown(2) on a borrowed, open fd touches no memory of ours.
    if unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RD) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A TCP listener on the IPv6 `addr`, with IPV6_V6ONLY set to `v6_only`
/// (off: IPv4 clients reach it too, as `::ffff:a.b.c.d`; std cannot set
/// that option before bind), SO_REUSEADDR on (as std does) and a backlog
/// of `backlog` connections.
pub fn listen_ipv6(
    addr: std::net::SocketAddrV6,
    v6_only: bool,
    backlog: u32,
) -> io::Result<std::net::TcpListener> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: socket(2) takes integers and returns a new fd.
    let raw = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by the kernel, is open and owned by
    // no one else; OwnedFd closes it exactly once (also on the error paths).
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int_option(
        fd.as_raw_fd(),
        libc::IPPROTO_IPV6,
        libc::IPV6_V6ONLY,
        libc::c_int::from(v6_only),
    )?;
    // SAFETY: sockaddr_in6 is plain data; every field is set below.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::sa_family_t::try_from(libc::AF_INET6).unwrap_or_default();
    sa.sin6_port = addr.port().to_be();
    sa.sin6_flowinfo = addr.flowinfo();
    sa.sin6_addr.s6_addr = addr.ip().octets();
    sa.sin6_scope_id = addr.scope_id();
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in6>())
        .map_err(|_| io::Error::other("sockaddr_in6 size"))?;
    // SAFETY: `sa` is a valid sockaddr_in6 of `len` bytes that lives
    // across the call; bind only reads it.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(sa).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: listen(2) on our own open fd takes an integer.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(fd))
}

/// Whether the IPv6 socket `fd` takes IPv6 connections only
/// (IPV6_V6ONLY), as opposed to IPv4 ones too.
pub fn is_ipv6_only(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::other("c_int size"))?;
    // SAFETY: `value` and `len` live across the call; getsockopt writes at
    // most `len` bytes to `value` and the written length to `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            std::ptr::addr_of_mut!(value).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value != 0)
}

/// Whether `e` (from [`listen_ipv6`]) says this host has no IPv6: a
/// kernel without it (`ipv6.disable=1`: EAFNOSUPPORT), or no IPv6 address
/// to bind.
pub fn is_ipv6_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EADDRNOTAVAIL)
    )
}

fn set_int_option(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::other("c_int size"))?;
    // SAFETY: `value` lives across the call and is `len` bytes long;
    // setsockopt only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until the child `pid` has exited, without reaping it
/// (waitid(2) with `WNOWAIT`): its pid, and so its process-group id, stays
/// taken until the caller reaps it, so the group can still be signalled
/// safely in between. EINTR is retried.
pub fn wait_exited_no_reap(pid: u32) -> io::Result<()> {
    let id = libc::id_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    loop {
        // SAFETY: siginfo_t is plain data that waitid fills in; zeroed
        // bytes are a valid value for it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, exclusively borrowed siginfo_t that
        // lives across the call; the other arguments are integers.
        let rc = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Asks for a pipe buffer of `bytes` (fcntl F_SETPIPE_SZ): fewer wake-ups
/// per megabyte moved through a function's stdin and stdout. Unprivileged
/// processes get at most /proc/sys/fs/pipe-max-size (1 MiB by default);
/// callers treat failure as "keep the default".
pub fn set_pipe_size(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: fcntl(F_SETPIPE_SZ) on a borrowed, open fd takes an integer
    // and touches no memory of ours.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One read(2) of at most `max` bytes from `fd` straight into the spare
/// capacity of `buf` (no intermediate buffer, no zeroing), which grows by
/// the bytes read. The caller reserves the room; with none, nothing is
/// read and `Ok(0)` would be ambiguous, so that is `InvalidInput`.
pub fn read_to_spare(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max).min(isize::MAX as usize);
    if want == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no room reserved to read into",
        ));
    }
    // SAFETY: `spare` is the uninitialised tail of `buf`, valid for
    // writes of `want <= spare.len()` bytes and exclusively borrowed for
    // the call; read(2) writes at most `want` bytes there.
    let rc = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), want) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = usize::try_from(rc).unwrap_or(0).min(want);
    // SAFETY: read(2) initialised the first `n` bytes of the spare
    // capacity, and `len + n <= capacity`.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Fixes glibc's mmap threshold so that large blocks (request bodies,
/// function output: up to the message limit) are mmap'd and go back to
/// the system when freed. Without it glibc raises the threshold after the
/// first such free (up to 32 MiB) and keeps the freed megabytes in its
/// arenas, so a server's RSS stays at its peak. Smaller free blocks are
/// kept (trim threshold 1 MiB) rather than returned and faulted back in
/// on every call. Best effort.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes two integers; it is thread-safe in glibc.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        }
        // SAFETY: as above. Blocks below the mmap threshold are reused
        // rather than returned page by page (each return is a madvise and
        // a TLB flush on every CPU, then page faults to get them back).
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
        }
    }
}

/// Gives the whole pages inside `buf` back to the kernel
/// (`madvise(MADV_DONTNEED)`; best effort): for heap memory they read as
/// zeros afterwards and no longer count as resident. Returns how much of
/// `buf` is done with, up to the last page boundary in it, so that a later
/// call can start there.
pub fn discard_pages(buf: &mut [u8]) -> usize {
    const PAGE: usize = 4096;
    let start = buf.as_mut_ptr() as usize;
    let end = start.saturating_add(buf.len());
    let first = start.div_ceil(PAGE).saturating_mul(PAGE);
    let last = end / PAGE * PAGE;
    if last > first {
        // SAFETY: [first, last) lies inside `buf`, which we borrow
        // exclusively, so no one else observes those bytes; MADV_DONTNEED
        // only replaces their pages (with zero pages for anonymous memory)
        // and touches nothing outside the range.
        let _ = unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_DONTNEED,
            )
        };
    }
    last.saturating_sub(start).min(buf.len())
}

/// What Rust's runtime does before `main` that the `#![no_main]` binary
/// does itself (src/main.rs): SIGPIPE ignored, so that a write to a closed
/// socket or pipe fails with EPIPE instead of killing the process, and the
/// standard descriptors 0-2 opened on /dev/null if they are closed, so that
/// no socket or pipe we open later becomes one of them. Call it first, on
/// the main thread, before any other thread exists.
pub fn init_process() {
    // SAFETY: sets SIGPIPE's disposition; no thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the descriptor.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        if closed {
            // SAFETY: a static NUL-terminated path; open(2) returns the
            // lowest free descriptor, which is `fd` (those below are open).
            let _ = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// The arguments the C runtime passed to `main`, program name first.
///
/// # Safety
///
/// `argv` must point to `argc` valid NUL-terminated strings (or `argc` be
/// zero or negative), as for the `argc`, `argv` a C `main` receives.
pub unsafe fn args_of_main(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let count = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (0..count)
        .filter_map(|i| {
            // SAFETY: i < argc, so `argv.add(i)` is inside the array.
            let arg = unsafe { *argv.add(i) };
            if arg.is_null() {
                return None;
            }
            // SAFETY: the caller guarantees a NUL-terminated string.
            let bytes = unsafe { std::ffi::CStr::from_ptr(arg) }.to_bytes();
            Some(std::ffi::OsStr::from_bytes(bytes).to_owned())
        })
        .collect()
}

/// Blocks at least this large are mmap'd (see [`tune_malloc`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 1 << 20;
/// Free memory at the top of a malloc heap kept for reuse (see [`tune_malloc`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD_BYTES: libc::c_int = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn discards_only_whole_pages_inside_the_slice() {
        let mut buf = vec![0xABu8; 64 * 1024];
        let (from, to) = (1000, 40_000);
        let done = discard_pages(&mut buf[from..to]);
        let start = buf.as_ptr() as usize + from;
        // Up to the last page boundary inside the slice.
        assert_eq!((start + done) % 4096, 0);
        assert!(done <= to - from && to - from - done < 4096);
        assert!(buf[..from].iter().all(|&b| b == 0xAB), "before untouched");
        assert!(buf[to..].iter().all(|&b| b == 0xAB), "after untouched");
        let first_page = start.div_ceil(4096) * 4096 - buf.as_ptr() as usize;
        assert!(
            buf[first_page..from + done].iter().all(|&b| b == 0),
            "whole pages zeroed"
        );
        assert!(
            buf[from..first_page].iter().all(|&b| b == 0xAB),
            "partial page kept"
        );
    }

    #[test]
    fn reads_into_spare_capacity_up_to_max() {
        let (r, mut w) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        w.write_all(b"hello world").expect("write");
        drop(w);
        // Not a pipe: refused, and harmless.
        assert!(set_pipe_size(r.as_fd(), 1 << 20).is_err());
        let mut buf = b"x".to_vec();
        assert!(read_to_spare(r.as_fd(), &mut buf, 5).is_err(), "no room");
        buf.reserve(64);
        assert_eq!(read_to_spare(r.as_fd(), &mut buf, 5).expect("read"), 5);
        assert_eq!(buf, b"xhello");
        assert_eq!(read_to_spare(r.as_fd(), &mut buf, 100).expect("read"), 6);
        assert_eq!(buf, b"xhello world");
        assert_eq!(read_to_spare(r.as_fd(), &mut buf, 100).expect("eof"), 0);
    }
}

/// A global allocator (the system's) that counts the allocations of at
/// least `min_bytes`, growing reallocations to that size included: how
/// many body-sized buffers a call makes, counted, not timed
/// (`tests/alloc.rs` installs it with `#[global_allocator]`).
#[derive(Debug)]
pub struct LargeAllocCounter {
    min_bytes: usize,
    count: std::sync::atomic::AtomicUsize,
}

impl LargeAllocCounter {
    /// A counter of allocations of `min_bytes` or more.
    pub const fn new(min_bytes: usize) -> LargeAllocCounter {
        LargeAllocCounter {
            min_bytes,
            count: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Large allocations so far.
    pub fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn note(&self, bytes: usize) {
        if bytes >= self.min_bytes {
            self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; counting touches only an
// atomic and never allocates.
unsafe impl std::alloc::GlobalAlloc for LargeAllocCounter {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        self.note(layout.size());
        // SAFETY: the caller's contract for `alloc` is `System`'s.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        self.note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            self.note(new_size);
        }
        // SAFETY: `ptr` came from `System` through this allocator; the
        // caller's contract for `realloc` is `System`'s.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}
