"""Section 5: the peer, CPython's own USDT markers, on Debian's
/usr/bin/python3.11 (built with --with-dtrace: python:function__entry and
python:function__return, semaphore-guarded).

The same fib workload and the same bpftrace program as section 3 (count by
pid, attached by path to a private copy of the interpreter), taking turns
with an untraced copy (turns.lockstep).  Reported: events delivered per
call made (from a run counting by function name) and ns per delivered
event, the median over the quiet cycles of (traced - plain) / delivered in
the same cycle, next to pyusdt's figures from section 3.
"""

from __future__ import annotations

import subprocess
import time

from children import child_env, run_json
from common import PEER_PYTHON, WORKLOADS, BenchError, Context, log
from semaphores import usdt_semaphores
from tracing import session
from turns import lockstep, paired_figure, raw

MARKERS = {"PY_START": "function__entry", "PY_RETURN": "function__return"}


def _wait_attached(python: str, markers: list[str]) -> None:
    """Waits until a new process of PYTHON runs with the markers' semaphores
    raised (read from its own memory through /proc/self/mem)."""
    sems = usdt_semaphores(python)
    check = ("import struct, sys\n"
             "mem = open('/proc/self/mem', 'rb')\n"
             "ok = True\n"
             "for a in sys.argv[1:]:\n"
             "    mem.seek(int(a))\n"
             "    ok = ok and struct.unpack('<H', mem.read(2))[0] != 0\n"
             "sys.exit(not ok)\n")
    # N.B. Debian's python3.11 is a non-PIE executable: the semaphores'
    # link-time addresses are their run-time addresses.
    addresses = [str(sems[m]) for m in markers]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if subprocess.run([python, "-c", check, *addresses]).returncode == 0:
            return
        time.sleep(0.1)
    raise BenchError("bpftrace did not attach %s within 30 s" % ",".join(markers))


def _verify(ctx: Context, python: str, markers: list[str], size: int) -> dict:
    """Counts one fib(SIZE) by marker and function name (arg1)."""
    program = " ".join("usdt:%s:python:%s { @%s[str(arg1)] = count(); }"
                       % (python, m, m) for m in markers)
    with session(ctx, program) as tracer:
        _wait_attached(python, markers)
        result = run_json([python, WORKLOADS, "time", "fib", str(size), "1"], child_env())
        tracer.stop()
    return {"calls": result["calls"],
            "delivered": {m: tracer.maps().get("@" + m, {}).get("fib", 0)
                          for m in markers}}


def measure(ctx: Context, plain: str, traced: str, probes: list[str]) -> dict:
    markers = [MARKERS[p] for p in probes]
    size = ctx.pick(21, 23)
    rounds, cycles = ctx.pick((4, 10), (10, 20))
    program = "%s { @[pid] = count(); }" % ", ".join(
        "usdt:%s:python:%s" % (traced, m) for m in markers)
    args = [WORKLOADS, "serve", "fib", str(size)]
    verified = _verify(ctx, traced, markers, size)
    calls = verified["calls"]
    # What each call really delivers: ns are per delivered event.
    delivered_per_call = sum(verified["delivered"].values()) / calls
    delivered = calls * delivered_per_call
    configs = {"plain": ([plain, *args], child_env()),
               "traced": ([traced, *args], child_env())}
    log("peer %s: %d rounds of %d turns" % ("+".join(markers), rounds, cycles))
    with session(ctx, program) as tracer:
        _wait_attached(traced, markers)
        turns = lockstep(configs, rounds, cycles, [["plain", "traced"]],
                         min_quiet=ctx.pick(20, 40), max_rounds=2 * rounds)
        tracer.stop()
    per_call = paired_figure(turns, ["plain", "traced"],
                             lambda t: (t["traced"] - t["plain"]) / calls, 1)
    per_event = (paired_figure(turns, ["plain", "traced"],
                               lambda t: (t["traced"] - t["plain"]) / delivered, 1)
                 if delivered else None)
    return {"markers": markers, "program": program,
            "workload": "fib(%d), %d rounds of %d turns" % (size, len(turns), cycles),
            "calls": calls, "delivered": verified["delivered"],
            "delivered_per_call": round(delivered_per_call, 4),
            "ns_per_delivered_event": per_event["median"] if per_event else None,
            "ns_per_call": per_call["median"],
            "cycles": {"ns_per_delivered_event": per_event, "ns_per_call": per_call},
            "raw_cpu_ns": raw(turns)}


def run(ctx: Context) -> dict:
    plain = ctx.sandbox.file(PEER_PYTHON, "python3.11-plain")
    traced = ctx.sandbox.file(PEER_PYTHON, "python3.11-traced")
    result: dict[str, object] = {"python": PEER_PYTHON}
    for probes in (["PY_START"], ["PY_START", "PY_RETURN"]):
        result["+".join(probes)] = measure(ctx, plain, traced, probes)
    return result
