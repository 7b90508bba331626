"""Child processes of a program that imported pyusdt: os.fork() (once, in a
chain, many times), multiprocessing with each start method, and subprocess
children (plain, and with a preexec_fn that runs Python in the forked child).

Usage: reliability_processes.py MODE, MODE one of MODES.

Every child calls leaf() 23 times in work(), and says what pyusdt looks like
from inside it:
    child PID enabled=PROBES tool=ID threads=N result=R
The parent ends with
    parent enabled=PROBES threads=N result=R
so a test can compare with an untraced run, and find each child's events
by pid.  Run with -W error::DeprecationWarning: a warning about forking a
multi-threaded process ends the run with a traceback.
"""
import os
import subprocess
import sys
import time

import pyusdt

LEAF_CALLS = 23


def leaf(n):
    return n * n


def work(seed):
    return sum(leaf(seed + i) for i in range(LEAF_CALLS))


def threads():
    return len(os.listdir("/proc/self/task"))


def wait_for_poller(expected=2, limit=10.0):
    """The thread count once a freshly started poller is up (a child's
    poller starts in the fork hook; give it a moment, never forever)."""
    deadline = time.monotonic() + limit
    while threads() != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return threads()


def describe(who, result):
    status = pyusdt.status()
    return "%s enabled=%s tool=%s threads=%d result=%d" % (
        who, ",".join(status.enabled) or "-", status.tool_id, wait_for_poller(), result)


def in_child(seed):
    """What a child does: its work, then a report line on stdout."""
    line = describe("child %d" % os.getpid(), work(seed))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return line


def fork_once():
    pid = os.fork()
    if pid == 0:
        in_child(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def fork_settle():
    """A child that waits (a while, not for ever) until nothing is attached
    to it any more before it reports: what a child of a process traced by
    pid sees, since the tracer is not attached to it."""
    pid = os.fork()
    if pid == 0:
        result = work(6)
        deadline = time.monotonic() + 30
        while pyusdt.status().enabled and time.monotonic() < deadline:
            time.sleep(0.01)
            leaf(0)
        line = describe("child %d" % os.getpid(), result)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def fork_chain():
    """Parent, child, grandchild: each forks the next and reports."""
    pid = os.fork()
    if pid == 0:
        in_child(2)
        grandchild = os.fork()
        if grandchild == 0:
            in_child(3)
            os._exit(0)
        _, status = os.waitpid(grandchild, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def fork_many():
    """Fifty forks in a row, each child working and exiting with its own
    status; none may warn about threads."""
    statuses = []
    for index in range(50):
        pid = os.fork()
        if pid == 0:
            os._exit(work(index) % 7 + pyusdt.status().check_msec % 2)
        _, status = os.waitpid(pid, 0)
        statuses.append(os.waitstatus_to_exitcode(status))
    print("statuses", statuses, flush=True)
    return 0


def fork_from_threads():
    """Sixteen threads forking at once, three times over (as CPython's
    test_threading does): every child exits with status 50.  The program
    has Python threads of its own, so CPython rightly warns about fork()
    here; the warning is ignored (for the whole program: catch_warnings()
    is not thread-safe)."""
    import threading
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    statuses = []

    def fork_and_wait():
        pid = os.fork()
        if pid == 0:
            os._exit(50)
        _, status = os.waitpid(pid, 0)
        statuses.append(os.waitstatus_to_exitcode(status))

    for _ in range(3):
        threads = [threading.Thread(target=fork_and_wait) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print("children", len(statuses), "statuses", sorted(set(statuses)), flush=True)
    return 0


def pool_report(seed):
    return describe("child %d" % os.getpid(), work(seed))


def with_multiprocessing(method):
    import multiprocessing
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        # N.B. a pool replaces a worker that dies, for ever: give up in time
        # (a minute, for seconds of work) rather than hang.
        lines = pool.map_async(pool_report, range(4)).get(timeout=60)
    for line in lines:
        print(line, flush=True)
    process = context.Process(target=in_child, args=(9,))
    process.start()
    process.join()
    return process.exitcode


CHILD_CODE = """
import os, sys
sys.path.insert(0, %r)
import reliability_processes as target
target.in_child(5)
"""


def with_subprocess():
    code = CHILD_CODE % os.path.dirname(os.path.abspath(__file__))
    run = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    sys.stdout.write(run.stdout)
    under_cli = subprocess.run([sys.executable, "-m", "pyusdt", "-c", code],
                               stdout=subprocess.PIPE, text=True)
    sys.stdout.write(under_cli.stdout)
    return run.returncode + under_cli.returncode


def raw_fork():
    """A child made by libc's fork() itself, as a C extension would: no
    os.fork() hooks run, so no pyusdt poller is restarted in it; it works
    and leaves through the interpreter's normal exit (atexit included)."""
    import ctypes
    pid = ctypes.CDLL(None, use_errno=True).fork()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork")
    if pid == 0:
        print("child %d raw result=%d" % (os.getpid(), work(5)), flush=True)
        sys.exit(7)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def with_preexec_fn():
    """preexec_fn runs Python in the forked child before exec (the fork
    hooks run around it)."""
    ran = []

    def before_exec():
        ran.append(work(4))

    code = CHILD_CODE % os.path.dirname(os.path.abspath(__file__))
    run = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         preexec_fn=before_exec)
    sys.stdout.write(run.stdout)
    return run.returncode + len(ran)


MODES = {
    "fork": fork_once,
    "fork-settle": fork_settle,
    "fork-chain": fork_chain,
    "fork-many": fork_many,
    "fork-threads": fork_from_threads,
    "mp-fork": lambda: with_multiprocessing("fork"),
    "mp-forkserver": lambda: with_multiprocessing("forkserver"),
    "mp-spawn": lambda: with_multiprocessing("spawn"),
    "subprocess": with_subprocess,
    "preexec": with_preexec_fn,
    "raw-fork": raw_fork,
}


def main():
    status = MODES[sys.argv[1]]()
    print(describe("parent", work(0)), "status=%d" % status, flush=True)


if __name__ == "__main__":
    main()
