"""Substantial real programs: test modules of CPython's own test suite (it
ships with the interpreter) run under python -m pyusdt with every probe
attached must give every test the outcome it has in a plain `python` run.

Two exceptions, each a property of CPython rather than of pyusdt, are
checked apart:
  - test_monitoring asserts that no sys.monitoring tool but its own is
    active; while probes are attached pyusdt is one.  Not run.
  - profile.Profile (test_profile, test_cprofile's profile half) fails its
    "Bad return" assertion whenever any sys.monitoring tool watches CALL
    events: CPython then reports the C return of the very sys.setprofile()
    call that starts profiling.  test_sys_setprofile's
    test_method_with_c_function sees the same stray event (seen with a
    BaseException callback on CALL too).  Run with every probe but CALL.
  - pdb.set_trace() (test_pdb's doctests) on 3.13 stops on the line after
    the call instead of the call's own line whenever any sys.monitoring
    tool watches PY_START, PY_RESUME, PY_RETURN, PY_YIELD or LINE events
    (seen with a tool whose callback is BaseException: no pyusdt code at
    all; coverage.py users report the same).  Run with the other probes.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import unittest

from tests import support
from tests.e2e import bpf
from tests.e2e import reliability_harness as harness
from tests.stress.support import QUICK, Private

RUNNER = os.path.join(support.REPO, "tests", "stress", "stdlib_runner.py")

#: Quick, deterministic modules that need no network or GUI, exercising
#: what probes report: generators, coroutines, exceptions, tracing and
#: profiling hooks, threads, the garbage collector, weak references.
MODULES = ("test_generators", "test_coroutines", "test_contextlib", "test_contextlib_async",
           "test_exceptions", "test_raise", "test_with", "test_scope", "test_functools",
           "test_itertools", "test_collections", "test_dataclasses", "test_json", "test_re",
           "test_traceback", "test_sys_settrace", "test_bdb",
           "test_gc", "test_weakref", "test_threading")
QUICK_MODULES = ("test_generators", "test_exceptions", "test_contextlib", "test_gc")
#: Under real bpftrace, every probe counted: fewer, as every event is a
#: uprobe hit.
TRACED_MODULES = ("test_generators", "test_coroutines", "test_contextlib",
                  "test_exceptions", "test_threading")
PROFILE_MODULES = ("test_profile", "test_cprofile", "test_sys_setprofile")
PDB_MODULES = ("test_pdb",)


def every_probe_but(*left_out: str) -> str:
    """A PYUSDT_FORCE value: every probe except LEFT_OUT."""
    return ",".join(p for p in bpf.ALL_PROBES if p not in left_out)


ALL_BUT_CALL = every_probe_but("CALL")
#: pdb.set_trace() stops a line later on 3.13 while any tool watches these.
PDB_PROBES = every_probe_but("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "LINE")
TIMEOUT = 1800


def outcomes(root: str, modules, *, pyusdt: bool, **env: str) -> tuple[dict, str]:
    """Each test's outcome in one run of MODULES: plain python, or under
    python -m pyusdt.  Also the run's output (failure tracebacks)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        args = (["-m", "pyusdt"] if pyusdt else []) + [RUNNER, out.name] + [
            "test." + name for name in modules]
        run = subprocess.run([support.PYTHON, *args], cwd=root,
                             env=support.env(PYTHONPATH=root, **env),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=TIMEOUT)
        try:
            return json.load(out), run.stdout
        except ValueError:
            return {"<runner died with status %d>" % run.returncode: "error"}, run.stdout


class StandardLibraryTests(Private):
    def compare(self, modules, minimum: int, **traced_env: str) -> dict:
        """Runs MODULES untraced and traced, expecting at least MINIMUM
        tests; the traced outcomes."""
        expected, _ = outcomes(self.root, modules, pyusdt=False)
        seen, output = outcomes(self.root, modules, pyusdt=True, **traced_env)
        self.assertGreaterEqual(len(expected), minimum, expected)
        differences = {test: (expected.get(test), seen.get(test))
                       for test in sorted(set(expected) | set(seen))
                       if expected.get(test) != seen.get(test)}
        self.assertEqual(differences, {}, "(untraced, traced) outcomes differ; traced "
                         "run's failures:\n%s" % output[-20000:])
        return seen

    def test_stdlib_tests_have_the_same_outcomes_with_every_probe_attached(self):
        seen = self.compare(QUICK_MODULES if QUICK else MODULES, 100 if QUICK else 2000,
                            PYUSDT_FORCE="all")
        print("  %d tests, %d passed" % (len(seen), list(seen.values()).count("pass")),
              flush=True)

    def test_profile_tests_have_the_same_outcomes_with_every_probe_but_call(self):
        self.compare(PROFILE_MODULES, 15, PYUSDT_FORCE=ALL_BUT_CALL)

    def test_pdb_tests_have_the_same_outcomes_with_the_probes_that_leave_it_be(self):
        self.compare(PDB_MODULES, 50, PYUSDT_FORCE=PDB_PROBES)

    def test_stdlib_tests_have_the_same_outcomes_under_real_bpftrace(self):
        modules = QUICK_MODULES[:2] if QUICK else TRACED_MODULES
        expected, _ = outcomes(self.root, modules, pyusdt=False)
        tracer = harness.attached(harness.counting_program(bpf.ALL_PROBES, self.lib))
        try:
            seen, output = outcomes(self.root, modules, pyusdt=True)
        finally:
            tracer.stop()
        self.assertEqual(seen, expected, output[-20000:])
        counts = harness.counts(tracer.lines)
        fired = {probe for per_pid in counts.values() for probe, n in per_pid.items() if n}
        self.assertEqual(set(bpf.ALL_PROBES) - {"MARK"} - fired, set(), counts)


if __name__ == "__main__":
    unittest.main()
