"""Each exception probe attached alone reports its own event and no other:
the probes read their event bits from the running interpreter (3.14
renumbered everything from STOP_ITERATION up), so a probe fed another
event's bit would show up here as wrong counts or wrong functions."""

from __future__ import annotations

import unittest
from collections import Counter

from tests import support
from tests.e2e import bpf

TARGET = support.target("exception_probes.py")

#: (probe, function) -> count, as tests/targets/exception_probes.py makes
#: them; every other (probe, function) pair is checked against the
#: independent recorder only.
KNOWN = {
    # RAISE fires in each frame an exception enters, not only where raised.
    "RAISE": {"boom": 5, "catcher": 5, "deep": 9, "through": 3},
    "PY_UNWIND": {"boom": 5, "deep": 9},
    "EXCEPTION_HANDLED": {"catcher": 5, "through": 3},
    "PY_THROW": {"gen": 3},   # two ValueErrors, then close()'s GeneratorExit
}

#: Functions in which no exception is raised, thrown or handled: a probe
#: fed STOP_ITERATION (the for loop exhausting counted()) would fire here.
QUIET = ("exhaust", "counted", "<module>")


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class EachExceptionProbeAlone(unittest.TestCase):

    def trace_alone(self, probe: str) -> tuple[Counter, Counter, bpf.Trace]:
        program = bpf.probe_program((probe,), file_filter=TARGET)
        trace = bpf.trace_system(program, [TARGET])
        self.assertEqual((trace.stdout, trace.returncode), ("3\n", 0), trace.describe())
        seen = Counter(e.function for e in trace.events
                       if e.file == TARGET and e.probe == probe)
        recorded = Counter(e.function for e in bpf.record([TARGET], (probe,))
                           if e.file == TARGET and e.probe == probe)
        return seen, recorded, trace

    def check(self, probe: str) -> None:
        seen, recorded, trace = self.trace_alone(probe)
        for function, count in KNOWN[probe].items():
            self.assertEqual(seen[function], count,
                             "%s in %s\n%s" % (probe, function, trace.describe()))
        for function in QUIET:
            self.assertEqual(seen[function], 0,
                             "%s in %s\n%s" % (probe, function, trace.describe()))
        self.assertEqual(seen, recorded, trace.describe())

    def test_raise_alone_reports_raises_only(self):
        self.check("RAISE")

    def test_py_unwind_alone_reports_unwinds_only(self):
        self.check("PY_UNWIND")

    def test_exception_handled_alone_reports_handled_exceptions_only(self):
        self.check("EXCEPTION_HANDLED")

    def test_py_throw_alone_reports_throws_only(self):
        self.check("PY_THROW")

    def test_exception_values_are_the_exceptions_of_each_probe(self):
        program = bpf.probe_program(("RAISE", "PY_THROW"), file_filter=TARGET)
        trace = bpf.trace_system(program, [TARGET])
        values = Counter((e.probe, e.function, e.value) for e in trace.events
                         if e.file == TARGET)
        self.assertEqual(values[("RAISE", "boom", "KeyError")], 5, trace.describe())
        self.assertEqual(values[("RAISE", "deep", "ValueError: deep")], 9, trace.describe())
        self.assertEqual(values[("PY_THROW", "gen", "ValueError: in")], 2, trace.describe())
        self.assertEqual(values[("PY_THROW", "gen", "GeneratorExit")], 1, trace.describe())


if __name__ == "__main__":
    unittest.main()
