"""Target of the CALL_STATS attach/detach cycles: THREADS threads wait for
the main thread's word, then each calls beat() N times.  Commands, one per
line on stdin, each answered with one line on stdout:
  on / off   wait until call statistics are counted / not counted: "ok"
  go N       every thread calls beat() N times: "done"
  rss        the process's resident set size in KiB
  quit       exit
"""
import sys
import threading
import time

import pyusdt

THREADS = 4


def beat(i):
    return i + 1


def worker(go, done):
    while True:
        go.wait_turn()
        n = go.n
        if n < 0:
            return
        for i in range(n):
            beat(i)
        done.release()


class Go:
    """A round of work handed to every thread."""

    def __init__(self):
        self.cond = threading.Condition()
        self.round = 0
        self.n = 0
        self.seen = threading.local()

    def start(self, n):
        with self.cond:
            self.n = n
            self.round += 1
            self.cond.notify_all()

    def wait_turn(self):
        with self.cond:
            last = getattr(self.seen, "round", 0)
            self.cond.wait_for(lambda: self.round != last)
            self.seen.round = self.round


def counting():
    return "CALL_STATS" in pyusdt.status().enabled


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    go, done = Go(), threading.Semaphore(0)
    threads = [threading.Thread(target=worker, args=(go, done)) for _ in range(THREADS)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        if word in ("on", "off"):
            while counting() != (word == "on"):
                time.sleep(0.005)
            print("ok", flush=True)
        elif word == "go":
            go.start(int(arg))
            for _ in threads:
                done.acquire()
            print("done", flush=True)
        elif word == "rss":
            print(rss_kib(), flush=True)
        elif word == "quit":
            break
    go.start(-1)
    for t in threads:
        t.join()


main()
