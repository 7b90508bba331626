"""Runs the whole test suite on every CPython >= 3.12 found.

Usage: python tests/run_all.py [--python PATH ...] [-k PATTERN]

For each interpreter: builds build/<tag>/libpyusdt.so with make (<tag> is
its cache tag and ABI flags: cpython-314 and cpython-314t for the two
builds of 3.14), then runs tests/runner.py under it.  Ends with the line
'N passed, N failed, N skipped' summed over all interpreters; exits 1 if
anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_pythons() -> list[str]:
    out = subprocess.run([os.path.join(REPO, "scripts", "find-python"), "--all"],
                         stdout=subprocess.PIPE, text=True)
    return [line for line in out.stdout.splitlines() if line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=[],
                        help="interpreter to test (repeatable; default: all found)")
    parser.add_argument("-k", dest="pattern", action="append", default=[],
                        help="only run tests matching this substring")
    args = parser.parse_args()
    pythons = args.python or find_pythons()
    if not pythons:
        print("run_all: no CPython >= 3.12 found", file=sys.stderr)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for python in pythons:
        print("=== %s" % python, flush=True)
        build = subprocess.run(["make", "-s", "-C", REPO, "lib", "PYTHON=" + python])
        if build.returncode != 0:
            print("run_all: build failed for %s" % python, flush=True)
            totals["failed"] += 1
            continue
        with tempfile.NamedTemporaryFile("r", suffix=".json") as summary:
            cmd = [python, os.path.join(REPO, "tests", "runner.py"),
                   "--summary", summary.name]
            for pattern in args.pattern:
                cmd += ["-k", pattern]
            run = subprocess.run(cmd, cwd=REPO)
            try:
                counts = json.load(summary)
            except ValueError:
                counts = {"passed": 0, "failed": 1, "skipped": 0}
            if run.returncode != 0 and counts["failed"] == 0:
                counts["failed"] = 1   # the runner itself died
        for key in totals:
            totals[key] += counts[key]
    print("%d passed, %d failed, %d skipped"
          % (totals["passed"], totals["failed"], totals["skipped"]), flush=True)
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
