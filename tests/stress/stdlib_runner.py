"""Runs test modules of CPython's own test suite with unittest and writes
each test's outcome as JSON, so that two runs can be compared test by test.

Usage: python [-m pyusdt] stdlib_runner.py OUT.json MODULE [MODULE ...]

OUT.json maps each test id to "pass", "fail", "error", "skip",
"expected-failure" or "unexpected-success", and "<load MODULE>" to "error"
when a module cannot be loaded.  Failure tracebacks go to stdout.
"""

import json
import sys
import unittest


class Outcomes(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.outcomes = {}

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes.setdefault(test.id(), "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = "fail"

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[test.id()] = "error"

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[test.id()] = "skip"

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.outcomes[test.id()] = "expected-failure"

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.outcomes[test.id()] = "unexpected-success"

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self.outcomes[test.id()] = "fail" if failed else "error"


def main(argv):
    out, modules = argv[0], argv[1:]
    result = Outcomes()
    for module in modules:
        try:
            suite = unittest.defaultTestLoader.loadTestsFromName(module)
        except Exception as exc:
            result.outcomes["<load %s>" % module] = "error"
            print("cannot load %s: %r" % (module, exc))
            continue
        suite.run(result)
    for test, trace in result.failures + result.errors:
        print("=== %s\n%s" % (test, trace))
    with open(out, "w") as file:
        json.dump(result.outcomes, file, indent=0, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
