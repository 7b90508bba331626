"""Section 2: what pyusdt costs per event in the process itself, with probes
forced on by PYUSDT_FORCE (events enabled, every argument built, the probe
site run as a no-op: exactly as under a tracer, without the uprobe trap).

Each case runs a call tree whose call count is known exactly (fib(n), walk(n)
and label(n) make 2 * F(n + 1) - 1 calls), taking turns (turns.lockstep)
with the same workload under plain python, in rounds of fresh processes:
the median, over the quiet cycles (see turns.py), of (forced - plain) /
events in the same cycle.  walk returns None,
label a str, fib an int: the PY_RETURN rows show what rendering each costs.
The "CPython alone" row registers a trivial built-in C callback
(operator.is_) instead of pyusdt: CPython's own cost of delivering an event
to a builtin function.  pyusdt's callbacks are called through their own
vectorcall slot, which skips the builtin wrapper (and its recursion check),
so its "own share" can come out at zero.
"""

from __future__ import annotations

import subprocess

from children import child_env
from common import WORKLOADS, Context, Target, log
from turns import lockstep, paired_figure, raw

# Issue targets, on GIL-enabled builds: ns per PY_START / PY_RETURN event,
# and per PY_RETURN with a rendered value.  A free-threaded build (3.14t)
# is measured and reported with no target yet.
TARGET_EVENT_NS = 25
TARGET_RENDERED_NS = 60

# (label, workload, PYUSDT_FORCE or None, CPython-alone probes or None,
#  events per call, target ns or None)
CASES = [
    ("PY_START", "walk", "PY_START", None, 1, TARGET_EVENT_NS),
    ("PY_RETURN, value None", "walk", "PY_RETURN", None, 1, TARGET_EVENT_NS),
    ("PY_RETURN, value int", "fib", "PY_RETURN", None, 1, TARGET_RENDERED_NS),
    ("PY_RETURN, value str", "label", "PY_RETURN", None, 1, TARGET_RENDERED_NS),
    ("PY_START+PY_RETURN, value int", "fib", "PY_START,PY_RETURN", None, 2, None),
    ("CPython alone: PY_START", "walk", None, "PY_START", 1, None),
]


def force_supported(target: Target) -> str | None:
    """None if this build honours PYUSDT_FORCE, else why not."""
    proc = subprocess.run(
        [target.python.path, "-c",
         "import pyusdt; print(','.join(pyusdt.status().enabled))"],
        env=child_env(target.armed[0], PYUSDT_FORCE="PY_START"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or "PY_START" not in proc.stdout:
        return "this pyusdt build ignores PYUSDT_FORCE"
    return None


def run(ctx: Context, target: Target) -> dict:
    why_not = force_supported(target)
    if why_not:
        return {"skipped": why_not}
    py = target.python.path
    size = 22
    rounds, cycles = ctx.pick((4, 20), (10, 40))
    log("in-process: %s, %d rounds of %d turns" % (target.python.version, rounds, cycles))
    out: dict[str, object] = {}
    raws: dict[str, object] = {}
    # One lockstep group per workload: plain, and every case running it.
    for workload in sorted({case[1] for case in CASES}):
        args = [WORKLOADS, "serve", workload, str(size)]
        configs = {"plain": ([py, *args], child_env())}
        for label, w, force, floor, _, _ in CASES:
            if w != workload:
                continue
            if force:
                configs[label] = ([py, "-m", "pyusdt", *args, "--expect-enabled", force],
                                  child_env(target.armed[0], PYUSDT_FORCE=force))
            else:
                configs[label] = ([py, *args, "--cpython-floor", floor], child_env())
        turns = lockstep(configs, rounds, cycles,
                         [["plain", k] for k in configs if k != "plain"],
                         min_quiet=ctx.pick(40, 100), max_rounds=2 * rounds)
        calls = turns[0].hello["plain"]["calls"]
        raws[workload] = raw(turns)
        for label, w, force, floor, per_call, target_ns in CASES:
            if w != workload:
                continue
            events = calls * per_call
            figure = paired_figure(turns, ["plain", label],
                                   lambda t, k=label: (t[k] - t["plain"]) / events, 1)
            ns = figure["median"]
            out[label] = {
                "ns": ns,
                "cycles": figure,
                "workload": "%s(%d), %d rounds of %d turns" % (workload, size, len(turns),
                                                             cycles),
                "events": events, "force": force, "cpython_floor": floor,
                "target": target_ns,
            }
            if target_ns is not None and not target.python.free_threaded:
                out[label]["met"] = ns <= target_ns
    out = {case[0]: out[case[0]] for case in CASES}   # in CASES' order
    # What pyusdt's own callback adds to CPython's delivery, per PY_START.
    out["pyusdt's own share of PY_START"] = {"ns": round(
        out["PY_START"]["ns"] - out["CPython alone: PY_START"]["ns"], 1)}
    out["raw_cpu_ns"] = raws
    return out
