"""A program started without pyusdt, attached with ``python -m pyusdt
attach``, then traced by real bpftrace -p: its function's PY_START events
reach bpftrace, and the program runs on unbroken to its own exit status."""

from __future__ import annotations

import os
import unittest

from tests import attaching
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


if __name__ == "__main__":
    unittest.main()
