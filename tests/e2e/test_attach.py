"""A program started without pyusdt, attached with ``python -m pyusdt
attach``, then traced by real bpftrace -p: its function's PY_START events
reach bpftrace, and the program runs on unbroken to its own exit status."""

from __future__ import annotations

import os
import subprocess
import unittest

from tests import attaching, support
from tests.attaching import CAN_ATTACH, CANNOT_ATTACH, Target
from tests.e2e import bpf
from tests.e2e import reliability_harness as harness


@unittest.skipUnless(CAN_ATTACH, CANNOT_ATTACH)
@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AttachThenTrace(bpf.PrivateCopyCase):
    """The target falls back to a private copy of pyusdt (the attach
    command's), which no other test's tracer reaches."""

    def test_bpftrace_counts_py_start_of_a_program_started_without_pyusdt(self):
        target = Target("loop")
        self.addCleanup(target.close)
        for _ in range(5):
            target.next_line()
        run = attaching.attach(target.pid, pythonpath=self.root)
        self.assertEqual((run.returncode, run.stderr), (0, ""), target.describe())
        library = run.stdout.rstrip("\n").rpartition(": ")[2]
        self.assertEqual(os.path.realpath(library), os.path.realpath(self.lib), run.stdout)
        program = harness.counting_program(["PY_START"], library,
                                           predicate='str(arg0) == "beat"')
        tracer = harness.attached(program, ["-p", str(target.pid)])
        try:
            # 23 calls of beat(), one per line the program prints.
            harness.wait_until(
                lambda: harness.counts(tracer.lines).get(target.pid, {}).get("PY_START", 0)
                >= 23, "23 PY_START events of beat()")
        finally:
            tracer.stop()
        seen = harness.counts(tracer.lines)
        self.assertEqual(set(seen), {target.pid}, "events of other processes")
        self.assertEqual(target.stop(), 7, target.describe())
        self.assertEqual(target.stderr, "")
        self.assertEqual(target.stdout[-1], "pyusdt loaded\n")
        numbers = [int(line) for line in target.stdout[1:-1]]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)), "a broken sequence")


@unittest.skipUnless(CAN_ATTACH, CANNOT_ATTACH)
@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class TraceAttachesFirst(unittest.TestCase):
    """python -m pyusdt.trace TOOL -p PID on a program without pyusdt."""

    def test_pycalls_attaches_with_one_notice_then_reports_the_function(self):
        # PYUSDT_VERBOSE: pyusdt, once attached, says when bpftrace's probes are.
        target = Target("loop", PYUSDT_VERBOSE="1")
        self.addCleanup(target.close)
        for _ in range(5):
            target.next_line()
        launcher = subprocess.Popen(
            [support.PYTHON, "-m", "pyusdt.trace", "pycalls", "-p", str(target.pid)],
            cwd=support.REPO, env=attaching.attach_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(launcher.kill)
        # The trace runs until the program ends: once it has called beat()
        # under the tracer for a while.
        harness.wait_until(lambda: "pyusdt: attached: " in target.stderr,
                           "bpftrace's probes attached")
        for _ in range(100):
            target.next_line()
        self.assertEqual(target.stop(), 7, target.describe())
        out, err = launcher.communicate(timeout=attaching.SETTLE)
        self.assertEqual(launcher.returncode, 0, err)
        notices = [line for line in err.splitlines() if "attached pyusdt" in line]
        self.assertEqual(len(notices), 1, err)
        self.assertRegex(notices[0], r"^python -m pyusdt\.trace: attached pyusdt to process "
                         r"%d \(Python " % target.pid)
        self.assertIn("beat", out)
        numbers = [int(line) for line in target.stdout[1:-1]]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)), "a broken sequence")


if __name__ == "__main__":
    unittest.main()
