"""Bad configuration and awkward environments: malformed environment
variables, pyusdt loaded again or from odd places, the extension loaded by
the wrong Python, and interpreter modes (-X dev, -O, debug allocators).
(tests/integration/test_config.py covers PYUSDT_CHECK_MSEC's values, import
twice, reload, import from a thread and the subinterpreter ImportError.)"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import unittest

from tests import support
from tests.integration.reliability_support import (ALL, AGGREGATING, MONITORING_PROBES,
                                                   PrivateCopy)

STATUS = ("import pyusdt; s = pyusdt.status(); "
          "print(','.join(s.enabled) or '-', s.tool_id, s.check_msec)")
HOSTILE = support.target("reliability_hostile.py")


def run_with_env_bytes(root: str, code: str, **values: bytes) -> subprocess.CompletedProcess:
    """Runs CODE with pyusdt environment variables given as raw bytes."""
    env = {os.fsencode(k): os.fsencode(v) for k, v in support.env(PYTHONPATH=root).items()}
    env.update({os.fsencode(k): v for k, v in values.items()})
    return subprocess.run([support.PYTHON, "-c", code], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)


class MalformedEnvironment(PrivateCopy):
    def test_non_utf8_and_overlong_check_msec_warn_once_and_use_default(self):
        for value in (b"\xff\xfe", b"1\xff", b"9" * 10000, b"5" + b" " * 5000):
            with self.subTest(value=value[:12]):
                run = run_with_env_bytes(self.root, STATUS, PYUSDT_CHECK_MSEC=value)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertEqual(run.stdout, b"- None 100\n")
                lines = run.stderr.splitlines()
                self.assertEqual(len(lines), 1, run.stderr)
                self.assertLess(len(lines[0]), 300)   # the value is not echoed whole

    def test_unknown_force_names_warn_once_and_attach_the_known_ones(self):
        for value, enabled in (("bogus", "-"), ("py_start", "-"), (",,,", None),
                               ("PY_START,bogus", "PY_START"), (" PY_RETURN , ", None),
                               # "all" counts call statistics too (callstats.c)
                               ("all,bogus", ",".join(MONITORING_PROBES + AGGREGATING)),
                               ("X" * 10000, "-")):
            with self.subTest(value=value[:20]):
                run = self.run_target(["-c", STATUS], value)
                self.assertEqual(run.returncode, 0, run.stderr)
                if enabled is None:       # nothing unknown: silent
                    self.assertEqual(run.stderr, "")
                    continue
                self.assertEqual(run.stdout.split()[0], enabled)
                lines = run.stderr.splitlines()
                self.assertEqual(len(lines), 1, run.stderr)
                self.assertIn("PYUSDT_FORCE", lines[0])
                self.assertLess(len(lines[0]), 600)

    def test_non_utf8_force_value_warns_once(self):
        run = run_with_env_bytes(self.root, STATUS, PYUSDT_FORCE=b"PY_START,\xff\xfe")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, b"PY_START 3 100\n")
        self.assertEqual(len(run.stderr.splitlines()), 1, run.stderr)

    def test_verbose_values_other_than_empty_and_zero_turn_it_on(self):
        for value, verbose in (("", False), ("0", False), ("1", True), ("yes", True),
                               ("\u00e9", True)):
            with self.subTest(value=value):
                run = self.run_target(["-c", STATUS], "PY_START", PYUSDT_VERBOSE=value)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertEqual(bool(run.stderr), verbose, run.stderr)


#: Imports pyusdt in a new subinterpreter; it prints "refused: True" when
#: the ImportError names the reason.
SUBINTERPRETER = """
try:
    import _interpreters as interpreters
    interp = interpreters.create(%(config)s)
except ImportError:
    import _xxsubinterpreters as interpreters
    interp = interpreters.create(isolated=%(isolated)s)
%(before)s
try:
    interpreters.run_string(interp, '''
try:
    import pyusdt
    print("loaded in a subinterpreter")
except ImportError as exc:
    print("refused:", "interpreter" in str(exc).lower())
''')
finally:
    interpreters.destroy(interp)
%(after)s
"""


class LoadedAgain(PrivateCopy):
    def test_extension_dropped_from_sys_modules_and_loaded_again_keeps_one_tool(self):
        code = ("import os, sys\n"
                "import pyusdt\n"
                "first = pyusdt.status()\n"
                "for name in ('pyusdt', 'pyusdt._loader', 'libpyusdt'):\n"
                "    del sys.modules[name]\n"
                "import pyusdt\n"
                "again = pyusdt.status()\n"
                "def f(): return 1\n"
                "f()\n"
                "print(len(os.listdir('/proc/self/task')), first.tool_id, again.tool_id,\n"
                "      [sys.monitoring.get_tool(t) for t in (3, 4, 5)])\n")
        run = self.run_target(["-c", code], ALL)
        self.assertEqual((run.returncode, run.stderr), (0, ""))
        # CALL_STATS' counting holds a tool id of its own, the last free.
        self.assertEqual(run.stdout, "2 3 3 ['pyusdt', None, 'pyusdt CALL_STATS']\n")

    def import_in_subinterpreter(self, config: str, isolated: bool, before: str = "",
                                 after: str = "") -> subprocess.CompletedProcess:
        """Runs a program that imports pyusdt in a subinterpreter made with
        CONFIG (3.13's _interpreters) or ISOLATED (3.12's
        _xxsubinterpreters), with BEFORE and AFTER run in the main
        interpreter around it.  The subinterpreter prints what happened."""
        code = SUBINTERPRETER % {"config": config, "isolated": isolated,
                                 "before": before, "after": after}
        return self.run_target(["-c", code], ALL)

    def test_subinterpreter_refusal_leaves_the_main_interpreter_able_to_load_it(self):
        run = self.import_in_subinterpreter(
            "", True, after='import pyusdt\nprint("main", pyusdt.status().tool_id)')
        self.assertEqual((run.returncode, run.stderr), (0, ""), run.stderr)
        self.assertEqual(run.stdout, "refused: True\nmain 3\n")

    def test_legacy_shared_gil_subinterpreter_is_refused_too(self):
        run = self.import_in_subinterpreter('"legacy"', False, before="import pyusdt")
        self.assertEqual((run.returncode, run.stderr), (0, ""), run.stderr)
        self.assertEqual(run.stdout, "refused: True\n")


class WrongPython(unittest.TestCase):
    """libpyusdt.so built for another CPython minor version or ABI (3.14t's
    free-threaded one beside 3.14's), loaded by import pyusdt as
    PYUSDT_LIBRARY names it: a clear one-sentence ImportError, not a
    crash."""

    LOAD = """
try:
    import pyusdt
    print("loaded")
except ImportError as exc:
    print("ImportError:", exc)
"""

    def other_builds(self) -> list[str]:
        builds = [path for path in glob.glob(os.path.join(support.REPO, "build", "cpython-*",
                                                          "libpyusdt.so"))
                  if os.path.basename(os.path.dirname(path)) != support.BUILD_NAME]
        if not builds:
            self.skipTest("no build for another Python version or ABI (make lib PYTHON=...)")
        return builds

    #: What the dynamic linker's refusal is turned into: a build that uses
    #: functions the running Python does not export (a free-threaded build
    #: on a GIL-enabled Python, a 3.13 build's PyMutex on 3.12) fails
    #: before its init function can name the two builds.
    UNLINKABLE = "was built for another Python version or ABI (undefined symbol"

    @classmethod
    def expected(cls, tag: str) -> tuple[str, ...]:
        """What the error may say of a build named TAG (cpython-313,
        cpython-314t): one of these."""
        digits = tag.split("-")[1]
        free = digits.endswith("t")
        theirs = "%s.%s" % (digits[0], digits[1:].rstrip("t"))
        if free and "t" not in sys.abiflags:
            return (cls.UNLINKABLE,)
        if theirs != "%d.%d" % sys.version_info[:2]:
            return ("built for Python %s but is loaded by" % theirs, cls.UNLINKABLE)
        return ("built for %s Python %s" % ("free-threaded" if free else "GIL-enabled", theirs),)

    def test_build_for_another_version_or_abi_is_refused_in_one_sentence(self):
        for path in self.other_builds():
            tag = os.path.basename(os.path.dirname(path))
            with self.subTest(build=tag):
                run = support.run_python(["-c", self.LOAD], PYUSDT_LIBRARY=path)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertTrue(run.stdout.startswith("ImportError:"), run.stdout)
                self.assertTrue(any(phrase in run.stdout for phrase in self.expected(tag)),
                                run.stdout)
                self.assertEqual(len(run.stdout.splitlines()), 1, run.stdout)


class InterpreterModes(PrivateCopy):
    def test_dev_mode_and_debug_allocators_see_no_misuse_with_every_probe(self):
        # -X dev turns on the debug memory hooks (buffer under- and overruns,
        # API misuse detected on free) and shows every warning.
        untraced = self.run_target(["-X", "dev", "-m", "pyusdt", HOSTILE])
        traced = self.run_target(["-X", "dev", "-m", "pyusdt", HOSTILE], ALL)
        self.assertEqual(untraced.returncode, 0, untraced.stderr)
        self.assertSameRun(untraced, traced, "-X dev")

    def test_optimized_mode_without_docstrings_works(self):
        run = self.run_target(["-OO", "-c", STATUS + "; print(pyusdt.PROBES[0][0])"], ALL)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.splitlines()[1], "PY_START")


if __name__ == "__main__":
    unittest.main()
