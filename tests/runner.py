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


class CountingResult(unittest.TextTestResult):
    """Counts tests, not reports: a test whose subtests fail twice is one
    failed test, and a test skipped by its class is one skipped test on
    every version (3.12 leaves those out of testsRun).  A failure outside
    any test (setUpClass, a module that does not import) counts as one
    failed test of its own."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.started: set[str] = set()

    def startTest(self, test: unittest.TestCase) -> None:
        self.started.add(test.id())
        super().startTest(test)

    @staticmethod
    def _id(test: unittest.TestCase) -> str:
        # A subtest's failure is its test's.
        return getattr(test, "test_case", test).id()

    def counts(self) -> tuple[int, int, int]:
        failed = {self._id(t) for t, _ in self.failures + self.errors}
        failed |= {self._id(t) for t in self.unexpectedSuccesses}
        skipped = {self._id(t) for t, _ in self.skipped} - failed
        tests = self.started | failed | skipped
        return len(tests - failed - skipped), len(failed), len(skipped)


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
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout,
                                     resultclass=CountingResult)
    result = runner.run(suite)
    passed, failed, skipped = result.counts()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    if args.summary:
        with open(args.summary, "w") as out:
            json.dump({"passed": passed, "failed": failed, "skipped": skipped}, out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
