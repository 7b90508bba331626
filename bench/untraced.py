"""Section 1: what pyusdt costs while no tracer is attached.

Each workload runs as plain ``python workloads.py`` (A) and as ``python -m
pyusdt workloads.py`` (B), in alternating order, round after round; each
process times several repetitions and keeps its fastest.  The result per
workload is B's fastest run over A's (target: at most 1.01;
common.per_event_ns says why fastest).  The median and quartiles of the
per-round ratios are kept too: their spread shows how noisy the machine
was.  N.B. the timing cannot resolve 1% on a busy machine; section
"instructions" counts fib's instructions per call with and without pyusdt,
which must be equal.
Also: the same for fib with the poller at its fastest (PYUSDT_CHECK_MSEC=1),
and start-up time (python -c pass vs python -m pyusdt -c pass), which the
ratios leave out.
"""

from __future__ import annotations

import subprocess
import time

from common import (WORKLOADS, Context, Target, best_cpu_ns, child_env, log,
                    fastest_ratio, median, rotated, run_json, summary)

TARGET_RATIO = 1.01

# name: (size, repetitions per process), each repetition about 50-100 ms.
SIZES = {
    "fib": (27, 5),
    "oo": (800, 5),
    "gen": (400000, 5),
    "stdlib": (800, 5),
}
QUICK_SIZES = {
    "fib": (25, 3),
    "oo": (300, 3),
    "gen": (150000, 3),
    "stdlib": (300, 3),
}


def _startup_ms(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def run(ctx: Context, target: Target) -> dict:
    py = target.python.path
    pythonpath = target.armed[0]
    sizes = ctx.pick(QUICK_SIZES, SIZES)
    rounds = ctx.pick(7, 15)
    cases = {name: (name, {}) for name in sizes}
    cases["fib, poll every 1 ms"] = ("fib", {"PYUSDT_CHECK_MSEC": "1"})
    best: dict[str, dict[str, list[int]]] = {
        case: {"plain": [], "pyusdt": []} for case in cases}
    startup: dict[str, list[float]] = {"plain": [], "pyusdt": []}
    log("untraced: %s, %d rounds" % (target.python.version, rounds))
    for r in range(rounds):
        for case, (name, extra) in cases.items():
            size, reps = sizes[name]
            args = [WORKLOADS, "time", name, str(size), str(reps)]
            plain = ([py, *args], child_env())
            armed = ([py, "-m", "pyusdt", *args], child_env(pythonpath, **extra))
            for label, (cmd, env) in rotated([("plain", plain), ("pyusdt", armed)], r):
                best[case][label].append(best_cpu_ns(run_json(cmd, env)))
        for label, cmd, env in rotated(
                [("plain", [py, "-c", "pass"], child_env()),
                 ("pyusdt", [py, "-m", "pyusdt", "-c", "pass"], child_env(pythonpath))], r):
            startup[label].append(_startup_ms(cmd, env))
    result: dict[str, object] = {}
    for case, times in best.items():
        ratio = fastest_ratio(times["plain"], times["pyusdt"])
        result[case] = {
            "workload": "%s(%d) x %d" % ((cases[case][0],) + sizes[cases[case][0]]),
            "ratio": round(ratio, 4),
            "per_round": summary([b / a for a, b in zip(times["plain"], times["pyusdt"])]),
            "fastest_ms": {label: round(min(v) / 1e6, 2) for label, v in times.items()},
            "target": TARGET_RATIO,
            "met": ratio <= TARGET_RATIO,
        }
    result["startup_ms"] = {label: round(median(v), 2) for label, v in startup.items()}
    return result
