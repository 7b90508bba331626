"""pyusdt on a free-threaded CPython (3.14t), with real bpftrace: eight
threads running shared and freshly made functions at once deliver exactly
the independent recorder's events, thread by thread; one code object has
one code_id whichever threads meet it first; tracers attaching and
detaching while the threads run never crash the program, duplicate or lose
an event, or take a second tool id; and the GIL stays off throughout."""

from __future__ import annotations

import collections
import sys
import sysconfig
import unittest

from tests import support
from tests.e2e import bpf, oracle
from tests.e2e import reliability_harness as harness

THREADS_TARGET = support.target("ft_threads.py")
STORM = support.target("reliability_storm.py")
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
NOT_FREE_THREADED = ("needs a free-threaded CPython (built with --disable-gil); %s is not"
                     % sys.executable)
#: Functions every thread runs (one code object each).
SHARED = ("shared_new", "shared", "leaf", "counter")
CYCLES = 50
STORM_THREADS = 8


@unittest.skipUnless(FREE_THREADED, NOT_FREE_THREADED)
@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class EightThreadsAtOnce(unittest.TestCase):
    """ft_threads.py traced with every code probe, compared with a recording."""

    @classmethod
    def setUpClass(cls):
        program = bpf.probe_program(bpf.CODE_PROBES, file_filter=THREADS_TARGET)
        cls.trace = bpf.trace_system(program, [THREADS_TARGET])
        cls.events = [e for e in cls.trace.events if e.file == THREADS_TARGET]
        cls.recording = bpf.record_run([THREADS_TARGET])
        cls.expected = [e for e in cls.recording.events if e.file == THREADS_TARGET]

    def test_threads_compute_right_and_the_gil_stays_off(self):
        self.assertEqual((self.trace.stdout, self.trace.returncode), ("True\ngil False\n", 0),
                         self.trace.describe())
        self.assertEqual(self.recording.stdout, "True\ngil False\n", self.recording.stderr)

    def test_every_thread_matches_the_independent_recorder_in_order(self):
        self.assertEqual(len(oracle.by_thread(self.expected)), 9, "main and eight workers")
        diff = oracle.difference(self.expected, self.events)
        self.assertIsNone(diff, "%s\n%s" % (diff, self.trace.describe()))

    def test_one_code_object_has_one_code_id_across_threads(self):
        ids = collections.defaultdict(set)
        threads = collections.defaultdict(set)
        for event in self.events:
            if event.probe == "PY_START":
                ids[event.function].add(event.code_id)
                threads[event.function].add(event.tid)
        for name in SHARED:
            self.assertEqual(len(threads[name]), 8, name)
            self.assertEqual(len(ids[name]), 1, "%s: %s" % (name, ids[name]))
        fresh = [ids["fresh_%d" % k] for k in range(8)]
        self.assertEqual([len(one) for one in fresh], [1] * 8, fresh)
        named = [next(iter(found)) for name, found in ids.items() if len(found) == 1]
        self.assertEqual(len(named), len(set(named)), "two functions share a code_id")

    def test_every_entry_is_matched_by_one_exit_properly_nested(self):
        self.assertEqual(oracle.pairing_errors(self.events), [])


@unittest.skipUnless(FREE_THREADED, NOT_FREE_THREADED)
@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AttachDetachWhileThreadsRun(bpf.PrivateCopyCase):
    def test_fifty_attach_detach_cycles_with_eight_threads_running(self):
        # A tracer counting PY_START of square() (two calls a step) stays
        # attached throughout, while 50 others come and go: every change
        # re-enables events with threads running Python at the same time.
        # N.B. a running total, printed every 100 ms and never cleared:
        # clearing a map races with the increments (bpftrace clears it from
        # user space, after printing it), which loses events.
        steady = ('usdt:%s:pyusdt:PY_START /str(arg0) == "square"/ { @calls = count(); }\n'
                  'interval:ms:100 { print(@calls); }\n' % self.lib)
        storm = harness.Storm(self.root, self.lib, STORM, CYCLES, args=[str(STORM_THREADS)],
                              steady=steady, steady_probes=("PY_START",))
        try:
            result = storm.run()
        except AssertionError as exc:
            raise AssertionError("%s\n%s" % (exc, "\n".join(storm.log[-20:]))) from None
        self.assertEqual(result["wrong"], 0, result)
        self.assertGreater(result["since_reset"], 0, result)
        totals = [int(line.split()[1]) for line in storm.steady_lines
                  if line.startswith("@calls: ")]
        seen = max(totals, default=0)
        self.assertEqual(seen, 2 * result["since_reset"],
                         "square() calls: not one event each\n%s" % result)
        self.assertEqual(len(storm.tool_ids), 1, storm.tool_ids)
        self.assertEqual(storm.gil, {False})


if __name__ == "__main__":
    unittest.main()
