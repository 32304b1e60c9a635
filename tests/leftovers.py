#!/usr/bin/env python3
"""Runs a command and fails when it leaves a process behind (tests/run.sh).

    leftovers.py COMMAND [ARGS...]

We become a child subreaper (prctl PR_SET_CHILD_SUBREAPER) before starting
COMMAND, so every process it starts, however it detaches (a killed parent,
a double fork, setsid), is re-parented to us when its parent dies: none
escapes the check. While COMMAND runs, we reap what dies. Once it has
exited, every descendant still alive after GRACE_SECONDS (a process killed
a moment ago may still be dying) is a leftover: each is listed on stderr
with its command line, killed with its process group, and the exit status
is 1 (else COMMAND's own status). No test may leave a process behind.
"""

import ctypes
import os
import select
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
# How long a process that is already dying may take to be gone.
GRACE_SECONDS = 5.0


def children_of(pid):
    """Live processes whose parent is pid, from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) S ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == pid and state not in ("Z", "X"):
            found.append(int(name))
    return found


def descendants(pid):
    """Every live descendant of pid."""
    found, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def reap_all():
    """Reaps every exited child; returns when none is left to reap now."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def wait_gone(pids, seconds):
    """Waits up to seconds for pids to exit (on their pidfds); the alive."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except OSError:
            pass
    deadline = time.monotonic() + seconds
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    alive = set(fds.values())
    while alive and time.monotonic() < deadline:
        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
        for fd, _ in poller.poll(left_ms):
            poller.unregister(fd)
            alive.discard(fds[fd])
        reap_all()
    for fd in fds:
        os.close(fd)
    return sorted(alive)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"leftovers.py: prctl: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 2
    command = sys.argv[1:]
    # Python ignores SIGPIPE (and SIGXFSZ): the command gets the defaults.
    pid = os.posix_spawnp(command[0], command, os.environ,
                          setsigdef=(signal.SIGPIPE, signal.SIGXFSZ), setsigmask=())
    # Reap whatever dies (orphans come to us) until the command ends.
    while True:
        dead, status = os.waitpid(-1, 0)
        if dead == pid:
            break
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    left = descendants(os.getpid())
    left = wait_gone(left, GRACE_SECONDS) if left else []
    if not left:
        return code
    print(f"leftovers: {len(left)} processes still running after "
          f"{' '.join(command)}:", file=sys.stderr)
    for p in left:
        print(f"leftovers:   {p} {command_line(p)}", file=sys.stderr)
    own_group = os.getpgid(0)
    for p in left:
        try:
            group = os.getpgid(p)
            # Never our own group: that would take us (and the caller) along.
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    wait_gone(left, GRACE_SECONDS)
    reap_all()
    return 1


if __name__ == "__main__":
    sys.exit(main())
