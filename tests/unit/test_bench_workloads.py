"""bench/workloads.py's helpers for fair comparisons: each serving process
starts from its own random heap state and call depth, and --idle-thread
adds one thread that blocks for good without holding up the exit."""

from __future__ import annotations

import os
import sys
import unittest

from tests import support

workloads = support.load_bench("workloads")
WORKLOADS = workloads.__file__

# Prints what shuffle_heap left alive: how many objects, and their sizes.
PROBE_HEAP = """
import sys
sys.path.insert(0, %r)
import workloads
workloads.shuffle_heap()
print(len(workloads._SHUFFLED), sum(len(o) for o in workloads._SHUFFLED))
""" % os.path.dirname(WORKLOADS)


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame:
        frame, depth = frame.f_back, depth + 1
    return depth


class ShuffleHeap(unittest.TestCase):
    def test_each_process_draws_its_own_heap_state(self):
        states = {support.run_python(["-c", PROBE_HEAP]).stdout for _ in range(4)}
        self.assertEqual(len(states), 4, states)
        for state in states:
            kept, _ = map(int, state.split())
            self.assertLessEqual(kept, 2400)

    def test_serve_answers_after_shuffling(self):
        proc = support.run_python([WORKLOADS, "serve", "fib", "5"], input="run\nrun\n")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        hello, *times = proc.stdout.splitlines()
        self.assertIn('"calls": 15', hello)
        self.assertEqual(len(times), 2)


class RandomDepth(unittest.TestCase):
    def test_runs_the_function_that_many_calls_deeper(self):
        base = workloads.at_random_depth(_depth, 0)
        self.assertEqual(workloads.at_random_depth(_depth, 7), base + 7)

    def test_random_depths_stay_below_64_and_vary(self):
        base = workloads.at_random_depth(_depth, 0)
        extra = {workloads.at_random_depth(_depth) - base for _ in range(200)}
        self.assertTrue(extra <= set(range(64)), extra)
        self.assertGreater(len(extra), 10)


class IdleThread(unittest.TestCase):
    def test_adds_one_blocked_thread_and_the_program_still_exits(self):
        code = ("import os, sys; sys.path.insert(0, %r); import workloads; "
                "workloads.idle_thread(); print(len(os.listdir('/proc/self/task')))"
                % os.path.dirname(WORKLOADS))
        proc = support.run_python(["-c", code])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "2")

    def test_time_takes_the_option(self):
        proc = support.run_python([WORKLOADS, "time", "fib", "5", "1", "--idle-thread", "yes"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('"calls": 15', proc.stdout)


if __name__ == "__main__":
    unittest.main()
