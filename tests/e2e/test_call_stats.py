"""CALL_STATS and CALL_TIMES with real bpftrace: for every corpus program
the calls they report per function equal the PY_START events of the
per-event probe, attached beside them in the same run, and the
independent recorder's in another; inclusive >= exclusive; a thread's
exclusive time fits in the run's wall time.  A fork while counts are
pending reports each call once.  And attach/detach cycles
while threads run: each attachment reports exactly the calls made during
it, nothing from before, and the process does not grow."""

from __future__ import annotations

import subprocess
import time
import unittest
from collections import Counter, defaultdict

from tests import support
from tests.e2e import bpf

STATS = ('usdt:%(lib)s:pyusdt:CALL_STATS %(pred)s{ printf("S|%%d|%%llu|%%d|%%s|%%d|%%llu\\n", '
         'pid, arg3, arg4, str(arg0), arg2, arg5); }\n'
         'usdt:%(lib)s:pyusdt:CALL_TIMES { printf("T|%%d|%%llu|%%d|%%llu|%%llu|%%llu\\n", '
         'pid, arg0, arg1, arg2, arg3, arg4); }\n')


def stats_program(file_filter: str | None = None, lib: str = support.LIB) -> str:
    pred = '/str(arg1) == "%s"/ ' % file_filter if file_filter else ""
    return STATS % {"lib": lib, "pred": pred}


class Figures:
    """What CALL_STATS and CALL_TIMES reported for process PID, summed over
    the intervals: calls and completed calls per (function, line), and per
    (code_id, tid) the intervals' (inclusive, exclusive)."""

    def __init__(self, lines: list[str], pid: int) -> None:
        self.calls: Counter = Counter()
        self.completed_by_code: Counter = Counter()
        self.names: dict[int, tuple[str, int]] = {}
        self.intervals: list[tuple[int, int, int, int]] = []   # code_id, tid, incl, excl
        for line in lines:
            fields = line.split("|")
            if len(fields) < 6 or fields[0] not in "ST" or int(fields[1]) != pid:
                continue
            if fields[0] == "S":
                code_id, _tid, function, first, calls = (
                    int(fields[2]), fields[3], fields[4], int(fields[5]), int(fields[6]))
                self.calls[(function, first)] += calls
                self.names[code_id] = (function, first)
            else:
                self.intervals.append(tuple(int(f) for f in fields[2:6]))
                self.completed_by_code[int(fields[2])] += int(fields[6])

    def completed(self) -> dict[int, int]:
        """Completed calls per code_id, of the functions CALL_STATS named."""
        return {code_id: count for code_id, count in self.completed_by_code.items()
                if code_id in self.names and count}

    def exclusive_by_thread(self) -> dict[int, int]:
        total: dict[int, int] = defaultdict(int)
        for code_id, tid, _incl, excl in self.intervals:
            if code_id in self.names:
                total[tid] += excl
        return total


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class CorpusCounts(unittest.TestCase):
    """Each corpus program, traced once with PY_START and the aggregating
    probes attached system-wide, and recorded once."""

    maxDiff = None

    def check(self, name: str) -> None:
        script = support.target("corpus_%s.py" % name)
        program = (bpf.probe_program(["PY_START", "PY_RETURN", "PY_UNWIND"], file_filter=script)
                   + stats_program(script))
        started = time.monotonic()
        trace = bpf.trace_system(program, [script])
        wall_ns = (time.monotonic() - started) * 1e9
        figures = Figures(trace.bpftrace_output, trace.pid)
        per_event = Counter((e.function, e.line) for e in trace.events
                            if e.probe == "PY_START" and e.file == script)
        recording = bpf.record_run([script], ("PY_START",))
        recorded = Counter((e.function, e.line) for e in recording.events
                           if e.probe == "PY_START" and e.file == script)
        self.assertTrue(per_event, trace.describe())
        self.assertEqual(dict(figures.calls), dict(per_event), trace.describe())
        self.assertEqual(dict(figures.calls), dict(recorded))
        self.assertTrue(figures.intervals, trace.describe())
        # A call completes where the per-event probes see it end: a return
        # or an unwind, not a yield.  N.B. not always once per call: a
        # generator thrown into before it started unwinds with no start,
        # and one closed while suspended outside a try block ends unseen.
        ended = Counter(e.code_id for e in trace.events
                        if e.probe in ("PY_RETURN", "PY_UNWIND") and e.file == script)
        self.assertEqual(figures.completed(), dict(ended), trace.describe())
        for code_id, tid, inclusive, exclusive in figures.intervals:
            self.assertGreaterEqual(inclusive, exclusive, (code_id, tid))
        for tid, exclusive in figures.exclusive_by_thread().items():
            self.assertLessEqual(exclusive, wall_ns, tid)

    def test_functions(self):
        self.check("functions")

    def test_generators(self):
        self.check("generators")

    def test_coroutines(self):
        self.check("async")

    def test_exceptions(self):
        self.check("exceptions")

    def test_threads(self):
        self.check("threads")

    def test_escape(self):
        self.check("escape")


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ForkWhileCounting(unittest.TestCase):
    """A fork with counts pending in two threads (traced by library path,
    so the child is traced too): each call is reported once, by the
    process that made it; the child does not report what it inherited."""

    def test_each_call_is_reported_once_by_the_process_that_made_it(self):
        script = support.target("call_stats_fork.py")
        trace = bpf.trace_system(stats_program(script), [script])
        self.assertEqual(trace.returncode, 0, trace.describe())
        child = int(trace.stdout.split()[-1])
        parent = Figures(trace.bpftrace_output, trace.pid)
        forked = Figures(trace.bpftrace_output, child)
        # N.B. main() returns in both: the child reports its time, no call.
        by_name = lambda figures: {function: calls for (function, _), calls
                                   in figures.calls.items() if function != "<module>" and calls}
        self.assertEqual(by_name(parent), {"main": 1, "worker": 1, "before": 500,
                                           "in_worker": 300, "in_parent": 400},
                         trace.describe())
        self.assertEqual(by_name(forked), {"in_child": 700}, trace.describe())
        # The child's one thread is named by its own id, not its parent's.
        tids = {int(line.split("|")[3]) for line in trace.bpftrace_output
                if line.startswith("S|%d|" % child)}
        self.assertEqual(tids, {child}, trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AttachDetachCycles(bpf.PrivateCopyCase):
    """bpftrace -p attaches and detaches CYCLES times while four threads
    wait for work; each attachment sees 4 x 23 calls of beat(), though 4 x
    7 more were made between attachments."""

    CYCLES = 8
    THREADS = 4

    def command(self, proc: subprocess.Popen, line: str) -> str:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        answer = proc.stdout.readline()
        if not answer:
            raise AssertionError("target ended at %r: %s" % (line, proc.stderr.read()))
        return answer.strip()

    def beats(self, bt: bpf.Bpftrace, pid: int) -> int:
        return sum(calls for (function, _), calls in Figures(bt.lines, pid).calls.items()
                   if function == "beat")

    def test_each_attachment_counts_only_its_own_calls_and_memory_stays_flat(self):
        env = support.env(PYTHONPATH=self.root, PYUSDT_CHECK_MSEC="20")
        proc = subprocess.Popen([support.PYTHON, support.target("call_stats_cycles.py")],
                                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        rss = []
        try:
            self.assertEqual(proc.stdout.readline().strip(), "ready")
            bpf.wait_for_library(proc, lib=self.lib)
            for cycle in range(self.CYCLES):
                bt = bpf.Bpftrace(stats_program(lib=self.lib), ["-p", str(proc.pid)])
                try:
                    bt.wait_attached()
                    self.assertEqual(self.command(proc, "on"), "ok")
                    self.assertEqual(self.command(proc, "go 23"), "done")
                    deadline = time.monotonic() + 60
                    while (self.beats(bt, proc.pid) < 23 * self.THREADS
                           and time.monotonic() < deadline):
                        time.sleep(0.05)
                    time.sleep(0.1)   # a few more intervals: nothing more may come
                    self.assertEqual(self.beats(bt, proc.pid), 23 * self.THREADS,
                                     "cycle %d\n%s" % (cycle, "\n".join(bt.lines[-50:])))
                finally:
                    bt.stop()
                self.assertEqual(self.command(proc, "off"), "ok")
                self.assertEqual(self.command(proc, "go 7"), "done")
                rss.append(int(self.command(proc, "rss")))
            proc.stdin.write("quit\n")
            proc.stdin.close()
            self.assertEqual(proc.wait(60), 0, proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                stream.close()
        # After the first two cycles (tables and code records made), flat:
        # a generous bound, the allocator's noise included.
        self.assertLess(rss[-1] - rss[1], 2048, rss)


if __name__ == "__main__":
    unittest.main()
