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
