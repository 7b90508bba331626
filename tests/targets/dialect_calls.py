"""Target of tests/e2e/test_dialect.py: a known program for the tools written
for CPython's own markers.  work() makes 1 + 23 + 23 + 287 calls, starts one
generator that yields 7 times, and collects generations 0, 1 and 2 (automatic
collection off).  With --wait, prints "ready" and waits for a line on stdin
before the work, and prints "done" and waits for another after it: a tool
attached by pid (bcc raises the semaphores seconds before its program is
attached) sees all of it; pyusdt is imported then (python -m pyusdt).  With
--import, imports colorsys and a module that does not exist at the end of
work()."""
import gc
import sys
import time

gc.disable()


class Shape:
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def countdown(n):
    for value in range(n, 0, -1):
        yield value


def work():
    total = 0
    for side in range(23):
        total += Shape(side).area()
    total += fib(11)
    total += sum(countdown(7))
    for generation in (0, 1, 2):
        gc.collect(generation)
    if "--import" in sys.argv:
        import colorsys
        total += int(colorsys.rgb_to_hsv(0, 0, 1)[2])
        try:
            import pyusdt_dialect_no_such_module  # noqa: F401
        except ImportError:
            pass
    return total


def main():
    wait = "--wait" in sys.argv
    if wait:
        import pyusdt
        # N.B. the first status() imports pyusdt._status: the import
        # system's calls, counted by a tool attached then.  Done before it is.
        pyusdt.status()
        print("ready", flush=True)
        sys.stdin.readline()
        # bcc raised the semaphores seconds before its uprobes were in
        # place: pyusdt serves them by now.  Checked all the same, inline
        # (a function of this file would be one more call to count).
        deadline = time.monotonic() + 60
        while (not (pyusdt.status().enabled or pyusdt.status().gc_callback)
               and time.monotonic() < deadline):
            time.sleep(0.01)
    print(work(), flush=True)
    if wait:
        print("done", flush=True)
        sys.stdin.readline()


main()
