"""How many events per second pytimeline records before bpftrace drops
some: runs a program that calls an empty function at a fixed rate for a few
seconds under ``python -m pyusdt.trace pytimeline``, at rising rates, and
prints the events lost at each (docs/timeline.md quotes the result).

Usage: sudo python bench/timeline_rate.py [RATE ...]   (calls per second;
each call is two events, its entry and its exit)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = 3.0
#: The program: RATE calls per second in batches of 1 ms, for SECONDS.
PROGRAM = """
import sys, time
def f():
    pass
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
batch = max(1, int(rate / 1000))
start = time.monotonic()
done = 0
while True:
    now = time.monotonic() - start
    if now >= seconds:
        break
    due = int(now * rate) - done
    for _ in range(min(due, batch)):
        f()
    done += min(due, batch)
    if due <= batch:
        time.sleep(0.0005)
print(done, time.monotonic() - start)
"""


def measure(rate: float) -> tuple[float, int, int]:
    """Events per second recorded, events lost, and spans written."""
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "paced.py")
        with open(script, "w") as file:
            file.write(PROGRAM)
        out = os.path.join(tmp, "trace.json")
        run = subprocess.run([sys.executable, "-m", "pyusdt.trace", "pytimeline", "-o", out,
                              "--", sys.executable, script, str(rate), str(SECONDS)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=REPO)
    calls, elapsed = run.stdout.split()
    summary = re.search(r"pytimeline: (\d+) spans.*\((\d+) events lost\)", run.stderr)
    if summary is None:
        raise RuntimeError(run.stderr)
    return 2 * int(calls) / float(elapsed), int(summary.group(2)), int(summary.group(1))


def main() -> int:
    rates = [float(arg) for arg in sys.argv[1:]] or [10e3, 25e3, 50e3, 100e3, 200e3]
    print("%12s %12s %10s %10s" % ("CALLS/s", "EVENTS/s", "LOST", "SPANS"))
    for rate in rates:
        events, lost, spans = measure(rate)
        print("%12d %12d %10d %10d" % (rate, events, lost, spans), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
