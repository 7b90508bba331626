"""Section 7: attaching to a running Python that started without pyusdt
(``python -m pyusdt attach PID``): how long the command takes, how long
the target pauses, and how long until bpftrace receives its first event.

A plain Python program (no pyusdt on its path) calls beat() and prints
time.monotonic_ns() every 1 ms.  Each round starts a fresh one, lets it
run 0.3 s, runs the attach command (the private "attach" copy of pyusdt
first on its PYTHONPATH, so that the target falls back to that copy), then
bpftrace -p PID on beat()'s PY_START, which prints the event's nsecs and
exits.  Per round:

- command: the attach command's wall time, from its start to its exit;
- pause: the longest gap between two heartbeats from the command's start
  to 20 ms after its exit, against "gap": the longest in an equal window
  just before it (what the 1 ms sleep and the machine give anyway);
- first event: from the command's start to the nsecs of the first PY_START
  bpftrace saw (both CLOCK_MONOTONIC), bpftrace's own start-up included.

The mechanism is the Python's: sys.remote_exec on 3.14 and later, gdb on
3.12 and 3.13 (pyusdt_tracer/attach_gdb.py; skipped without gdb).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from children import child_env
from common import REPO, BenchError, Context, Target, bpftrace, log
from stats import percentile
from tracing import session

#: The heartbeat: one beat() call and one line every 1 ms.
HEARTBEAT = """\
import sys, time
def beat():
    return time.monotonic_ns()
while True:
    sys.stdout.write("%d\\n" % beat())
    sys.stdout.flush()
    time.sleep(0.001)
"""


class _Beats:
    """The heartbeat's timestamps, read as they come (the session layer's
    reader threads)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.stamps: list[int] = []
        self._output = bpftrace.Output(proc, lambda line: self.stamps.append(int(line)))

    def longest_gap_ms(self, start: int, end: int) -> float:
        inside = [stamp for stamp in self.stamps if start <= stamp <= end]
        gaps = [b - a for a, b in zip(inside, inside[1:])]
        return max(gaps, default=0) / 1e6


def _round(ctx: Context, target: Target, top: str) -> dict:
    python = target.python.path
    proc = subprocess.Popen([python, "-c", HEARTBEAT], env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    beats = _Beats(proc)
    try:
        time.sleep(0.3)
        started = time.monotonic_ns()
        attach = subprocess.run([python, "-m", "pyusdt", "attach", str(proc.pid)], cwd=top,
                                env=child_env(os.pathsep.join([top, REPO])),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=120)
        ended = time.monotonic_ns()
        if attach.returncode != 0:
            raise BenchError("attach failed: %s" % attach.stderr.strip())
        library = attach.stdout.strip().rpartition(": ")[2]
        program = ('usdt:%s:pyusdt:PY_START /str(arg0) == "beat"/ '
                   '{ printf("first %%lld\\n", nsecs); exit(); }' % library)
        with session(ctx, program, ["-p", str(proc.pid)]) as tracer:
            first = int(tracer.wait_line("first ", timeout=60).split()[1])
            tracer.wait(60)
        window = ended + 20_000_000 - started
        time.sleep(0.02)
        return {"command_ms": (ended - started) / 1e6,
                "pause_ms": beats.longest_gap_ms(started, ended + 20_000_000),
                "gap_ms": beats.longest_gap_ms(started - window, started),
                "first_event_ms": (first - started) / 1e6}
    finally:
        proc.kill()
        proc.wait()


def run(ctx: Context, target: Target) -> dict:
    remote_exec = tuple(int(part) for part in target.python.version.split(".")[:2]) >= (3, 14)
    if not remote_exec and shutil.which("gdb") is None:
        return {"skipped": "gdb is not installed"}
    rounds = ctx.pick(5, 20)
    log("process attach: %s, %d rounds" % (target.python.version, rounds))
    top, _ = target.attach
    samples = [_round(ctx, target, top) for _ in range(rounds)]
    result: dict[str, object] = {"mechanism": "remote_exec" if remote_exec else "gdb",
                                 "rounds": rounds}
    for key in ("command_ms", "pause_ms", "gap_ms", "first_event_ms"):
        values = [sample[key] for sample in samples]
        result[key] = {"p50": round(percentile(values, 50), 1),
                       "p95": round(percentile(values, 95), 1),
                       "values": [round(value, 1) for value in values]}
    return result


if __name__ == "__main__":
    sys.exit("run it through bench/run.py --only process_attach")
