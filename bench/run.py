"""pyusdt's benchmark (``make bench``): untraced overhead, in-process and
traced cost per event against a C floor, attach latency, CPython 3.11's own
markers for comparison, and memory; for every CPython >= 3.12 found.

Usage: python bench/run.py [--quick] [--python PATH ...] [--only SECTIONS]
                           [--cc CC] [--bpftrace BPFTRACE] [--json PATH]

Sections, in order: untraced (1), inprocess (2), instructions (2 again,
counted by valgrind), traced (3), attach (4), memory (6), process_attach
(7: python -m pyusdt attach), audit (8: the audit hook after a detach),
startup (9: arming's cost in instructions), callstats (10: CALL_STATS against
cProfile), each per Python; then peer (5).  Each module's docstring says how it measures.  Prints
progress on stderr, then a Markdown table on stdout, and writes every
measurement (raw values included) to bench/results.json.  traced, attach
and peer need root and bpftrace, instructions needs valgrind: without them
they are skipped, with the reason.  Timings run the configurations they
compare side by side, taking turns (turns.py): the machine
may be busy with other work, and results.json records its load average
before and after.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import attach
import audit
import inprocess
import process_attach
import instructions
import startup
import callstats
import memory
import peer
import traced
import untraced
from common import (BENCH, FAILURES, PEER_PYTHON, REPO, BenchError, Context, Target,
                    bpftrace, log)
from sandbox import PythonInfo, Sandbox
from report import table

# Section name: (module, needs bpftrace).  Run in this order.
SECTIONS = {
    "untraced": (untraced, False),
    "inprocess": (inprocess, False),
    "instructions": (instructions, False),
    "traced": (traced, True),
    "attach": (attach, True),
    "memory": (memory, False),
    "process_attach": (process_attach, True),
    "audit": (audit, False),
    "startup": (startup, False),
    "callstats": (callstats, False),
}


def find_pythons() -> list[str]:
    out = subprocess.run([os.path.join(REPO, "scripts", "find-python"), "--all"],
                         stdout=subprocess.PIPE, text=True)
    return [line for line in out.stdout.splitlines() if line]


def build(python: str) -> None:
    proc = subprocess.run(["make", "-s", "-C", REPO, "lib", "PYTHON=" + python],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise BenchError("make lib PYTHON=%s failed:\n%s" % (python, proc.stdout))


def machine(bpftrace: str) -> dict[str, object]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        version = subprocess.run([bpftrace, "--version"], stdout=subprocess.PIPE,
                                 text=True).stdout.strip()
    except OSError:
        version = None
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?"),
            "bpftrace": version, "loadavg_before": os.getloadavg()}


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and smaller workloads (about 3x faster)")
    parser.add_argument("--python", action="append", default=[],
                        help="interpreter to measure (repeatable; default: all found)")
    parser.add_argument("--only", default="",
                        help="comma-separated sections: %s,peer" % ",".join(SECTIONS))
    parser.add_argument("--cc", default=os.environ.get("CC", "cc"),
                        help="compiler for bench/floor.c")
    parser.add_argument("--bpftrace", default=os.environ.get("BPFTRACE", "bpftrace"))
    parser.add_argument("--json", default=os.path.join(BENCH, "results.json"),
                        help="where to write the results (default: bench/results.json)")
    args = parser.parse_args()
    # Paths given relative to where we were started (we chdir later).
    args.json = os.path.abspath(args.json)
    args.python = [os.path.abspath(p) if os.sep in p else p for p in args.python]
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SECTIONS) - {"peer"}
    if unknown:
        parser.error("unknown section(s): %s" % ",".join(sorted(unknown)))
    wanted = only or [*SECTIONS, "peer"]

    pythons = args.python or find_pythons()
    if not pythons:
        print("bench: no CPython >= 3.12 found", file=sys.stderr)
        return 1
    started = time.monotonic()
    results: dict[str, object] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "quick": args.quick,
        "machine": machine(args.bpftrace),
        "pythons": {},
    }
    sandbox = Sandbox()
    # N.B. children run in the sandbox: `python -m pyusdt` puts the current
    # directory first on sys.path, and must find the private copy given by
    # PYTHONPATH, not the checkout's own pyusdt.
    cwd = os.getcwd()
    os.chdir(sandbox.root)
    ctx = Context(quick=args.quick, bpftrace=args.bpftrace, cc=args.cc,
                  sandbox=sandbox, no_bpftrace=bpftrace.unusable(args.bpftrace))
    try:
        ctx.floor_plain = sandbox.floor(args.cc, "floor-plain")
        ctx.floor_traced = sandbox.floor(args.cc, "floor-traced")
        for path in pythons:
            info = PythonInfo.probe(path)
            log("building for Python %s (%s)" % (info.version, path))
            entry: dict[str, object] = {"path": path}
            results["pythons"][info.version] = entry
            try:
                build(path)
            except FAILURES as exc:
                log(str(exc))
                entry.update({name: {"failed": "build failed"} for name in wanted
                              if name in SECTIONS})
                continue
            target = Target(info, sandbox.pyusdt(info, "armed"),
                            sandbox.pyusdt(info, "traced"),
                            sandbox.pyusdt(info, "attach"))
            for name in wanted:
                if name not in SECTIONS:
                    continue
                module, needs_bpftrace = SECTIONS[name]
                if needs_bpftrace and ctx.no_bpftrace:
                    entry[name] = {"skipped": ctx.no_bpftrace}
                    continue
                try:
                    entry[name] = module.run(ctx, target)
                except FAILURES as exc:
                    log("%s failed on %s: %s" % (name, info.version, exc))
                    entry[name] = {"failed": str(exc)}
        if "peer" in wanted:
            if ctx.no_bpftrace:
                results["peer"] = {"skipped": ctx.no_bpftrace}
            elif not os.path.exists(PEER_PYTHON):
                results["peer"] = {"skipped": "%s not found" % PEER_PYTHON}
            else:
                try:
                    results["peer"] = peer.run(ctx)
                except FAILURES as exc:
                    log("peer failed: %s" % exc)
                    results["peer"] = {"failed": str(exc)}
        if "attach" in wanted and not ctx.no_bpftrace:
            try:
                results["attach_floor"] = attach.run_floor(ctx)
            except FAILURES as exc:
                log("attach floor failed: %s" % exc)
                results["attach_floor"] = {"failed": str(exc)}
    finally:
        os.chdir(cwd)
        sandbox.close()
    results["machine"]["loadavg_after"] = os.getloadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print(table(results))
    log("wrote %s in %.0f s" % (os.path.relpath(args.json), results["seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
