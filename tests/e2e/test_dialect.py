"""Provider python, CPython's own marker dialect, against its real consumers:
bcc's Python tools by pid (ucalls, uflow, ugc and ustat, as Debian's
bpfcc-tools packages them), bpftrace one-liners written for CPython's
markers, the audit and import probes, and an interpreter built --with-dtrace
that fires some of the markers itself.

Counts are checked against tests/recorder.py, the independent sys.monitoring
recorder, for the same program (tests/targets/dialect_calls.py).  Each test
runs a private copy of pyusdt (bpf.PrivateCopyCase): a tool attached by pid
raises semaphores by writing the process's memory, and ustat attaches to
every process named python, so no other process must load the same copy."""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from tests import support
from tests.e2e import bpf, toolrun

SYSTEM_PYTHON = "/usr/bin/python3"
#: bcc's tools as Debian installs them (the -bpfcc names are wrappers).
BCC = {name: os.path.join("/usr/sbin", name) for name in ("ucalls", "uflow", "ugc", "ustat")}
CALLS = "dialect_calls.py"
AUDIT = "dialect_audit.py"
ENTRIES = ("PY_START", "PY_RESUME", "PY_THROW")
RETURNS = ("PY_RETURN", "PY_YIELD", "PY_UNWIND")
#: A CPython 3.14.7 configured --with-dtrace (.ci/run builds it there).
DTRACE_PYTHON = os.environ.get("PYUSDT_DTRACE_PYTHON",
                               "/opt/pyusdt-dtrace/3.14.7-dtrace/bin/python3.14")


def bcc_reason() -> str | None:
    reason = bpf.skip_reason()
    if reason is None and not os.path.exists(SYSTEM_PYTHON):
        reason = "no %s for bcc's tools" % SYSTEM_PYTHON
    if reason is None:
        run = subprocess.run([SYSTEM_PYTHON, "-c", "import bcc"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            reason = "bcc's Python module is not installed (apt-get install bpfcc-tools)"
    missing = [path for path in BCC.values() if not os.path.exists(path)]
    if reason is None and missing:
        reason = "bcc's tools are not installed (apt-get install bpfcc-tools): %s" % missing
    return reason


def co_name(qualname: str) -> str:
    """The funcname CPython's markers report: co_name, the qualified name's
    last part."""
    return qualname.rsplit(".", 1)[-1]


def probe_sites(lib: str, provider: str, names) -> list[int]:
    """The addresses (in the file) of every site of probes NAMES."""
    notes = subprocess.run(["readelf", "-n", lib], stdout=subprocess.PIPE, text=True,
                           check=True).stdout
    found = re.findall(r"Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+)", notes)
    return [int(at, 16) for p, name, at in found if p == provider and name in names]


def load_bias(pid: int, lib: str) -> int:
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == lib and int(fields[2], 16) == 0:
                return int(fields[0].split("-")[0], 16)
    raise AssertionError("%s is not mapped by %d" % (lib, pid))


def wait_for_uprobes(pid: int, lib: str, names, tool: toolrun.Background,
                     timeout: float = 180) -> None:
    """Waits until every site of python probes NAMES in process PID holds a
    breakpoint: the tool's uprobes are in place (it prints nothing to say
    so).  A uprobe replaces the site's nop with int3 in the process's
    memory."""
    sites = probe_sites(lib, "python", names)
    assert sites, "no sites of %s in %s" % (names, lib)
    bias = load_bias(pid, lib)
    deadline = time.monotonic() + timeout
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        while True:
            code = []
            for site in sites:
                mem.seek(bias + site)
                code.append(mem.read(1))
            if all(byte == b"\xcc" for byte in code):
                return
            if time.monotonic() > deadline or tool.proc.poll() is not None:
                raise AssertionError("the tool's uprobes never appeared (%s):\n%s"
                                     % (code, tool.describe()))
            time.sleep(0.02)


class Workload(bpf.PrivateCopyCase):
    """dialect_calls.py copied beside the private pyusdt (a short path: bcc
    keeps 80 bytes of a filename), and what the recorder saw of it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.script = os.path.join(cls.root, CALLS)
        shutil.copyfile(support.target(CALLS), cls.script)
        cls.recorded = bpf.record([cls.script], probes=ENTRIES + RETURNS + ("GC_START",))

    def in_work(self, code: bool = True) -> list[bpf.Event]:
        """The recorder's events from work()'s start to its return: the
        script's code events, or with CODE false its collections too."""
        events = self.recorded
        start = next(i for i, e in enumerate(events) if e.file == self.script
                     and e.probe == "PY_START" and e.function == "work")
        end = next(i for i, e in enumerate(events) if i > start and e.file == self.script
                   and e.probe == "PY_RETURN" and e.function == "work")
        return [e for e in events[start:end + 1] if e.file == self.script or not code]

    def expected_entries(self) -> collections.Counter:
        return collections.Counter(co_name(e.function) for e in self.in_work()
                                   if e.probe in ENTRIES)

    def run_under_tool(self, command, probes, *, python: str | None = None,
                       until=None, header: str | None = "^Tracing ") -> tuple[toolrun.Run, int]:
        """Runs the workload with --wait under pyusdt, starts the bcc tool
        COMMAND(pid) and, once its uprobes on PROBES are in place and it
        has printed HEADER (bcc's tools print it once their programs are
        attached: a uprobe's breakpoint is in place a moment before its
        program), lets the workload run; then, once UNTIL(tool, pid) holds
        (if given), interrupts the tool.  Returns the tool's run and the
        workload's pid."""
        target = subprocess.Popen([python or support.PYTHON, "-m", "pyusdt", self.script,
                                   "--wait"], cwd=self.root,
                                  env=support.env(PYTHONPATH=self.root),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        tool = None
        output = []
        try:
            output.append(target.stdout.readline())
            if output[-1] != "ready\n":
                self.fail_target(target, output)
            # N.B. without the sanitizer runtimes make asan preloads: bcc is
            # not what is under test.
            tool = toolrun.Background([SYSTEM_PYTHON, "-u", *command(target.pid)],
                                      env=support.outside_env())
            wait_for_uprobes(target.pid, self.lib, probes, tool)
            if header is not None:
                tool.wait_for(lambda t: re.search(header, "".join(t.out), re.M),
                              "the tool's header", timeout=120)
            else:
                time.sleep(1)   # no header: its last program, a moment after
            target.stdin.write("\n")
            target.stdin.flush()
            for _ in range(2):
                output.append(target.stdout.readline())
            if output[-1] != "done\n":
                self.fail_target(target, output, tool)
            if until is not None:
                tool.wait_for(lambda t: until(t, target.pid), "the workload's events",
                              timeout=120)
            tool.interrupt()
            run = tool.finish(120)
            target.stdin.write("\n")
            target.stdin.close()
            if target.wait(60) != 0:
                self.fail_target(target, output, tool)
        finally:
            if target.poll() is None:
                target.kill()
                target.wait()
            if tool is not None:
                tool.kill()
        return run, target.pid

    def fail_target(self, target: subprocess.Popen, output: list[str],
                    tool: toolrun.Background | None = None) -> None:
        if target.poll() is None:
            target.kill()
        _, err = target.communicate()
        self.fail("the workload printed %r, status %s:\n%s\n%s"
                  % (output, target.returncode, err, tool.describe() if tool else ""))


@unittest.skipIf(bcc_reason(), bcc_reason())
class BccTools(Workload):
    """bcc's Python tools, unchanged, by pid."""

    def ucalls(self, *options: str) -> tuple[toolrun.Run, collections.Counter]:
        """ucalls -l python OPTIONS PID's run and its "# CALLS" column for
        the script's functions, by funcname (its rows are filename.funcname,
        then the count, then with -L the time)."""
        probes = ["function__entry"] + (["function__return"] if "-L" in options else [])
        run, _ = self.run_under_tool(
            lambda pid: [BCC["ucalls"], "-l", "python", *options, str(pid)], probes)
        prefix = self.script + "."
        numbers = 2 if "-L" in options else 1
        counts = collections.Counter()
        for line in run.stdout.splitlines():
            parts = line.rsplit(None, numbers)
            if (len(parts) == numbers + 1 and parts[0].startswith(prefix)
                    and parts[1].isdigit()):
                counts[parts[0].strip()[len(prefix):]] += int(parts[1])
        return run, counts

    def test_ucalls_counts_each_function_exactly(self):
        run, counts = self.ucalls()
        expected = self.expected_entries()
        self.assertEqual(expected["fib"], 287)
        self.assertEqual(counts, expected, run.describe())

    def test_ucalls_latency_pairs_each_entry_with_its_return(self):
        run, counts = self.ucalls("-L")
        expected = self.expected_entries()
        # N.B. -L keeps one entry time per thread and function: a recursive
        # function's inner returns find theirs overwritten and are not
        # counted (with CPython's own markers too).  The others are exact.
        self.assertTrue(0 < counts.pop("fib") < expected.pop("fib"), run.describe())
        self.assertEqual(counts, expected, run.describe())

    def test_uflow_shows_a_generators_entries_and_returns_in_the_recorders_order(self):
        # -M: uflow's own in-kernel filter on the funcname's prefix.  The
        # whole workload (684 events at once) overflows uflow's perf buffer
        # (8 pages per CPU, each event printed by Python) on a busy machine;
        # the generator's 16 fit, and are the interesting part: each
        # resumption is an entry, each yield a return.
        prefix = self.script + "."
        expected = [("->" if e.probe in ENTRIES else "<-", co_name(e.function))
                    for e in self.in_work() if co_name(e.function) == "countdown"]
        self.assertEqual(len(expected), 16)
        # CPU PID TID TIME(us), then the method indented by depth.
        pattern = re.compile(r"^\d+\s+\d+\s+\d+\s+[\d.]+\s+(->|<-) (\S+)", re.M)

        def flow(text):
            return [(arrow, name[len(prefix):]) for arrow, name in pattern.findall(text)
                    if name.startswith(prefix)]

        run, _ = self.run_under_tool(
            lambda pid: [BCC["uflow"], "-l", "python", "-M", "countdown", str(pid)],
            ["function__entry", "function__return"],
            until=lambda tool, _: len(flow("".join(tool.out))) >= len(expected))
        self.assertEqual(flow(run.stdout), expected, run.describe())

    def test_ugc_reports_each_collection_once(self):
        collections_seen = [e for e in self.in_work(code=False) if e.probe == "GC_START"]
        self.assertEqual(len(collections_seen), 3)
        line = re.compile(r"^\d+\.\d+\s+\d+\.\d+\s+\S", re.M)
        run, _ = self.run_under_tool(
            lambda pid: [BCC["ugc"], "-l", "python", str(pid)], ["gc__start", "gc__done"],
            until=lambda tool, _: len(line.findall("".join(tool.out))) >= 3)
        # N.B. bcc 0.26's formatter for python returns nothing: each line's
        # description is "None".  Its lines and times are the markers'.
        self.assertEqual(len(line.findall(run.stdout)), 3, run.describe())

    def test_ustat_counts_calls_and_collections_of_a_process_named_python(self):
        # ustat looks at processes whose comm is exactly "python", and
        # attaches anew for each interval: 3 s, which the workload (342
        # entries, 3 collections) fits in once the uprobes are in place.
        bindir = os.path.join(self.root, "bin")
        os.makedirs(bindir, exist_ok=True)
        python = os.path.join(bindir, "python")
        if not os.path.exists(python):
            os.symlink(support.PYTHON, python)
        entries = sum(self.expected_entries().values())
        self.assertEqual(entries, 342)

        def our_row(text, pid):
            """The last row of process PID that counted calls."""
            rows = [line.split() for line in text.splitlines()]
            rows = [row for row in rows if len(row) >= 8 and row[0] == str(pid)
                    and row[-6] != "0"]
            return rows[-1] if rows else None

        run, pid = self.run_under_tool(
            lambda pid: [BCC["ustat"], "-l", "python", "-C", "3"],
            ["function__entry", "gc__start"], python=python, header=None,
            until=lambda tool, pid: our_row("".join(tool.out), pid) is not None)
        row = our_row(run.stdout, pid)
        # METHOD/s and GC/s over the 3 s interval the workload ran in.
        self.assertEqual((int(row[-6]), int(row[-5])), (entries // 3, 1), run.describe())


class Bpftrace(Workload):
    """bpftrace programs written for CPython's markers, beside the same
    program written for pyusdt's."""

    PROGRAM = """
usdt:{lib}:python:function__entry /str(arg0) == "{script}"/ {{ printf("D|E|%s|%d\\n", str(arg1), arg2); }}
usdt:{lib}:python:function__return /str(arg0) == "{script}"/ {{ printf("D|R|%s|%d\\n", str(arg1), arg2); }}
usdt:{lib}:python:line /str(arg0) == "{script}"/ {{ printf("D|L|%s|%d\\n", str(arg1), arg2); }}
usdt:{lib}:python:gc__start {{ printf("D|GS|%d\\n", arg0); }}
usdt:{lib}:python:gc__done {{ printf("D|GD|%d\\n", arg0); }}
usdt:{lib}:python:import__find__load__start {{ printf("D|IS|%s\\n", str(arg0)); }}
usdt:{lib}:python:import__find__load__done {{ printf("D|ID|%s|%d\\n", str(arg0), arg1); }}
usdt:{lib}:pyusdt:PY_START,usdt:{lib}:pyusdt:PY_RESUME,usdt:{lib}:pyusdt:PY_THROW
/str(arg1) == "{script}"/ {{ printf("P|E|%s|%d\\n", str(arg0), arg2); }}
usdt:{lib}:pyusdt:PY_RETURN,usdt:{lib}:pyusdt:PY_YIELD,usdt:{lib}:pyusdt:PY_UNWIND
/str(arg1) == "{script}"/ {{ printf("P|R|%s|%d\\n", str(arg0), arg2); }}
usdt:{lib}:pyusdt:LINE /str(arg1) == "{script}"/ {{ printf("P|L|%s|%d\\n", str(arg0), arg2); }}
usdt:{lib}:pyusdt:GC_START {{ printf("P|GS|%d\\n", arg0); }}
usdt:{lib}:pyusdt:GC_DONE {{ printf("P|GD|%d\\n", arg1 + arg2); }}
usdt:{lib}:pyusdt:IMPORT_START {{ printf("P|IS|%s\\n", str(arg0)); }}
usdt:{lib}:pyusdt:IMPORT_DONE {{ printf("P|ID|%s|%d\\n", str(arg0), arg1); }}
"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if bpf.skip_reason():
            return
        program = cls.PROGRAM.format(lib=cls.lib, script=cls.script)
        cls.trace = bpf.trace_pid(program, [cls.script, "--import"], lib=cls.lib,
                                  cwd=cls.root, PYTHONPATH=cls.root)

    def setUp(self):
        super().setUp()
        if bpf.skip_reason():
            self.skipTest(bpf.skip_reason())

    def lines(self, side: str) -> list[tuple[str, ...]]:
        return [tuple(line.split("|")[1:]) for line in self.trace.bpftrace_output
                if line.startswith(side + "|")]

    def python_side(self) -> list[tuple[str, ...]]:
        return self.lines("D")

    def pyusdt_side(self) -> list[tuple[str, ...]]:
        """pyusdt's events in CPython's terms: co_name for the function,
        collected + uncollectable for a collection."""
        rows = []
        for row in self.lines("P"):
            if row[0] in ("E", "R", "L"):
                row = (row[0], co_name(row[1]), row[2])
            rows.append(row)
        return rows

    def test_program_ran_as_untraced(self):
        self.assertEqual(self.trace.returncode, 0, self.trace.describe())

    def test_cpython_one_liners_give_the_pyusdt_providers_answers(self):
        python = collections.Counter(self.python_side())
        self.assertEqual(python, collections.Counter(self.pyusdt_side()),
                         self.trace.describe())
        fib = sum(n for row, n in python.items() if row[:2] == ("E", "fib"))
        self.assertEqual(fib, 287, self.trace.describe())
        self.assertEqual(len([row for row in python.elements() if row[0] == "GS"]), 3)

    def test_entries_are_the_recorders_starts_and_resumes(self):
        got = collections.Counter(row[1] for row in self.python_side() if row[0] == "E")
        expected = collections.Counter(co_name(e.function) for e in self.recorded
                                       if e.file == self.script and e.probe in ENTRIES)
        self.assertEqual(got, expected, self.trace.describe())

    def test_imports_report_the_module_and_whether_it_was_found(self):
        done = [row[1:] for row in self.python_side() if row[0] == "ID"]
        self.assertIn(("colorsys", "1"), done, self.trace.describe())
        self.assertIn(("pyusdt_dialect_no_such_module", "0"), done, self.trace.describe())
        started = [row[1] for row in self.python_side() if row[0] == "IS"]
        self.assertEqual(sorted(started), sorted(name for name, _ in done))


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class Audit(bpf.PrivateCopyCase):
    """AUDIT and python:audit on a program that opens, connects, runs a
    subprocess and imports, with an audit hook of its own."""

    PROGRAM = """
usdt:{lib}:pyusdt:AUDIT {{ printf("A|%d|%s\\n", pid, str(arg0)); printf("V|%d|%s\\n", pid, str(arg1)); }}
usdt:{lib}:python:audit {{ printf("D|%d|%s\\n", pid, str(arg0)); }}
"""

    def run_program(self, traced: bool) -> tuple[bpf.Trace, str]:
        """Runs dialect_audit.py, with a tracer attached to both audit probes
        by path beforehand when TRACED.  Returns its trace (bpftrace's lines
        of the program's own process only) and the file it wrote."""
        handle, path = tempfile.mkstemp(prefix="pyusdt-audit-")
        os.close(handle)
        self.addCleanup(os.unlink, path)
        command = [support.PYTHON, support.target(AUDIT), path]
        env = {"PYTHONPATH": self.root}
        if not traced:
            pid, out, err, status = bpf._run(command, None, 120, None, env)
            return bpf.Trace([], [], "", out, err, status, pid), path
        program = self.PROGRAM.format(lib=self.lib)
        tracer = bpf.Bpftrace(program)
        try:
            tracer.wait_attached()
            bpf.wait_for_semaphores(program, self.root, env)
            pid, out, err, status = bpf._run(command, None, 120, None, env)
            tracer.drain()
        finally:
            tracer.stop()
        lines = [line for line in tracer.lines if line.split("|")[1:2] == [str(pid)]]
        return bpf.Trace([], lines, tracer.stderr, out, err, status, pid, program), path

    def test_each_event_is_reported_with_its_rendered_arguments_in_order(self):
        run, path = self.run_program(traced=True)
        self.assertEqual(run.returncode, 0, run.describe())
        port = re.search(r"^port (\d+)$", run.stdout, re.M).group(1)
        lines = run.bpftrace_output
        events = []
        for line in lines:
            kind, _, text = line.split("|", 2)
            if kind == "A":
                events.append([text, None])
            elif kind == "V" and events:
                events[-1][1] = text
        wanted = [
            ("open", "('%s', 'w', " % path),
            ("socket.connect", "(<socket object>, ('127.0.0.1', %s))" % port),
            ("subprocess.Popen", "('/bin/true', <list object>, None, None)"),
            ("import", "('colorsys', None, <list object>, <list object>, <list object>)"),
            ("pyusdt.test.hostile", "(<Hostile object>, <Sneaky object>, <list object>)"),
        ]
        found = []
        for name, args in wanted:
            match = [(event, text) for event, text in events
                     if event == name and text is not None and text.startswith(args)]
            self.assertTrue(match, "no %s %s in:\n%s" % (name, args, "\n".join(lines)))
            found.append(events.index(list(match[0])))
        self.assertEqual(found, sorted(found), "out of order:\n%s" % "\n".join(lines))
        self.assertIn("ran []", run.stdout)
        python = [line.split("|", 2)[2] for line in lines if line.startswith("D|")]
        self.assertEqual(python, [event for event, _ in events])

    def test_the_programs_own_hook_sees_what_it_sees_without_a_tracer(self):
        traced, _ = self.run_program(traced=True)
        plain, _ = self.run_program(traced=False)
        self.assertTrue(traced.bpftrace_output, traced.describe())
        own = [line for line in traced.stdout.splitlines() if line.startswith("seen ")]
        self.assertEqual(own, [line for line in plain.stdout.splitlines()
                               if line.startswith("seen ")])
        self.assertNotIn("sys.addaudithook", own[0])



def dtrace_reason() -> str | None:
    reason = bpf.skip_reason()
    if reason is None and not os.path.exists(DTRACE_PYTHON):
        reason = ("no CPython built --with-dtrace at %s (.ci/run builds one: "
                  "CPYTHON_PREFIX_ROOT=/opt/pyusdt-dtrace ../shared/cpython/install "
                  "--with-dtrace; or set PYUSDT_DTRACE_PYTHON)" % DTRACE_PYTHON)
    if reason is None and (sys.version_info[:2] != (3, 14) or "t" in sys.abiflags):
        reason = ("the --with-dtrace build is CPython 3.14 with the GIL; this run's library "
                  "is for %d.%d%s" % (*sys.version_info[:2], sys.abiflags))
    return reason


@unittest.skipIf(dtrace_reason(), dtrace_reason())
class WithDtraceBuild(bpf.PrivateCopyCase):
    """A CPython configured --with-dtrace fires gc__start, gc__done, the
    import markers and audit itself: pyusdt leaves those unfed, so that a
    tracer attached to both the interpreter's markers and the library's
    sees each event once; function__entry, which 3.12+ lacks, is pyusdt's."""

    MARKERS = ("gc__start", "gc__done", "import__find__load__start",
               "import__find__load__done", "audit")

    def test_status_names_the_markers_the_interpreter_fires_itself(self):
        run = subprocess.run([DTRACE_PYTHON, "-c", "import pyusdt; print(pyusdt.status().native)"],
                             env=support.env(PYTHONPATH=self.root,
                                             PYUSDT_FORCE="function__entry"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=60)
        self.assertEqual(run.stdout.strip(), repr(self.MARKERS), run.stderr)

    def test_no_event_reaches_the_python_provider_twice(self):
        script = os.path.join(self.root, CALLS)
        shutil.copyfile(support.target(CALLS), script)
        exe = os.path.realpath(DTRACE_PYTHON)
        # N.B. by path, system-wide: bpftrace 0.17 -p cannot resolve the
        # markers of an executable ("Could not resolve symbol").
        parts = []
        for name in self.MARKERS:
            for side, path in (("X", exe), ("L", self.lib)):
                parts.append('usdt:%s:python:%s { printf("%%d|%s|%s\\n", pid); }'
                             % (path, name, side, name))
        parts.append('usdt:%s:python:function__entry /str(arg0) == "%s"/ '
                     '{ printf("%%d|L|entry|%%s\\n", pid, str(arg1)); }' % (self.lib, script))
        program = "\n".join(parts) + "\n"
        tracer = bpf.Bpftrace(program)
        try:
            tracer.wait_attached()
            bpf.wait_for_semaphores(program, self.root, {"PYTHONPATH": self.root})
            pid, out, err, status = bpf._run([DTRACE_PYTHON, "-m", "pyusdt", script,
                                              "--import"], None, 120, self.root,
                                             {"PYTHONPATH": self.root})
            tracer.drain()
        finally:
            tracer.stop()
        mine = "%d|" % pid
        seen = collections.Counter(line[len(mine):] for line in tracer.lines
                                   if line.startswith(mine))
        described = "%s\n%s\n%s" % (program, "\n".join(tracer.lines[-100:]), err)
        self.assertEqual(status, 0, described)
        self.assertEqual([line for line in seen if line.startswith("L|")
                          and not line.startswith("L|entry|")], [], described)
        self.assertGreaterEqual(seen["X|gc__start"], 3, described)
        self.assertGreater(seen["X|audit"], 0, described)
        self.assertGreater(seen["X|import__find__load__start"], 0, described)
        self.assertEqual(seen["L|entry|fib"], 287, described)
