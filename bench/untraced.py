"""Section 1: what pyusdt costs while no tracer is attached.

Each workload runs side by side (turns.lockstep) as plain ``python
workloads.py serve`` twice, as ``python -m pyusdt workloads.py serve``, and
as plain python with one idle thread: the processes take turns, one
repetition of a few ms each, in rounds of fresh processes (each drawing a
random heap and call depth: workloads.shuffle_heap, at_random_depth).  The
result is the median, over all cycles, of pyusdt's time over plain's in
the same cycle (target: at most 1.01); the same over the quiet cycles (see
turns.py) is kept beside it.  The second plain
process is the control: plain over plain, what the same comparison gives
where there is nothing to find, shows how finely this machine resolved in
this run.  The idle thread is the reference for what pyusdt's poller
thread costs by existing: glibc's malloc and free skip their locks and
atomic operations while a process has one thread, and take them for good
once a second thread has been created (measured in C on this VM: 18 ns
per malloc+free of 600-2,100 bytes with one thread, 27 ns with a second
one asleep), so a program heavy on blocks above obmalloc's 512 bytes
(json+re) pays about 1% for any thread, pyusdt's included.  Section
"instructions" counts each workload's instructions per unit of work with
and without pyusdt (valgrind), which must be equal.
Also: fib with the poller at its fastest (PYUSDT_CHECK_MSEC=1), in fib's
rounds (no target: the default is 100), and start-up time (python -c pass
vs python -m pyusdt -c pass), which the ratios leave out.
"""

from __future__ import annotations

import subprocess
import time

from children import child_env
from common import WORKLOADS, Context, Target, log
from stats import median, rotated
from turns import lockstep, paired_figure, raw

TARGET_RATIO = 1.01

# Workload sizes: one repetition takes 3-6 ms on a quiet machine.
SIZES = {"fib": 23, "oo": 80, "gen": 40000, "stdlib": 80}
POLL_1MS = "fib, poll every 1 ms"
IDLE_THREAD = "plain, idle thread"
# Rounds are added (up to twice as many) until this many cycles are quiet.
MIN_QUIET = (40, 100)   # quick, full


def _startup_ms(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def _configs(target: Target, name: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    py = target.python.path
    args = [WORKLOADS, "serve", name, str(SIZES[name])]
    configs = {
        "plain": ([py, *args], child_env()),
        "plain, control": ([py, *args], child_env()),
        "pyusdt": ([py, "-m", "pyusdt", *args], child_env(target.armed[0])),
        IDLE_THREAD: ([py, *args, "--idle-thread", "yes"], child_env()),
    }
    if name == "fib":
        configs[POLL_1MS] = ([py, "-m", "pyusdt", *args],
                             child_env(target.armed[0], PYUSDT_CHECK_MSEC="1"))
    return configs


def _entry(name: str, rounds: list, measured: str, cycles: int,
           target: float | None = TARGET_RATIO, size: int | None = None) -> dict[str, object]:
    # N.B. over all cycles: a ratio of two repetitions of one cycle does not
    # depend on how fast the machine was then (both ran at that speed), so
    # every cycle counts; the quiet ones alone are a tenth as many.
    ratio = paired_figure(rounds, ["plain", measured], lambda t: t[measured] / t["plain"])
    control = paired_figure(rounds, ["plain", "plain, control"],
                            lambda t: t["plain, control"] / t["plain"])
    result = {
        "workload": "%s(%d), %d rounds of %d turns" % (name, size or SIZES[name],
                                                     len(rounds), cycles),
        "ratio": ratio["all_cycles"]["median"],
        "cycles": ratio,
        "control": control["all_cycles"]["median"],
        "control_cycles": control,
        "plain_ms": round(min(min(t.cpu_ns["plain"]) for t in rounds) / 1e6, 2),
        "target": target,
    }
    if target is not None:
        result["met"] = result["ratio"] <= target
    return result


def run(ctx: Context, target: Target) -> dict:
    py = target.python.path
    # N.B. many short rounds: each process's speed differs with its layout
    # and heap by a few per cent, which only more processes average out.
    rounds, cycles = ctx.pick((12, 20), (40, 20))
    log("untraced: %s, %d rounds of %d turns" % (target.python.version, rounds, cycles))
    result: dict[str, object] = {}
    for name in SIZES:
        configs = _configs(target, name)
        turns = lockstep(configs, rounds, cycles,
                         [["plain", k] for k in configs if k != "plain"],
                         min_quiet=ctx.pick(*MIN_QUIET), max_rounds=2 * rounds)
        result[name] = _entry(name, turns, "pyusdt", cycles)
        result[name + ", idle thread"] = _entry(name, turns, IDLE_THREAD, cycles,
                                                target=None)
        result[name]["raw_cpu_ns"] = raw(turns)
        if name == "fib":
            # Not the default: 1000 wake-ups a second, each costing what a
            # timer wake-up costs this (virtual) machine.
            result[POLL_1MS] = _entry(name, turns, POLL_1MS, cycles, target=None)
    startup: dict[str, list[float]] = {"plain": [], "pyusdt": []}
    for r in range(ctx.pick(7, 15)):
        for label, cmd, env in rotated(
                [("plain", [py, "-c", "pass"], child_env()),
                 ("pyusdt", [py, "-m", "pyusdt", "-c", "pass"],
                  child_env(target.armed[0]))], r):
            startup[label].append(_startup_ms(cmd, env))
    result["startup_ms"] = {label: round(median(v), 2) for label, v in startup.items()}
    return result
