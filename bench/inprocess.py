"""Section 2: what pyusdt costs per event in the process itself, with probes
forced on by PYUSDT_FORCE (events enabled, every argument built, the probe
site run as a no-op: exactly as under a tracer, without the uprobe trap).

Each case runs a call tree whose call count is known exactly (fib(n), walk(n)
and label(n) make 2 * F(n + 1) - 1 calls), interleaved round by round with
the same workload under plain python: (fastest forced run - fastest plain
run) / events (common.per_event_ns says why fastest).  walk returns None,
label a str, fib an int: the PY_RETURN rows show what rendering each costs.
The "CPython alone" row registers a trivial built-in C callback
(operator.is_) instead of pyusdt: CPython's own cost of delivering an event
to a builtin function.  pyusdt's callbacks are called through their own
vectorcall slot, which skips the builtin wrapper (and its recursion check),
so its "own share" can come out at zero.
"""

from __future__ import annotations

import subprocess

from common import (WORKLOADS, Context, Target, best_cpu_ns, child_env, log,
                    per_event_ns, rotated, run_json, summary)

# Issue targets, on 3.12: ns per PY_START / PY_RETURN event, and per
# PY_RETURN with a rendered value.
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
    size, reps = ctx.pick((23, 5), (24, 9))
    rounds = ctx.pick(5, 11)
    runs = [("plain " + w, w, None, None) for w in sorted({case[1] for case in CASES})]
    runs += [(label, w, force, floor) for label, w, force, floor, _, _ in CASES]
    best: dict[str, list[int]] = {run[0]: [] for run in runs}
    calls = {}
    log("in-process: %s, %d rounds" % (target.python.version, rounds))
    for r in range(rounds):
        for label, workload, force, floor in rotated(runs, r):
            args = [WORKLOADS, "time", workload, str(size), str(reps)]
            if force:
                cmd = [py, "-m", "pyusdt", *args, "--expect-enabled", force]
                env = child_env(target.armed[0], PYUSDT_FORCE=force)
            elif floor:
                cmd = [py, *args, "--cpython-floor", floor]
                env = child_env()
            else:
                cmd, env = [py, *args], child_env()
            result = run_json(cmd, env)
            calls[workload] = result["calls"]
            best[label].append(best_cpu_ns(result))
    out: dict[str, object] = {}
    for label, workload, force, floor, per_call, target_ns in CASES:
        events = calls[workload] * per_call
        plain = best["plain " + workload]
        ns = per_event_ns(plain, best[label], events)
        out[label] = {
            "ns": round(ns, 1),
            "per_round": summary([(b - a) / events for a, b in zip(plain, best[label])], 1),
            "workload": "%s(%d) x %d" % (workload, size, reps), "events": events,
            "force": force, "cpython_floor": floor, "target": target_ns,
        }
        if target_ns is not None:
            out[label]["met"] = ns <= target_ns
    # What pyusdt's own callback adds to CPython's delivery, per PY_START.
    out["pyusdt's own share of PY_START"] = {"ns": round(
        out["PY_START"]["ns"] - out["CPython alone: PY_START"]["ns"], 1)}
    return out
