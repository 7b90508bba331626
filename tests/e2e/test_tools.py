"""Every tool of tools/, run by ``python -m pyusdt.trace`` with real
bpftrace against a target of known behaviour, reports that behaviour:
prime numbers of calls, known system calls, sleeps, collections and
exceptions.  Also: a tool used directly with bpftrace, and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

from pyusdt_tracer import report, session
from tests import support, viewer_formats
from tests.e2e import bpf, toolrun

CALLS = support.target("tool_calls.py")


def def_line(path: str, name: str) -> int:
    """The line of `def NAME` in PATH."""
    with open(path) as source:
        for number, text in enumerate(source, 1):
            if text.startswith("def %s(" % name):
                return number
    raise LookupError(name)


class ToolTest(support.NoToolLeftBehind):
    """Runs one tool on one target per class, once."""

    tool = ""
    target = ""
    args: list[str] = []
    options: list[str] = []
    tracepoints = False

    @classmethod
    def setUpClass(cls) -> None:
        reason = toolrun.skip_reason(cls.tracepoints)
        if reason:
            raise unittest.SkipTest(reason)
        cls.run_ = toolrun.run_tool(cls.tool, [support.target(cls.target), *cls.args],
                                    cls.options)

    def location(self, name: str) -> str:
        return "%s:%d" % (self.target, def_line(support.target(self.target), name))

    def assertRan(self, run: toolrun.Run | None = None) -> None:
        run = run or self.run_
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertNotIn("ERROR", run.stderr, run.describe())


class PycallsTest(ToolTest):
    tool = "pycalls"
    target = "tool_calls.py"

    def table(self, run: toolrun.Run | None = None) -> toolrun.Table:
        return toolrun.read_table((run or self.run_).stdout, report.Calls.COLUMNS)

    def test_counts_every_call_of_each_function(self) -> None:
        self.assertRan()
        table = self.table()
        expected = {"tick": 30, "tock": 7, "nap": 3, "countdown": 1, "main": 1,
                    "<module>": 1}
        for name, calls in expected.items():
            with self.subTest(function=name):
                row = table.row(FUNCTION=name)
                self.assertEqual(int(row["CALLS"]), calls, table.format())

    def test_lists_most_called_first_with_file_and_first_line(self) -> None:
        table = self.table()
        self.assertEqual(table.column("FUNCTION")[:2], ["tick", "tock"], table.format())
        for name in ("tick", "tock", "nap", "countdown", "main"):
            self.assertEqual(table.row(FUNCTION=name)["FILE:LINE"], self.location(name))

    def test_total_time_includes_callees_and_self_time_does_not(self) -> None:
        table = self.table()
        rows = {name: table.row(FUNCTION=name) for name in
                ("tick", "tock", "nap", "countdown", "main")}
        for name, row in rows.items():
            total, own = float(row["TOTAL ms"]), float(row["SELF ms"])
            self.assertGreaterEqual(total, own, name)
            # TOTAL is rounded to the microsecond, AVG to a tenth of one.
            calls = int(row["CALLS"])
            self.assertAlmostEqual(float(row["AVG us"]), total * 1000 / calls,
                                   delta=0.5 / calls + 0.06)
        main = float(rows["main"]["TOTAL ms"])
        for name in ("tick", "tock", "nap", "countdown"):
            self.assertGreaterEqual(main, float(rows[name]["TOTAL ms"]), name)
        # nap only calls C code: all of its time is its own.
        self.assertEqual(rows["nap"]["TOTAL ms"], rows["nap"]["SELF ms"])
        # tock's time includes that of the tick() it calls: visibly so per
        # event, where each event's trap lengthens it; counted in the
        # process, a tick() takes well under the microsecond shown.
        if "--events" in self.options:
            self.assertGreater(float(rows["tock"]["TOTAL ms"]),
                               float(rows["tock"]["SELF ms"]))

    def test_top_shows_only_the_most_called(self) -> None:
        run = toolrun.run_tool("pycalls", [CALLS], ["-n", "2"])
        self.assertRan(run)
        self.assertEqual(self.table(run).column("FUNCTION"), ["tick", "tock"], run.describe())

    def test_interval_reports_add_up_to_the_whole_run(self) -> None:
        # Three naps of 0.6 s: the 1 s interval ends at least once before
        # the end of the run, so there are at least two reports.
        run = toolrun.run_tool("pycalls", [CALLS, "0.6"], ["-i", "1"])
        self.assertRan(run)
        tables = toolrun.read_tables(run.stdout, report.Calls.COLUMNS)
        self.assertGreaterEqual(len(tables), 2, run.describe())
        stamps = re.findall(r"^\d\d:\d\d:\d\d$", run.stdout, re.M)
        self.assertEqual(len(stamps), len(tables), run.describe())
        ticks = sum(int(row["CALLS"]) for table in tables for row in table.rows
                    if row["FUNCTION"] == "tick")
        self.assertEqual(ticks, 30, run.describe())

    def test_average_is_over_the_calls_that_ended(self) -> None:
        # Three naps of 0.2 s end; a fourth is still running in a daemon
        # thread when the program exits: counted in CALLS, with no time
        # yet.  Each nap that ended took at least 0.2 s, so must their
        # average.
        run = toolrun.run_tool("pycalls", [support.target("tool_inflight.py"), "0.2"],
                               self.options)
        self.assertRan(run)
        nap = self.table(run).row(FUNCTION="nap")
        self.assertEqual(int(nap["CALLS"]), 4, run.describe())
        self.assertGreaterEqual(float(nap["AVG us"]), 200000, run.describe())
        ended = round(float(nap["TOTAL ms"]) * 1000 / float(nap["AVG us"]))
        self.assertEqual(ended, 3, run.describe())


class PycallsEventsTest(PycallsTest):
    """pycalls --events: the per-event mode (tools/events/pycalls.bt), the
    same report from a uprobe hit per event."""

    options = ["--events"]

    def test_top_shows_only_the_most_called(self) -> None:
        run = toolrun.run_tool("pycalls", [CALLS], ["--events", "-n", "2"])
        self.assertRan(run)
        self.assertEqual(self.table(run).column("FUNCTION"), ["tick", "tock"], run.describe())

    def test_interval_reports_add_up_to_the_whole_run(self) -> None:
        run = toolrun.run_tool("pycalls", [CALLS, "0.6"], ["--events", "-i", "1"])
        self.assertRan(run)
        tables = toolrun.read_tables(run.stdout, report.Calls.COLUMNS)
        ticks = sum(int(row["CALLS"]) for table in tables for row in table.rows
                    if row["FUNCTION"] == "tick")
        self.assertEqual(ticks, 30, run.describe())

    def test_events_mode_attaches_per_event_probes(self) -> None:
        events = toolrun_tool_source("pycalls", events=True).split("*/", 1)[1]
        counted = toolrun_tool_source("pycalls", events=False).split("*/", 1)[1]
        self.assertIn("pyusdt:PY_START", events)
        self.assertNotIn("CALL_STATS", events)
        self.assertIn("pyusdt:CALL_STATS", counted)
        self.assertNotIn("PY_START", counted)


def toolrun_tool_source(name: str, events: bool = False, mode: str | None = None) -> str:
    """The script the launcher runs for tool NAME (--events, --MODE or not)."""
    from pyusdt_tracer import tools
    return tools.find_tool(name, "events" if events else mode).source()


class PyflowTest(ToolTest):
    tool = "pyflow"
    target = "tool_flow.py"
    NAMES = {"<module>", "main", "outer", "inner", "numbers", "fail"}
    LINE = re.compile(r"^(\d+) +(\d+) +(-?\d+)  ( *)(->|<-|<=|=>|!>|<!) (.*)$")

    def flow(self, run: toolrun.Run) -> list[tuple[int, str, str]]:
        """(depth, arrow, function) of the target's own frames."""
        events = []
        for line in run.stdout.splitlines():
            match = self.LINE.match(line)
            if match and match.group(6) in self.NAMES:
                events.append((len(match.group(4)) // 2, match.group(5), match.group(6)))
        return events

    def test_shows_each_entry_and_exit_indented_by_depth(self) -> None:
        self.assertRan()
        self.assertEqual(self.flow(self.run_), [
            (0, "->", "<module>"),
            (1, "->", "main"),
            (2, "->", "outer"),
            (3, "->", "inner"),
            (3, "<-", "inner"),
            (3, "->", "inner"),
            (3, "<-", "inner"),
            (2, "<-", "outer"),
            (2, "->", "numbers"),
            (2, "<=", "numbers"),
            (2, "=>", "numbers"),
            (2, "<=", "numbers"),
            (2, "=>", "numbers"),
            (2, "<-", "numbers"),
            (2, "->", "fail"),
            (2, "<!", "fail"),
            (1, "<-", "main"),
            (0, "<-", "<module>"),
        ], self.run_.describe())

    def test_reports_the_line_of_each_event(self) -> None:
        path = support.target(self.target)
        lines = {}
        for line in self.run_.stdout.splitlines():
            match = self.LINE.match(line)
            if match and match.group(6) in self.NAMES:
                lines.setdefault((match.group(5), match.group(6)), int(match.group(3)))
        self.assertEqual(lines[("->", "outer")], def_line(path, "outer"))
        self.assertEqual(lines[("<-", "inner")], def_line(path, "inner") + 1)
        self.assertEqual(lines[("<=", "numbers")], def_line(path, "numbers") + 1)

    def test_depth_limit_hides_deeper_frames(self) -> None:
        run = toolrun.run_tool("pyflow", [support.target(self.target)], ["-d", "2"])
        self.assertRan(run)
        flow = self.flow(run)
        self.assertEqual({name for _, _, name in flow}, {"<module>", "main"}, run.describe())
        self.assertEqual(len(flow), 4, run.describe())


class PystatTest(ToolTest):
    tool = "pystat"
    target = "tool_stat.py"

    def test_totals_count_calls_exceptions_collections_and_marks(self) -> None:
        self.assertRan()
        totals = toolrun.read_table(self.run_.stdout, report.Stat.TOTALS)
        self.assertEqual(len(totals.rows), 1, self.run_.describe())
        row = totals.rows[0]
        # <module>, main, 23 tick() and 7 fail(): the runner's frames are
        # not reported.
        self.assertEqual(int(row["CALLS"]), 32, self.run_.describe())
        # 7 KeyErrors, each raised in fail() and again in main().
        self.assertEqual(int(row["RAISES"]), 14, self.run_.describe())
        self.assertEqual(int(row["GCS"]), 5, self.run_.describe())
        self.assertEqual(int(row["MARKS"]), 11, self.run_.describe())
        if "--counted" in self.options:   # not counted in this mode
            self.assertEqual((row["RETURNS"], row["YIELDS"]), ("-", "-"),
                             self.run_.describe())
            return
        self.assertEqual(int(row["YIELDS"]), 0, self.run_.describe())
        self.assertGreaterEqual(int(row["RETURNS"]), 25, self.run_.describe())

    def test_rates_are_per_process_per_interval(self) -> None:
        rates = toolrun.read_table(self.run_.stdout, report.Stat.RATES)
        self.assertTrue(rates.rows, self.run_.describe())
        totals = toolrun.read_table(self.run_.stdout, report.Stat.TOTALS)
        pid = totals.rows[0]["PID"]
        for row in rates.rows:
            self.assertEqual(row["PID"], pid)
            self.assertRegex(row["TIME"], r"^\d\d:\d\d:\d\d$")


class PystatCountedTest(PystatTest):
    """pystat --counted: calls from CALL_STATS, returns and yields not
    counted (shown as "-"), the rest per event as before."""

    options = ["--counted"]

    def test_counted_mode_attaches_no_per_call_probe(self) -> None:
        counted = toolrun_tool_source("pystat", mode="counted").split("*/", 1)[1]
        self.assertIn("pyusdt:CALL_STATS", counted)
        for probe in ("PY_START", "PY_RETURN", "PY_YIELD"):
            self.assertNotIn(probe, counted)


class PysyscallsTest(ToolTest):
    tool = "pysyscalls"
    target = "tool_syscalls.py"
    tracepoints = True

    def test_counts_each_functions_system_calls(self) -> None:
        self.assertRan()
        table = toolrun.read_table(self.run_.stdout, report.Syscalls.COLUMNS)
        for function, syscall, count in (("ask_parent", "getppid", 23),
                                         ("nap", "clock_nanosleep", 7),
                                         ("touch", "openat", 5), ("touch", "close", 5)):
            with self.subTest(function=function, syscall=syscall):
                row = table.row(FUNCTION=function, SYSCALL=syscall)
                self.assertEqual(int(row["COUNT"]), count, table.format())
                self.assertEqual(row["FILE:LINE"], self.location(function))

    def test_sleeps_are_timed_in_the_kernel(self) -> None:
        table = toolrun.read_table(self.run_.stdout, report.Syscalls.COLUMNS)
        row = table.row(FUNCTION="nap", SYSCALL="clock_nanosleep")
        self.assertGreater(float(row["TOTAL ms"]), 0)
        # A getppid never waits: the sleeps took longer than all of them.
        self.assertGreater(float(row["TOTAL ms"]),
                           float(table.row(FUNCTION="ask_parent")["TOTAL ms"]))


class PyoffcpuTest(ToolTest):
    tool = "pyoffcpu"
    target = "tool_offcpu.py"
    tracepoints = True

    def test_charges_blocked_time_to_the_sleeping_function(self) -> None:
        self.assertRan()
        table = toolrun.read_table(self.run_.stdout, report.OffCpu.COLUMNS)
        row = table.row(FUNCTION="sleeper")
        self.assertGreaterEqual(int(row["BLOCKS"]), 7, table.format())
        self.assertGreater(float(row["BLOCKED ms"]), 0, table.format())
        self.assertEqual(row["FILE:LINE"], self.location("sleeper"))
        # Most blocked first: nothing else in the target sleeps.
        self.assertEqual(table.rows[0]["FUNCTION"], "sleeper", table.format())
        for other in table.rows:
            if other["FUNCTION"] == "spinner":
                self.assertLess(float(other["BLOCKED ms"]), float(row["BLOCKED ms"]))


class PygcTest(ToolTest):
    tool = "pygc"
    target = "tool_gc.py"
    def functions(self) -> toolrun.Table:
        return toolrun.read_table(self.run_.stdout, report.Gc.COLUMNS)

    def test_charges_each_collection_to_the_function_that_ran_it(self) -> None:
        self.assertRan()
        row = self.functions().row(**{"RUNNING WHEN COLLECTED": "collect"})
        self.assertEqual((int(row["GEN0"]), int(row["GEN1"]), int(row["GEN2"])), (2, 3, 5),
                         self.run_.describe())
        self.assertEqual(row["FILE:LINE"], self.location("collect"))

    def test_draws_a_pause_histogram_per_generation(self) -> None:
        text = self.run_.stdout
        for generation, at_least in ((0, 2), (1, 3), (2, 5)):
            with self.subTest(generation=generation):
                match = re.search(r"^generation %d: (\d+) collections, (\d+) objects "
                                  r"collected, 0 uncollectable\npause us +count\n"
                                  r"((?:.*\|\n)+)" % generation, text, re.M)
                self.assertIsNotNone(match, self.run_.describe())
                runs = int(match.group(1))
                self.assertGreaterEqual(runs, at_least)
                counts = [int(line.split("|")[0].split()[-1])
                          for line in match.group(3).splitlines()]
                self.assertEqual(sum(counts), runs, self.run_.describe())
        # 11 cycles of one list before each collection.
        collected = int(re.search(r"^generation 2: \d+ collections, (\d+)", text,
                                  re.M).group(1))
        self.assertGreaterEqual(collected, 5 * 11)


class PyexcTest(ToolTest):
    tool = "pyexc"
    target = "tool_exc.py"

    def test_counts_raised_caught_and_unwound_per_function_and_type(self) -> None:
        self.assertRan()
        table = toolrun.read_table(self.run_.stdout, report.Exceptions.COLUMNS)
        expected = [
            ("parse", "ValueError", 11, 0, 11),
            ("load", "ValueError", 11, 11, 0),
            ("spend", "QuotaError", 7, 0, 7),
            ("charge", "QuotaError", 7, 7, 0),
            ("lookup", "KeyError", 13, 13, 0),
        ]
        for function, kind, raised, caught, unwound in expected:
            with self.subTest(function=function):
                row = table.row(FUNCTION=function, EXCEPTION=kind)
                self.assertEqual((int(row["RAISED"]), int(row["CAUGHT"]),
                                  int(row["UNWOUND"])), (raised, caught, unwound),
                                 table.format())
                self.assertEqual(row["FILE"], self.target)
        self.assertEqual(len(table.rows), len(expected), table.format())

    def test_top_keeps_the_most_raised(self) -> None:
        run = toolrun.run_tool("pyexc", [support.target(self.target)], ["-n", "1"])
        self.assertRan(run)
        table = toolrun.read_table(run.stdout, report.Exceptions.COLUMNS)
        self.assertEqual(len(table.rows), 1, run.describe())
        self.assertEqual(table.rows[0]["EXCEPTION"], "KeyError", run.describe())


class PyflameTest(ToolTest):
    tool = "pyflame"
    target = "tool_flame.py"

    @classmethod
    def setUpClass(cls) -> None:
        # N.B. -o: with a command, the folded stacks go to a file, not to
        # the stdout the command's own output goes to.
        scratch = tempfile.mkdtemp(prefix="pyusdt-flame-")
        cls.addClassCleanup(shutil.rmtree, scratch)
        cls.folded = os.path.join(scratch, "stacks.folded")
        cls.options = ["-o", cls.folded]
        super().setUpClass()

    def stacks(self) -> dict[str, int]:
        stacks = {}
        with open(self.folded) as file:
            lines = file.read().splitlines()
        for line in lines:
            stack, _, value = line.rpartition(" ")
            self.assertRegex(value, r"^\d+$", line)
            self.assertGreater(int(value), 0, line)
            self.assertNotIn(stack, stacks, "a stack listed twice")
            stacks[stack] = int(value)
        return stacks

    def frame(self, name: str) -> str:
        line = 1 if name == "<module>" else def_line(support.target(self.target), name)
        return "%s (%s:%d)" % (name, self.target, line)

    def test_folds_each_stack_of_the_call_tree(self) -> None:
        self.assertRan()
        stacks = self.stacks()
        base = [self.frame("<module>"), self.frame("main")]
        expected = {base[0], ";".join(base), ";".join(base + [self.frame("outer")]),
                    ";".join(base + [self.frame("outer"), self.frame("inner")]),
                    ";".join(base + [self.frame("numbers")])}
        self.assertEqual(set(stacks), expected, self.run_.describe())

    def test_time_goes_to_the_innermost_frame(self) -> None:
        stacks = self.stacks()
        inner = ";".join([self.frame(name) for name in ("<module>", "main", "outer", "inner")])
        outer = inner.rsplit(";", 1)[0]
        # inner() sleeps twice; outer() only calls it.
        self.assertGreater(stacks[inner], stacks[outer], self.run_.describe())

    def test_writes_an_svg_flame_graph(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "flame.svg")
            run = toolrun.run_tool("pyflame", [support.target(self.target)], ["-o", path])
            self.assertRan(run)
            root = ElementTree.parse(path).getroot()
        names = {group.get("data-name") for group in root.iter("{http://www.w3.org/2000/svg}g")}
        self.assertIn(self.frame("inner"), names)
        self.assertIn("all", names)

    def test_a_command_without_output_file_is_refused(self) -> None:
        # Its folded stacks and the command's own prints would share stdout.
        run = toolrun.run_tool("pyflame", [support.target(self.target)])
        self.assertEqual((run.returncode, run.stdout), (2, ""), run.describe())
        self.assertIn("pyflame writes a file: give -o FILE", run.stderr)

    def test_writes_a_speedscope_file_of_the_same_stacks(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "flame.json")
            run = toolrun.run_tool("pyflame", [support.target(self.target)], ["-o", path])
            self.assertRan(run)
            with open(path) as file:
                data = json.load(file)
        self.assertEqual(viewer_formats.speedscope_errors(data), [])
        frames = [frame["name"] for frame in data["shared"]["frames"]]
        (profile,) = data["profiles"]
        stacks = {";".join(frames[index] for index in sample)
                  for sample in profile["samples"]}
        inner = ";".join(self.frame(name) for name in ("<module>", "main", "outer", "inner"))
        self.assertIn(inner, stacks)
        self.assertEqual(profile["unit"], "microseconds")
        self.assertTrue(all(weight > 0 for weight in profile["weights"]), profile)


@unittest.skipIf(toolrun.skip_reason(), toolrun.skip_reason())
class DirectUseTest(support.NoToolLeftBehind):
    """bpftrace tools/pycalls.bt, as its header shows, attached by library
    path before the program starts: its raw maps name and count calls.  On a
    private copy of the library, so that no other process is traced."""

    def test_tool_runs_under_bpftrace_alone(self) -> None:
        with bpf.private_pyusdt() as (root, library):
            os.link(library, os.path.join(root, "libpyusdt.so"))
            with open(os.path.join(support.REPO, "tools", "pycalls.bt")) as file:
                tool = file.read()
            # N.B. its own BEGIN prints the banner once it has attached.
            with session.Session(tool, cwd=root, mark=False, name="test") as tracer:
                tracer.wait_attached(bpf.ATTACH_TIMEOUT)
                out = "\n".join(tracer.lines)
                banner = next(line for line in tracer.lines
                              if not line.startswith("Attaching "))
                self.assertIn("Tracing Python calls", banner, out)
                # N.B. run from ROOT: -m puts the current directory first
                # on sys.path, and the checkout's pyusdt must not be found.
                target = subprocess.run([support.PYTHON, "-m", "pyusdt", CALLS],
                                        env=support.env(PYTHONPATH=root), cwd=root,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, timeout=120)
                self.assertEqual(target.returncode, 0, target.stderr)
                tracer.stop(bpf.STOP_TIMEOUT)
            out, err = "\n".join(tracer.lines), tracer.stderr
        names = dict(re.findall(r"^@name\[(\d+)\]: (.*)$", out, re.M))
        calls = dict(re.findall(r"^@calls\[(\d+)\]: (\d+)$", out, re.M))
        by_name = {names[code]: int(count) for code, count in calls.items() if code in names}
        self.assertEqual(by_name.get("tick"), 30, out + err)
        self.assertEqual(by_name.get("tock"), 7, out + err)


@unittest.skipIf(toolrun.skip_reason(), toolrun.skip_reason())
class InterruptTest(support.NoToolLeftBehind):
    """Ctrl-C ends a trace with its report."""

    FOREVER = support.target("tool_forever.py")

    def test_ctrl_c_on_a_pid_trace_reports_and_leaves_the_process_running(self) -> None:
        target = toolrun.Background([support.PYTHON, "-m", "pyusdt", self.FOREVER],
                                    stdin=True)
        try:
            target.wait_for(lambda t: t.out, "the target's first tick")
            trace = toolrun.Background(toolrun.launcher("pycalls")
                                       + ["-p", str(target.proc.pid)])
            try:
                trace.wait_for(lambda t: any("Tracing" in line for line in t.err),
                               "the tool's banner")
                seen = len(target.out)
                target.wait_for(lambda t: len(t.out) > seen + 15, "ticks while traced")
                trace.interrupt()
                run = trace.finish()
            finally:
                trace.kill()
            self.assertEqual(run.returncode, 0, run.describe())
            table = toolrun.read_table(run.stdout, report.Calls.COLUMNS)
            self.assertGreaterEqual(int(table.row(FUNCTION="tick")["CALLS"]), 1)
            self.assertIsNone(target.proc.poll(), "the traced process was stopped")
        finally:
            target.proc.stdin.close()
            target.finish()

    def test_ctrl_c_on_a_command_ends_both_and_reports(self) -> None:
        trace = toolrun.Background(toolrun.launcher("pycalls")
                                   + ["--", support.PYTHON, self.FOREVER], stdin=True)
        try:
            trace.wait_for(lambda t: any("Tracing" in line for line in t.err),
                           "the tool's banner")
            trace.wait_for(lambda t: sum(line.startswith("tick") for line in t.out) > 15,
                           "ticks while traced")
            trace.interrupt()
            run = trace.finish()
        finally:
            trace.kill()
        # The program died of its KeyboardInterrupt, as at a terminal.
        self.assertEqual(run.returncode, 128 + 2, run.describe())
        self.assertIn("KeyboardInterrupt", run.stderr)
        table = toolrun.read_table(run.stdout, report.Calls.COLUMNS)
        self.assertGreaterEqual(int(table.row(FUNCTION="tick")["CALLS"]), 15, run.describe())


if __name__ == "__main__":
    unittest.main()
