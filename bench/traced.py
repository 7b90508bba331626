"""Section 3: what an event costs with bpftrace attached, against the floor.

One bpftrace program counts events by pid, attached by path (system-wide) to
both a private copy of libpyusdt.so and to bench/floor (a C loop firing
probes declared like pyusdt's): the same BPF program runs for both.  Four
processes take turns (turns.lockstep): fib under plain python, fib under
python -m pyusdt (traced), the floor untraced (a copy nobody attaches to)
and traced, in rounds of fresh processes.  Per event, for pyusdt and for the
floor: the median, over the quiet cycles (see turns.py), of (traced -
plain) / events in the same cycle; their ratio's target is at most 1.15.
The same over all cycles is kept in results.json.  Done for PY_START, then
PY_START+PY_RETURN.

Events are checked, not assumed: bpftrace's count for each floor run must be
exactly what it fired, and a separate run keyed by function name must count
exactly fib's calls for each probe.
"""

from __future__ import annotations

import time

from children import child_env, run_json
from common import WORKLOADS, BenchError, Context, Target, log
from tracing import session, wait_attached
from turns import lockstep, paired_figure, raw

TARGET_RATIO = 1.15
# The cycles whose figures count: those in which both traced runs, the
# figures' main part, ran at their quiet speed (see turns.py).
QUIET_FOR = ["python traced", "floor traced"]


def _program(probes: list[str], paths: list[str], action: str) -> str:
    attach_points = ", ".join("usdt:%s:pyusdt:%s" % (path, probe)
                              for path in paths for probe in probes)
    return "%s { %s }" % (attach_points, action)


def _wait_attached(ctx: Context, target: Target, probes: list[str],
                   floor: bool) -> None:
    """Waits until the semaphores of PROBES are raised in new processes
    mapping the traced library (and the traced floor)."""
    wait_attached(target.python.path, target.traced[0], probes)
    deadline = time.monotonic() + 30
    while floor:
        sems = run_json([ctx.floor_traced, "loop", "1", "1"])["semaphores"]
        if all(sems[i] for i, p in enumerate(["PY_START", "PY_RETURN"]) if p in probes):
            return
        if time.monotonic() > deadline:
            raise BenchError("bpftrace did not attach the floor's %s within 30 s"
                             % ",".join(probes))
        time.sleep(0.1)


def verify_counts(ctx: Context, target: Target, probes: list[str], size: int) -> dict:
    """Counts events by probe and function name over one fib(SIZE): each
    probe must have fired exactly once per call."""
    lib = target.traced[1]
    program = " ".join("usdt:%s:pyusdt:%s { @%s[str(arg0)] = count(); }"
                       % (lib, probe, probe) for probe in probes)
    with session(ctx, program) as tracer:
        _wait_attached(ctx, target, probes, floor=False)
        result = run_json([target.python.path, "-m", "pyusdt", WORKLOADS, "time",
                           "fib", str(size), "1", "--expect-enabled", ",".join(probes)],
                          child_env(target.traced[0]))
        tracer.stop()
    counts = {probe: tracer.maps().get("@" + probe, {}).get("fib", 0) for probe in probes}
    return {"calls": result["calls"], "counted": counts,
            "exact": all(c == result["calls"] for c in counts.values())}


def measure(ctx: Context, target: Target, probes: list[str]) -> dict:
    py = target.python.path
    size, floor_n = 20, 20000
    rounds, cycles = ctx.pick((4, 10), (10, 20))
    label = "+".join(probes)
    program = _program(probes, [target.traced[1], ctx.floor_traced], "@[pid] = count();")
    args = [WORKLOADS, "serve", "fib", str(size)]
    configs = {
        "python": ([py, *args], child_env()),
        "python traced": ([py, "-m", "pyusdt", *args, "--expect-enabled", ",".join(probes)],
                          child_env(target.traced[0])),
        "floor": ([ctx.floor_plain, "serve", str(floor_n)], None),
        "floor traced": ([ctx.floor_traced, "serve", str(floor_n)], None),
    }
    log("traced %s: %s, %d rounds of %d turns" % (label, target.python.version, rounds, cycles))
    with session(ctx, program) as tracer:
        _wait_attached(ctx, target, probes, floor=True)
        turns = lockstep(configs, rounds, cycles, [QUIET_FOR],
                         min_quiet=ctx.pick(20, 40), max_rounds=2 * rounds)
        tracer.stop()
    calls = turns[0].hello["python traced"]["calls"]
    events = {"pyusdt": calls * len(probes), "floor": floor_n * len(probes)}
    reps = cycles + 1   # and one warm-up repetition
    counts = tracer.maps().get("@", {})
    # Every floor event fired must have been counted; a Python process makes
    # exactly its events per repetition, and a few thousand more starting up.
    floor_counted = [counts.get(str(t.pid["floor traced"]), 0) for t in turns]
    if not all(c == events["floor"] * reps for c in floor_counted):
        raise BenchError("bpftrace counted %s floor events, expected %d each\n"
                         "program: %s\noutput:\n%s\nstderr:\n%s"
                         % (floor_counted, events["floor"] * reps, program,
                            "\n".join(tracer.lines), "\n".join(tracer.errors())))
    startup_events = [counts.get(str(t.pid["python traced"]), 0) - events["pyusdt"] * reps
                      for t in turns]
    pyusdt_ns = paired_figure(
        turns, QUIET_FOR, lambda t: (t["python traced"] - t["python"]) / events["pyusdt"], 1)
    floor_ns = paired_figure(
        turns, QUIET_FOR, lambda t: (t["floor traced"] - t["floor"]) / events["floor"], 1)
    ratio = pyusdt_ns["median"] / floor_ns["median"]
    return {
        "probes": probes,
        "program": program,
        "workload": "fib(%d) against floor serve %d, %d rounds of %d turns"
                    % (size, floor_n, len(turns), cycles),
        "pyusdt_ns": pyusdt_ns["median"],
        "floor_ns": floor_ns["median"],
        "ratio": round(ratio, 3),
        "target": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
        "cycles": {"pyusdt_ns": pyusdt_ns, "floor_ns": floor_ns,
                   "ratio, all cycles": round(pyusdt_ns["all_cycles"]["median"]
                                              / floor_ns["all_cycles"]["median"], 3)},
        "floor_counts_exact": True,
        "startup_events": [min(startup_events), max(startup_events)],
        "verified": verify_counts(ctx, target, probes, size),
        "raw_cpu_ns": raw(turns),
    }


def run(ctx: Context, target: Target) -> dict:
    return {"+".join(p): measure(ctx, target, p)
            for p in (["PY_START"], ["PY_START", "PY_RETURN"])}
