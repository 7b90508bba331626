"""The probes that do not come from sys.monitoring, with real bpftrace:
GC_START and GC_DONE (one pair per collection, from gc.callbacks, installed
only while a GC probe is attached), MARK (one event per pyusdt.mark() call,
pyusdt.marking() telling whether anyone listens); and pyusdt's own frames,
which no probe reports."""

from __future__ import annotations

import os
import re
import unittest

from tests import support
from tests.e2e import bpf

GC_TARGET = support.target("gc_collections.py")
MARK_TARGET = support.target("marks.py")
# What gc_collections.py's collect_all() does: (generation, garbage found).
COLLECTIONS = [(0, 3)] * 2 + [(1, 5)] * 3 + [(2, 7)] * 5


def collect_all_window(events):
    """The GC events of collect_all(): on its thread, between its PY_START
    and its PY_RETURN."""
    (start,) = [i for i, e in enumerate(events)
                if e.probe == "PY_START" and e.function == "collect_all"]
    (end,) = [i for i, e in enumerate(events)
              if e.probe == "PY_RETURN" and e.function == "collect_all"]
    tid = events[start].tid
    return [e for e in events[start + 1:end]
            if e.probe in ("GC_START", "GC_DONE") and e.tid == tid]


def printed(stdout: str, name: str) -> str:
    match = re.search(r"^%s=(.*)$" % name, stdout, re.M)
    return match.group(1) if match else None


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class GarbageCollection(unittest.TestCase):
    PROBES = ("PY_START", "PY_RETURN", "GC_START", "GC_DONE")

    @classmethod
    def setUpClass(cls):
        program = bpf.probe_program(cls.PROBES, file_filter=GC_TARGET)
        cls.trace = bpf.trace_system(program, [GC_TARGET])

    def test_each_collection_reports_gc_start_then_gc_done_with_its_counts(self):
        window = collect_all_window(self.trace.events)
        expected = []
        for generation, found in COLLECTIONS:
            expected += [("GC_START", (generation,)), ("GC_DONE", (generation, found, 0))]
        self.assertEqual([(e.probe, e.args) for e in window], expected,
                         self.trace.describe())
        self.assertEqual(printed(self.trace.stdout, "collections"), repr(COLLECTIONS),
                         self.trace.describe())

    def test_gc_events_match_independent_recorder(self):
        recorded = bpf.record([GC_TARGET], self.PROBES)
        expected = collect_all_window([e for e in recorded if e.file in (None, GC_TARGET)])
        seen = collect_all_window(self.trace.events)
        self.assertEqual([e._replace(tid=0) for e in seen],
                         [e._replace(tid=0) for e in expected], self.trace.describe())

    def test_gc_events_come_from_the_collecting_thread(self):
        window = collect_all_window(self.trace.events)
        self.assertEqual({e.tid for e in window}, {self.trace.pid}, self.trace.describe())

    def test_gc_callback_is_installed_while_a_gc_probe_is_attached(self):
        self.assertEqual(printed(self.trace.stdout, "callbacks"), "1", self.trace.describe())

    def test_no_gc_callback_is_installed_while_gc_probes_are_detached(self):
        with bpf.private_pyusdt() as (root, lib):
            program = bpf.probe_program(("PY_START",), file_filter=GC_TARGET, lib=lib)
            trace = bpf.trace_system(program, [GC_TARGET], cwd=root, PYTHONPATH=root)
        self.assertIn("collect_all", [e.function for e in trace.events], trace.describe())
        self.assertEqual(printed(trace.stdout, "callbacks"), "0", trace.describe())
        self.assertEqual(printed(trace.stdout, "collections"), repr(COLLECTIONS))


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class Marks(unittest.TestCase):
    EXPECTED = ([("request", "id=%d" % i) for i in range(7)]
                + [("phase", ""), ("keyword", "d\u00e9tail \u2603")])

    def test_mark_fires_once_per_call_with_name_and_detail(self):
        trace = bpf.trace_system(bpf.probe_program(("MARK",)), [MARK_TARGET])
        marks = [(e.function, e.value) for e in trace.events if e.probe == "MARK"]
        self.assertEqual(marks, self.EXPECTED, trace.describe())
        self.assertEqual({e.tid for e in trace.events}, {trace.pid})
        self.assertEqual(printed(trace.stdout, "marking"), "True", trace.describe())
        self.assertEqual(printed(trace.stdout, "rejected"), "3", trace.describe())

    def test_marking_is_false_and_mark_is_silent_while_mark_is_not_attached(self):
        with bpf.private_pyusdt() as (root, lib):
            program = bpf.probe_program(("PY_START",), file_filter=MARK_TARGET, lib=lib)
            trace = bpf.trace_system(program, [MARK_TARGET], cwd=root, PYTHONPATH=root)
        self.assertIn("main", [e.function for e in trace.events], trace.describe())
        self.assertEqual(printed(trace.stdout, "marking"), "False", trace.describe())
        self.assertEqual(printed(trace.stdout, "rejected"), "3", trace.describe())
        self.assertEqual(trace.returncode, 0, trace.describe())

    def test_marking_is_false_without_any_tracer(self):
        with bpf.private_pyusdt() as (root, lib):
            run = support.run_python([MARK_TARGET], cwd=root, PYTHONPATH=root)
        self.assertEqual((run.stdout, run.stderr, run.returncode),
                         ("marking=False\nrejected=3\n", "", 0))


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class OwnFrames(unittest.TestCase):
    def test_pyusdt_own_frames_are_never_reported(self):
        # The private copy's files are run by this run only: bpftrace prints
        # the events of the copy's package and of the program, the runner's
        # frames (python -m pyusdt) and the escaping exception's included.
        target = support.target("corpus_escape.py")
        with bpf.private_pyusdt() as (root, lib):
            package = os.path.join(root, "pyusdt") + os.sep
            inside = 'strncmp(str(arg1), "%s", %d) == 0 || str(arg1) == "%s"' % (
                package, len(package), target)
            probes = ("PY_START", "PY_RETURN", "PY_UNWIND", "RAISE")
            trace = bpf.trace_system(bpf.probe_program(probes, lib=lib, predicate=inside),
                                     [target], cwd=root, PYTHONPATH=root)
        own = [e for e in trace.events if e.file.startswith(package)]
        self.assertEqual(own, [], trace.describe())
        unwound = [e.function for e in trace.events
                   if e.probe == "PY_UNWIND" and e.file == target]
        self.assertEqual(unwound, ["validate", "parse", "main", "<module>"],
                         trace.describe())
        self.assertEqual(trace.returncode, 1, trace.describe())


if __name__ == "__main__":
    unittest.main()
