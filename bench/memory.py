"""Section 6: memory.  The resident set size after 10 million events must
equal the one after 1 million: pyusdt allocates nothing per event, and
whatever it keeps per code object goes with the code object.

Events are CALL, PY_START and PY_RETURN with values of every kind pyusdt
renders ("steady"), and the same with a new code object for every call
("churn").  Forced (PYUSDT_FORCE) always; also under bpftrace, counting by
pid, unless --quick.  A difference under 1 MiB is reported as no growth:
the allocator and the interpreter's own caches move by a few pages.
"""

from __future__ import annotations

from children import child_env, run_json
from common import WORKLOADS, Context, Target, log
from tracing import session, wait_attached

PROBES = ["CALL", "PY_START", "PY_RETURN"]
TOLERANCE_KIB = 1024


def _case(cmd: list[str], env: dict[str, str]) -> dict:
    result = run_json(cmd, env, timeout=900)
    first, last = result["checkpoints"]
    growth = last["rss_kib"] - first["rss_kib"]
    return {"events": [first["events"], last["events"]],
            "rss_kib": [first["rss_kib"], last["rss_kib"]],
            "growth_kib": growth, "met": growth < TOLERANCE_KIB, "pid": result["pid"]}


def run(ctx: Context, target: Target) -> dict:
    py = target.python.path
    checkpoints = ["1000000", "10000000"]
    force = ",".join(PROBES)
    result: dict[str, object] = {"probes": PROBES, "tolerance_kib": TOLERANCE_KIB}
    for kind in ("steady", "churn"):
        log("memory: %s, forced, %s" % (target.python.version, kind))
        cmd = [py, "-m", "pyusdt", WORKLOADS, "memory", kind, *checkpoints,
               "--expect-enabled", force]
        result["forced " + kind] = _case(cmd, child_env(target.armed[0],
                                                        PYUSDT_FORCE=force))
    if ctx.quick or ctx.no_bpftrace:
        result["traced steady"] = {"skipped": "--quick" if ctx.quick
                                   else ctx.no_bpftrace}
        return result
    log("memory: %s, traced by bpftrace, steady" % target.python.version)
    program = "%s { @[pid] = count(); }" % ", ".join(
        "usdt:%s:pyusdt:%s" % (target.traced[1], p) for p in PROBES)
    with session(ctx, program) as tracer:
        wait_attached(py, target.traced[0], PROBES)
        cmd = [py, "-m", "pyusdt", WORKLOADS, "memory", "steady", *checkpoints,
               "--expect-enabled", force]
        traced = _case(cmd, child_env(target.traced[0]))
        tracer.stop()
    traced["delivered"] = tracer.maps().get("@", {}).get(str(traced["pid"]), 0)
    result["traced steady"] = traced
    return result
