"""Child processes and threads of a program using pyusdt, untraced and with
every probe attached: fork (each child runs its own poller and keeps its
parent's enabling; nothing warns about forking a multi-threaded process),
multiprocessing with each start method, subprocess children, and 32
threads."""

from __future__ import annotations

import re
import subprocess
import unittest

from tests import support
from tests.integration.reliability_support import (ALL, AGGREGATING, MONITORING_PROBES,
                                                   PrivateCopy)

PROCESSES = support.target("reliability_processes.py")
THREADS = support.target("reliability_threads.py")
REPORT = re.compile(r"^(child \d+|parent) enabled=(\S+) tool=(\S+) threads=(\d+) "
                    r"result=(\d+)( status=\d+)?$")


def reports(stdout: str) -> list[tuple[str, str, str, int, int]]:
    """(who, enabled, tool, threads, result) of each report line."""
    rows = []
    for line in stdout.splitlines():
        match = REPORT.match(line)
        if match:
            who, enabled, tool, threads, result, _ = match.groups()
            rows.append((who.split()[0], enabled, tool, int(threads), int(result)))
    return rows


class ChildProcesses(PrivateCopy):
    """Each MODE of reliability_processes.py, run with -W
    error::DeprecationWarning: a warning about fork() in a multi-threaded
    process would end it with a traceback."""

    def check(self, mode: str, children: int):
        """Runs MODE untraced and traced, checks both, returns both."""
        args = ["-W", "error::DeprecationWarning", PROCESSES, mode]
        untraced, traced = self.run_both(args)
        for run, enabled, tool in ((untraced, "-", "None"),
                                   (traced, ",".join(MONITORING_PROBES + AGGREGATING),
                                    "3")):
            with self.subTest(traced=run is traced):
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertEqual(run.stderr, "")
                rows = reports(run.stdout)
                self.assertEqual(sum(who == "child" for who, *_ in rows), children,
                                 run.stdout)
                self.assertEqual([who for who, *_ in rows][-1], "parent", run.stdout)
                for who, seen_enabled, seen_tool, threads, _ in rows:
                    # The process's own thread and its pyusdt poller.
                    self.assertEqual(threads, 2, "%s: %s" % (who, run.stdout))
                    self.assertEqual((seen_enabled, seen_tool), (enabled, tool),
                                     "%s: %s" % (who, run.stdout))
                self.assertIn("status=0", run.stdout.splitlines()[-1])
        self.assertEqual(sorted(row[4] for row in reports(traced.stdout)),
                         sorted(row[4] for row in reports(untraced.stdout)))
        return untraced, traced

    def test_fork_child_runs_its_own_poller_with_its_parents_probes(self):
        self.check("fork", 1)

    def test_fork_grandchild_runs_its_own_poller_too(self):
        self.check("fork-chain", 2)

    def test_fifty_forks_in_a_row_never_warn_and_exit_with_their_own_status(self):
        untraced, traced = self.check("fork-many", 0)
        statuses = [line for line in traced.stdout.splitlines()
                    if line.startswith("statuses")]
        self.assertEqual(statuses, [line for line in untraced.stdout.splitlines()
                                    if line.startswith("statuses")])
        self.assertEqual(len(statuses[0].split(",")), 50)

    def runs_to_the_end(self, mode: str, hang: str, check) -> None:
        """Runs MODE untraced, then with every probe attached (a subtest
        each): each must end with status 0, nothing on stderr, and stdout's
        lines passing CHECK(lines); HANG says what a timeout means."""
        for force in (None, ALL):
            with self.subTest(force=force):
                try:
                    # N.B. a few seconds normally, under a sanitizer too.
                    run = self.run_target([PROCESSES, mode], force, timeout=90)
                except subprocess.TimeoutExpired:
                    self.fail(hang)
                self.assertEqual((run.returncode, run.stderr), (0, ""), run.stderr)
                check(run.stdout.splitlines())

    def test_threads_forking_at_once_neither_deadlock_nor_crash(self):
        def check(lines: list[str]) -> None:
            self.assertEqual(lines[0], "children 48 statuses [50]")
            self.assertIn("threads=2 ", lines[1])
        self.runs_to_the_end("fork-threads", "deadlocked: 16 threads calling os.fork() at "
                             "once never finished", check)

    def test_child_of_a_raw_fork_exits_normally(self):
        # N.B. libc's fork(), not os.fork(): the poller's thread is gone in
        # the child and no hook said so; its exit must not wait for it.
        def check(lines: list[str]) -> None:
            self.assertRegex(lines[0], r"^child \d+ raw result=\d+$")
            self.assertRegex(lines[1], r" status=7$")
        self.runs_to_the_end("raw-fork", "the child of a raw fork() never exited", check)

    def test_multiprocessing_fork_workers_keep_working(self):
        self.check("mp-fork", 5)

    def test_multiprocessing_forkserver_workers_keep_working(self):
        self.check("mp-forkserver", 5)

    def test_multiprocessing_spawn_workers_load_pyusdt_afresh(self):
        self.check("mp-spawn", 5)

    def test_subprocess_children_load_their_own_pyusdt(self):
        self.check("subprocess", 2)

    def test_preexec_fn_runs_python_in_the_forked_child_without_warning(self):
        self.check("preexec", 1)


class ManyThreads(PrivateCopy):
    def test_32_threads_compute_the_same_results_with_every_probe_attached(self):
        untraced, traced = self.run_both([THREADS])
        self.assertSameRun(untraced, traced, "32 threads")
        self.assertEqual(untraced.returncode, 0, untraced.stderr)
        self.assertEqual(len(eval(untraced.stdout)), 32)


if __name__ == "__main__":
    unittest.main()
