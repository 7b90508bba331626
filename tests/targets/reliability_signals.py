"""Signals arriving while Python code runs: SIGINT (KeyboardInterrupt),
SIGTERM's default action, handlers that call functions or raise, timers,
and a signal interrupting a sleep.

Usage: reliability_signals.py MODE, MODE one of MODES.

The program signals itself (from a helper thread or a timer) at a point it
chooses, so its output and exit status are the same on every run.
"""
import os
import signal
import sys
import threading
import time

ITERATIONS = [0]


def leaf(n):
    return n * 2


def busy():
    """Python work, forever: every probe has something to report."""
    while True:
        ITERATIONS[0] += 1
        try:
            leaf(ITERATIONS[0])
            if ITERATIONS[0] % 7 == 0:
                raise LookupError
        except LookupError:
            pass


def signal_after(signum, iterations):
    """Sends SIGNUM to this process once busy() has run ITERATIONS times."""
    def send():
        while ITERATIONS[0] < iterations:
            time.sleep(0.001)
        os.kill(os.getpid(), signum)
    threading.Thread(target=send, daemon=True).start()


def mode_sigint():
    """Ctrl-C in the middle of busy work: KeyboardInterrupt, caught, then
    raised out of the program (death by SIGINT)."""
    signal_after(signal.SIGINT, 2000)
    try:
        busy()
    except KeyboardInterrupt:
        print("caught KeyboardInterrupt", flush=True)
        raise


#: clock_nanosleep's number on x86-64: what /proc says a thread in
#: time.sleep() is doing.
SYS_CLOCK_NANOSLEEP = "230"


def sleeping(tid):
    """Whether thread TID is in time.sleep() (unknown: after a while)."""
    try:
        with open("/proc/self/task/%d/syscall" % tid) as file:
            return file.read().split()[0] == SYS_CLOCK_NANOSLEEP
    except (OSError, IndexError):
        time.sleep(0.5)
        return True


def mode_sigint_sleeping():
    """Ctrl-C while the main thread sleeps and another thread works.  N.B.
    sent only once the main thread is in the sleep: sent a moment earlier,
    on a slow run (a sanitizer's), the traceback would end elsewhere."""
    main = threading.get_native_id()
    threading.Thread(target=busy, daemon=True).start()

    def send():
        while ITERATIONS[0] < 2000 or not sleeping(main):
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=send, daemon=True).start()
    time.sleep(60)


def mode_sigterm():
    """SIGTERM's default action: killed, no output, no cleanup."""
    signal_after(signal.SIGTERM, 2000)
    busy()


def mode_handlers():
    """A handler that calls functions, 50 times; then one that raises."""
    handled = []

    class Stop(Exception):
        pass

    def on_usr1(signum, frame):
        handled.append(sum(leaf(i) for i in range(3)))

    def on_usr2(signum, frame):
        raise Stop(len(handled))

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, on_usr2)

    def send():
        for count in range(1, 51):
            os.kill(os.getpid(), signal.SIGUSR1)
            while len(handled) < count:
                time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGUSR2)

    threading.Thread(target=send, daemon=True).start()
    try:
        busy()
    except Stop as exc:
        print("stopped after", exc.args[0], "handled", sorted(set(handled)), flush=True)


def mode_alarm():
    """A timer whose handler raises in the middle of busy work."""
    def on_alarm(signum, frame):
        raise TimeoutError("alarm")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        busy()
    except TimeoutError as exc:
        print("timed out:", exc, flush=True)


def mode_interrupted_sleep():
    """A handler that returns: the sleep it interrupted carries on (PEP 475)."""
    handled = []
    signal.signal(signal.SIGALRM, lambda signum, frame: handled.append(leaf(signum)))
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    start = time.monotonic()
    time.sleep(0.3)
    print("slept fully", time.monotonic() - start >= 0.3, "handled", handled, flush=True)


MODES = {
    "sigint": mode_sigint,
    "sigint-sleeping": mode_sigint_sleeping,
    "sigterm": mode_sigterm,
    "handlers": mode_handlers,
    "alarm": mode_alarm,
    "interrupted-sleep": mode_interrupted_sleep,
}

#: MODE -> (exit status, stdout, last line of stderr).
EXPECTED = {
    "sigint": (-signal.SIGINT, "caught KeyboardInterrupt\n", "KeyboardInterrupt"),
    "sigint-sleeping": (-signal.SIGINT, "", "KeyboardInterrupt"),
    "sigterm": (-signal.SIGTERM, "", ""),
    "handlers": (0, "stopped after 50 handled [6]\n", ""),
    "alarm": (0, "timed out: alarm\n", ""),
    "interrupted-sleep": (0, "slept fully True handled [%d]\n" % (2 * signal.SIGALRM), ""),
}


if __name__ == "__main__":
    MODES[sys.argv[1]]()
