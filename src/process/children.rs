//! Our children, process-wide: the duties of an init (issue 14). The
//! kernel's table of children belongs to the process, not to a
//! [`Runner`](super::Runner), so this registry does too (one static).
//!
//! ```text
//!   Runner: spawn ---(read lock `spawning`)---> registered (owned: pid -> call)
//!           ... the call runs ...
//!           reap + unregister (under the state lock) -> call_ended(call)
//!   reaper thread (serve, wrapper-server: Reaper::start):
//!           SIGCHLD -> (write lock `spawning`) the first exited child:
//!             owned   -> wait until its Runner has reaped it, look again
//!             adopted -> reap it (an orphan re-parented to us)
//!   call_ended: each adopted process still alive is killed once no call
//!           that was running when it was first seen still runs
//! ```
//!
//! - Only a server mode turns adoption on ([`Reaper::start`]): it makes
//!   the process a child subreaper, so an orphaned descendant comes back
//!   to us (in a pod we are PID 1 and they come to us anyway), and from
//!   then on every child that no Runner registered is adopted. A test
//!   process never turns it on: its other children are not ours to reap.
//! - `spawning` is held for reading from before a spawn until the child is
//!   registered, and for writing by whoever asks "is this child owned?",
//!   so a child being started is never taken for an orphan.
//! - A Runner reaps its child and unregisters it under the state lock, and
//!   every kill through this registry happens under it too: no pid is
//!   reaped (and reused) between the moment we know it and the kill.
//! - Which call an adopted process came from is not knowable (its parent
//!   is gone), but not who it can belong to: a function's orphans reach us
//!   while that call runs or when it ends. So a process first seen at the
//!   end of a call belongs to that call or to one running then: it is
//!   killed at once when none runs, else when the last of those ends. A
//!   process is never killed while a call it may belong to runs.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::process::{Child, Command};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockWriteGuard};

use crate::sys;

/// The one registry of this process's children.
static CHILDREN: Children = Children::new();

/// A call of a Runner, numbered in this process (the key of a child and
/// of the suspects of an adopted process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CallId(u64);

struct Children {
    /// Read: a spawn until its child is registered. Write: a look at
    /// which children are not owned (reaper, adopted kills).
    spawning: RwLock<()>,
    state: Mutex<State>,
    /// Signalled when an owned child is unregistered (the reaper may wait
    /// for one that blocks its view of the exited children).
    unregistered: Condvar,
}

#[derive(Default)]
struct State {
    /// Children a Runner started and has not reaped: pid -> its call.
    owned: BTreeMap<u32, CallId>,
    next_call: u64,
    /// Set by [`Reaper::start`]: children nobody registered are adopted.
    adopting: bool,
    /// Adopted processes seen alive at the end of a call -> the calls
    /// that ran then and may own them (killed when none is left).
    adopted: BTreeMap<u32, BTreeSet<CallId>>,
}

impl Children {
    const fn new() -> Children {
        Children {
            spawning: RwLock::new(()),
            state: Mutex::new(State {
                owned: BTreeMap::new(),
                next_call: 0,
                adopting: false,
                adopted: BTreeMap::new(),
            }),
            unregistered: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawning_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.spawning.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Spawns `command` and registers the child as owned by a new call.
pub(super) fn spawn(command: &mut Command) -> io::Result<(Child, CallId)> {
    let _spawning = CHILDREN.spawning.read().unwrap_or_else(|p| p.into_inner());
    // The child inherits this thread's mask: ours blocks the signals a
    // server waits for.
    let child = sys::with_empty_signal_mask(|| command.spawn())?;
    let mut state = CHILDREN.state();
    let call = CallId(state.next_call);
    state.next_call += 1;
    state.owned.insert(child.id(), call);
    Ok((child, call))
}

/// Reaps `child` (which has exited, or been killed) and unregisters it;
/// then handles the processes adopted meanwhile (see the module doc).
pub(super) fn reap(child: &mut Child, call: CallId) -> io::Result<std::process::ExitStatus> {
    // Outside the lock: a killed child may take a moment to die.
    let _ = sys::wait_exited_no_reap(child.id());
    let status = {
        let mut state = CHILDREN.state();
        let status = child.wait();
        if state.owned.get(&child.id()) == Some(&call) {
            state.owned.remove(&child.id());
        }
        CHILDREN.unregistered.notify_all();
        status
    };
    call_ended();
    status
}

/// Kills the adopted processes whose possible owners have all ended.
fn call_ended() {
    if !CHILDREN.state().adopting {
        return;
    }
    let _spawning = CHILDREN.spawning_exclusive();
    let mut state = CHILDREN.state();
    let running: BTreeSet<CallId> = state.owned.values().copied().collect();
    let alive = match adopted_alive(&state) {
        Ok(alive) => alive,
        Err(e) => {
            crate::warn!("cannot list the processes adopted by the runner: {e}");
            return;
        }
    };
    // Those not alive any more were reaped, or are zombies the reaper takes.
    state.adopted.retain(|pid, _| alive.contains(pid));
    let mut kill = Vec::new();
    for pid in alive {
        let suspects = state.adopted.entry(pid).or_insert_with(|| running.clone());
        suspects.retain(|call| running.contains(call));
        if suspects.is_empty() {
            kill.push(pid);
        }
    }
    if !kill.is_empty() {
        crate::v!(
            3,
            "killing {} processes functions left running after their calls: {kill:?}",
            kill.len()
        );
    }
    kill.into_iter().for_each(kill_adopted);
}

/// Kills every child: the groups of the owned ones and every adopted
/// process. For an exit that cannot wait for the calls (a second SIGTERM).
pub fn kill_all() {
    let _spawning = CHILDREN.spawning_exclusive();
    let state = CHILDREN.state();
    for &pid in state.owned.keys() {
        let _ = sys::kill_process_group(pid);
    }
    if state.adopting {
        if let Ok(alive) = adopted_alive(&state) {
            alive.into_iter().for_each(kill_adopted);
        }
    }
}

/// Kills every adopted process still running, whatever call it may belong
/// to: for a server whose calls are over (its shutdown).
pub fn kill_adopted_all() {
    let _spawning = CHILDREN.spawning_exclusive();
    let state = CHILDREN.state();
    if state.adopting {
        if let Ok(alive) = adopted_alive(&state) {
            alive.into_iter().for_each(kill_adopted);
        }
    }
}

/// SIGKILL to `pid`, and to its process group when it leads one (a
/// daemon that called setsid) other than ours. Called under the state
/// lock: `pid` cannot be reaped meanwhile, so neither id is reused.
fn kill_adopted(pid: u32) {
    if let Ok(group) = sys::process_group_of(pid) {
        if group == pid && sys::process_group_of(std::process::id()).ok() != Some(group) {
            let _ = sys::kill_process_group(group);
        }
    }
    let _ = sys::kill_process(pid);
}

/// Our children that no Runner owns and that have not exited.
fn adopted_alive(state: &State) -> io::Result<Vec<u32>> {
    Ok(children_alive()?
        .into_iter()
        .filter(|pid| !state.owned.contains_key(pid))
        .collect())
}

/// Our children that have not exited, by their pid in our PID namespace.
/// From /proc/self/task/ID/children, which lists the children of the main
/// thread (an orphan is re-parented to the first live thread of its
/// reaper: the main thread, which lives as long as a server does), else
/// from every /proc/N/stat whose parent is us (kernels without
/// CONFIG_PROC_CHILDREN).
///
/// /proc numbers processes as the PID namespace it was mounted in sees
/// them: in a container that is ours, but `unshare --pid --fork` without a
/// new /proc leaves the outer numbers, which kill(2) would take for other
/// processes. Each pid is read back from the process's `NSpid:` line.
fn children_alive() -> io::Result<Vec<u32>> {
    let view = ProcView::of_self()?;
    let me = view.self_in_proc;
    let listed = match std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")) {
        Ok(text) => text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => children_from_stat(me)?,
        Err(e) => return Err(e),
    };
    Ok(listed
        .into_iter()
        .filter(|&pid| stat_of(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X'))
        .filter_map(|pid| view.own_pid(pid))
        .collect())
}

/// How /proc numbers this process and its children.
struct ProcView {
    /// Our pid as /proc numbers it (`/proc/self`).
    self_in_proc: u32,
    /// How many PID namespaces below /proc's ours is (0: the same).
    depth: usize,
}

impl ProcView {
    fn of_self() -> io::Result<ProcView> {
        let link = std::fs::read_link("/proc/self")?;
        let self_in_proc = link
            .to_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("/proc/self is {}", link.display())))?;
        let depth = if self_in_proc == std::process::id() {
            0
        } else {
            ns_pids(self_in_proc)
                .map(|ids| ids.len().saturating_sub(1))
                .ok_or_else(|| io::Error::other("no NSpid line in /proc/self/status"))?
        };
        Ok(ProcView {
            self_in_proc,
            depth,
        })
    }

    /// The pid in our namespace of the process /proc calls `pid` (one of
    /// our children: in our namespace or below it).
    fn own_pid(&self, pid: u32) -> Option<u32> {
        if self.depth == 0 {
            return Some(pid);
        }
        ns_pids(pid)?.get(self.depth).copied()
    }
}

/// The `NSpid:` line of /proc/PID/status: the pid in /proc's namespace,
/// then in each namespace below it down to the process's own.
fn ns_pids(pid: u32) -> Option<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    line.split_whitespace().map(|p| p.parse().ok()).collect()
}

/// Every process whose parent is `parent` (as /proc numbers both).
fn children_from_stat(parent: u32) -> io::Result<Vec<u32>> {
    Ok(std::fs::read_dir("/proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|&pid| stat_of(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect())
}

/// The state letter and parent of `pid` (as /proc numbers it) from
/// /proc/PID/stat.
fn stat_of(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The thread that reaps adopted children (see the module doc). Started
/// once by a server mode, after `SIGCHLD` was blocked in every thread
/// (`signals::Signals::start`); it lives as long as the process.
pub struct Reaper(());

impl Reaper {
    /// Turns adoption on and starts the reaper thread. The caller has made
    /// the process a child subreaper (or it is PID 1) and blocked SIGCHLD.
    pub fn start() -> io::Result<Reaper> {
        CHILDREN.state().adopting = true;
        let (tid_tx, tid_rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("reaper".to_owned())
            .spawn(move || {
                let _ = tid_tx.send(sys::current_thread_id());
                loop {
                    reap_adopted();
                    if let Err(e) = sys::wait_signal(&[sys::SIGCHLD], None) {
                        crate::error!("the reaper cannot wait for SIGCHLD: {e}");
                        return;
                    }
                }
            })?;
        let tid = tid_rx
            .recv()
            .map_err(|_| io::Error::other("the reaper thread ended at once"))?;
        sys::forward_signals(&[sys::SIGCHLD], tid)?;
        Ok(Reaper(()))
    }
}

/// Reaps every exited child that no Runner owns.
fn reap_adopted() {
    loop {
        let spawning = CHILDREN.spawning_exclusive();
        let mut state = CHILDREN.state();
        let pid = match sys::exited_child() {
            Ok(Some(pid)) => pid,
            Ok(None) => return,
            Err(e) => {
                crate::error!("the reaper cannot look for exited children: {e}");
                return;
            }
        };
        if state.owned.contains_key(&pid) {
            // waitid shows the first exited child only: wait until its
            // Runner has reaped it (it does so at once, see `reap`).
            drop(spawning);
            let _state = CHILDREN
                .unregistered
                .wait_while(state, |s| s.owned.contains_key(&pid))
                .unwrap_or_else(|p| p.into_inner());
            continue;
        }
        if let Err(e) = sys::reap(pid) {
            crate::error!("the reaper cannot reap process {pid}: {e}");
            return;
        }
        state.adopted.remove(&pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_state_and_parent_from_stat() {
        let (state, ppid) = stat_of(std::process::id()).expect("our own stat");
        assert!(state != 'Z' && state != 'X', "we are alive: {state}");
        assert_eq!(
            ppid,
            std::os::unix::process::parent_id(),
            "our parent from /proc"
        );
        assert!(stat_of(u32::MAX).is_none());
    }

    #[test]
    fn lists_a_child_and_registers_it_as_owned() {
        let (mut child, call) = spawn(Command::new("/bin/sleep").arg("30")).expect("spawn sleep");
        assert!(children_alive_of_any_thread().contains(&child.id()));
        assert_eq!(CHILDREN.state().owned.get(&child.id()), Some(&call));
        sys::kill_process(child.id()).expect("kill");
        let status = reap(&mut child, call).expect("reaped");
        assert!(!status.success());
        assert!(!CHILDREN.state().owned.contains_key(&child.id()));
    }

    /// Children of every thread (a test thread is not the main thread).
    fn children_alive_of_any_thread() -> Vec<u32> {
        children_from_stat(std::process::id()).expect("/proc")
    }
}
