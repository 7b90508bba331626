"""Configuration, lifecycle and safety of pyusdt in real child processes,
without a tracer."""

from __future__ import annotations

import unittest

from tests import support

STATUS = ("import pyusdt, sys; s = pyusdt.status(); "
          "print(s.check_msec, s.tool_id, s.enabled, file=sys.stdout)")


class CheckMsec(unittest.TestCase):
    def test_valid_interval_is_used_silently(self):
        for value in ("1", "10", "60000"):
            run = support.run_python(["-c", STATUS], PYUSDT_CHECK_MSEC=value)
            self.assertEqual(run.stdout.split()[0], value)
            self.assertEqual(run.stderr, "")

    def test_invalid_interval_warns_once_and_uses_default(self):
        for value in ("", "abc", "0", "-5", "1e9", "60001", "99999999999999999999",
                      " 10", "10ms", "+10"):
            with self.subTest(value=value):
                run = support.run_python(["-c", STATUS], PYUSDT_CHECK_MSEC=value)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertEqual(run.stdout.split()[0], "100")
                lines = run.stderr.splitlines()
                self.assertEqual(len(lines), 1, run.stderr)
                self.assertIn("PYUSDT_CHECK_MSEC='%s'" % value, lines[0])
                self.assertIn("1 to 60000", lines[0])


class Quiet(unittest.TestCase):
    def test_import_prints_nothing_and_enables_nothing(self):
        run = support.run_python(["-c", STATUS])
        self.assertEqual(run.stdout, "100 None ()\n")
        self.assertEqual(run.stderr, "")

    def test_verbose_prints_nothing_while_nothing_changes(self):
        run = support.run_python(["-c", STATUS + "; import time; time.sleep(0.3)"],
                                 PYUSDT_VERBOSE="1", PYUSDT_CHECK_MSEC="10")
        self.assertEqual(run.stderr, "")


class Lifecycle(unittest.TestCase):
    def test_fork_child_gets_its_own_poller_and_no_thread_warning(self):
        code = """
import os, sys, warnings
warnings.simplefilter("error")
import pyusdt
def threads():
    return len(os.listdir("/proc/self/task"))
pid = os.fork()
if pid == 0:
    print("child", threads(), pyusdt.status().enabled, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", threads(), flush=True)
"""
        run = support.run_python(["-c", code])
        self.assertEqual(run.stderr, "")
        self.assertEqual(sorted(run.stdout.splitlines()), ["child 2 ()", "parent 2"])

    def test_reimport_and_reload_keep_one_poller(self):
        code = """
import importlib, os, sys
import pyusdt
del sys.modules["pyusdt"]
import pyusdt
importlib.reload(pyusdt)
print(len(os.listdir("/proc/self/task")), pyusdt.status().tool_id)
"""
        run = support.run_python(["-c", code])
        self.assertEqual((run.stdout, run.stderr), ("2 None\n", ""))

    def test_import_from_a_thread_works(self):
        code = """
import threading
def load():
    import pyusdt
    print(pyusdt.status().check_msec)
t = threading.Thread(target=load); t.start(); t.join()
"""
        run = support.run_python(["-c", code])
        self.assertEqual((run.stdout, run.stderr), ("100\n", ""))

    def test_subinterpreter_import_is_a_clear_import_error(self):
        code = """
try:
    import _interpreters as interpreters
except ImportError:
    import _xxsubinterpreters as interpreters
import pyusdt
interp = interpreters.create()
script = '''
try:
    import pyusdt
except ImportError as exc:
    print("ImportError:", exc)
'''
try:
    interpreters.run_string(interp, script)
finally:
    interpreters.destroy(interp)
"""
        run = support.run_python(["-c", code])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("ImportError:", run.stdout)
        self.assertIn("subinterpreter", run.stdout.lower())

    def test_exit_with_poller_running_is_clean(self):
        for ending in ("sys.exit(3)", "os._exit(4)", "raise SystemExit(5)"):
            code = "import os, sys, pyusdt\n" + ending
            run = support.run_python(["-c", code])
            self.assertEqual(run.returncode, int(ending[-2]), run.stderr)
            self.assertEqual(run.stderr, "")


if __name__ == "__main__":
    unittest.main()
