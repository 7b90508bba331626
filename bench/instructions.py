"""Section 2b: instructions per event, counted by valgrind (cachegrind, no
cache simulation): the same cases as section 2, without the noise of a
shared machine.

Each case runs its workload at two sizes; the difference in instructions
executed, divided by the difference in calls, is what one call costs, with
start-up cancelled out.  Minus the same for plain python, per event.  And
untraced: each workload's instructions per unit of work under python -m
pyusdt over plain python's, which must be 1 (nothing runs per call without
a tracer; a few allocations may land differently).  And
what start-up costs: python -c pass against python -m pyusdt -c pass.
One hash seed (child_env) and a poller that never wakes keep runs
deterministic.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from children import child_env
from common import WORKLOADS, BenchError, Context, Target, log
from inprocess import CASES, force_supported
from workloads import tree_calls

SIZES = (15, 18)
# Untraced: each workload at two sizes (see untraced.py).
UNTRACED_SIZES = {"fib": (15, 18), "oo": (10, 20), "gen": (10000, 20000),
                  "stdlib": (10, 20)}
# --quick counts only these cases.
QUICK_CASES = ("PY_START", "PY_RETURN, value int", "CPython alone: PY_START")


def _instructions(cmd: list[str], env: dict[str, str]) -> int:
    proc = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                           "--cachegrind-out-file=/dev/null", *cmd], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=600)
    m = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    if proc.returncode != 0 or not m:
        raise BenchError("valgrind %s exited %d:\n%s" % (" ".join(cmd), proc.returncode,
                                                        proc.stderr[-2000:]))
    return int(m.group(1).replace(",", ""))


def _per_call(py: str, workload: str, force: str | None, floor: str | None,
              pythonpath: str) -> float:
    counts = []
    for size in SIZES:
        args = [WORKLOADS, "time", workload, str(size), "1"]
        env = child_env(pythonpath, PYUSDT_CHECK_MSEC="60000")
        if force:
            cmd = [py, "-m", "pyusdt", *args, "--expect-enabled", force]
            env["PYUSDT_FORCE"] = force
        elif floor:
            cmd = [py, *args, "--cpython-floor", floor]
        else:
            cmd = [py, *args]
        counts.append(_instructions(cmd, env))
    return (counts[1] - counts[0]) / (tree_calls(SIZES[1]) - tree_calls(SIZES[0]))


def _untraced_ratio(py: str, workload: str, pythonpath: str) -> float:
    """The instructions one more unit of WORKLOAD costs under python -m
    pyusdt, over what it costs under plain python (start-up cancelled
    out by the two sizes)."""
    env = child_env(pythonpath, PYUSDT_CHECK_MSEC="60000")
    marginal = []
    for prefix in ([py], [py, "-m", "pyusdt"]):
        small, large = (_instructions([*prefix, WORKLOADS, "time", workload, str(size), "1"],
                                      env) for size in UNTRACED_SIZES[workload])
        marginal.append(large - small)
    return marginal[1] / marginal[0]


def run(ctx: Context, target: Target) -> dict:
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind not found"}
    why_not = force_supported(target)
    if why_not:
        return {"skipped": why_not}
    py = target.python.path
    log("instructions: %s, valgrind" % target.python.version)
    cases = [c for c in CASES if not ctx.quick or c[0] in QUICK_CASES]
    plain = {w: _per_call(py, w, None, None, target.armed[0])
             for w in sorted({case[1] for case in cases})}
    result: dict[str, object] = {"sizes": list(SIZES),
                                 "plain_per_call": {w: round(v, 1) for w, v in plain.items()}}
    result["untraced ratio"] = {w: round(_untraced_ratio(py, w, target.armed[0]), 5)
                                for w in UNTRACED_SIZES}
    env = child_env(target.armed[0], PYUSDT_CHECK_MSEC="60000")
    result["start-up instructions"] = {
        "python -c pass": _instructions([py, "-c", "pass"], env),
        "python -m pyusdt -c pass": _instructions([py, "-m", "pyusdt", "-c", "pass"], env)}
    for label, workload, force, floor, per_call, _ in cases:
        extra = _per_call(py, workload, force, floor, target.armed[0]) - plain[workload]
        result[label] = round(extra / per_call, 1)
    return result
