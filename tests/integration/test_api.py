"""pyusdt's Python API in a fresh process: mark()/marking(), status() and
the PYUSDT_FORCE testing switch (no tracer involved)."""

from __future__ import annotations

import json
import unittest

from tests.support import run_python

STATUS = ("import json, pyusdt; s = pyusdt.status(); "
          "print(json.dumps({k: getattr(s, k) for k in s.__slots__}))")


def status_of(**env: str) -> tuple[dict, str]:
    run = run_python(["-c", STATUS], **env)
    if run.returncode != 0:
        raise AssertionError(run.stderr)
    return json.loads(run.stdout), run.stderr


class Mark(unittest.TestCase):
    def test_mark_returns_none_at_once_when_untraced(self):
        run = run_python(["-c", "import pyusdt\n"
                          "print(pyusdt.marking(), pyusdt.mark('start'),\n"
                          "      pyusdt.mark('end', 'id=7'), pyusdt.mark(name='x', detail='y'))"])
        self.assertEqual((run.stdout, run.stderr), ("False None None None\n", ""))

    def test_mark_rejects_bad_arguments_with_type_error(self):
        code = ("import pyusdt\n"
                "for args, kwargs in [((), {}), ((1,), {}), (('a', 2), {}),\n"
                "                     (('a', 'b', 'c'), {}), (('a',), {'bogus': 1}),\n"
                "                     (('a',), {'name': 'b'})]:\n"
                "    try:\n"
                "        pyusdt.mark(*args, **kwargs)\n"
                "    except TypeError as exc:\n"
                "        print('TypeError')\n")
        run = run_python(["-c", code])
        self.assertEqual(run.stdout, "TypeError\n" * 6, run.stderr)

    def test_marking_is_true_when_mark_is_forced(self):
        run = run_python(["-c", "import pyusdt; print(pyusdt.marking()); pyusdt.mark('a', 'b')"],
                         PYUSDT_FORCE="MARK")
        self.assertEqual((run.stdout, run.stderr), ("True\n", ""))


class Force(unittest.TestCase):
    def test_untraced_process_has_nothing_attached_or_enabled(self):
        status, stderr = status_of()
        self.assertEqual((status["attached"], status["enabled"], status["tool_id"],
                          status["forced"], status["gc_callback"]),
                         ([], [], None, [], False))
        self.assertEqual(stderr, "")

    def test_forced_probes_act_as_attached(self):
        status, stderr = status_of(PYUSDT_FORCE="PY_START, PY_RETURN,GC_DONE")
        self.assertEqual(status["forced"], ["PY_START", "PY_RETURN", "GC_DONE"])
        self.assertEqual(status["attached"], ["PY_START", "PY_RETURN", "GC_DONE"])
        # GC probes need no sys.monitoring event: a gc.callbacks entry.
        self.assertEqual(status["enabled"], ["PY_START", "PY_RETURN"])
        self.assertTrue(status["gc_callback"])
        self.assertIn(status["tool_id"], (3, 4, 5))
        self.assertEqual(stderr, "")

    def test_force_all_attaches_every_probe(self):
        status, _ = status_of(PYUSDT_FORCE="all")
        run = run_python(["-c", "import pyusdt; print(len(pyusdt.PROBES))"])
        self.assertEqual(len(status["attached"]), int(run.stdout))

    def test_event_bits_are_the_running_interpreters_own(self):
        code = ("import json, sys, pyusdt\n"
                "print(json.dumps([[name, bit, getattr(sys.monitoring.events, name, 0)]\n"
                "                  for name, bit, _ in pyusdt.PROBES]))")
        run = run_python(["-c", code])
        self.assertEqual(run.returncode, 0, run.stderr)
        for name, bit, expected in json.loads(run.stdout):
            self.assertEqual(bit, expected, name)

    def test_probe_whose_event_this_python_lacks_is_refused_in_one_sentence(self):
        # As a future Python without a RAISE event would be: the bit cannot
        # be read, so the probe is never enabled, and attaching says why.
        code = ("import sys\n"
                "del sys.monitoring.events.RAISE\n"
                "import pyusdt\n"
                "print([bit for name, bit, _ in pyusdt.PROBES if name == 'RAISE'])\n"
                "s = pyusdt.status()\n"
                "print(s.unavailable, s.attached, s.enabled)\n"
                "def f(): raise KeyError\n"
                "try: f()\n"
                "except KeyError: pass\n"
                "pyusdt._lib._sync()\n")
        run = run_python(["-c", code], PYUSDT_FORCE="RAISE,PY_START")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "[0]\n('RAISE',) ('PY_START', 'RAISE') ('PY_START',)\n")
        self.assertEqual(len(run.stderr.splitlines()), 1, run.stderr)
        self.assertRegex(run.stderr, r"^pyusdt: probe RAISE stays silent: Python 3\.\d+ "
                                     r"has no sys.monitoring event RAISE\n$")

    def test_unknown_forced_name_warns_once_and_forces_the_rest(self):
        status, stderr = status_of(PYUSDT_FORCE="PY_START,NOPE")
        self.assertEqual(status["forced"], ["PY_START"])
        self.assertEqual(len(stderr.splitlines()), 1, stderr)
        self.assertIn("PYUSDT_FORCE='PY_START,NOPE' names an unknown probe", stderr)

    def test_forced_program_behaves_as_untraced(self):
        code = ("import gc, pyusdt\n"
                "class E(Exception): pass\n"
                "def f(n):\n"
                "    try:\n"
                "        raise E('x')\n"
                "    except E:\n"
                "        pass\n"
                "    return [i * n for i in range(3)]\n"
                "def g():\n"
                "    yield from range(2)\n"
                "gc.collect(); pyusdt.mark('m')\n"
                "print(f(2), list(g()))\n")
        plain = run_python(["-c", code])
        forced = run_python(["-c", code], PYUSDT_FORCE="all")
        self.assertEqual((forced.stdout, forced.stderr, forced.returncode),
                         (plain.stdout, plain.stderr, plain.returncode))
        self.assertEqual(plain.stdout, "[0, 2, 4] [0, 1]\n")


class GcCallback(unittest.TestCase):
    def test_gc_callback_present_only_while_a_gc_probe_is_attached(self):
        code = ("import gc, pyusdt\n"
                "ours = [c for c in gc.callbacks if getattr(c, '__name__', '') == 'pyusdt_gc']\n"
                "print(len(ours))\n")
        self.assertEqual(run_python(["-c", code]).stdout, "0\n")
        self.assertEqual(run_python(["-c", code], PYUSDT_FORCE="GC_START").stdout, "1\n")
        self.assertEqual(run_python(["-c", code], PYUSDT_FORCE="PY_START").stdout, "0\n")


if __name__ == "__main__":
    unittest.main()
