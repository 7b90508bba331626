"""Every probe, attached with real bpftrace, delivers exactly the arguments
README promises: names, files, lines, offsets, values and callables."""

from __future__ import annotations

import unittest

from tests import support
from tests.e2e import bpf, oracle

ALL = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "CALL", "LINE")
EVERYTHING = support.target("everything.py")


def marker_line(path: str, name: str) -> int:
    with open(path) as source:
        for number, text in enumerate(source, 1):
            if text.rstrip().endswith("# @" + name):
                return number
    raise LookupError(name)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AllProbesSystemWide(unittest.TestCase):
    """bpftrace attached by library path before the program starts."""

    @classmethod
    def setUpClass(cls):
        program = bpf.probe_program(ALL, file_filter=EVERYTHING)
        cls.trace = bpf.trace_system(program, [EVERYTHING])
        cls.events = [e for e in cls.trace.events if e.file == EVERYTHING]

    def of(self, probe, function=None):
        return [e for e in self.events
                if e.probe == probe and (function is None or e.function == function)]

    def assertSeen(self, events, what):
        self.assertTrue(events, "%s not delivered\n%s" % (what, self.trace.describe()))

    def test_program_runs_normally_while_traced(self):
        self.assertIn("[0, 10, 20]", self.trace.stdout, self.trace.describe())
        self.assertEqual(self.trace.returncode, 0, self.trace.describe())

    def test_event_stream_matches_independent_recorder(self):
        expected = [e for e in bpf.record([EVERYTHING], ALL) if e.file == EVERYTHING]
        diff = oracle.difference(expected, self.events)
        self.assertIsNone(diff, "%s\n%s" % (diff, self.trace.describe()))

    def test_py_start_reports_qualname_file_and_first_line(self):
        starts = {e.function: e for e in self.of("PY_START")}
        for name in ("<module>", "main", "Foo.bar", "outer", "outer.<locals>.inner",
                     "values", "identity", "gen", "main.<locals>.<lambda>"):
            self.assertIn(name, starts, self.trace.describe())
        self.assertEqual(starts["<module>"].line, 1)
        self.assertEqual(starts["Foo.bar"].line, marker_line(EVERYTHING, "bar-return") - 1)
        self.assertEqual(starts["Foo.bar"].file, EVERYTHING)
        self.assertEqual(starts["Foo.bar"].offset, 0)

    def test_py_return_reports_line_of_return_statement_and_value(self):
        (bar,) = self.of("PY_RETURN", "Foo.bar")
        self.assertEqual(bar.line, marker_line(EVERYTHING, "bar-return"))
        self.assertEqual(bar.value, "42")
        (inner,) = self.of("PY_RETURN", "outer.<locals>.inner")
        self.assertEqual(inner.line, marker_line(EVERYTHING, "inner-return"))
        self.assertEqual(inner.value, "'inner'")
        self.assertGreater(bar.offset, 0)

    def test_py_return_renders_builtin_values_by_repr_and_others_by_type(self):
        rendered = [e.value for e in self.of("PY_RETURN", "identity")]
        self.assertEqual(rendered, [
            "None", "True", "42", "1180591620717411303424", "1.5", "'text'",
            "b'\\x00bytes'", "'" + "s" * 126 + "...", "'" + "\u00e9" * 63 + "...",
            "<Foo object>"], self.trace.describe())
        for event in self.of("PY_RETURN", "identity"):
            self.assertEqual(event.line, marker_line(EVERYTHING, "identity-return"))

    def test_py_yield_reports_yield_line_and_value(self):
        yields = self.of("PY_YIELD", "gen")
        self.assertEqual([e.value for e in yields], ["0", "10", "20"], self.trace.describe())
        self.assertEqual({e.line for e in yields}, {marker_line(EVERYTHING, "gen-yield")})
        (done,) = self.of("PY_RETURN", "gen")
        self.assertEqual((done.line, done.value),
                         (marker_line(EVERYTHING, "gen-return"), "'done'"))

    def test_py_resume_reports_line_where_execution_resumes(self):
        resumes = self.of("PY_RESUME", "gen")
        self.assertEqual(len(resumes), 3, self.trace.describe())
        self.assertEqual({e.line for e in resumes}, {marker_line(EVERYTHING, "gen-yield")})
        self.assertTrue(all(e.offset > 0 for e in resumes))

    def test_call_reports_call_site_and_callable_name(self):
        calls = {e.value: e for e in self.of("CALL", "main")}
        for callable_name, mark in (("Foo.bar", "call-bar"), ("time.sleep", "call-sleep"),
                                    ("main.<locals>.<lambda>", "call-lambda"),
                                    ("list", "call-list")):
            self.assertIn(callable_name, calls, self.trace.describe())
            self.assertEqual(calls[callable_name].line, marker_line(EVERYTHING, mark))
        self.assertIn("print", calls)
        self.assertIn("Foo", calls)

    def test_line_reports_each_executed_line(self):
        lines = [e.line for e in self.of("LINE", "main")]
        self.assertIn(marker_line(EVERYTHING, "call-bar"), lines, self.trace.describe())
        self.assertIn(marker_line(EVERYTHING, "call-list"), lines)
        for event in self.of("LINE"):
            self.assertIsNone(event.offset)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AllProbesByPid(unittest.TestCase):
    """--wait-for-tracer, then bpftrace -p PID: nothing is missed."""

    def test_wait_for_tracer_then_pid_attach_sees_every_event(self):
        # A private copy of pyusdt: --wait-for-tracer waits for any tracer,
        # and one attached system-wide to the checkout's library (another
        # test run's) would let the program start before this one attaches.
        with bpf.private_pyusdt() as (root, lib):
            program = bpf.probe_program(ALL, file_filter=EVERYTHING, lib=lib)
            trace = bpf.trace_pid(program, [EVERYTHING], lib=lib, cwd=root, PYTHONPATH=root)
        events = [e for e in trace.events if e.file == EVERYTHING]
        expected = [e for e in bpf.record([EVERYTHING], ALL) if e.file == EVERYTHING]
        diff = oracle.difference(expected, events)
        self.assertIsNone(diff, "%s\n%s" % (diff, trace.describe()))
        self.assertEqual(trace.returncode, 0, trace.describe())
        self.assertEqual(trace.stderr, "", trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class CommandMode(unittest.TestCase):
    """bpftrace -c, where the installed bpftrace supports it."""

    def test_bpftrace_c_traces_the_child(self):
        if not bpf.c_mode_supported():
            self.skipTest("this bpftrace cannot attach to shared-library probes of a "
                          "-c child (bpftrace 0.17 limitation)")
        program = bpf.probe_program(("PY_START",), file_filter=EVERYTHING)
        trace = bpf.trace_c(program, [EVERYTHING])
        names = {e.function for e in trace.events}
        self.assertIn("Foo.bar", names, trace.describe())


if __name__ == "__main__":
    unittest.main()
