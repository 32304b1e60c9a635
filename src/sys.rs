//! The only place with `unsafe`: the libc calls that std does not offer
//! (signals and their handler, killing a process or a group, waitid and
//! waitpid, the subreaper prctl, sockets std cannot configure before bind,
//! shutdown of a listener). Each block says why it is sound.
#![allow(unsafe_code, reason = "this module wraps the libc calls that need it")]

use std::io;

mod signal;
mod socket;

pub use signal::{
    block_signals, current_thread_id, forward_signals, reset_ignored_signals, signal_name,
    wait_signal, with_empty_signal_mask, Signal, SIGCHLD, SIGINT, SIGTERM,
};
pub use socket::{is_ipv6_only, is_ipv6_unavailable, listen_ipv6, shutdown_listener};

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
pub(crate) fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
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
pub(crate) fn eventfd_signal(fd: std::os::fd::BorrowedFd<'_>) {
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

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`, Linux
/// 3.4): a descendant orphaned by its parent's exit is re-parented to us
/// instead of to PID 1, so that we can reap it and kill it (a helper a
/// function left running, even one that escaped its process group with
/// setsid). PID 1 of a PID namespace is its subreaper already.
pub(crate) fn become_child_subreaper() -> io::Result<()> {
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
pub(crate) fn exited_child() -> io::Result<Option<u32>> {
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
pub(crate) fn process_group_of(pid: u32) -> io::Result<u32> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: getpgid takes an integer and touches no memory of ours.
    let rc = unsafe { libc::getpgid(pid) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(rc).map_err(|_| io::Error::other("getpgid returned a negative group"))
}

/// Waits until the child `pid` has exited, without reaping it
/// (waitid(2) with `WNOWAIT`): its pid, and so its process-group id, stays
/// taken until the caller reaps it, so the group can still be signalled
/// safely in between. EINTR is retried.
pub(crate) fn wait_exited_no_reap(pid: u32) -> io::Result<()> {
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
pub(crate) fn set_pipe_size(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
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
pub(crate) fn read_to_spare(
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
pub(crate) fn tune_malloc() {
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
pub(crate) fn discard_pages(buf: &mut [u8]) -> usize {
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

/// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit
/// of the CPU times and start time in /proc/PID/stat; 100 when unknown
/// (the value Linux exports to user space on every architecture).
pub(crate) fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the C library; no memory is passed.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
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
