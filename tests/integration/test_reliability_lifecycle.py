"""The end of a program, deep recursion and signals with every probe
attached (PYUSDT_FORCE=all): the same output, exit status and tracebacks as
untraced, no crash and no hang; and pyusdt imported at awkward moments."""

from __future__ import annotations

import signal
import subprocess
import unittest

from tests import support
from tests.integration.reliability_support import ALL, PrivateCopy
from tests.targets import reliability_exit, reliability_recursion, reliability_signals

EXIT = support.target("reliability_exit.py")
SIGNALS = support.target("reliability_signals.py")
RECURSION = support.target("reliability_recursion.py")


class ExitWhileTraced(PrivateCopy):
    """Every way reliability_exit.py ends, with daemon threads running
    Python the whole time, a few times each: pyusdt loaded first (python
    -m pyusdt), or late (after the program's atexit handlers)."""

    RUNS = 3

    def check(self, mode: str) -> None:
        status, stdout = reliability_exit.EXPECTED[mode]
        for how in (["-m", "pyusdt", EXIT, mode], [EXIT, mode, "late"]):
            for attempt in range(self.RUNS):
                with self.subTest(how=" ".join(how), attempt=attempt):
                    run = self.run_target(how, ALL)
                    self.assertEqual((run.returncode, run.stdout), (status, stdout),
                                     run.stderr)
                    if mode == "uncaught":
                        self.assertTrue(run.stderr.endswith("RuntimeError: the end\n"),
                                        run.stderr)
                    else:
                        self.assertEqual(run.stderr, "")

    def test_atexit_handlers_run_in_order_while_daemon_threads_run(self):
        self.check("atexit")

    def test_exit_with_daemon_threads_running_python(self):
        self.check("daemon")

    def test_sys_exit_in_a_thread_ends_only_that_thread(self):
        self.check("thread-sys-exit")

    def test_os_exit_in_a_thread_ends_the_process_with_its_status(self):
        self.check("thread-os-exit")

    def test_sys_exit_from_main_thread_keeps_its_status(self):
        self.check("main-sys-exit")

    def test_os_exit_from_main_thread_keeps_its_status(self):
        self.check("main-os-exit")

    def test_uncaught_exception_ends_with_traceback_and_status_1(self):
        self.check("uncaught")

    def test_finalizers_and_suspended_generators_run_at_shutdown(self):
        self.check("finalizers")

    def test_non_daemon_threads_finish_before_exit(self):
        self.check("non-daemon")

    def test_everything_at_once(self):
        self.check("everything")

    def test_untraced_runs_give_the_expected_results(self):
        # The expectations themselves, without pyusdt at all.
        for mode, (status, stdout) in reliability_exit.EXPECTED.items():
            with self.subTest(mode=mode):
                run = self.run_target([EXIT, mode])
                self.assertEqual((run.returncode, run.stdout), (status, stdout), run.stderr)


class ImportAtAwkwardMoments(PrivateCopy):
    def test_import_from_an_atexit_handler_exits_cleanly(self):
        code = ("import atexit\n"
                "def late():\n"
                "    import pyusdt\n"
                "    print('loaded', pyusdt.status().tool_id, flush=True)\n"
                "atexit.register(late)\n")
        for attempt in range(3):
            run = self.run_target(["-c", code], ALL)
            self.assertEqual((run.returncode, run.stdout, run.stderr), (0, "loaded 3\n", ""))

    def test_import_from_a_daemon_thread_racing_exit_exits_cleanly(self):
        code = ("import threading\n"
                "def load():\n"
                "    import pyusdt\n"
                "    while True: sum(range(10))\n"
                "threading.Thread(target=load, daemon=True).start()\n")
        for attempt in range(5):
            run = self.run_target(["-c", code], ALL)
            self.assertEqual((run.returncode, run.stderr), (0, ""))

    def test_import_while_finalizing_from_del_does_not_crash(self):
        code = ("class Late:\n"
                "    def __del__(self):\n"
                "        try:\n"
                "            import pyusdt\n"
                "        except ImportError:\n"
                "            pass\n"
                "keep = Late()\n")
        run = self.run_target(["-c", code], ALL)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertNotIn("Fatal", run.stderr)


def comparable(run: subprocess.CompletedProcess, call_attached: bool):
    """RUN with its output as reliability_recursion.comparable() gives it."""
    return subprocess.CompletedProcess(
        run.args, run.returncode,
        reliability_recursion.comparable(run.stdout, call_attached), run.stderr)


class RecursionWhileTraced(PrivateCopy):
    def test_recursion_errors_happen_at_the_same_depth_with_the_same_message(self):
        untraced, traced = self.run_both(["-m", "pyusdt", RECURSION])
        self.assertEqual(untraced.returncode, 0, untraced.stderr)
        self.assertSameRun(comparable(untraced, True), comparable(traced, True), "recursion")

    def test_the_runner_adds_no_depth_python_would_not(self):
        plain = self.run_target([RECURSION])
        self.assertEqual(plain.returncode, 0, plain.stderr)
        for force in (None, ALL):
            with self.subTest(force=force):
                run = self.run_target(["-m", "pyusdt", RECURSION], force)
                self.assertSameRun(comparable(plain, force is not None),
                                   comparable(run, force is not None), "python -m pyusdt")

    def test_each_probe_alone_leaves_recursion_unchanged(self):
        run = ["-c", "import pyusdt, runpy; runpy.run_path(%r, run_name='__main__')"
               % RECURSION]
        plain = self.run_target(run)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        for probe in ("PY_START", "CALL", "LINE", "RAISE", "PY_UNWIND"):
            with self.subTest(probe=probe):
                self.assertSameRun(comparable(plain, probe == "CALL"),
                                   comparable(self.run_target(run, probe), probe == "CALL"),
                                   probe)


class SignalsWhileTraced(PrivateCopy):
    """reliability_signals.py signals itself at a point of its choosing;
    traced, everything it prints and its fate must be what they are
    untraced."""

    def check(self, mode: str):
        """Runs MODE untraced and traced, checks both, returns both."""
        status, stdout, last_err = reliability_signals.EXPECTED[mode]
        untraced, traced = self.run_both(["-m", "pyusdt", SIGNALS, mode])
        for run in (untraced, traced):
            with self.subTest(traced=run is traced):
                self.assertEqual((run.returncode, run.stdout), (status, stdout), run.stderr)
                lines = run.stderr.splitlines()
                self.assertEqual(lines[-1] if lines else "", last_err, run.stderr)
        return untraced, traced

    def test_sigint_raises_keyboard_interrupt_and_kills_by_sigint(self):
        self.check("sigint")

    def test_sigint_while_main_thread_sleeps_gives_the_same_traceback(self):
        untraced, traced = self.check("sigint-sleeping")
        self.assertEqual(traced.stderr, untraced.stderr)

    def test_sigterm_default_action_still_kills(self):
        self.check("sigterm")

    def test_python_signal_handlers_run_and_may_raise(self):
        self.check("handlers")

    def test_timer_signal_handler_raises_into_busy_code(self):
        self.check("alarm")

    def test_signal_interrupting_sleep_is_handled_and_sleep_resumes(self):
        self.check("interrupted-sleep")

    def test_poller_thread_blocks_every_signal(self):
        code = ("import os, sys, time, pyusdt\n"
                "main = os.getpid()\n"
                "for tid in sorted(os.listdir('/proc/self/task')):\n"
                "    if int(tid) == main: continue\n"
                "    with open('/proc/self/task/%s/status' % tid) as f:\n"
                "        mask = [l for l in f if l.startswith('SigBlk:')][0].split()[1]\n"
                "    print(int(mask, 16))\n")
        run = self.run_target(["-c", code], ALL)
        self.assertEqual(run.returncode, 0, run.stderr)
        (mask,) = [int(word) for word in run.stdout.split()]
        unblockable = {signal.SIGKILL, signal.SIGSTOP}
        for signum in range(1, signal.SIGRTMIN):
            if signum in unblockable or signum not in signal.valid_signals():
                continue
            self.assertTrue(mask & (1 << (signum - 1)),
                            "signal %d not blocked in the poller thread" % signum)


if __name__ == "__main__":
    unittest.main()
