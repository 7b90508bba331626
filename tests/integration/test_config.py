"""Configuration, lifecycle and safety of pyusdt in real child processes,
without a tracer."""

from __future__ import annotations

import sys
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


class PollPeriod(unittest.TestCase):
    """The poller reads the semaphores every interval; on 3.12, where taking
    the GIL from a busy main thread waits one GIL switch interval, that much
    sooner (at most half the interval sooner), so that events are still
    enabled within one interval of an attach."""

    CODE = ("import sys, pyusdt\n"
            "period = pyusdt._lib._poll_period_us\n"
            "print(period())\n"
            "sys.setswitchinterval(0.002)\n"
            "pyusdt._lib._sync()\n"
            "print(period())\n")

    def periods(self, check_msec: str) -> list[int]:
        run = support.run_python(["-c", self.CODE], PYUSDT_CHECK_MSEC=check_msec)
        self.assertEqual(run.stderr, "")
        return [int(line) for line in run.stdout.split()]

    # 3.12 waits for the GIL; later versions run a pending call instead.
    WAITS_FOR_GIL = sys.version_info < (3, 13)

    def check(self, expect: dict[str, list[int]]) -> None:
        """EXPECT: PYUSDT_CHECK_MSEC -> periods on 3.12 (switch interval
        5 ms, then 2 ms); later versions poll every interval."""
        for value, periods in expect.items():
            with self.subTest(check_msec=value):
                if not self.WAITS_FOR_GIL:
                    periods = [int(value) * 1000] * 2
                self.assertEqual(self.periods(value), periods)

    def test_polls_a_switch_interval_early_on_3_12_then_follows_its_changes(self):
        self.check({"100": [95000, 98000], "10": [5000, 8000]})

    def test_polls_at_most_half_an_interval_early(self):
        self.check({"4": [2000, 2000], "1": [500, 500]})


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

    def test_poller_thread_is_named_pyusdt_poller(self):
        # So that top -H, ps -L and a trace filtering on comm tell it apart;
        # the program's own threads keep their names.
        code = """
import os
def comm(tid):
    with open("/proc/self/task/%s/comm" % tid) as f:
        return f.read().strip()
main = str(os.getpid())
print(comm(main))
import pyusdt
for tid in sorted(os.listdir("/proc/self/task"), key=lambda t: t != main):
    print(comm(tid))
"""
        run = support.run_python(["-c", code])
        self.assertEqual(run.stderr, "")
        before, main, *others = run.stdout.splitlines()
        self.assertEqual(main, before)
        self.assertEqual(others, ["pyusdt-poller"])

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
