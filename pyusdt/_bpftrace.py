"""Stopping a bpftrace process the way Ctrl-C does, reliably.

bpftrace (0.17, Debian 12's) acts on SIGINT only when the signal interrupts
its epoll_wait(): one that arrives while it is handling events just sets its
flag, and it then goes on polling, idle, until another signal comes.  Until
its main loop ends it keeps its SIGINT handler, so another SIGINT is safe
then; afterwards (printing its maps) SIGINT is back to the default action
and would kill it in the middle of its report.  So SIGINT is sent again
only while bpftrace still catches it and sleeps in epoll_wait().

Standalone (no imports from pyusdt): the benchmark loads it by path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

#: How long bpftrace gets to act on a SIGINT before it is sent another.
RETRY_SECONDS = 1.0


def _stuck_in_main_loop(pid: int) -> bool:
    """Whether bpftrace PID still has its SIGINT handler and sleeps in
    epoll_wait(), i.e. has not acted on the SIGINT it got."""
    try:
        with open("/proc/%d/status" % pid) as status:
            caught = next((int(line.split()[1], 16) for line in status
                           if line.startswith("SigCgt:")), 0)
        with open("/proc/%d/wchan" % pid) as wchan:
            sleeping_in = wchan.read()
    except (OSError, ValueError):
        return False
    return bool(caught & (1 << (signal.SIGINT - 1))) and "epoll_wait" in sleeping_in


def interrupt(proc: subprocess.Popen, timeout: float | None = None,
              group: bool = False) -> bool:
    """Sends PROC, a bpftrace, SIGINT (to its process group with GROUP)
    and waits up to TIMEOUT seconds (None: for as long as it takes) for it
    to exit, sending SIGINT again every RETRY_SECONDS while it is stuck in
    its main loop.  Returns whether it exited."""
    deadline = None if timeout is None else time.monotonic() + timeout
    first = True
    while proc.poll() is None:
        if first or _stuck_in_main_loop(proc.pid):
            try:
                if first and group:
                    os.killpg(proc.pid, signal.SIGINT)
                else:
                    proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
            first = False
        wait = RETRY_SECONDS
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                return False
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
    return True
