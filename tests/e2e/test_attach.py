"""A program started without pyusdt, attached with ``python -m pyusdt
attach``, then traced by real bpftrace -p: its function's PY_START events
reach bpftrace, and the program runs on unbroken to its own exit status."""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
import unittest

from tests import attaching, support
from tests.attaching import CAN_ATTACH, CANNOT_ATTACH, Target
from tests.e2e import bpf
from tests.e2e import reliability_harness as harness
from tests.programs import LineProgram


@unittest.skipUnless(CAN_ATTACH, CANNOT_ATTACH)
@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AttachThenTrace(bpf.PrivateCopyCase):
    """The target falls back to a private copy of pyusdt (the attach
    command's), which no other test's tracer reaches."""

    def test_bpftrace_counts_py_start_of_a_program_started_without_pyusdt(self):
        target = Target("loop")
        self.addCleanup(target.close)
        for _ in range(5):
            target.next_line()
        run = attaching.attach(target.pid, pythonpath=self.root)
        self.assertEqual((run.returncode, run.stderr), (0, ""), target.describe())
        library = run.stdout.rstrip("\n").rpartition(": ")[2]
        self.assertEqual(os.path.realpath(library), os.path.realpath(self.lib), run.stdout)
        program = harness.counting_program(["PY_START"], library,
                                           predicate='str(arg0) == "beat"')
        tracer = harness.attached(program, ["-p", str(target.pid)])
        try:
            # 23 calls of beat(), one per line the program prints.
            harness.wait_until(
                lambda: harness.counts(tracer.lines).get(target.pid, {}).get("PY_START", 0)
                >= 23, "23 PY_START events of beat()")
        finally:
            tracer.stop()
        seen = harness.counts(tracer.lines)
        self.assertEqual(set(seen), {target.pid}, "events of other processes")
        self.assertEqual(target.stop(), 7, target.describe())
        self.assertEqual(target.stderr, "")
        self.assertEqual(target.stdout[-1], "pyusdt loaded\n")
        numbers = [int(line) for line in target.stdout[1:-1]]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)), "a broken sequence")


@unittest.skipUnless(CAN_ATTACH, CANNOT_ATTACH)
@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class TraceAttachesFirst(unittest.TestCase):
    """python -m pyusdt.trace TOOL -p PID on a program without pyusdt."""

    def test_pycalls_attaches_with_one_notice_then_reports_the_function(self):
        # PYUSDT_VERBOSE: pyusdt, once attached, says when bpftrace's probes are.
        target = Target("loop", PYUSDT_VERBOSE="1")
        self.addCleanup(target.close)
        for _ in range(5):
            target.next_line()
        launcher = LineProgram(launch("pycalls", "-p", str(target.pid)))
        self.addCleanup(launcher.proc.kill)
        # The trace runs until the program ends: once it has called beat()
        # under the tracer for a while.  N.B. pyusdt sees a probe attached
        # when bpftrace raises its semaphore, before its program is live;
        # pycalls' BEGIN line says every probe is.  The program prints one
        # line per beat() all the while: those it printed before are
        # queued, and say nothing about the trace.
        harness.wait_until(lambda: probes_attached(target, "CALL_STATS", "CALL_TIMES"),
                           "bpftrace's probes attached")
        harness.wait_until(lambda: "Tracing Python calls" in launcher.stderr,
                           "pycalls' BEGIN", timeout=attaching.SETTLE)
        traced = target.lines_from_now(100)
        self.assertEqual(target.stop(), 7, target.describe())
        status = launcher.finish(timeout=attaching.SETTLE)
        out, err = "".join(launcher.stdout), launcher.stderr
        self.assertEqual(status, 0, err)
        notices = [line for line in err.splitlines() if "attached pyusdt" in line]
        self.assertEqual(len(notices), 1, err)
        self.assertRegex(notices[0], r"^python -m pyusdt\.trace: attached pyusdt to process "
                         r"%d \(Python " % target.pid)
        numbers = [int(line) for line in target.stdout[1:-1]]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)), "a broken sequence")
        # The 100 lines read after BEGIN are 100 calls of beat() under the
        # tracer, but for any the reader had not received yet (23: most).
        # Each loop calls exists() then beat(), and exists() once more to
        # end: the one probe, PY_START, counts both from the same moment.
        beats, exists = calls_of("beat", out), calls_of("exists", out)
        self.assertTrue(beats is not None and 23 <= beats <= numbers[-1]
                        and exists in (beats, beats + 1), (
            "pycalls counted %s calls of beat() and %s of exists(); the program made "
            "%d, printing %s to %s after pycalls' BEGIN\n--- report (every code in "
            "@calls) ---\n%s--- launcher stderr ---\n%s\n%s"
            % (beats, exists, numbers[-1], traced[0].strip(), traced[-1].strip(), out,
               err, target.describe())))


def calls_of(function: str, report: str) -> int | None:
    """The CALLS column of FUNCTION's row in pycalls' REPORT; None if it has
    no row.  N.B. counted from the right: a shortened FILE:LINE may hold
    a space ("..en genericpath>:16")."""
    for line in report.splitlines():
        fields = line.split()
        if fields and fields[0] == function:
            return int(fields[-4])   # CALLS, TOTAL ms, SELF ms, AVG us
    return None


def launch(*args: str) -> subprocess.Popen:
    """python -m pyusdt.trace ARGS, started."""
    return subprocess.Popen([support.PYTHON, "-m", "pyusdt.trace", *args], cwd=support.REPO,
                            env=attaching.attach_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def probes_attached(target: Target, *probes: str) -> bool:
    """Whether TARGET's pyusdt (PYUSDT_VERBOSE) last reported PROBES among
    those attached: bpftrace attaches a tool's probes one at a time."""
    lines = [line for line in target.stderr.splitlines()
             if line.startswith("pyusdt: attached: ")]
    if not lines:
        return False
    # "pyusdt: attached: PY_START, PY_RETURN; events enabled with ..."
    names = lines[-1][len("pyusdt: attached: "):].split(";")[0]
    return set(probes) <= set(names.replace(",", " ").split())


def pyusdt_reports(stderr: str) -> tuple[list[str], list[str]]:
    """(PYUSDT_VERBOSE's lines, every other line) of a target's STDERR."""
    lines = stderr.splitlines()
    ours = [line for line in lines if line.startswith(("pyusdt: attached: ",
                                                       "pyusdt: all probes detached"))]
    return ours, [line for line in lines if line not in ours]


@unittest.skipUnless(CAN_ATTACH, CANNOT_ATTACH)
@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ServiceUnderLoad(unittest.TestCase):
    """A ThreadingHTTPServer answering eight clients is attached and traced
    with pycalls while it serves; then tracers come and go."""

    def test_http_server_attached_and_traced_while_serving_answers_every_request(self):
        target = Target("serve", program=attaching.HTTP_TARGET, PYUSDT_VERBOSE="1")
        self.addCleanup(target.close)
        port = int(target.ready.split()[1])
        stop = threading.Event()
        lock = threading.Lock()
        answered: list[int] = []
        failures: list[object] = []

        def client(first: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            number = first
            while not stop.is_set():
                try:
                    connection.request("GET", "/%d" % number)
                    response = connection.getresponse()
                    body = response.read()
                    if (response.status, body) != (200, b"%d squared is %d"
                                                   % (number, number * number)):
                        failures.append((number, response.status, body))
                except Exception as exc:
                    failures.append((number, repr(exc)))
                    connection.close()
                with lock:
                    answered.append(number)
                number += 8

        clients = [threading.Thread(target=client, args=(first,)) for first in range(8)]
        for thread in clients:
            thread.start()
        try:
            harness.wait_until(lambda: len(answered) >= 500, "500 answers untraced")
            launcher = LineProgram(launch("pycalls", "-p", str(target.pid)))
            self.addCleanup(launcher.proc.kill)
            harness.wait_until(lambda: probes_attached(target, "CALL_STATS", "CALL_TIMES"),
                               "bpftrace's probes attached")
            # N.B. counted from BEGIN: the semaphores rise before bpftrace's
            # programs are live.
            harness.wait_until(lambda: "Tracing Python calls" in launcher.stderr,
                               "pycalls' BEGIN")
            traced_from = len(answered)
            harness.wait_until(lambda: len(answered) >= traced_from + 1000,
                               "1,000 answers traced")
        finally:
            stop.set()
            for thread in clients:
                thread.join(60)
        self.assertEqual(failures, [], "%d of %d requests failed" % (len(failures),
                                                                     len(answered)))
        self.assertEqual(target.stop(), 7, target.describe())
        status = launcher.finish(timeout=attaching.SETTLE)
        out, err = "".join(launcher.stdout), launcher.stderr
        self.assertEqual(status, 0, err)
        self.assertIn("square", out)
        self.assertIn("do_GET", out)
        self.assertEqual(pyusdt_reports(target.stderr)[1], [], target.stderr)

    @unittest.skipIf(os.environ.get("PYUSDT_LIBRARY"),
                     "a sanitizer build's allocator keeps freed memory back on purpose "
                     "(ASan's quarantine): RSS says nothing there")
    def test_ten_traces_after_an_attach_leave_no_thread_or_memory_behind(self):
        target = Target("loop", PYUSDT_VERBOSE="1")
        self.addCleanup(target.close)
        run = attaching.attach(target.pid)
        self.assertEqual(run.returncode, 0, run.stderr)
        library = run.stdout.rstrip("\n").rpartition(": ")[2]
        program = harness.counting_program(["PY_START", "PY_RETURN"], library,
                                           predicate='str(arg0) == "beat"')
        threads, rss = [], []
        for cycle in range(10):
            tracer = harness.attached(program, ["-p", str(target.pid)])
            try:
                harness.wait_until(
                    lambda: harness.counts(tracer.lines).get(target.pid, {}).get(
                        "PY_RETURN", 0) >= 23, "23 returns of beat() in cycle %d" % cycle)
            finally:
                tracer.stop()
            harness.wait_until(lambda: target.stderr.count("pyusdt: all probes detached")
                               == cycle + 1, "pyusdt saw the detach of cycle %d" % cycle)
            threads.append(len(os.listdir("/proc/%d/task" % target.pid)))
            with open("/proc/%d/status" % target.pid) as status:
                rss.append(next(int(line.split()[1]) for line in status
                                if line.startswith("VmRSS:")))
        self.assertEqual(set(threads), {threads[0]}, threads)
        # Allocator noise, not growth: within 2 MiB of the first cycle's.
        self.assertLess(max(rss[1:]) - rss[0], 2048, rss)
        self.assertEqual(target.stop(), 7, target.describe())
        self.assertEqual(pyusdt_reports(target.stderr)[1], [], target.stderr)


if __name__ == "__main__":
    unittest.main()
