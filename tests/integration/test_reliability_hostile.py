"""Hostile values and names with every probe attached: no code of the
program's runs from a probe (counted by the hooks themselves; a blocking
hook would hang the run), no exception reaches the program, pending
exceptions stay as they were, and huge values cost no memory to render."""

from __future__ import annotations

import ast
import unittest

from tests import support
from tests.integration.reliability_support import PrivateCopy

HOSTILE = support.target("reliability_hostile.py")


def printed(stdout: str, key: str):
    """The value reliability_hostile.py printed after KEY."""
    for line in stdout.splitlines():
        if line.startswith(key + " "):
            return ast.literal_eval(line[len(key) + 1:])
    raise AssertionError("%r not printed:\n%s" % (key, stdout))


class HostileValues(PrivateCopy):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.untraced, cls.traced = cls.run_both(["-m", "pyusdt", HOSTILE])

    def test_program_output_is_the_same_with_every_probe_attached(self):
        self.assertEqual(self.untraced.returncode, 0, self.untraced.stderr)
        self.assertSameRun(self.untraced, self.traced, "hostile values")

    def test_no_hook_runs_that_the_program_did_not_run_itself(self):
        # Untraced, the program itself looks up one metaclass attribute.
        expected = [("ErrMeta.__getattribute__", 1)]
        self.assertEqual(printed(self.untraced.stdout, "hooks"), expected)
        self.assertEqual(printed(self.traced.stdout, "hooks"), expected, self.traced.stderr)

    def test_no_side_effect_of_any_hook_is_visible(self):
        self.assertEqual(printed(self.traced.stdout, "side effects"), [])

    def test_no_exception_reaches_the_programs_error_hooks(self):
        self.assertEqual(printed(self.traced.stdout, "reached"), [])
        self.assertEqual(self.traced.stderr, "")

    def test_pending_exceptions_are_the_programs_own_before_and_after_events(self):
        seen = printed(self.traced.stdout, "exceptions")
        self.assertEqual(seen[:-1], [True] * (len(seen) - 1))
        self.assertEqual(seen[-1], "NamedByMeta")

    def test_rendering_huge_values_allocates_nothing_in_proportion(self):
        self.assertEqual(printed(self.traced.stdout, "huge"), "bounded")

    def test_long_names_odd_file_names_and_non_utf8_directories_run_normally(self):
        self.assertEqual(printed(self.traced.stdout, "names"), [5, 80, 316])
        self.assertEqual(printed(self.traced.stdout, "files"), [42] * 12)
        self.assertEqual(printed(self.traced.stdout, "directory"), [[0, 2, 4], (4,)])
        self.assertIs(printed(self.traced.stdout, "thread"), True)

    def test_each_probe_alone_runs_no_program_code(self):
        for probe in ("PY_RETURN", "PY_YIELD", "CALL", "RAISE", "PY_UNWIND", "PY_THROW",
                      "EXCEPTION_HANDLED", "PY_START", "LINE"):
            with self.subTest(probe=probe):
                traced = self.run_target(["-m", "pyusdt", HOSTILE], probe)
                self.assertSameRun(self.untraced, traced, probe)


if __name__ == "__main__":
    unittest.main()
