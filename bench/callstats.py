"""Section 9 (callstats): what counting call statistics in the process
(CALL_STATS, forced by PYUSDT_FORCE as an attached tracer would) adds per
function entry, side by side with cProfile on the same workloads: fib
(recursive calls), oo (methods and properties) and gen (a generator
pipeline: an entry is a start or a resume).  Target: pyusdt's added cost
≤ 1.0 × cProfile's, in CPU time and in instructions.

Instructions: valgrind (cachegrind) counts each configuration at two
sizes; the difference, less plain python's, over the difference in
entries (workloads.py count) is the cost of one entry, start-up
cancelled out.  CPU time: each configuration runs the workload REPS times
in a fresh process, the three taking turns for ROUNDS rounds; the fastest
repetition of each, less plain python's, over the entries of one run.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from children import child_env, run_json
from common import WORKLOADS, Context, Target, log
from inprocess import force_supported
from instructions import _instructions

#: Workload: (two sizes for instructions, one size for CPU time).
SIZES = {"fib": ((15, 18), 22), "oo": ((10, 20), 100), "gen": ((10000, 20000), 100000)}
MODES = ("plain", "cProfile", "pyusdt CALL_STATS")
PROBE = "CALL_STATS"


def _command(py: str, mode: str, args: list[str]) -> list[str]:
    if mode == "cProfile":
        return [py, WORKLOADS, *args, "--profile", "cprofile"]
    if mode == "pyusdt CALL_STATS":
        return [py, "-m", "pyusdt", WORKLOADS, *args, "--expect-enabled", PROBE]
    return [py, WORKLOADS, *args]


def _env(target: Target, mode: str, **extra: str) -> dict[str, str]:
    if mode == "pyusdt CALL_STATS":
        extra["PYUSDT_FORCE"] = PROBE
    return child_env(target.armed[0], **extra)


def _entries(py: str, workload: str, size: int) -> int:
    out = subprocess.run([py, WORKLOADS, "count", workload, str(size)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out)["entries"]


def _instructions_per_entry(py: str, target: Target, workload: str) -> dict[str, float]:
    small, large = SIZES[workload][0]
    entries = _entries(py, workload, large) - _entries(py, workload, small)
    marginal = {}
    for mode in MODES:
        counts = [_instructions(_command(py, mode, ["time", workload, str(size), "1"]),
                                _env(target, mode, PYUSDT_CHECK_MSEC="60000"))
                  for size in (small, large)]
        marginal[mode] = counts[1] - counts[0]
    return {mode: round((marginal[mode] - marginal["plain"]) / entries, 1)
            for mode in MODES[1:]}


def _cpu_ns_per_entry(ctx: Context, py: str, target: Target,
                      workload: str) -> dict[str, float]:
    size = SIZES[workload][1]
    entries = _entries(py, workload, size)
    reps, rounds = (3, 1) if ctx.quick else (5, 3)
    fastest = {mode: float("inf") for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            result = run_json(_command(py, mode, ["time", workload, str(size), str(reps)]),
                              _env(target, mode))
            fastest[mode] = min(fastest[mode], *result["cpu_ns"])
    return {mode: round((fastest[mode] - fastest["plain"]) / entries, 1)
            for mode in MODES[1:]}


def run(ctx: Context, target: Target) -> dict:
    why_not = force_supported(target)
    if why_not:
        return {"skipped": why_not}
    py = target.python.path
    result: dict[str, object] = {}
    for workload in SIZES:
        log("callstats: %s, %s" % (target.python.version, workload))
        entry: dict[str, object] = {"cpu_ns": _cpu_ns_per_entry(ctx, py, target, workload)}
        if shutil.which("valgrind") is not None:
            entry["instructions"] = _instructions_per_entry(py, target, workload)
        for figure in ("cpu_ns", "instructions"):
            costs = entry.get(figure)
            if costs and costs["cProfile"] > 0:
                ratio = costs["pyusdt CALL_STATS"] / costs["cProfile"]
                entry[figure + " ratio"] = {"ratio": round(ratio, 3), "target": 1.0,
                                            "met": ratio <= 1.0}
        result[workload] = entry
    return result
