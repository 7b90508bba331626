"""``python -m pyusdt attach PID`` against real processes, without a tracer:
a plain Python program (tests/targets/attach_target.py) gets pyusdt loaded
whatever its main thread is doing, and runs on as if nothing happened;
every way the attach can fail is one sentence on stderr, exit status 1,
and a target still running, untouched."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from tests import attaching, support
from tests.attaching import CAN_ATTACH, CANNOT_ATTACH, REMOTE_EXEC, Target

def workspaces(target: Target) -> set[str]:
    """The workspaces an attach made in /tmp for TARGET (named after its
    pid): other attaches may run on the machine at the same time."""
    return set(glob.glob("/tmp/pyusdt-attach-%d-*" % target.pid))


def copy_of_pyusdt(root: str, with_library: bool) -> str:
    """The pyusdt package copied into ROOT, with (WITH_LIBRARY) or without
    this interpreter's build of its library; the library's path."""
    shutil.copytree(os.path.join(support.REPO, "pyusdt"), os.path.join(root, "pyusdt"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    library = os.path.join(root, "build", support.BUILD_NAME, "libpyusdt.so")
    if with_library:
        os.makedirs(os.path.dirname(library))
        shutil.copyfile(support.BUILD_LIB, library)
    return library


class AttachTestCase(unittest.TestCase):
    """Starts targets and makes sure none outlives its test."""

    def target(self, mode: str, **kwargs) -> Target:
        target = Target(mode, **kwargs)
        self.addCleanup(target.close)
        return target

    def assertAttached(self, run: subprocess.CompletedProcess, target: Target) -> str:
        """RUN attached pyusdt to TARGET; returns the library it printed."""
        self.assertEqual((run.returncode, run.stderr), (0, ""), target.describe())
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 1, run.stdout)
        head = "attached pyusdt to process %d (Python %s%s): " % (
            target.pid, sys.version.split()[0], sys.abiflags)
        self.assertTrue(lines[0].startswith(head), lines[0])
        library = lines[0][len(head):]
        with open("/proc/%d/maps" % target.pid) as maps:
            self.assertIn(" " + library + "\n", maps.read())
        return library

    def assertFailedCleanly(self, run: subprocess.CompletedProcess, target: Target | None,
                            *words: str) -> None:
        """RUN failed with one sentence holding WORDS, and TARGET runs on
        without pyusdt."""
        self.assertEqual((run.returncode, run.stdout), (1, ""), run.stderr)
        lines = run.stderr.splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertTrue(lines[0].startswith("pyusdt attach: "), lines[0])
        for word in words:
            self.assertIn(word, lines[0])
        if target is not None:
            self.assertTrue(target.running(), target.describe())
            self.assertFalse(target.maps_pyusdt())

    def assertEndsUntouched(self, target: Target, loaded: bool = True) -> None:
        """TARGET ends as it would have, its stderr empty."""
        self.assertEqual(target.stop(), 7, target.describe())
        self.assertEqual(target.stderr, "", target.describe())
        self.assertEqual(target.stdout[-1], "pyusdt loaded\n" if loaded else "no pyusdt\n",
                         target.describe())


@unittest.skipUnless(CAN_ATTACH, CANNOT_ATTACH)
class AttachToRunningPython(AttachTestCase):
    """Attaching to a running program of this interpreter's version: by
    sys.remote_exec on 3.14+, by gdb on 3.12 and 3.13."""

    def test_program_runs_on_unbroken_with_its_exit_status(self):
        target = self.target("loop")
        for _ in range(5):
            target.next_line()
        library = self.assertAttached(attaching.attach(target.pid), target)
        self.assertTrue(os.path.isabs(library))
        target.lines_from_now(20)   # still running after the attach
        self.assertEndsUntouched(target)
        numbers = [int(line) for line in target.stdout[1:-1]]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)), "a broken sequence")

    def test_second_attach_says_so_and_does_nothing(self):
        target = self.target("loop")
        library = self.assertAttached(attaching.attach(target.pid), target)
        threads = sorted(os.listdir("/proc/%d/task" % target.pid))
        again = attaching.attach(target.pid)
        self.assertEqual((again.returncode, again.stderr), (0, ""))
        self.assertRegex(again.stdout, r"^process %d \(Python 3\.\d+t?\) already has pyusdt "
                         r"loaded: %s\n$" % (target.pid, library))
        self.assertEqual(sorted(os.listdir("/proc/%d/task" % target.pid)), threads)
        self.assertEndsUntouched(target)

    def start_attach(self, target: Target) -> subprocess.Popen:
        """Starts an attach to TARGET and returns once it is waiting for the
        target: when its workspace is in the target's /tmp."""
        before = workspaces(target)
        attach = attaching.start_attach(target.pid, "--timeout", str(attaching.SETTLE))
        self.addCleanup(attach.kill)
        deadline = time.monotonic() + attaching.SETTLE
        while not workspaces(target) - before and attach.poll() is None:
            self.assertLess(time.monotonic(), deadline, "no workspace appeared")
            time.sleep(0.01)
        return attach

    def attach_while_blocked(self, mode: str, release) -> Target:
        """Starts an attach while TARGET's main thread is blocked (MODE),
        then calls RELEASE(target) to end the blocking call: the attach
        completes, the target runs on."""
        target = self.target(mode)
        attach = self.start_attach(target)
        release(target)
        out, err = attach.communicate(timeout=attaching.SETTLE + 30)
        self.assertAttached(subprocess.CompletedProcess(attach.args, attach.returncode,
                                                        out, err), target)
        return target

    def test_attach_while_main_thread_sleeps_waits_for_the_sleep(self):
        target = self.attach_while_blocked("sleep", lambda target: None)
        self.assertEqual(target.next_line(), "slept None True")
        self.assertEndsUntouched(target)

    def test_attach_while_main_thread_accepts_returns_the_connection(self):
        def connect(target):
            with socket.create_connection(("127.0.0.1", int(target.ready.split()[1]))) as s:
                s.sendall(b"hello")
        target = self.attach_while_blocked("accept", connect)
        self.assertEqual(target.next_line(), "accepted hello")
        self.assertEndsUntouched(target)

    def test_attach_while_main_thread_reads_a_pipe_returns_the_data(self):
        def write(target):
            target.proc.stdin.write("data\n")
            target.proc.stdin.flush()
        target = self.attach_while_blocked("read", write)
        self.assertEqual(target.next_line(), "read b'data\\n'")
        self.assertEndsUntouched(target)

    def test_attach_while_main_thread_idles_in_join_of_a_busy_thread(self):
        def release(target):
            with open(target.stopfile + ".release", "w"):
                pass
        target = self.attach_while_blocked("idle", release)
        self.assertEqual(target.next_line(), "joined")
        self.assertEndsUntouched(target)

    def test_timeout_withdraws_the_script_so_it_never_loads(self):
        target = self.target("read")
        before = workspaces(target)
        run = attaching.attach(target.pid, "--timeout", "1")
        self.assertFailedCleanly(run, target, "within 1 s", "blocked in the kernel",
                                 "nothing was loaded")
        self.assertWithdrawn(target, before)

    def assertWithdrawn(self, target: Target, before: set[str]) -> None:
        """TARGET, blocked in read, reads again: its main thread then runs
        the withdrawn script, which only removes its workspace (not among
        BEFORE); the target ends without pyusdt."""
        target.proc.stdin.write("late\n")
        target.proc.stdin.flush()
        self.assertEqual(target.next_line(), "read b'late\\n'")
        deadline = time.monotonic() + attaching.SETTLE
        while workspaces(target) - before:
            self.assertLess(time.monotonic(), deadline, "the workspace was left behind")
            time.sleep(0.01)
        self.assertFalse(target.maps_pyusdt())
        self.assertEndsUntouched(target, loaded=False)

    def test_the_attach_command_itself_maps_no_libpyusdt(self):
        # A tracer never maps what it traces (pyusdt_tracer): python -m
        # pyusdt attach imports the package pyusdt, which loads nothing then.
        target = self.target("read")
        attach = self.start_attach(target)
        with open("/proc/%d/maps" % attach.pid) as maps:
            mapped = maps.read()
        self.assertIn("python", mapped)
        self.assertNotIn("libpyusdt", mapped)
        target.proc.stdin.write("go\n")
        target.proc.stdin.flush()
        out, err = attach.communicate(timeout=attaching.SETTLE + 30)
        self.assertAttached(subprocess.CompletedProcess(attach.args, attach.returncode,
                                                        out, err), target)
        self.assertEndsUntouched(target)

    def test_ctrl_c_ends_the_attach_in_one_line_and_withdraws_the_script(self):
        target = self.target("read")
        before = workspaces(target)
        attach = self.start_attach(target)
        attach.send_signal(signal.SIGINT)
        out, err = attach.communicate(timeout=attaching.SETTLE)
        self.assertEqual((attach.returncode, out), (130, ""), err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("pyusdt attach: interrupted"), err)
        self.assertTrue(target.running())
        self.assertWithdrawn(target, before)

    def test_target_exiting_during_the_attach_is_reported(self):
        target = self.target("read")
        before = workspaces(target)
        attach = self.start_attach(target)
        target.proc.kill()
        out, err = attach.communicate(timeout=attaching.SETTLE)
        run = subprocess.CompletedProcess(attach.args, attach.returncode, out, err)
        self.assertFailedCleanly(run, None, "process %d exited during the attach" % target.pid)
        self.assertEqual(workspaces(target) - before, set(), "the workspace was left behind")

    @unittest.skipIf(os.environ.get("PYUSDT_LIBRARY"),
                     "make asan and make valgrind name their build by PYUSDT_LIBRARY, "
                     "which every copy then loads: this test is about which copy's own "
                     "build the target finds")
    def test_the_copy_in_the_targets_environment_comes_first(self):
        with tempfile.TemporaryDirectory(prefix="pyusdt-own-") as own:
            library = copy_of_pyusdt(own, with_library=True)
            target = self.target("loop", PYTHONPATH=own)
            attached = self.assertAttached(attaching.attach(target.pid), target)
            self.assertEqual(os.path.realpath(attached), os.path.realpath(library))
            self.assertEndsUntouched(target)

    def test_a_copy_without_a_build_for_the_target_fails_and_leaves_nothing(self):
        with tempfile.TemporaryDirectory(prefix="pyusdt-unbuilt-") as unbuilt:
            copy_of_pyusdt(unbuilt, with_library=False)
            target = self.target("loop")
            # The attach command itself never loads the library.
            run = attaching.attach(target.pid, pythonpath=unbuilt)
            self.assertFailedCleanly(run, target, "could not import pyusdt",
                                     "libpyusdt.so not found for Python %d.%d%s"
                                     % (sys.version_info[:2] + (sys.abiflags,)))
            self.assertEndsUntouched(target, loaded=False)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                         "needs root and unshare for a mount namespace")
    @unittest.skipIf(os.environ.get("PYUSDT_LIBRARY"),
                     "make asan and make valgrind name their build by PYUSDT_LIBRARY, "
                     "which every copy then loads: this test is about which copy's own "
                     "build the target finds")
    def test_another_mount_namespace_uses_its_own_pyusdt_and_tmp(self):
        # The checkout and /tmp hidden from the target, as in a container
        # or under systemd's PrivateTmp: the attach writes into the
        # target's own /tmp, and the target imports its own copy.
        target = self.target("loop", hide=[support.REPO, "/tmp"])
        library = copy_of_pyusdt(target.scratch, with_library=True)
        attached = self.assertAttached(attaching.attach(target.pid), target)
        self.assertEqual(os.path.realpath(attached), os.path.realpath(library))
        self.assertEndsUntouched(target)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                         "needs root and unshare for a mount namespace")
    def test_another_mount_namespace_without_pyusdt_says_what_to_do(self):
        target = self.target("loop", hide=[support.REPO])
        run = attaching.attach(target.pid)
        self.assertFailedCleanly(run, target, "has no pyusdt in its environment",
                                 "inside its container")
        self.assertEndsUntouched(target, loaded=False)

    @unittest.skipUnless(REMOTE_EXEC, "sys.remote_exec's switches, 3.14 and later")
    def test_disabled_remote_debugging_is_refused(self):
        for how, kwargs in (("PYTHON_DISABLE_REMOTE_DEBUG",
                             {"PYTHON_DISABLE_REMOTE_DEBUG": "1"}),
                            ("-X disable_remote_debug",
                             {"extra_args": ["-X", "disable_remote_debug"]})):
            with self.subTest(how=how):
                target = self.target("loop", **kwargs)
                run = attaching.attach(target.pid, "--timeout", "1")
                self.assertFailedCleanly(run, target, "remote debugging disabled", how)
                self.assertEndsUntouched(target, loaded=False)


class AttachFailures(AttachTestCase):
    """What cannot be attached to, on any interpreter: one sentence."""

    def test_no_such_process(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        self.assertFailedCleanly(attaching.attach(gone.pid), None,
                                 "there is no process %d" % gone.pid)

    def test_not_a_python_process(self):
        sleep = subprocess.Popen(["sleep", "60"])
        self.addCleanup(sleep.wait)
        self.addCleanup(sleep.kill)
        run = attaching.attach(sleep.pid)
        self.assertFailedCleanly(run, None, "process %d is not a Python process" % sleep.pid,
                                 "sleep")
        self.assertIsNone(sleep.poll())

    @unittest.skipUnless(shutil.which("python3.11"), "needs a python3.11 to attach to")
    def test_python_older_than_3_12(self):
        target = self.target("loop", python=shutil.which("python3.11"))
        self.assertFailedCleanly(attaching.attach(target.pid), target,
                                 "runs Python 3.11", "needs 3.12 or later")
        self.assertEndsUntouched(target, loaded=False)

    @unittest.skipIf(REMOTE_EXEC, "3.14 and later attach without gdb")
    def test_python_3_12_and_3_13_without_gdb_say_which_package(self):
        target = self.target("loop")
        run = attaching.attach(target.pid, PATH="/nonexistent")
        self.assertFailedCleanly(run, target, "needs gdb, which is not installed",
                                 "apt-get install gdb")
        self.assertEndsUntouched(target, loaded=False)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root and setpriv to run the attach as another user")
    def test_permission_denied_for_another_user(self):
        target = self.target("loop")
        # nobody, able to read the interpreter and the checkout wherever
        # they are (CAP_DAC_READ_SEARCH), but not to ptrace root's process.
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                  "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
        run = attaching.attach(target.pid, prefix=nobody)
        self.assertFailedCleanly(run, target, "permission denied",
                                 "belongs to root (uid 0)")
        self.assertEndsUntouched(target, loaded=False)

    def test_usage_errors(self):
        for args in ([], ["abc"], ["1", "2"], ["1", "--timeout", "0"],
                     ["1", "--timeout=soon"]):
            with self.subTest(args=args):
                run = subprocess.run(attaching.attach_command(1)[:-1] + args,
                                     env=attaching.attach_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, timeout=60)
                self.assertEqual((run.returncode, run.stdout), (2, ""))
                self.assertTrue(run.stderr.startswith("pyusdt attach: "), run.stderr)
                self.assertIn("usage: python -m pyusdt attach PID", run.stderr)

    def test_a_script_named_attach_py_still_runs(self):
        with tempfile.TemporaryDirectory() as scratch:
            with open(os.path.join(scratch, "attach.py"), "w") as script:
                script.write("import sys; print('ran', sys.argv)\n")
            run = support.run_python(["-m", "pyusdt", "attach.py", "1"], cwd=scratch)
        self.assertEqual((run.returncode, run.stdout, run.stderr),
                         (0, "ran ['attach.py', '1']\n", ""))


if __name__ == "__main__":
    unittest.main()
