"""bench/turns.py's lockstep: processes take turns one repetition at a
time, fresh ones each round, and figures come from the cycles in which both
sides of a comparison ran at their quiet speed."""

from __future__ import annotations

import sys
import unittest

from tests import support

common = support.load_bench("common")
taking_turns = support.load_bench("turns")

# A stand-in for workloads.py serve: says hello, then answers each request
# with the next figure from argv, cycling.
SERVER = """
import json, sys
figures = [int(a) for a in sys.argv[1:]]
print(json.dumps({"ready": True, "calls": len(figures)}), flush=True)
for i, _ in enumerate(sys.stdin):
    print(figures[i % len(figures)], flush=True)
"""


def turns(**cpu_ns: list[int]):
    return taking_turns.Turns({k: 0 for k in cpu_ns}, {k: {} for k in cpu_ns}, dict(cpu_ns))


class QuietCycles(unittest.TestCase):
    def test_a_cycle_is_quiet_when_both_sides_ran_near_their_fastest(self):
        rounds = [turns(a=[100, 105, 200, 100], b=[50, 120, 50, 54])]
        self.assertEqual(taking_turns.quiet_cycles(rounds, ["a", "b"]), [(0, 0), (0, 3)])

    def test_quiet_speed_is_the_median_of_each_rounds_fastest(self):
        rounds = [turns(a=[120, 130]), turns(a=[100, 111]), turns(a=[140, 150])]
        self.assertEqual(taking_turns.quiet_speed(rounds, "a"), 120)
        # Within 10% of 120, or faster.
        self.assertEqual(taking_turns.quiet_cycles(rounds, ["a"]),
                         [(0, 0), (0, 1), (1, 0), (1, 1)])

    def test_one_round_in_a_faster_state_does_not_narrow_the_window_to_itself(self):
        # b's third process runs 15% faster for its whole life: its cycles
        # stay quiet, and so do the usual ones.
        usual = turns(a=[100, 100], b=[1000, 1050])
        fast = turns(a=[100, 100], b=[870, 880])
        rounds = [usual, usual, fast, usual]
        quiet = taking_turns.quiet_cycles(rounds, ["a", "b"])
        self.assertEqual(len(quiet), 8)
        figure = taking_turns.paired_figure(rounds * 2, ["a", "b"], lambda t: t["b"])
        self.assertEqual(figure["median"], 1000)

    def test_figure_is_the_median_over_quiet_cycles_with_all_cycles_kept(self):
        # Ten quiet cycles at ratio 1.0, six slow ones for b alone.
        rounds = [turns(a=[100] * 16, b=[100] * 10 + [300] * 6)]
        figure = taking_turns.paired_figure(rounds, ["a", "b"], lambda t: t["b"] / t["a"])
        self.assertEqual(figure["median"], 1.0)
        self.assertEqual(figure["n"], 10)
        self.assertTrue(figure["quiet"])
        self.assertEqual(figure["all_cycles"]["n"], 16)
        self.assertEqual(figure["all_cycles"]["q3"], 3.0)

    def test_figure_falls_back_to_all_cycles_when_few_are_quiet(self):
        rounds = [turns(a=[100, 300, 300, 300], b=[100, 100, 100, 100])]
        figure = taking_turns.paired_figure(rounds, ["a", "b"], lambda t: t["a"] / t["b"])
        self.assertFalse(figure["quiet"])
        self.assertEqual(figure["n"], 4)
        self.assertEqual(figure["median"], 3.0)


class Lockstep(unittest.TestCase):
    def configs(self, **figures: list[int]):
        return {label: ([sys.executable, "-c", SERVER, *map(str, values)], None)
                for label, values in figures.items()}

    def test_each_process_answers_one_repetition_per_cycle_after_a_warm_up(self):
        # The first figure is the warm-up repetition, which is not kept.
        rounds = taking_turns.lockstep(self.configs(a=[9, 1, 2, 3], b=[8, 5, 6, 7]),
                                 rounds=2, cycles=3)
        self.assertEqual(len(rounds), 2)
        for r in rounds:
            self.assertEqual(r.cpu_ns, {"a": [1, 2, 3], "b": [5, 6, 7]})
            self.assertEqual(r.hello["a"], {"ready": True, "calls": 4})
        self.assertNotEqual(rounds[0].pid["a"], rounds[1].pid["a"],
                            "each round starts fresh processes")

    def test_rounds_are_added_until_enough_cycles_are_quiet(self):
        # b is slow every other cycle (after its warm-up): two quiet
        # cycles in each round of four.
        rounds = taking_turns.lockstep(self.configs(a=[10], b=[10, 30]),
                                 rounds=1, cycles=4, comparisons=[["a", "b"]],
                                 min_quiet=5, max_rounds=10)
        self.assertEqual(len(rounds), 3)
        self.assertEqual(len(taking_turns.quiet_cycles(rounds, ["a", "b"])), 6)

    def test_rounds_stop_at_the_maximum(self):
        rounds = taking_turns.lockstep(self.configs(a=[10], b=[10, 30]),
                                 rounds=1, cycles=4, comparisons=[["a", "b"]],
                                 min_quiet=100, max_rounds=2)
        self.assertEqual(len(rounds), 2)

    def test_a_process_that_dies_mid_round_is_reported_with_its_stderr(self):
        dies = ("import json, sys; print(json.dumps({'ready': True}), flush=True); "
                "sys.stdin.readline(); print(1, flush=True); sys.stdin.readline(); "
                "sys.exit('gone after one repetition')")
        configs = {"a": ([sys.executable, "-c", dies], None)}
        with self.assertRaisesRegex(common.BenchError, "gone after one repetition"):
            taking_turns.lockstep(configs, rounds=1, cycles=3)

    def test_a_process_that_dies_is_reported_with_its_stderr(self):
        configs = {"a": ([sys.executable, "-c", "import sys; sys.exit('no workload')"],
                         None)}
        with self.assertRaisesRegex(common.BenchError, "no workload"):
            taking_turns.lockstep(configs, rounds=1, cycles=1)


if __name__ == "__main__":
    unittest.main()
