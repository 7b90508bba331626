"""Runs real bpftrace against real Python processes, for the e2e tests.

Three ways of attaching, as users do:
  system  bpftrace attaches to libpyusdt.so by path before the program
          starts (the kernel sets the semaphores when the library is mapped)
  pid     the program starts with --wait-for-tracer, then bpftrace -p PID
  c       bpftrace -c "python -m pyusdt ..." (only where bpftrace can)

Probe events are printed by generated bpftrace programs (probe_program) in
a line format this module parses back into Event tuples.  Each line carries
the pid: attached system-wide, bpftrace sees every process on the machine
that runs pyusdt (other tests, other people's), and a trace keeps only the
events of the process it ran.  Tests that check for the absence of
something run a private copy of pyusdt (private_pyusdt), which no other
tracer reaches.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import tempfile
import unittest
from collections.abc import Iterator
from typing import NamedTuple

from pyusdt_tracer import session
from tests import support

ATTACH_TIMEOUT = 60
#: How long bpftrace may take to exit after SIGINT before it is killed (and
#: the maps it prints at exit are lost: counting programs print theirs as
#: they go).
STOP_TIMEOUT = 60
#: Sessions that compare whole streams (sentinel=True) get 8 MiB of perf
#: buffer per CPU, 4 times the tools' (session.ENV_DEFAULTS): the busiest
#: trace of the suite (ft_threads.py, every code probe on 9 threads, ~6 MB
#: printed) then fits even while bpftrace is starved of CPU, as on a loaded
#: CI machine, where 2 MiB lost thousands of events.
WHOLE_STREAM_ENV = {"BPFTRACE_PERF_RB_PAGES": "2048"}


class Layout(NamedTuple):
    """Where a probe's arguments are, as bpftrace names them."""

    ints: tuple[str, ...]       # line and offset of code probes; a GC probe's ints
    value: str | None = None    # the string value (retval, callable, exception...)
    code_id: str | None = None  # the trailing code_id of code probes
    code: bool = True           # arg0, arg1 are function and file


def _code(ints, value=None):
    # code_id is the argument after the last of the others.
    last = max(int(arg[3:]) for arg in (*ints, value) if arg)
    return Layout(tuple(ints), value, "arg%d" % (last + 1))


#: Every probe of README's probe reference, and where its arguments are.
LAYOUT = {
    "PY_START": _code(("arg2", "arg3")),
    "PY_RESUME": _code(("arg2", "arg3")),
    "PY_RETURN": _code(("arg2", "arg3"), "arg4"),
    "PY_YIELD": _code(("arg2", "arg3"), "arg4"),
    "CALL": _code(("arg2", "arg3"), "arg4"),
    "LINE": _code(("arg2",)),
    "PY_UNWIND": _code(("arg2", "arg3"), "arg4"),
    "PY_THROW": _code(("arg2", "arg3"), "arg4"),
    "RAISE": _code(("arg2", "arg3"), "arg4"),
    "EXCEPTION_HANDLED": _code(("arg2", "arg3"), "arg4"),
    "GC_START": Layout(("arg0",), code=False),
    "GC_DONE": Layout(("arg0", "arg1", "arg2"), code=False),
    "MARK": Layout((), "arg1", code=False),   # name (arg0) is printed as the E line's text
    "AUDIT": Layout((), "arg1", code=False),  # event (arg0) likewise
    "IMPORT_START": Layout((), "arg0", code=False),       # module, as text and value
    "IMPORT_DONE": Layout(("arg1",), "arg0", code=False),  # module; found in args
}
#: The aggregating probes, fired by the poller once per interval and
#: function (tests/e2e/test_call_stats.py), not per event: their arguments,
#: arg0 first, as that test's program reads them.  Not in ALL_PROBES.
AGGREGATED = {
    "CALL_STATS": ("function", "file", "line", "code_id", "tid", "calls"),
    "CALL_TIMES": ("code_id", "tid", "inclusive_ns", "exclusive_ns", "completed"),
}
CODE_PROBES = tuple(name for name, layout in LAYOUT.items() if layout.code)
ALL_PROBES = tuple(LAYOUT)


class Event(NamedTuple):
    """One probe firing.  Code probes fill function..code_id (offset None for
    LINE); GC_START and GC_DONE put their integers in args; MARK puts its
    name in function and its detail in value."""

    probe: str
    tid: int
    function: str | None
    file: str | None
    line: int | None
    offset: int | None
    value: str | None
    code_id: int | None = None
    args: tuple[int, ...] | None = None


def skip_reason() -> str | None:
    """Why e2e tests cannot run here, or None."""
    reason = session.unusable()
    if reason is not None:
        return reason
    if not os.path.exists(support.LIB):
        return "%s is not built (make lib)" % support.LIB
    return None


def probe_program(probes, file_filter: str | None = None, lib: str = support.LIB,
                  extra: str = "", predicate: str | None = None, action: str = "") -> str:
    """A bpftrace program printing every event of PROBES, optionally only
    those of code probes whose file argument equals FILE_FILTER, and only
    those matching the bpftrace PREDICATE; ACTION runs after the printing.

    Each event is one line
        E|pid|tid|nsecs|PROBE|function|file|line[|offset]|code_id   (code probes)
        E|pid|tid|nsecs|GC_START|generation
        E|pid|tid|nsecs|GC_DONE|generation|collected|uncollectable
        E|pid|tid|nsecs|MARK|name                 (AUDIT: event; IMPORT_START: module)
        E|pid|tid|nsecs|IMPORT_DONE|module|found
    and, for a probe with a string value, a second line V|pid|tid|nsecs|value
    (at the session layer's STRLEN, 136, a third string would not fit the BPF
    stack)."""
    parts = []
    for probe in probes:
        layout = LAYOUT[probe]
        conditions = []
        if file_filter and layout.code:
            conditions.append('str(arg1) == "%s"' % file_filter)
        if predicate:
            conditions.append("(%s)" % predicate)
        pred = "/%s/ " % " && ".join(conditions) if conditions else ""
        head = "E|%d|%d|%llu|" + probe
        args = ["pid", "tid", "$t"]
        if layout.code:
            head += "|%s|%s"
            args += ["str(arg0)", "str(arg1)"]
        elif layout.value:
            head += "|%s"
            args.append("str(arg0)")
        head += "|%d" * len(layout.ints)
        args += layout.ints
        if layout.code_id:
            head += "|%llu"
            args.append(layout.code_id)
        body = ["$t = nsecs;", 'printf("%s\\n", %s);' % (head, ", ".join(args))]
        if layout.value:
            body.append('printf("V|%%d|%%d|%%llu|%%s\\n", pid, tid, $t, str(%s));'
                        % layout.value)
        if action:
            body.append(action)
        parts.append("usdt:%s:pyusdt:%s %s{ %s }" % (lib, probe, pred, " ".join(body)))
    return "\n".join(parts) + "\n" + extra


def _parse_event(fields: list[str]) -> tuple[int, list] | None:
    """(pid, row) from the fields of an E line, or None if the probe is not
    one of LAYOUT's."""
    pid, tid, _, probe, rest = fields
    layout = LAYOUT.get(probe)
    if layout is None:
        return None
    if layout.code:
        nints = len(layout.ints) + 1
        head, *ints = rest.rsplit("|", nints)
        function, file = head.split("|", 1)
        numbers = [int(x) for x in ints]
        offset = numbers[1] if len(layout.ints) > 1 else None
        row = [probe, int(tid), function, file, numbers[0], offset, None, numbers[-1], None]
    elif layout.value and layout.ints:
        text, *ints = rest.rsplit("|", len(layout.ints))
        row = [probe, int(tid), text, None, None, None, None, None,
               tuple(int(x) for x in ints)]
    elif layout.value:
        row = [probe, int(tid), rest, None, None, None, None, None, None]
    else:
        row = [probe, int(tid), None, None, None, None, None, None,
               tuple(int(x) for x in rest.split("|"))]
    return int(pid), row


def parse_events(lines: list[str], pid: int | None = None) -> list[Event]:
    """Events from bpftrace output, ordered by time; only process PID's when
    PID is given.  A value that held newlines continues on the lines after
    its V line."""
    rows: dict[tuple[str, str, str], tuple[int, list]] = {}
    values: dict[tuple[str, str, str], str] = {}
    continued = None
    lines = list(lines)
    while lines and not lines[-1]:
        lines.pop()   # bpftrace's own blank lines as it exits
    for line in lines:
        if line.startswith("E|"):
            continued = None
            fields = line.split("|", 5)
            parsed = _parse_event(fields[1:]) if len(fields) == 6 else None
            if parsed is not None:
                rows[tuple(fields[1:4])] = parsed
        elif line.startswith("V|"):
            _, p, tid, stamp, value = line.split("|", 4)
            continued = (p, tid, stamp)
            values[continued] = value
        elif continued is not None:
            values[continued] += "\n" + line
    for key, value in values.items():
        if key in rows:
            rows[key][1][6] = value
    ordered = sorted(rows.items(), key=lambda item: int(item[0][2]))
    return [Event(*row) for _, (p, row) in ordered if pid is None or p == pid]


def lost_events(lines: list[str], stderr: str) -> list[str]:
    """bpftrace's reports of events it dropped."""
    return [line for line in [*lines, *stderr.splitlines()]
            if line.startswith("Lost ") and line.endswith(" events")]


class Trace(NamedTuple):
    """What one traced run produced: the events of the traced process (only
    its own: bpftrace attached system-wide sees every pyusdt process on the
    machine), bpftrace's raw output, and the program's output and status."""

    events: list[Event]
    bpftrace_output: list[str]
    bpftrace_stderr: str
    stdout: str
    stderr: str
    returncode: int
    pid: int | None = None
    program: str = ""

    def describe(self) -> str:
        """Everything needed to understand a failure."""
        return ("--- bpftrace program ---\n%s\n"
                "--- bpftrace output (last 200 lines) ---\n%s\n"
                "--- bpftrace stderr ---\n%s\n"
                "--- program stdout ---\n%s\n--- program stderr ---\n%s\n"
                "--- program pid %s, exit status: %d"
                % (self.program[:3000], "\n".join(self.bpftrace_output[-200:]),
                   self.bpftrace_stderr[-3000:], self.stdout[-3000:], self.stderr[-3000:],
                   self.pid, self.returncode))


class Bpftrace(session.Session):
    """One bpftrace session of a test, its output collected as it comes.
    Its program must not have a BEGIN probe of its own."""

    def __init__(self, program: str, args: list[str] = (), sentinel: bool = False) -> None:
        """SENTINEL: drain() waits for the sentinel probe's line from every
        CPU (session.SENTINEL_PROBE), not for quiet: what a session that
        compares whole streams of events after its program ended needs."""
        env = dict(os.environ, **WHOLE_STREAM_ENV) if sentinel else None
        super().__init__(program, list(args), name="test", sentinel=sentinel, env=env)

    def wait_attached(self, timeout: float = ATTACH_TIMEOUT) -> None:
        super().wait_attached(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        return super().stop(timeout)

    def trace(self, pid: int | None, stdout: str, stderr: str, returncode: int) -> Trace:
        """The finished trace of process PID.  Raises if bpftrace lost
        events: a comparison of incomplete streams would prove nothing."""
        lost = lost_events(self.lines, self.stderr)
        if lost:
            raise RuntimeError("bpftrace lost events (%s); raise BPFTRACE_PERF_RB_PAGES"
                               % "; ".join(lost))
        return Trace(parse_events(self.lines, pid), self.lines, self.stderr, stdout,
                     stderr, returncode, pid, self.program)


@contextlib.contextmanager
def private_pyusdt() -> Iterator[tuple[str, str]]:
    """A copy of the pyusdt package and of its library in a temporary
    directory: (directory for PYTHONPATH, library path).  A tracer attached
    system-wide to the copy's library reaches only the processes that load
    the copy, and one attached to the checkout's library (other tests, other
    people's) never reaches them: what tests that check for the absence of
    something need."""
    with tempfile.TemporaryDirectory(prefix="pyusdt-private-") as root:
        yield session.copy_pyusdt(root, support.BUILD_LIB,
                                    os.path.relpath(support.BUILD_LIB, support.REPO))


class PrivateCopyCase(unittest.TestCase):
    """A TestCase whose programs load a private copy of pyusdt
    (private_pyusdt()), one for the class: cls.root goes on PYTHONPATH,
    cls.lib is the copy's library.  The tracers a test attaches to cls.lib
    are the only ones its programs can see."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        private = private_pyusdt()
        cls.root, cls.lib = private.__enter__()
        cls.addClassCleanup(private.__exit__, None, None, None)


def pyusdt_command(script_args: list[str], wait: bool = False) -> list[str]:
    cmd = [support.PYTHON, "-m", "pyusdt"]
    if wait:
        cmd.append("--wait-for-tracer=60")
    return cmd + list(script_args)


def _run(command: list[str], stdin: str | None, timeout: float, cwd: str | None,
         env: dict[str, str]) -> tuple[int, str, str, int]:
    """Runs COMMAND to the end: (pid, stdout, stderr, exit status)."""
    with subprocess.Popen(command, stdin=subprocess.PIPE if stdin is not None else None,
                          cwd=cwd, env=support.env(**env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except BaseException:
            proc.kill()
            proc.communicate()
            raise
        return proc.pid, out, err, proc.returncode


def wait_for_semaphores(program: str, cwd: str | None, env: dict[str, str]) -> None:
    """Waits until every pyusdt probe PROGRAM names is attached, as a process
    loading the library sees it."""
    try:
        session.wait_for_semaphores(support.PYTHON, session.probes_in(program),
                                      support.env(**env), cwd, ATTACH_TIMEOUT)
    except session.SessionError as exc:
        raise RuntimeError("%s\nprogram:\n%s" % (exc, program)) from None


def trace_system(program: str, script_args: list[str], *, stdin: str | None = None,
                 timeout: float = 120, launcher: bool = True, cwd: str | None = None,
                 **env: str) -> Trace:
    """Attaches bpftrace by library path, then runs the program (in CWD):
    under `python -m pyusdt`, or with LAUNCHER false as `python SCRIPT_ARGS`.
    Either way the Python process is the child itself, so only events of
    the child's pid are kept."""
    command = pyusdt_command(script_args) if launcher else [support.PYTHON, *script_args]
    bt = Bpftrace(program, sentinel=True)
    try:
        bt.wait_attached()
        wait_for_semaphores(program, cwd, env)
        pid, out, err, status = _run(command, stdin, timeout, cwd, env)
        bt.drain()
    finally:
        bt.stop()
    return bt.trace(pid, out, err, status)


def wait_for_library(proc: subprocess.Popen, timeout: float = 30,
                     lib: str = support.LIB) -> None:
    """Waits until the child PROC has LIB mapped, so that bpftrace -p finds
    its probes.  Returns early if it has exited: the caller sees why from
    its status and output."""
    try:
        session.wait_mapped(proc, timeout, lib)
    except TimeoutError as exc:
        raise RuntimeError(str(exc)) from None


def attach_by_pid(proc: subprocess.Popen, program: str, lib: str, *, stdin: str | None = None,
                  timeout: float = 120) -> tuple[Bpftrace, str, str]:
    """Attaches bpftrace -p with PROGRAM to PROC once it has mapped LIB;
    with STDIN, writes it to PROC once bpftrace has attached.  Waits
    (TIMEOUT) for PROC to end, then stops bpftrace.  Returns bpftrace and
    PROC's stdout and stderr."""
    assert stdin is None or proc.stdin is not None, "PROC needs stdin=PIPE"
    bt = None
    try:
        wait_for_library(proc, lib=lib)
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise RuntimeError("%s exited (status %d) before bpftrace could attach:\n%s%s"
                               % (" ".join(proc.args), proc.returncode, out, err or ""))
        bt = Bpftrace(program, ["-p", str(proc.pid)], sentinel=True)
        if stdin is not None:
            bt.wait_attached()
        out, err = proc.communicate(stdin, timeout=timeout)
        bt.drain()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if bt is not None:
            bt.stop()
    return bt, out, err


def trace_pid(program: str, script_args: list[str], *, timeout: float = 120,
              wait_for_tracer: bool = True, lib: str = support.LIB, cwd: str | None = None,
              **env: str) -> Trace:
    """Starts the program (in CWD, waiting for a tracer), then, once it has
    mapped LIB, attaches bpftrace -p."""
    proc = subprocess.Popen(pyusdt_command(script_args, wait=wait_for_tracer), cwd=cwd,
                            env=support.env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    bt, out, err = attach_by_pid(proc, program, lib, timeout=timeout)
    return bt.trace(proc.pid, out, err, proc.returncode)


def _command_session(program: str, script_args: list[str]) -> session.Session:
    """bpftrace -c "python -m pyusdt SCRIPT_ARGS" running PROGRAM."""
    cmd = " ".join(pyusdt_command(script_args))
    return session.Session(program, ["-c", cmd], mark=False, name="test",
                             env=dict(os.environ, PYTHONPATH=support.REPO))


@functools.lru_cache(maxsize=None)
def c_mode_supported() -> bool:
    """Whether this bpftrace can attach to probes of a shared library loaded
    by a -c child (0.17 cannot: "Error finding location for probe")."""
    if skip_reason():
        return False
    with _command_session("usdt:%s:pyusdt:PY_START { }" % support.LIB,
                          ["-c", "pass"]) as tracer:
        status = tracer.wait(60)
    return status == 0 and "Error finding location" not in tracer.stderr


def trace_c(program: str, script_args: list[str], *, timeout: float = 120) -> Trace:
    """bpftrace -c "python -m pyusdt SCRIPT": the program's output mixes
    with bpftrace's, so only events are reported."""
    with _command_session(program, script_args) as tracer:
        status = tracer.wait(timeout)
    lines = tracer.lines
    return Trace(parse_events(lines), lines, tracer.stderr, "\n".join(lines), "", status,
                 None, program)


class Recording(NamedTuple):
    """What tests/recorder.py saw of one run of a program."""

    events: list[Event]
    stdout: str
    stderr: str
    returncode: int


def record_run(script_args: list[str], probes=CODE_PROBES, **env: str) -> Recording:
    """Runs the program under tests/recorder.py, recording PROBES."""
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
        run = support.run_python([os.path.join(support.REPO, "tests", "recorder.py"),
                                  out.name, *script_args],
                                 RECORD_PROBES=",".join(probes), **env)
        events = []
        for line in out:
            row = json.loads(line)
            if row[8] is not None:
                row[8] = tuple(row[8])
            events.append(Event(*row))
    return Recording(events, run.stdout, run.stderr, run.returncode)


def record(script_args: list[str], probes=CODE_PROBES, **env: str) -> list[Event]:
    """The events tests/recorder.py sees for the same program, which must
    exit with status 0."""
    run = record_run(script_args, probes, **env)
    if run.returncode != 0:
        raise RuntimeError("recorder failed:\n" + run.stderr)
    return run.events
