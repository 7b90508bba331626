"""pyusdt beside other tools, with every probe attached: profilers
(cProfile on PROFILER_ID, profile through sys.setprofile), a coverage tool
on COVERAGE_ID that DISABLEs what it has seen, debuggers (a DEBUGGER_ID tool
with a breakpoint, pdb), settrace and setprofile tracers, and programs that
take every tool id there is.  Each tool sees exactly what it sees untraced;
neither side gets an exception."""

from __future__ import annotations

import unittest

from tests import support
from tests.integration.reliability_support import (ALL, MONITORING_PROBES, PER_EVENT,
                                                   PrivateCopy)

TOOLS = support.target("reliability_tools.py")
#: Every probe but CALL: see test_profile_module_...
ALL_BUT_CALL = ",".join(p for p in MONITORING_PROBES if p != "CALL") + ",GC_START,GC_DONE,MARK"
NO_TOOL_ID = ("pyusdt: no free sys.monitoring tool id (3, 4 and 5 are in use); "
              "probes stay silent until one is freed\n")


class OtherTools(PrivateCopy):
    def check(self, scenario: str, force: str = ALL) -> None:
        untraced, traced = self.run_both([TOOLS, scenario], force)
        self.assertEqual(untraced.returncode, 0, untraced.stderr)
        self.assertSameRun(untraced, traced, scenario)
        self.assertTrue(traced.stdout.endswith("pyusdt tool True\n"), traced.stdout)

    def test_cprofile_counts_the_same_calls(self):
        self.check("cprofile")

    def test_profile_module_counts_the_same_calls_without_call_probe(self):
        # N.B. with any sys.monitoring tool watching CALL (pyusdt's CALL
        # probe, or any other), CPython reports the c_return of the
        # sys.setprofile() call that starts profiling, and profile.Profile
        # fails its "Bad return" assertion: a CPython limitation.
        self.check("profile", ALL_BUT_CALL)

    def test_coverage_tool_disabling_lines_sees_every_line(self):
        self.check("coverage")

    def test_debugger_tool_breakpoint_hits_as_often(self):
        self.check("debugger")

    def test_pdb_session_prints_the_same(self):
        self.check("pdb")

    def test_settrace_tracer_sees_the_same_events(self):
        self.check("settrace")

    def test_setprofile_profiler_sees_the_same_events(self):
        self.check("setprofile")

    def test_threading_settrace_traces_new_threads_the_same(self):
        self.check("threading-settrace")

    def test_program_taking_every_free_tool_id_after_pyusdt_works(self):
        self.check("every-tool-id", PER_EVENT)

    def assert_profile_counts_fib(self, args: list[str]) -> None:
        """ARGS runs cProfile on TOOLS' workload: untraced and with every
        probe forced, its report counts fib's 287 calls."""
        untraced, traced = self.run_both(args)
        for run in (untraced, traced):
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertRegex(run.stdout, r"(?m)^ +287/1 .*\(fib\)$")

    def test_cprofile_running_the_pyusdt_cli_reports_the_programs_calls(self):
        self.assert_profile_counts_fib(
            ["-m", "cProfile", "-s", "ncalls", "-m", "pyusdt", TOOLS, "settrace"])

    def test_pyusdt_cli_running_cprofile_reports_the_programs_calls(self):
        self.assert_profile_counts_fib(
            ["-m", "pyusdt", "-m", "cProfile", "-s", "ncalls", TOOLS, "settrace"])


class NoFreeToolId(PrivateCopy):
    """A program that takes every tool id before pyusdt can: one message,
    the program unharmed, and pyusdt takes an id as soon as one is free."""

    CODE = """
import sys, time
M = sys.monitoring
for tool in range(6):
    M.use_tool_id(tool, "hog-%d" % tool)
import pyusdt
def work():
    return sum(range(10))
for _ in range(50):
    work()
    time.sleep(0.005)
print("while held", pyusdt.status().tool_id)
M.free_tool_id(4)
deadline = time.monotonic() + 30
while pyusdt.status().tool_id is None and time.monotonic() < deadline:
    time.sleep(0.005)
print("after free", pyusdt.status().tool_id, M.get_tool(4))
"""

    def test_no_free_tool_id_is_said_once_then_a_freed_id_is_taken(self):
        run = self.run_target(["-c", self.CODE], PER_EVENT, PYUSDT_CHECK_MSEC="1")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "while held None\nafter free 4 pyusdt\n")
        self.assertEqual(run.stderr, NO_TOOL_ID)

    def test_call_stats_without_a_free_tool_id_says_so_once_too(self):
        # pyusdt's probes take the freed id first (pyusdt_sync applies them
        # before the counting); the counting, left without one, says so
        # once, not at every poll.
        run = self.run_target(["-c", self.CODE], ALL, PYUSDT_CHECK_MSEC="1")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "while held None\nafter free 4 pyusdt\n")
        self.assertEqual(run.stderr, NO_TOOL_ID + "pyusdt: CALL_STATS: starting failed: "
                         "RuntimeError: no free sys.monitoring tool id\n")

    def test_no_free_tool_id_untraced_says_nothing(self):
        run = self.run_target(["-c", self.CODE.replace("while pyusdt", "while False and "
                                                                      "pyusdt")])
        self.assertEqual((run.returncode, run.stderr), (0, ""), run.stderr)
        self.assertEqual(run.stdout, "while held None\nafter free None None\n")


class RefusingAuditHook(PrivateCopy):
    """A program whose audit hook refuses sys.monitoring callbacks (they are
    audited by CPython): the probes stay silent, pyusdt says so once, and
    the hook's exception is told without running its __str__."""

    CODE = """
import sys, time
class Refused(Exception):
    def __str__(self):
        print("the exception's __str__ ran", flush=True)
        return "refused"
def hook(event, args):
    if event == "sys.monitoring.register_callback":
        raise Refused("policy: no monitoring callbacks")
sys.addaudithook(hook)
import pyusdt
def work():
    return 1
for _ in range(100):
    work()
    time.sleep(0.002)
print("enabled", pyusdt.status().enabled)
"""

    def test_refused_update_is_said_once_and_the_program_runs_on(self):
        run = self.run_target(["-c", self.CODE], PER_EVENT, PYUSDT_CHECK_MSEC="1")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "enabled ()\n")
        self.assertEqual(run.stderr, "pyusdt: sys.monitoring update failed: Refused: "
                         "policy: no monitoring callbacks\n")


if __name__ == "__main__":
    unittest.main()
