"""A long-running workload that answers questions on stdin, for attach and
detach storms.

Usage: reliability_storm.py [THREADS]

THREADS worker threads (default 2) run step() in a loop: calls, a
generator driven with send() and throw(), raised and handled exceptions,
lines, a GC collection now and then and pyusdt.mark(): something for
every probe.  Each step's result is checked against its formula.  The
main thread reads commands, one a line, and answers each with one JSON
line:

    status   {"attached": [...], "enabled": [...], "tool_id": N, "gc_callback": B,
              "tools": [name of sys.monitoring tool 0..5 or null], "gil": B}
    steps    {"steps": N}                 steps done so far
    pause    {"steps": N}                 stops the workers between two steps
    resume   {"steps": N}                 starts them again: quit's
             "since_reset" counts the steps from here
    memory   {"blocks": N, "rss_kb": N}   measured with the workers paused,
             after a full collection
    quit     {"steps": N, "wrong": N, "since_reset": N}
             after stopping the workers between two steps
"""
import gc
import json
import sys
import threading

import pyusdt


def square(n):
    return n * n


def accumulate():
    total = 0
    while True:
        try:
            value = yield total
        except KeyError:
            value = -1
        total += value


def step(i):
    """A result fixed by I: 3 * i * i + 2 * i - 1 for i > 0."""
    acc = accumulate()
    next(acc)
    acc.send(square(i))
    acc.send(square(i) * 2)
    total = acc.throw(KeyError)
    acc.close()
    try:
        if i % 3 == 0:
            raise ValueError(i)
    except ValueError:
        pass
    if i % 100 == 0:
        pyusdt.mark("storm", "step %d" % i)
    if i % 500 == 0:
        gc.collect(0)
    return total + 2 * i


class Workers:
    def __init__(self, count=2):
        self.stop = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self.idle = [threading.Event() for _ in range(count)]
        self.steps = [0] * count
        self.wrong = [0] * count
        self.reset_at = 0
        self.threads = [threading.Thread(target=self.run, args=(index,), daemon=True)
                        for index in range(count)]
        for thread in self.threads:
            thread.start()

    def run(self, index):
        i = 1
        while not self.stop.is_set():
            if not self.go.is_set():
                self.idle[index].set()
                self.go.wait()
                self.idle[index].clear()
            if step(i) != 3 * i * i + 2 * i - 1:
                self.wrong[index] += 1
            self.steps[index] += 1
            i += 1
        self.idle[index].set()

    def pause(self):
        self.go.clear()
        for idle in self.idle:
            idle.wait()

    def resume(self):
        self.go.set()

    def finish(self):
        self.stop.set()
        self.go.set()
        for thread in self.threads:
            thread.join()


def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def answer(workers, command):
    if command == "status":
        status = pyusdt.status()
        gil = getattr(sys, "_is_gil_enabled", lambda: True)()
        return {"attached": list(status.attached), "enabled": list(status.enabled),
                "tool_id": status.tool_id, "gc_callback": status.gc_callback,
                "tools": [sys.monitoring.get_tool(i) for i in range(6)], "gil": gil}
    if command == "steps":
        return {"steps": sum(workers.steps)}
    if command == "pause":
        workers.pause()
        return {"steps": sum(workers.steps)}
    if command == "resume":
        workers.reset_at = sum(workers.steps)
        workers.resume()
        return {"steps": workers.reset_at}
    if command == "memory":
        workers.pause()
        try:
            gc.collect()
            return {"blocks": sys.getallocatedblocks(), "rss_kb": rss_kb()}
        finally:
            workers.resume()
    if command == "quit":
        workers.finish()
        steps = sum(workers.steps)
        return {"steps": steps, "wrong": sum(workers.wrong),
                "since_reset": steps - workers.reset_at}
    return {"error": "unknown command %r" % command}


def main():
    workers = Workers(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        print(json.dumps(answer(workers, command)), flush=True)
        if command == "quit":
            break


if __name__ == "__main__":
    main()
