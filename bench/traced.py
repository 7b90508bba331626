"""Section 3: what an event costs with bpftrace attached, against the floor.

One bpftrace program counts events by pid, attached by path (system-wide) to
both a private copy of libpyusdt.so and to bench/floor (a C loop firing
probes declared like pyusdt's): the same BPF program runs for both.  Round
by round, in rotating order: fib under plain python, fib under python -m
pyusdt (traced), the floor untraced (a copy nobody attaches to) and traced.
Per event: (fastest traced run - fastest plain run) / events (see
common.per_event_ns); the ratio of pyusdt's to the floor's is the target (at
most 1.15).  Per-round figures are kept in results.json.  Done for PY_START,
then PY_START+PY_RETURN.

Events are checked, not assumed: bpftrace's count for each floor run must be
exactly what it fired, and a separate run keyed by function name must count
exactly fib's calls for each probe.
"""

from __future__ import annotations

import time

from common import (WORKLOADS, BenchError, Context, Session, Target, best_cpu_ns,
                    bpftrace_errors, child_env, log, per_event_ns, rotated, run_json,
                    summary, wait_pyusdt_attached)

TARGET_RATIO = 1.15


def _program(probes: list[str], paths: list[str], action: str) -> str:
    attach_points = ", ".join("usdt:%s:pyusdt:%s" % (path, probe)
                              for path in paths for probe in probes)
    return "%s { %s }" % (attach_points, action)


def _wait_attached(ctx: Context, target: Target, probes: list[str],
                   floor: bool) -> None:
    """Waits until the semaphores of PROBES are raised in new processes
    mapping the traced library (and the traced floor)."""
    wait_pyusdt_attached(target.python.path, target.traced[0], probes)
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
    with Session(ctx.bpftrace, program) as session:
        _wait_attached(ctx, target, probes, floor=False)
        result = run_json([target.python.path, "-m", "pyusdt", WORKLOADS, "time",
                           "fib", str(size), "1", "--expect-enabled", ",".join(probes)],
                          child_env(target.traced[0]))
        session.stop()
    counts = {probe: session.maps.get("@" + probe, {}).get("fib", 0) for probe in probes}
    return {"calls": result["calls"], "counted": counts,
            "exact": all(c == result["calls"] for c in counts.values())}


def measure(ctx: Context, target: Target, probes: list[str]) -> dict:
    py = target.python.path
    size, reps = ctx.pick((21, 3), (23, 5))
    floor_n = ctx.pick(50000, 100000)
    rounds = ctx.pick(5, 9)
    label = "+".join(probes)
    program = _program(probes, [target.traced[1], ctx.floor_traced], "@[pid] = count();")
    args = [WORKLOADS, "time", "fib", str(size), str(reps)]
    runs = {
        "python": ([py, *args], child_env()),
        "python traced": ([py, "-m", "pyusdt", *args, "--expect-enabled", ",".join(probes)],
                          child_env(target.traced[0])),
        "floor": ([ctx.floor_plain, "loop", str(floor_n), str(reps)], None),
        "floor traced": ([ctx.floor_traced, "loop", str(floor_n), str(reps)], None),
    }
    best: dict[str, list[int]] = {name: [] for name in runs}
    results: list[tuple[str, dict]] = []
    log("traced %s: %s, %d rounds" % (label, target.python.version, rounds))
    with Session(ctx.bpftrace, program) as session:
        _wait_attached(ctx, target, probes, floor=True)
        for r in range(rounds):
            for name in rotated(list(runs), r):
                cmd, env = runs[name]
                result = run_json(cmd, env)
                results.append((name, result))
                best[name].append(best_cpu_ns(result))
        session.stop()
    calls = next(res["calls"] for name, res in results if name == "python traced")
    events = {"pyusdt": calls * len(probes), "floor": floor_n * len(probes)}
    counts = session.maps.get("@", {})
    # Every floor event fired must have been counted; a Python run makes
    # exactly its timed events, and a few thousand more starting up.
    floor_counted = [counts.get(str(res["pid"]), 0) for name, res in results
                     if name == "floor traced"]
    if not all(c == events["floor"] * reps for c in floor_counted):
        raise BenchError("bpftrace counted %s floor events, expected %d each\n"
                         "program: %s\noutput:\n%s\nstderr:\n%s"
                         % (floor_counted, events["floor"] * reps, program,
                            "\n".join(line for _, line in session.lines),
                            bpftrace_errors(session.stderr)))
    startup_events = [counts.get(str(res["pid"]), 0) - events["pyusdt"] * reps
                      for name, res in results if name == "python traced"]
    ns = {"pyusdt": per_event_ns(best["python"], best["python traced"], events["pyusdt"]),
          "floor": per_event_ns(best["floor"], best["floor traced"], events["floor"])}
    per_round = {
        who: [(t - p) / events[who] for p, t in zip(best[base], best[base + " traced"])]
        for who, base in (("pyusdt", "python"), ("floor", "floor"))}
    ratio = ns["pyusdt"] / ns["floor"]
    return {
        "probes": probes,
        "program": program,
        "workload": "fib(%d) x %d" % (size, reps),
        "pyusdt_ns": round(ns["pyusdt"], 1),
        "floor_ns": round(ns["floor"], 1),
        "ratio": round(ratio, 3),
        "target": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
        "per_round": {"pyusdt_ns": summary(per_round["pyusdt"], 1),
                      "floor_ns": summary(per_round["floor"], 1),
                      "ratio": summary([p / f for p, f in zip(per_round["pyusdt"],
                                                              per_round["floor"])], 3)},
        "floor_counts_exact": True,
        "startup_events": [min(startup_events), max(startup_events)],
        "verified": verify_counts(ctx, target, probes, size),
    }


def run(ctx: Context, target: Target) -> dict:
    return {"+".join(p): measure(ctx, target, p)
            for p in (["PY_START"], ["PY_START", "PY_RETURN"])}
