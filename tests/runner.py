"""Runs pyusdt's tests under the current interpreter with unittest.

Usage: python tests/runner.py [--summary FILE] [-k PATTERN]

Discovers tests/unit, tests/integration and tests/e2e in that order, prints
one line per test, then 'N passed, N failed, N skipped'.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = ("unit", "integration", "e2e")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", help="write counts as JSON here")
    parser.add_argument("-k", dest="patterns", action="append", default=None)
    args = parser.parse_args()
    sys.path.insert(0, REPO)
    from tests import support
    support.restore_sigint()
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in args.patterns]
    suite = unittest.TestSuite()
    for name in SUITES:
        suite.addTests(loader.discover(os.path.join(REPO, "tests", name),
                                       pattern="test_*.py", top_level_dir=REPO))
    # 3.14.7t for the free-threaded build: make test runs both.
    print("Python %s%s: %d tests" % (sys.version.split()[0], sys.abiflags,
                                     suite.countTestCases()), flush=True)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    if args.summary:
        with open(args.summary, "w") as out:
            json.dump({"passed": passed, "failed": failed, "skipped": skipped}, out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
