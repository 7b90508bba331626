"""``python -m pyusdt.trace``, without a real tracer: listing the tools,
every way it explains that it cannot trace, how it turns a command into a
traced Python program, and how it renders what bpftrace prints (from a
stand-in bpftrace that prints canned output, and in-process)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from argparse import Namespace
from unittest import mock

from pyusdt_tracer import command as trace_command
from pyusdt_tracer import launcher, report
from pyusdt_tracer import tools as trace_tools
from tests import attaching, support

TOOLS = ("pycalls", "pyflow", "pystat", "pysyscalls", "pyoffcpu", "pygc", "pyexc",
         "pyflame", "pytimeline")
TOOLS_DIR = os.path.join(support.REPO, "tools")
IS_ROOT = os.geteuid() == 0


def trace(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return support.run_python(["-m", "pyusdt.trace", *args], timeout=timeout, **env)


def fake_bpftrace(directory: str) -> str:
    """A stand-in for bpftrace in DIRECTORY: records its arguments, the
    script it was given and its parent's (the launcher's) memory map in
    $FAKE_RECORD, prints the JSON lines of
    $FAKE_OUTPUT, and with $FAKE_WAIT set prints the lines after the first
    two only once it gets SIGINT, as bpftrace prints its END output."""
    path = os.path.join(directory, "bpftrace")
    with open(path, "w") as file:
        file.write(textwrap.dedent("""\
            #!%s
            import json, os, signal, sys, threading
            args = sys.argv[1:]
            script = next(arg for arg in args if arg.endswith(".bt"))
            with open("/proc/%%d/maps" %% os.getppid()) as maps:
                launcher_maps = maps.read()
            with open(os.environ["FAKE_RECORD"], "w") as record:
                json.dump({"args": args, "script": open(script).read(),
                           "launcher_maps": launcher_maps}, record)
            lines = open(os.environ["FAKE_OUTPUT"]).read().splitlines()
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            head = 2 if os.environ.get("FAKE_WAIT") else len(lines)
            for line in lines[:head]:
                print(line, flush=True)
            if head < len(lines):
                stop.wait(60)
                for line in lines[head:]:
                    print(line, flush=True)
            """ % sys.executable))
    os.chmod(path, 0o755)
    return path


def events(*items: tuple[str, object]) -> str:
    return "\n".join(json.dumps({"type": kind, "data": data}) for kind, data in items) + "\n"


PYCALLS_OUTPUT = events(
    ("attached_probes", {"probes": 9}),
    ("printf", "Tracing Python calls... Hit Ctrl-C to end.\n"),
    ("time", "10:00:00\n"),
    ("map", {"@name": {"5": "fib", "6": "outer.<locals>.a_rather_long_inner_name"}}),
    ("map", {"@file": {"5": "/src/app.py", "6": "/src/app.py"}}),
    ("map", {"@line": {"5": 3, "6": 10}}),
    ("map", {"@calls": {"5": 23, "6": 7}}),
    ("map", {"@total_ns": {"5": 46000, "6": 7000000}}),
    ("map", {"@self_ns": {"5": 23000, "6": 7000000}}),
    ("map", {"@completed": {"5": 23, "6": 7}}),
)


class ListTest(support.NoToolLeftBehind):

    def test_list_names_every_tool_with_its_purpose_within_80_columns(self) -> None:
        run = trace("--list")
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = run.stdout.splitlines()
        self.assertEqual(sorted(line.split()[0] for line in lines), sorted(TOOLS))
        for line in lines:
            self.assertLessEqual(len(line), 80, line)
            self.assertGreater(len(line.split(None, 1)[1]), 20, line)

    def test_every_tool_has_a_header_and_an_example_file_within_80_columns(self) -> None:
        for tool in TOOLS:
            with self.subTest(tool=tool):
                path = os.path.join(TOOLS_DIR, tool + ".bt")
                with open(path) as file:
                    source = file.read()
                header = source.split("*/", 1)[0]
                for part in ("%s.bt - " % tool, "Usage:", "python -m pyusdt.trace %s" % tool,
                             "bpftrace tools/%s.bt" % tool, "Example"):
                    self.assertIn(part, header)
                self.assertIn("usdt:./libpyusdt.so:pyusdt:", source)
                with open(os.path.join(TOOLS_DIR, tool + "_example.txt")) as file:
                    example = file.read()
                self.assertIn("python -m pyusdt.trace %s" % tool, example)
                for line in example.splitlines() + header.splitlines():
                    if re.match(r"^<module> \(.*;.* \d+$", line):
                        continue   # folded stacks are a file format, as long as stacks
                    self.assertLessEqual(len(line), 80, line)

    def test_tracer_side_modules_map_no_libpyusdt(self) -> None:
        run = support.run_python(["-c", "import pyusdt_tracer.launcher, pyusdt_tracer.report, "
                                  "pyusdt_tracer.flame, pyusdt_tracer.session; "
                                  "print(open('/proc/self/maps').read())"])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("/python", run.stdout)
        self.assertNotIn("libpyusdt", run.stdout)

    def test_every_tool_header_parses_and_names_the_renderer_of_its_report(self) -> None:
        for tool in TOOLS:
            with self.subTest(tool=tool):
                read = trace_tools.read_tool(os.path.join(TOOLS_DIR, tool + ".bt"))
                self.assertTrue(read.purpose)
                renderer = report.renderer(tool, Namespace(top=None, interval=None,
                                                           depth=None, output=None),
                                           io.StringIO())
                self.assertEqual(type(renderer).__name__, read.report)

    def test_a_header_out_of_shape_is_an_error_never_fewer_parameters(self) -> None:
        with open(os.path.join(TOOLS_DIR, "pycalls.bt")) as file:
            source = file.read()
        edits = {
            "usage line": ("-p PID [TOP [SECONDS]]", "-p PID [TOP]"),
            "launcher usage": ("[-i SECONDS] (-p PID", "(-p PID"),
            "parameters": ("Parameters: $1 TOP, $2 SECONDS", "Parameters: $1 TOP"),
            "numbering": ("Parameters: $1 TOP, $2 SECONDS", "Parameters: $2 TOP, $1 SECONDS"),
            "no parameters line": (" *   Parameters: $1 TOP, $2 SECONDS\n", ""),
            "report": ("report.Calls", "report.Call"),
            "title": ("pycalls.bt - ", "pycalls.bt: "),
        }
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "pycalls.bt")
            for what, (old, new) in edits.items():
                with self.subTest(what=what):
                    self.assertIn(old, source)
                    with open(path, "w") as file:
                        file.write(source.replace(old, new, 1))
                    with self.assertRaisesRegex(trace_tools.ToolError, "does not parse"):
                        trace_tools.read_tool(path)

    def test_tools_are_found_and_read_from_their_headers(self) -> None:
        tools = trace_tools.all_tools()
        self.assertEqual(sorted(tools), sorted(TOOLS))
        self.assertEqual(tools["pycalls"].parameters, ("TOP", "SECONDS"))
        self.assertEqual(tools["pyflow"].parameters, ("DEPTH",))
        self.assertEqual(tools["pyflame"].parameters, ())
        self.assertTrue(tools["pysyscalls"].uses_tracepoints())
        self.assertFalse(tools["pycalls"].uses_tracepoints())


class ErrorTest(support.NoToolLeftBehind):
    """Each way tracing cannot happen is one sentence on stderr."""

    def assertExplains(self, run: subprocess.CompletedProcess, status: int,
                       *phrases: str) -> None:
        self.assertEqual(run.returncode, status, run.stderr)
        self.assertEqual(run.stdout, "")
        lines = run.stderr.splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertTrue(lines[0].startswith("python -m pyusdt.trace: "), lines[0])
        for phrase in phrases:
            self.assertIn(phrase, lines[0])

    def scratch(self) -> str:
        directory = tempfile.mkdtemp(prefix="pyusdt-trace-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", directory]))
        return directory

    def test_unknown_tool_is_named_with_the_tools_there_are(self) -> None:
        run = trace("pyfoo", "-p", "1")
        self.assertExplains(run, 2, "no tool 'pyfoo'", "pycalls", "--list")

    def test_missing_bpftrace_says_how_to_install_it(self) -> None:
        empty = self.scratch()
        env = {"PATH": empty}
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop("BPFTRACE", None)
            run = support.run_python(["-m", "pyusdt.trace", "pycalls", "-p", "1"], **env)
        self.assertExplains(run, 1, "bpftrace is not installed", "apt-get install bpftrace",
                            "--bpftrace")

    def test_bpftrace_given_but_absent_is_named(self) -> None:
        run = trace("pycalls", "--bpftrace", "/nonexistent/bpftrace", "-p", "1")
        self.assertExplains(run, 1, "bpftrace not found at '/nonexistent/bpftrace'")

    def test_not_root_says_to_use_sudo(self) -> None:
        bpftrace = fake_bpftrace(self.scratch())
        if not IS_ROOT:
            run = trace("pycalls", "--bpftrace", bpftrace, "-p", "1")
            self.assertExplains(run, 1, "needs root", "sudo")
            return
        # As root, the same launcher code with the effective uid of a user.
        err = io.StringIO()
        with mock.patch("os.geteuid", return_value=1000), mock.patch("sys.stderr", err):
            status = launcher.main(["pycalls", "--bpftrace", bpftrace, "-p", "1"])
        self.assertEqual(status, 1)
        self.assertRegex(err.getvalue(), r"^python -m pyusdt.trace: bpftrace needs root.*"
                                         r"sudo\n$")

    @unittest.skipUnless(IS_ROOT, "the check for root comes first")
    @unittest.skipUnless(attaching.CAN_ATTACH, attaching.CANNOT_ATTACH)
    def test_process_without_pyusdt_that_cannot_be_attached_is_explained(self) -> None:
        # Its main thread never runs Python again: the attach (tests in
        # test_attach_cli.py) times out, and withdraws.
        bpftrace = fake_bpftrace(self.scratch())
        blocked = "import os; r, w = os.pipe(); os.read(r, 1)"
        with subprocess.Popen([support.PYTHON, "-c", blocked]) as plain:
            try:
                run = trace("pycalls", "--bpftrace", bpftrace, "-p", str(plain.pid))
            finally:
                plain.kill()
        self.assertExplains(run, 1, "process %d" % plain.pid, "within 5 s",
                            "nothing was loaded")

    @unittest.skipUnless(IS_ROOT, "the check for root comes first")
    def test_missing_process_is_explained(self) -> None:
        bpftrace = fake_bpftrace(self.scratch())
        with open("/proc/sys/kernel/pid_max") as file:
            beyond = int(file.read()) + 1
        run = trace("pycalls", "--bpftrace", bpftrace, "-p", str(beyond))
        self.assertExplains(run, 1, "there is no process %d" % beyond)

    def test_command_that_is_not_python_is_explained(self) -> None:
        run = trace("pycalls", "--", "/bin/true")
        self.assertExplains(run, 2, "/bin/true is not a Python program", "-p PID")

    def test_option_the_tool_has_no_use_for_is_refused(self) -> None:
        run = trace("pyflow", "-n", "3", "-p", "1")
        self.assertExplains(run, 2, "pyflow has no --top option")

    def test_pid_or_command_is_required_but_not_both(self) -> None:
        for args in (["pycalls"], ["pycalls", "-p", "1", "--", "python", "x.py"]):
            with self.subTest(args=args):
                run = trace(*args)
                self.assertEqual(run.returncode, 2)
                self.assertIn("give either -p PID or -- command", run.stderr)


class CommandTest(support.NoToolLeftBehind):
    """Commands become `python -m pyusdt --wait-for-tracer` runs."""

    WAIT = "--wait-for-tracer=60"

    def rewrite(self, *command: str) -> list[str] | None:
        return trace_command.python_command(list(command), 60)

    def test_python_options_stay_before_pyusdt_and_the_program_after(self) -> None:
        cases = [
            (["python3", "app.py", "-x"], ["python3", "-m", "pyusdt", self.WAIT, "app.py", "-x"]),
            (["/usr/bin/python3.12", "-u", "-X", "dev", "-W", "error", "app.py"],
             ["/usr/bin/python3.12", "-u", "-X", "dev", "-W", "error", "-m", "pyusdt",
              self.WAIT, "app.py"]),
            (["python", "-Werror", "-m", "http.server", "80"],
             ["python", "-Werror", "-m", "pyusdt", self.WAIT, "-m", "http.server", "80"]),
            (["python", "-c", "print(1)", "a"],
             ["python", "-m", "pyusdt", self.WAIT, "-c", "print(1)", "a"]),
            (["python", "-uc", "print(1)"],
             ["python", "-u", "-m", "pyusdt", self.WAIT, "-c", "print(1)"]),
            (["python", "-m", "pyusdt", "app.py"], ["python", "-m", "pyusdt", self.WAIT, "app.py"]),
            (["python", "-"], ["python", "-m", "pyusdt", self.WAIT, "-"]),
        ]
        for command, expected in cases:
            with self.subTest(command=command):
                self.assertEqual(self.rewrite(*command), expected)

    def test_a_py_file_runs_under_this_python(self) -> None:
        self.assertEqual(self.rewrite("app.py", "1"),
                         [sys.executable, "-m", "pyusdt", self.WAIT, "app.py", "1"])

    def test_a_script_with_a_python_shebang_runs_under_its_interpreter(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            script = os.path.join(scratch, "tool")
            with open(script, "w") as file:
                file.write("#!/usr/bin/env -S python3.13 -u\nprint(1)\n")
            self.assertEqual(self.rewrite(script, "x"),
                             ["python3.13", "-m", "pyusdt", self.WAIT, script, "x"])
            with open(script, "w") as file:
                file.write("#!/bin/sh\necho 1\n")
            self.assertIsNone(self.rewrite(script))

    def test_other_programs_are_not_python(self) -> None:
        self.assertIsNone(self.rewrite("/bin/true"))
        self.assertIsNone(self.rewrite("no-such-program-anywhere"))


class ReportTest(support.NoToolLeftBehind):
    """The renderers, fed bpftrace's JSON events in-process."""

    def render(self, tool: str, output: str, **options: object) -> str:
        out = io.StringIO()
        values = {"top": None, "interval": None, "depth": None, "output": None, "raw": False}
        values.update(options)
        renderer = report.renderer(tool, Namespace(**values), out)
        with mock.patch("sys.stderr", io.StringIO()):
            for line in output.splitlines():
                renderer.event(json.loads(line))
            renderer.finish()
        return out.getvalue()

    def test_pycalls_joins_names_to_counts_and_times(self) -> None:
        self.assertEqual(self.render("pycalls", PYCALLS_OUTPUT).splitlines(), [
            "FUNCTION             FILE:LINE              CALLS  TOTAL ms   SELF ms    AVG us",
            "fib                  app.py:3                  23     0.046     0.023       2.0",
            "..er_long_inner_name app.py:10                  7     7.000     7.000    1000.0",
            "",
        ])

    def test_pycalls_averages_over_the_calls_that_ended(self) -> None:
        output = events(
            ("time", "10:00:00\n"),
            ("map", {"@name": {"1": "handle", "2": "serve"}}),
            ("map", {"@file": {"1": "/src/svc.py", "2": "/src/svc.py"}}),
            ("map", {"@line": {"1": 4, "2": 9}}),
            ("map", {"@calls": {"1": 6, "2": 1}}),
            ("map", {"@total_ns": {"1": 2500000000, "2": 0}}),
            ("map", {"@self_ns": {"1": 2500000000, "2": 0}}),
            ("map", {"@completed": {"1": 5}}))
        rows = [line.split() for line in self.render("pycalls", output).splitlines()[1:]
                if line]
        self.assertEqual(rows, [["handle", "svc.py:4", "6", "2500.000", "2500.000",
                                 "500000.0"],
                                ["serve", "svc.py:9", "1", "0.000", "0.000", "-"]])

    def test_top_keeps_the_first_rows(self) -> None:
        text = self.render("pycalls", PYCALLS_OUTPUT, top=1)
        self.assertEqual(len([line for line in text.splitlines() if line]), 2, text)

    def test_keys_are_unsigned_and_text_keys_may_hold_commas(self) -> None:
        maps = report.Maps({"@a": {"-1": 5, "3,4": 6},
                                   "@b": {"7,ValueError: a, b": 1}})
        self.assertEqual(maps.by_code("@a"), {2 ** 64 - 1: 5})
        self.assertEqual(maps.keyed("@a", 2), {(3, 4): 6})
        self.assertEqual(maps.keyed("@b", 1, text=True), {(7, "ValueError: a, b"): 1})

    def test_pyexc_adds_up_messages_by_exception_type(self) -> None:
        output = events(
            ("time", "10:00:00\n"),
            ("map", {"@name": {"1": "parse"}}), ("map", {"@file": {"1": "/a/app.py"}}),
            ("map", {"@raised": {"1,ValueError: bad 1": 2, "1,ValueError: bad 2": 3,
                                 "1,KeyError": 1}}),
            ("map", {"@unwound": {"1,ValueError: bad 1": 2}}))
        rows = [line.split() for line in self.render("pyexc", output).splitlines()[1:] if line]
        self.assertEqual(rows, [["parse", "app.py", "ValueError", "5", "0", "2"],
                                ["parse", "app.py", "KeyError", "1", "0", "0"]])

    def test_pysyscalls_names_system_calls(self) -> None:
        names = report.syscall_table()
        if not names:
            self.skipTest("no kernel headers numbering the system calls here")
        number = next(n for n, name in names.items() if name == "getppid")
        output = events(("map", {"@name": {"1": "ask"}}), ("map", {"@file": {"1": "/a.py"}}),
                        ("map", {"@line": {"1": 4}}),
                        ("map", {"@syscalls": {"1,%d" % number: 23, "1,99999": 1}}),
                        ("map", {"@syscall_ns": {"1,%d" % number: 5000}}))
        text = self.render("pysyscalls", output)
        self.assertRegex(text, r"\nask +a.py:4 +getppid +23 +0.005\n")
        self.assertRegex(text, r"\nask +a.py:4 +syscall 99999 +1 +0.000\n")

    def test_pystat_prints_rates_then_totals(self) -> None:
        output = events(
            ("time", "10:00:01\n"), ("map", {"@interval_ms": 2000}),
            ("map", {"@calls": {"42": 100}}), ("map", {"@marks": {"42": 4}}),
            ("time", "10:00:02\n"), ("map", {"@interval_ms": 500}),
            ("map", {"@calls": {"42": 10}}))
        self.assertEqual(self.render("pystat", output).splitlines(), [
            "TIME     PID       CALLS/s RETURNS/s  YIELDS/s  RAISES/s   GCS/s  MARKS/s",
            "10:00:01 42             50         0         0         0       0        2",
            "10:00:02 42             20         0         0         0       0        0",
            "",
            "TOTAL    PID         CALLS   RETURNS    YIELDS    RAISES     GCS    MARKS",
            "         42            110         0         0         0       0        4",
        ])

    def test_pygc_draws_histograms_and_charges_functions(self) -> None:
        output = events(
            ("hist", {"@pause_us": {"2": [{"min": 64, "max": 127, "count": 1},
                                          {"min": 128, "max": 255, "count": 0},
                                          {"min": 256, "max": 511, "count": 2}]}}),
            ("map", {"@collected": {"2": 33}}), ("map", {"@uncollectable": {"2": 0}}),
            ("map", {"@name": {"9": "collect"}}), ("map", {"@file": {"9": "/t/gc.py"}}),
            ("map", {"@line": {"9": 12}}),
            ("map", {"@gcs": {"9,2": 2, "0,2": 1}}),
            ("map", {"@gc_ns": {"9,2": 1500000, "0,2": 500000}}))
        lines = self.render("pygc", output).splitlines()
        self.assertEqual(lines[:5], [
            "generation 2: 3 collections, 33 objects collected, 0 uncollectable",
            "pause us          count",
            "[64, 128)             1 |" + "@" * 20 + " " * 20 + "|",
            "[128, 256)            0 |" + " " * 40 + "|",
            "[256, 512)            2 |" + "@" * 40 + "|",
        ])
        self.assertRegex("\n".join(lines), r"\ncollect +gc.py:12 +0 +0 +2 +1.500\n"
                                           r"\(no Python frame\) +0 +0 +1 +0.500\n")

    def test_pyflame_follows_parents_to_fold_stacks(self) -> None:
        output = events(
            ("map", {"@name": {"1": "main", "2": "work", "3": "a;b"}}),
            ("map", {"@file": {"1": "/x/app.py", "2": "/x/app.py", "3": "/x/app.py"}}),
            ("map", {"@line": {"1": 1, "2": 5, "3": 9}}),
            ("map", {"@code": {"100": 1, "-200": 2, "300": 3}}),
            ("map", {"@parent": {"100": 0, str(2 ** 64 - 200): 100,
                                 "300": 18446744073709551416}}),
            ("map", {"@stack_ns": {"100": 1000, "-200": 2400, "300": 400}}))
        self.assertEqual(self.render("pyflame", output).splitlines(), [
            "main (app.py:1) 1",
            "main (app.py:1);work (app.py:5) 2",
        ])  # a;b's 400 ns round to 0 us and are left out

    def test_histogram_labels_use_bpftraces_units(self) -> None:
        lines = report.histogram([{"max": -1, "count": 1}, {"min": 0, "max": 0,
                                                                   "count": 2},
                                         {"min": 1024, "max": 2047, "count": 4}], width=4)
        self.assertEqual(lines, ["(..., 0)              1 |@   |",
                                 "0                     2 |@@  |",
                                 "[1K, 2K)              4 |@@@@|"])


@unittest.skipUnless(IS_ROOT, "the launcher refuses to run bpftrace without root")
class FakeBpftraceTest(support.NoToolLeftBehind):
    """The whole launcher against a stand-in bpftrace: what it runs, how it
    renders, and how Ctrl-C reaches bpftrace."""

    def setUp(self) -> None:
        self.scratch = tempfile.mkdtemp(prefix="pyusdt-trace-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.scratch]))
        self.bpftrace = fake_bpftrace(self.scratch)
        self.record = os.path.join(self.scratch, "record.json")
        self.output = os.path.join(self.scratch, "output.jsonl")
        with open(self.output, "w") as file:
            file.write(PYCALLS_OUTPUT)
        # A process with pyusdt loaded, to trace by pid.
        self.target = subprocess.Popen(
            [support.PYTHON, "-m", "pyusdt", "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE, env=support.env())
        self.addCleanup(self.stop_target)
        deadline = time.monotonic() + 30
        while trace_command.mapped_library(self.target.pid) is None:
            self.assertLess(time.monotonic(), deadline, "the target never loaded pyusdt")
            time.sleep(0.05)

    def stop_target(self) -> None:
        self.target.stdin.close()
        self.target.wait(30)

    def env(self, **extra: str) -> dict[str, str]:
        return dict(FAKE_RECORD=self.record, FAKE_OUTPUT=self.output, **extra)

    def test_runs_the_tool_on_the_mapped_library_with_its_parameters(self) -> None:
        run = trace("pycalls", "--bpftrace", self.bpftrace, "-i", "5", "-n", "1", "-p",
                    str(self.target.pid), **self.env())
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(self.record) as file:
            record = json.load(file)
        args = record["args"]
        self.assertEqual(args[:4], ["-f", "json", "-p", str(self.target.pid)])
        # TOP is the launcher's to apply; SECONDS goes to the script.
        self.assertEqual(args[5:], ["0", "5"])
        library = trace_command.mapped_library(self.target.pid)
        self.assertIn("usdt:%s:pyusdt:CALL_STATS" % library, record["script"])
        self.assertNotIn("./libpyusdt.so:", record["script"])
        self.assertIn("Tracing Python calls", run.stderr)
        self.assertEqual(run.stdout.splitlines()[0], "10:00:00")
        self.assertEqual(len([line for line in run.stdout.splitlines()[2:] if line]), 1)

    def test_the_launcher_process_never_maps_libpyusdt(self) -> None:
        run = trace("pycalls", "--bpftrace", self.bpftrace, "-p", str(self.target.pid),
                    **self.env())
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(self.record) as file:
            launcher_maps = json.load(file)["launcher_maps"]
        # Read as bpftrace runs: the launcher has imported all it uses.
        self.assertIn("/python", launcher_maps)
        self.assertNotIn("libpyusdt", launcher_maps)
        # The traced process has it, as seen the same way.
        with open("/proc/%d/maps" % self.target.pid) as maps:
            self.assertIn("libpyusdt", maps.read())

    def test_raw_prints_bpftrace_output_unchanged(self) -> None:
        run = trace("pycalls", "--raw", "--bpftrace", self.bpftrace, "-n", "3", "-p",
                    str(self.target.pid), **self.env())
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, PYCALLS_OUTPUT)
        with open(self.record) as file:
            args = json.load(file)["args"]
        self.assertNotIn("json", args)
        self.assertEqual(args[-1:], ["3"])

    def test_output_file_gets_the_report(self) -> None:
        path = os.path.join(self.scratch, "report.txt")
        run = trace("pycalls", "--bpftrace", self.bpftrace, "-o", path, "-p",
                    str(self.target.pid), **self.env())
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "")
        with open(path) as file:
            self.assertIn("fib ", file.read())

    def test_ctrl_c_makes_bpftrace_print_its_report(self) -> None:
        launcher = subprocess.Popen(
            [support.PYTHON, "-m", "pyusdt.trace", "pycalls", "--bpftrace", self.bpftrace,
             "-p", str(self.target.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=support.env(**self.env(FAKE_WAIT="1")), start_new_session=True)
        try:
            banner = launcher.stderr.readline()
            self.assertIn("Tracing Python calls", banner)
            os.killpg(launcher.pid, signal.SIGINT)   # Ctrl-C at a terminal
            out, err = launcher.communicate(timeout=30)
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.communicate()
        self.assertEqual(launcher.returncode, 0, err)
        self.assertRegex(out, r"\nfib +app.py:3 +23 ")
        self.assertIsNone(self.target.poll(), "the traced process was stopped")

    def test_failing_bpftrace_is_reported_with_its_error(self) -> None:
        failing = os.path.join(self.scratch, "failing")
        with open(failing, "w") as file:
            file.write("#!/bin/sh\necho 'ERROR: something broke' >&2\n"
                       "echo 'open(/sys/kernel/tracing/uprobe_events): nope' >&2\nexit 1\n")
        os.chmod(failing, 0o755)
        run = trace("pycalls", "--bpftrace", failing, "-p", str(self.target.pid))
        self.assertEqual(run.returncode, 1)
        self.assertNotIn("uprobe_events", run.stderr)
        self.assertEqual(run.stderr.splitlines()[-1],
                         "python -m pyusdt.trace: bpftrace failed (status 1): "
                         "ERROR: something broke")


if __name__ == "__main__":
    unittest.main()
