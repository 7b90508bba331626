"""Ways a traced program ends while Python code is still running.

Usage: reliability_exit.py MODE [late], MODE one of MODES.

Each mode starts daemon threads that call functions, raise and catch
exceptions and resume generators in a loop for as long as the process
lives, then ends in its own way.  The output and exit status are fixed by
the mode, whatever the threads were doing when the end came.
"""
import atexit
import os
import sys
import threading
import time


def leaf(n):
    return n + 1


def gen(n):
    for i in range(n):
        yield leaf(i)


def churn(stop):
    """Busy Python work: every probe has something to report."""
    while not stop.is_set():
        total = sum(gen(5))
        try:
            raise ValueError(total)
        except ValueError:
            pass
        leaf(total)


def start_churning(count=3, daemon=True):
    if sys.argv[2:] == ["late"]:
        # After the program's atexit handlers: pyusdt's own (which stops
        # its poller) then runs before them, with the probes still armed.
        import pyusdt   # noqa: F401
    stop = threading.Event()
    threads = [threading.Thread(target=churn, args=(stop,), daemon=daemon)
               for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)   # let them get going; the end may come at any point
    return stop, threads


class Finalized:
    """Runs Python from __del__ during interpreter shutdown."""

    def __del__(self):
        leaf(sum(gen(3)))


def at_exit(label):
    total = sum(gen(4))
    print("atexit", label, total, flush=True)


def mode_atexit():
    atexit.register(at_exit, "first")
    atexit.register(lambda: [leaf(i) for i in range(10)])
    atexit.register(at_exit, "last")
    start_churning()
    print("main done", flush=True)


def mode_daemon():
    start_churning(count=4)
    print("main done", flush=True)


def mode_thread_sys_exit():
    """sys.exit() in a thread ends only that thread."""
    start_churning()
    results = []

    def exits():
        results.append(leaf(1))
        sys.exit(9)

    thread = threading.Thread(target=exits)
    thread.start()
    thread.join()
    print("thread exited", results, flush=True)


def mode_thread_os_exit():
    """os._exit() in a thread ends the process at once, status 7."""
    start_churning()
    print("main waiting", flush=True)

    def exits():
        leaf(2)
        os._exit(7)

    threading.Thread(target=exits).start()
    while True:
        leaf(3)


def mode_main_sys_exit():
    start_churning()
    print("exiting", flush=True)
    sys.exit(5)


def mode_main_os_exit():
    start_churning()
    print("exiting", flush=True)
    sys.stdout.flush()
    os._exit(6)


def mode_uncaught():
    start_churning()
    raise RuntimeError("the end")


def mode_finalizers():
    """Suspended generators, objects with __del__ and reference cycles left
    for interpreter shutdown to clean up, with daemon threads running."""
    global KEPT, CYCLE
    KEPT = [Finalized() for _ in range(20)]
    suspended = [gen(10) for _ in range(20)]
    for generator in suspended:
        next(generator)
    KEPT.append(suspended)
    CYCLE = [Finalized()]
    CYCLE.append(CYCLE)
    start_churning()
    print("main done", flush=True)


def mode_non_daemon():
    """Non-daemon threads still working when the main thread returns: the
    interpreter waits for them."""
    stop, _ = start_churning(count=2, daemon=False)
    threading.Timer(0.1, stop.set).start()
    print("main done", flush=True)


def mode_everything():
    atexit.register(at_exit, "everything")
    mode_finalizers()
    start_churning(count=2)
    sys.exit(0)


MODES = {
    "atexit": mode_atexit,
    "daemon": mode_daemon,
    "thread-sys-exit": mode_thread_sys_exit,
    "thread-os-exit": mode_thread_os_exit,
    "main-sys-exit": mode_main_sys_exit,
    "main-os-exit": mode_main_os_exit,
    "uncaught": mode_uncaught,
    "finalizers": mode_finalizers,
    "non-daemon": mode_non_daemon,
    "everything": mode_everything,
}

#: MODE -> (exit status, stdout); stderr is empty except for "uncaught".
EXPECTED = {
    "atexit": (0, "main done\natexit last 10\natexit first 10\n"),
    "daemon": (0, "main done\n"),
    "thread-sys-exit": (0, "thread exited [2]\n"),
    "thread-os-exit": (7, "main waiting\n"),
    "main-sys-exit": (5, "exiting\n"),
    "main-os-exit": (6, "exiting\n"),
    "uncaught": (1, ""),
    "finalizers": (0, "main done\n"),
    "non-daemon": (0, "main done\n"),
    "everything": (0, "main done\natexit everything 10\n"),
}


if __name__ == "__main__":
    # Under `python -m pyusdt` pyusdt is imported first; with "late" as
    # the second argument the program imports it when its threads start.
    MODES[sys.argv[1]]()
