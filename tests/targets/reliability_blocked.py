"""A main thread blocked while other threads run Python.

Usage: reliability_blocked.py HOW [busy], HOW one of BLOCKS.

Starts three worker threads that call tick() in a loop (pausing a
millisecond between calls, or not at all with "busy", so that they compete
for the GIL), prints "ready", then blocks the main thread: in time.sleep(),
on a lock that is never released, reading stdin, or joining a thread that
never ends.  A tracer attaching now must see tick() from the workers.
"""
import sys
import threading
import time


def tick(n):
    return n + 1


def worker(busy):
    n = 0
    while True:
        n = tick(n)
        if not busy:
            time.sleep(0.001)


def forever():
    threading.Event().wait()


BLOCKS = {
    "sleep": lambda: time.sleep(600),
    "lock": lambda: _held_lock.acquire(timeout=600),
    "stdin": lambda: sys.stdin.readline(),
    "join": lambda: _sleeper.join(600),
}

_held_lock = threading.Lock()
_held_lock.acquire()
_sleeper = threading.Thread(target=forever, daemon=True)


def main():
    how = sys.argv[1]
    busy = sys.argv[2:] == ["busy"]
    for _ in range(3):
        threading.Thread(target=worker, args=(busy,), daemon=True).start()
    _sleeper.start()
    print("ready", flush=True)
    BLOCKS[how]()


main()
