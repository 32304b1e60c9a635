//! The only place with `unsafe`: the libc calls that std does not offer
//! (signals, killing a process group). Each block says why it is sound.
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

/// The signals that stop a server (design.md "Threads, not async").
const SHUTDOWN_SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

fn shutdown_sigset() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it fully
    // before any other use, and zeroed bytes are a valid starting value.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    if unsafe { libc::sigemptyset(&mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for sig in SHUTDOWN_SIGNALS {
        // SAFETY: `set` is a valid, initialized sigset_t; `sig` is a valid signal number.
        if unsafe { libc::sigaddset(&mut set, sig) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
}

/// Blocks SIGTERM and SIGINT in the calling thread. Call it in `main`
/// before any thread starts: threads inherit the mask, so the signals stay
/// pending until [`wait_shutdown_signal`] takes them.
pub fn block_shutdown_signals() -> io::Result<()> {
    let set = shutdown_sigset()?;
    // SAFETY: `set` is a valid sigset_t; the old-mask pointer may be null.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits until SIGTERM or SIGINT arrives (they must be blocked, see
/// [`block_shutdown_signals`]); returns the signal number.
pub fn wait_shutdown_signal() -> io::Result<i32> {
    let set = shutdown_sigset()?;
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is a valid sigset_t and `sig` a valid out-pointer that
    // lives for the call.
    let rc = unsafe { libc::sigwait(&set, &mut sig) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(sig)
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
