"""Runs pyusdt's stress tests (minutes long) under the current interpreter.

Usage: python tests/stress/run.py [-k PATTERN ...] [--quick]

Discovers tests/stress/test_*.py, prints one line per test, then
'N passed, N failed, N skipped'.  --quick (or PYUSDT_STRESS_QUICK=1) runs
each test at a tenth of its size: the same checks, for trying them out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="patterns", action="append", default=None,
                        help="only tests whose name contains this (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of each test's size")
    args = parser.parse_args()
    if args.quick:
        os.environ["PYUSDT_STRESS_QUICK"] = "1"
    sys.path.insert(0, REPO)
    from tests import support
    support.restore_sigint()
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in args.patterns]
    suite = loader.discover(os.path.join(REPO, "tests", "stress"), pattern="test_*.py",
                            top_level_dir=REPO)
    print("Python %s: %d stress tests" % (sys.version.split()[0], suite.countTestCases()),
          flush=True)
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("stress: %.0f s" % (time.monotonic() - start))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
