"""Processes and threads under real bpftrace: a forked child is traced when
the tracer covers it (attached system-wide by library path) and untraced
when it does not (attached to its parent's pid); multiprocessing workers
(fork, forkserver, spawn) and subprocess children are traced system-wide;
32 threads' events all arrive, each on its own thread, exactly as the
independent recorder sees them; and a tracer attaching while the main
thread is blocked sees the other threads at once."""

from __future__ import annotations

import collections
import re
import unittest

from tests import support
from tests.e2e import bpf, oracle
from tests.e2e import reliability_harness as harness

PROCESSES = support.target("reliability_processes.py")
THREADS = support.target("reliability_threads.py")
BLOCKED = support.target("reliability_blocked.py")
CHILD = re.compile(r"^child (\d+) enabled=(\S+) ")
LEAF_CALLS = 23


def child_pids(stdout: str) -> list[int]:
    return [int(m.group(1)) for m in map(CHILD.match, stdout.splitlines()) if m]


def child_enabled(stdout: str) -> list[str]:
    return [m.group(2) for m in map(CHILD.match, stdout.splitlines()) if m]


def started(events, function: str) -> int:
    return sum(e.probe == "PY_START" and e.function == function for e in events)


class Private(bpf.PrivateCopyCase):
    """Programs load a private copy of pyusdt: the tracer each test
    attaches is the only one they can see."""

    def trace_system(self, args, probes=("PY_START",), file_filter=PROCESSES):
        """Runs ARGS (for this Python) with bpftrace attached to the private
        library by path: (trace, every traced process's events by pid)."""
        program = bpf.probe_program(probes, file_filter=file_filter, lib=self.lib)
        trace = bpf.trace_system(program, ["-W", "error::DeprecationWarning", *args],
                                 launcher=False, cwd=self.root, PYTHONPATH=self.root)
        pids = [trace.pid, *child_pids(trace.stdout)]
        # The parent reports its children's exit statuses: a child killed by
        # a signal shows here first.
        self.assertTrue(trace.stdout.rstrip().endswith(" status=0"),
                        "a child failed\n" + trace.describe())
        return trace, harness.events_by_pid(trace.bpftrace_output, pids)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ForkTraced(Private):
    def test_forked_child_is_traced_when_attached_by_library_path(self):
        trace, events = self.trace_system([PROCESSES, "fork"])
        self.assertEqual((trace.returncode, trace.stderr), (0, ""), trace.describe())
        (child,) = child_pids(trace.stdout)
        self.assertEqual(child_enabled(trace.stdout), ["PY_START"], trace.describe())
        self.assertEqual(started(events[child], "leaf"), LEAF_CALLS, trace.describe())
        self.assertEqual(started(events[trace.pid], "leaf"), LEAF_CALLS, trace.describe())
        self.assertIn("parent enabled=PY_START ", trace.stdout)

    def test_grandchild_is_traced_too(self):
        trace, events = self.trace_system([PROCESSES, "fork-chain"])
        self.assertEqual((trace.returncode, trace.stderr), (0, ""), trace.describe())
        children = child_pids(trace.stdout)
        self.assertEqual(len(children), 2, trace.describe())
        for pid in children:
            self.assertEqual(started(events[pid], "leaf"), LEAF_CALLS, trace.describe())
            self.assertEqual(started(events[pid], "work"), 1, trace.describe())

    def test_child_of_a_process_traced_by_pid_turns_untraced(self):
        program = bpf.probe_program(("PY_START",), file_filter=PROCESSES, lib=self.lib)
        running = harness.Running(["-W", "error::DeprecationWarning", "-m", "pyusdt",
                                   "--wait-for-tracer=60", PROCESSES, "fork-settle"],
                                  self.root)
        tracer = None
        try:
            running.wait_mapped(self.lib)
            tracer = harness.attached(program, ["-p", str(running.pid)])
            status = running.finish()
            tracer.drain()
        finally:
            running.kill()
            if tracer is not None:
                tracer.stop()
        stdout = "".join(running.stdout)
        self.assertEqual((status, running.stderr), (0, ""), running.describe())
        self.assertTrue(stdout.rstrip().endswith(" status=0"),
                        "the child failed\n" + running.describe())
        (child,) = child_pids(stdout)
        # The kernel takes the parent's probes out of the child at its
        # first probe hit; pyusdt in the child then turns its events off.
        self.assertEqual(child_enabled(stdout), ["-"], running.describe())
        self.assertEqual(bpf.parse_events(tracer.lines, child), [], running.describe())
        self.assertEqual(started(bpf.parse_events(tracer.lines, running.pid), "leaf"),
                         LEAF_CALLS, "\n".join(tracer.lines[-50:]))


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ChildProcessesTraced(Private):
    """Every child that reports must have delivered its 23 leaf() calls
    per work() to the one system-wide tracer."""

    def check(self, mode: str, children: int, works: int) -> None:
        trace, events = self.trace_system([PROCESSES, mode])
        self.assertEqual((trace.returncode, trace.stderr), (0, ""), trace.describe())
        pids = child_pids(trace.stdout)
        self.assertEqual(len(pids), children, trace.describe())
        self.assertEqual(child_enabled(trace.stdout), ["PY_START"] * children,
                         trace.describe())
        # N.B. a pool worker reports once per task it ran.
        total_works = sum(started(events[pid], "work") for pid in set(pids))
        total_leaves = sum(started(events[pid], "leaf") for pid in set(pids))
        self.assertEqual((total_works, total_leaves), (works, works * LEAF_CALLS),
                         trace.describe())
        for pid in pids:
            self.assertGreater(started(events[pid], "describe"), 0,
                               "child %d untraced\n%s" % (pid, trace.describe()))

    def test_multiprocessing_fork_workers_are_traced(self):
        self.check("mp-fork", 5, 5)

    def test_multiprocessing_forkserver_workers_are_traced(self):
        self.check("mp-forkserver", 5, 5)

    def test_multiprocessing_spawn_workers_are_traced(self):
        self.check("mp-spawn", 5, 5)

    def test_subprocess_children_are_traced(self):
        self.check("subprocess", 2, 2)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ThirtyTwoThreads(Private):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        program = bpf.probe_program(bpf.CODE_PROBES, file_filter=THREADS, lib=cls.lib)
        cls.trace = bpf.trace_system(program, [THREADS], cwd=cls.root,
                                     PYTHONPATH=cls.root)
        cls.events = [e for e in cls.trace.events if e.file == THREADS]

    def test_every_threads_events_arrive_on_its_own_thread(self):
        self.assertEqual(self.trace.returncode, 0, self.trace.describe())
        starts = collections.Counter(e.tid for e in self.events
                                     if e.probe == "PY_START" and e.function == "leaf")
        self.assertEqual(len(starts), 32, self.trace.describe())
        self.assertEqual(set(starts.values()), {LEAF_CALLS}, self.trace.describe())
        self.assertNotIn(self.trace.pid, starts)

    def test_events_match_the_independent_recorder_thread_by_thread(self):
        expected = [e for e in bpf.record([THREADS]) if e.file == THREADS]
        diff = oracle.difference(expected, self.events)
        self.assertIsNone(diff, "%s\n%s" % (diff, self.trace.describe()))
        self.assertEqual(oracle.pairing_errors(self.events), [])


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AttachWhileMainThreadBlocked(Private):
    """reliability_blocked.py blocks its main thread while three workers
    call tick(); bpftrace -p attaches then: their events must come."""

    def check(self, how: str, *extra: str) -> None:
        running = harness.Running(["-m", "pyusdt", BLOCKED, how, *extra], self.root,
                                  stdin=True)
        tracer = None
        try:
            self.assertEqual(running.next_line(), "ready", running.describe())
            running.wait_mapped(self.lib)
            program = bpf.probe_program(("PY_START",), file_filter=BLOCKED, lib=self.lib)
            tracer = harness.attached(program, ["-p", str(running.pid)])

            def ticks_from_workers():
                tids = {e.tid for e in bpf.parse_events(list(tracer.lines), running.pid)
                        if e.function == "tick"}
                return len(tids - {running.pid}) == 3
            harness.wait_until(ticks_from_workers, "tick() events from all three workers")
            self.assertIsNone(running.proc.poll(), running.describe())
        finally:
            if tracer is not None:
                tracer.stop()
            running.kill()

    def test_attach_while_main_thread_sleeps(self):
        self.check("sleep")

    def test_attach_while_main_thread_waits_for_a_lock(self):
        self.check("lock")

    def test_attach_while_main_thread_reads_stdin(self):
        self.check("stdin")

    def test_attach_while_main_thread_joins_a_thread(self):
        self.check("join")

    def test_attach_while_workers_compete_for_the_gil(self):
        self.check("lock", "busy")


if __name__ == "__main__":
    unittest.main()
