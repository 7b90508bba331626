"""Other tools and hostile values under real bpftrace: a coverage tool that
DISABLEs every line it has seen does not hide a single line from pyusdt,
cProfile and pyusdt both see every call, and a program full of hostile
objects behaves as untraced while every probe delivers bounded values."""

from __future__ import annotations

import collections
import unittest

from tests import support
from tests.e2e import bpf
from tests.e2e import reliability_harness as harness

TOOLS = support.target("reliability_tools.py")
HOSTILE = support.target("reliability_hostile.py")
FIB_CALLS = 287   # fib(11)


def body_line(path: str, function: str) -> int:
    """The line after "def FUNCTION(" in PATH."""
    with open(path) as source:
        for number, text in enumerate(source, 1):
            if text.startswith("def %s(" % function):
                return number + 1
    raise LookupError(function)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ToolsUnderTracer(bpf.PrivateCopyCase):

    def traced_and_untraced(self, scenario: str, probes):
        args = [TOOLS, scenario]
        untraced = harness.run_to_end(args, self.root)
        program = bpf.probe_program(probes, file_filter=TOOLS, lib=self.lib)
        trace = bpf.trace_system(program, args, launcher=False, cwd=self.root,
                                 PYTHONPATH=self.root)
        self.assertEqual(untraced.returncode, 0, untraced.stderr)
        self.assertEqual((trace.stdout, trace.stderr, trace.returncode),
                         (untraced.stdout, untraced.stderr, untraced.returncode),
                         trace.describe())
        return trace

    def test_lines_a_coverage_tool_disables_still_reach_pyusdt(self):
        trace = self.traced_and_untraced("coverage", ("LINE", "PY_START"))
        line = body_line(TOOLS, "fib")
        lines = collections.Counter(e.line for e in trace.events
                                    if e.probe == "LINE" and e.function == "fib")
        # The coverage tool ran the workload twice and saw each line once.
        self.assertEqual(lines[line], 2 * FIB_CALLS, trace.describe())
        starts = sum(e.probe == "PY_START" and e.function == "fib" for e in trace.events)
        self.assertEqual(starts, 2 * FIB_CALLS, trace.describe())

    def test_cprofile_and_pyusdt_both_see_every_call(self):
        trace = self.traced_and_untraced("cprofile", ("PY_START", "PY_RETURN", "CALL"))
        self.assertIn("('fib', 287, 1)", trace.stdout)
        starts = sum(e.probe == "PY_START" and e.function == "fib" for e in trace.events)
        returns = sum(e.probe == "PY_RETURN" and e.function == "fib" for e in trace.events)
        self.assertEqual((starts, returns), (FIB_CALLS, FIB_CALLS), trace.describe())

    def test_debugger_tool_and_pyusdt_both_see_the_breakpoint_line(self):
        trace = self.traced_and_untraced("debugger", ("LINE",))
        line = body_line(TOOLS, "fib")
        hits = sum(e.probe == "LINE" and e.function == "fib" and e.line == line
                   for e in trace.events)
        self.assertEqual(hits, FIB_CALLS, trace.describe())
        self.assertEqual(trace.stdout.splitlines()[1], str(FIB_CALLS))


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class HostileUnderTracer(bpf.PrivateCopyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        args = ["-m", "pyusdt", HOSTILE]
        cls.untraced = harness.run_to_end(args, cls.root)
        # Every probe counted, and the values of identity()'s returns and
        # of the exceptions raised printed.
        program = (harness.counting_program(bpf.ALL_PROBES, cls.lib)
                   + bpf.probe_program(("PY_RETURN", "RAISE"), lib=cls.lib,
                                       predicate='str(arg0) == "identity" || '
                                                 'str(arg0) == "hostile_exceptions"'))
        tracer = harness.attached(program)
        try:
            cls.traced = harness.run_to_end(args, cls.root)
            tracer.drain()
        finally:
            tracer.stop()
        cls.tracer = tracer
        cls.events = bpf.parse_events(harness.without_counts(tracer.lines), cls.traced.pid)

    def test_program_behaves_as_untraced_with_every_probe_attached(self):
        self.assertEqual(self.untraced.returncode, 0, self.untraced.stderr)
        self.assertEqual((self.traced.stdout, self.traced.stderr, self.traced.returncode),
                         (self.untraced.stdout, self.untraced.stderr,
                          self.untraced.returncode))

    def test_every_probe_fired_in_the_hostile_program(self):
        seen = harness.counts(self.tracer.lines).get(self.traced.pid, {})
        silent = [probe for probe in bpf.ALL_PROBES
                  if probe not in ("GC_START", "GC_DONE", "MARK") and not seen.get(probe)]
        self.assertEqual(silent, [], seen)

    def test_hostile_values_render_as_placeholders_and_huge_ones_are_cut(self):
        values = [e.value for e in self.events if e.probe == "PY_RETURN"]
        self.assertTrue(values, "\n".join(self.tracer.lines[-50:]))
        for value in values:
            self.assertLessEqual(len(value.encode()), 130, value[:200])
        for name in ("Raising", "Blocking", "Recursing", "SideEffect", "HostileStr",
                     "HostileInt", "HostileFloat", "HostileError"):
            self.assertIn("<%s object>" % name, values)
        self.assertIn("'" + "x" * 126 + "...", values)
        self.assertIn("<int of 332193 bits>", values)

    def test_hostile_exceptions_render_without_their_str_or_args_property(self):
        raised = {e.value for e in self.events if e.probe == "RAISE"}
        # The args the exception was made with, not what its overridden
        # __str__ or args property would say.
        self.assertIn("HostileError: x", raised)
        self.assertIn("NamedByMeta: y", raised)
        # args holding a str subclass or another object: the type alone.
        self.assertIn("ValueError", raised)
        self.assertIn("KeyError", raised)
        self.assertIn("FileNotFoundError", raised)
        # Cut at 127 bytes, never inside a character: 57 two-byte é.
        self.assertIn("ValueError: " + "\u00e9" * 57 + "...", raised)


if __name__ == "__main__":
    unittest.main()
