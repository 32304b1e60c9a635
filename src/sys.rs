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
