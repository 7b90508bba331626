"""The life of a traced program under real bpftrace: exiting in every way
while the tracer is attached, tracers attaching and detaching over and over
while it works, signals and deep recursion while traced.  (make stress runs
the long versions: 500 exits, 200 attach/detach cycles.)"""

from __future__ import annotations

import unittest

from tests import support
from tests.e2e import bpf
from tests.e2e import reliability_harness as harness
from tests.targets import reliability_exit, reliability_signals
from tests.targets.reliability_recursion import comparable

EXIT = support.target("reliability_exit.py")
STORM = support.target("reliability_storm.py")
SIGNALS = support.target("reliability_signals.py")
RECURSION = support.target("reliability_recursion.py")


Private = bpf.PrivateCopyCase


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ExitUnderTracer(Private):
    def test_every_way_of_exiting_is_clean_with_every_probe_attached(self):
        modes = reliability_exit.EXPECTED
        tracer = harness.attached(harness.counting_program(bpf.ALL_PROBES, self.lib))
        try:
            problems, pids = harness.exit_storm(self.root, modes, EXIT, 2 * len(modes))
        finally:
            tracer.stop()
        self.assertEqual(problems, [])
        seen = harness.counts(tracer.lines)
        untraced = [pid for pid in pids if not seen.get(pid)]
        self.assertEqual(untraced, [], "runs the tracer never saw")


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AttachDetachStorm(Private):
    CYCLES = 6

    def test_enabled_probes_follow_each_attach_and_detach_and_work_stays_right(self):
        storm = harness.Storm(self.root, self.lib, STORM, self.CYCLES)
        try:
            result = storm.run()
        except AssertionError as exc:
            raise AssertionError("%s\n%s" % (exc, "\n".join(storm.log[-20:]))) from None
        self.assertEqual(result["wrong"], 0, result)
        self.assertGreater(result["steps"], 0)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class SignalsUnderTracer(Private):
    def test_signals_end_or_interrupt_the_program_as_untraced(self):
        tracer = harness.attached(harness.counting_program(bpf.ALL_PROBES, self.lib))
        runs = {}
        try:
            for mode in reliability_signals.EXPECTED:
                runs[mode] = harness.run_to_end(["-m", "pyusdt", SIGNALS, mode], self.root)
        finally:
            tracer.stop()
        seen = harness.counts(tracer.lines)
        for mode, (status, stdout, last_err) in reliability_signals.EXPECTED.items():
            with self.subTest(mode=mode):
                run = runs[mode]
                self.assertEqual((run.returncode, run.stdout), (status, stdout), run.stderr)
                lines = run.stderr.splitlines()
                self.assertEqual(lines[-1] if lines else "", last_err, run.stderr)
                self.assertTrue(seen.get(run.pid), "the tracer never saw %s" % mode)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class RecursionUnderTracer(Private):
    def test_recursion_errors_are_the_same_as_untraced(self):
        args = ["-m", "pyusdt", RECURSION]
        untraced = harness.run_to_end(args, self.root)
        tracer = harness.attached(harness.counting_program(bpf.ALL_PROBES, self.lib))
        try:
            traced = harness.run_to_end(args, self.root)
        finally:
            tracer.stop()
        self.assertEqual(untraced.returncode, 0, untraced.stderr)
        self.assertEqual((comparable(traced.stdout, True), traced.stderr, traced.returncode),
                         (comparable(untraced.stdout, True), untraced.stderr,
                          untraced.returncode))
        self.assertGreater(harness.counts(tracer.lines)[traced.pid]["RAISE"], 0)


if __name__ == "__main__":
    unittest.main()
