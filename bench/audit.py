"""Section "audit": what pyusdt's audit hook costs once a tracer has
detached.  A PEP 578 hook cannot be removed: after the first attach of
AUDIT or python:audit it stays, and every audit event calls it, to find
both semaphores zero.  CPython also builds each event's argument tuple only
when some hook exists, which is part of the cost measured.

The workload opens and closes os.devnull (one "open" event each, the
commonest event there is) side by side (turns.lockstep, as untraced.py
does): plain ``python workloads.py serve openclose`` twice (the second is
the control), and ``python -m pyusdt workloads.py serve openclose
--audit-hook detached`` with PYUSDT_FORCE=AUDIT, which adds the hook at
import and then lowers the semaphore as a detaching tracer would, and
``python -m pyusdt`` without the hook.  Result: the median of the hooked
process's time over plain's in the same cycle (target: at most 1.01), and
over pyusdt's without the hook (the hook's own share).
"""

from __future__ import annotations

import shutil

from children import child_env
from common import WORKLOADS, Context, Target, log
from instructions import _instructions
from turns import lockstep, paired_figure, raw
from untraced import MIN_QUIET, TARGET_RATIO, _entry

NAME = "openclose"
SIZE = 300   # one repetition: 1-2 ms on a quiet machine
HOOKED = "pyusdt, audit hook detached"
ARMED = "pyusdt, no audit hook"


def run(ctx: Context, target: Target) -> dict:
    py = target.python.path
    args = [WORKLOADS, "serve", NAME, str(SIZE)]
    configs = {
        "plain": ([py, *args], child_env()),
        "plain, control": ([py, *args], child_env()),
        HOOKED: ([py, "-m", "pyusdt", *args, "--audit-hook", "detached"],
                 child_env(target.armed[0], PYUSDT_FORCE="AUDIT")),
        ARMED: ([py, "-m", "pyusdt", *args], child_env(target.armed[0])),
    }
    rounds, cycles = ctx.pick((12, 20), (40, 20))
    log("audit: %s, %d rounds of %d turns" % (target.python.version, rounds, cycles))
    pairs = [["plain", k] for k in configs if k != "plain"] + [[ARMED, HOOKED]]
    turns = lockstep(configs, rounds, cycles, pairs, min_quiet=ctx.pick(*MIN_QUIET),
                     max_rounds=2 * rounds)
    result = _entry(NAME, turns, HOOKED, cycles, target=TARGET_RATIO, size=SIZE)
    result["raw_cpu_ns"] = raw(turns)
    # The hook's own share: against pyusdt without it (whose poller thread
    # alone costs open+close, which mallocs an 8 KiB buffer, what any
    # second thread costs: see untraced.py).
    result["vs_armed"] = paired_figure(turns, [ARMED, HOOKED],
                                       lambda t: t[HOOKED] / t[ARMED])["all_cycles"]["median"]
    armed = _entry(NAME, turns, ARMED, cycles, target=None, size=SIZE)
    found = {HOOKED: result, ARMED: armed}
    if shutil.which("valgrind"):
        found["instructions per open+close"] = _counted(target)
    return found


# Instructions: open+close counted at two sizes, the difference divided by
# the difference in iterations (start-up cancels out); one hash seed and a
# poller that never wakes keep runs deterministic.
COUNTED_SIZES = (1000, 3000)


def _counted(target: Target) -> dict[str, float]:
    py = target.python.path
    time_args = [WORKLOADS, "time", NAME]
    quiet = {"PYUSDT_CHECK_MSEC": "60000"}
    configs = {
        "plain": ([py, *time_args], child_env()),
        ARMED: ([py, "-m", "pyusdt", *time_args], child_env(target.armed[0], **quiet)),
        HOOKED: ([py, "-m", "pyusdt", *time_args], child_env(target.armed[0], **quiet,
                                                             PYUSDT_FORCE="AUDIT")),
    }
    counts = {}
    for label, (cmd, env) in configs.items():
        tail = ["1", "--audit-hook", "detached"] if label == HOOKED else ["1"]
        low, high = (_instructions([*cmd, str(size), *tail], env) for size in COUNTED_SIZES)
        counts[label] = round((high - low) / (COUNTED_SIZES[1] - COUNTED_SIZES[0]), 1)
    counts["ratio to plain"] = round(counts[HOOKED] / counts["plain"], 4)
    counts["hook's own"] = round(counts[HOOKED] - counts[ARMED], 1)
    log("audit: instructions per open+close %s" % counts)
    return counts
