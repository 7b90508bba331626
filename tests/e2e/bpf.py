"""Runs real bpftrace against real Python processes, for the e2e tests.

Three ways of attaching, as users do:
  system  bpftrace attaches to libpyusdt.so by path before the program
          starts (the kernel sets the semaphores when the library is mapped)
  pid     the program starts with --wait-for-tracer, then bpftrace -p PID
  c       bpftrace -c "python -m pyusdt ..." (only where bpftrace can)

Probe events are printed by generated bpftrace programs in a line format
this module parses back into Event tuples.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from typing import NamedTuple

from tests import support

BPFTRACE = os.environ.get("BPFTRACE", "bpftrace")
# Room for the longest value (127 bytes + "..." + NUL) while two strings per
# printf still fit the 512-byte BPF stack.
STRLEN = "136"
ATTACH_TIMEOUT = 60

# For each probe: its integer arguments after (function, file), and whether
# it carries a string value as its last argument.
PROBE_INTS = {
    "PY_START": ("arg2", "arg3"),
    "PY_RESUME": ("arg2", "arg3"),
    "PY_RETURN": ("arg2", "arg3"),
    "PY_YIELD": ("arg2", "arg3"),
    "CALL": ("arg2", "arg3"),
    "LINE": ("arg2",),
}
PROBE_VALUE = {"PY_RETURN": "arg4", "PY_YIELD": "arg4", "CALL": "arg4"}


class Event(NamedTuple):
    probe: str
    tid: int
    function: str
    file: str
    line: int
    offset: int | None
    value: str | None


def skip_reason() -> str | None:
    """Why e2e tests cannot run here, or None."""
    if shutil.which(BPFTRACE) is None:
        return "bpftrace is not installed (apt-get install bpftrace)"
    if os.geteuid() != 0:
        return "bpftrace needs root"
    if not os.path.exists(support.LIB):
        return "%s is not built (make lib)" % support.LIB
    return None


def probe_program(probes, file_filter: str | None = None, lib: str = support.LIB,
                  extra: str = "") -> str:
    """A bpftrace program printing every event of PROBES, optionally only
    those whose file argument equals FILE_FILTER."""
    parts = []
    for probe in probes:
        ints = PROBE_INTS[probe]
        pred = '/str(arg1) == "%s"/ ' % file_filter if file_filter else ""
        fmt = "E|%d|%llu|" + probe + "|%s|%s" + "|%d" * len(ints) + "\\n"
        body = ['$t = nsecs;',
                'printf("%s", tid, $t, str(arg0), str(arg1), %s);' % (fmt, ", ".join(ints))]
        if probe in PROBE_VALUE:
            body.append('printf("V|%%d|%%llu|%%s\\n", tid, $t, str(%s));' % PROBE_VALUE[probe])
        parts.append("usdt:%s:pyusdt:%s %s{ %s }" % (lib, probe, pred, " ".join(body)))
    return "\n".join(parts) + "\n" + extra


def parse_events(lines: list[str]) -> list[Event]:
    """Events from bpftrace output, ordered by time."""
    rows: dict[tuple[str, str], list] = {}
    values: dict[tuple[str, str], str] = {}
    for line in lines:
        if line.startswith("E|"):
            fields = line.split("|")
            tid, stamp, probe, function, file = fields[1:6]
            ints = [int(x) for x in fields[6:]]
            offset = ints[1] if len(ints) > 1 else None
            rows[(tid, stamp)] = [probe, int(tid), function, file, ints[0], offset, None]
        elif line.startswith("V|"):
            _, tid, stamp, value = line.split("|", 3)
            values[(tid, stamp)] = value
    for key, value in values.items():
        if key in rows:
            rows[key][6] = value
    ordered = sorted(rows.items(), key=lambda item: int(item[0][1]))
    return [Event(*row) for _, row in ordered]


class Trace(NamedTuple):
    events: list[Event]
    bpftrace_output: list[str]
    bpftrace_stderr: str
    stdout: str
    stderr: str
    returncode: int

    def describe(self) -> str:
        """Everything needed to understand a failure."""
        return ("--- bpftrace output ---\n%s\n--- bpftrace stderr ---\n%s\n"
                "--- program stdout ---\n%s\n--- program stderr ---\n%s\n"
                "--- program exit status: %d"
                % ("\n".join(self.bpftrace_output[-200:]), self.bpftrace_stderr[-3000:],
                   self.stdout[-3000:], self.stderr[-3000:], self.returncode))


def bpftrace_env() -> dict[str, str]:
    env = dict(os.environ)
    env["BPFTRACE_STRLEN"] = STRLEN
    return env


class Bpftrace:
    """One bpftrace process, its output collected by a reader thread."""

    def __init__(self, program: str, args: list[str] = ()):
        self.program = program
        self.proc = subprocess.Popen([BPFTRACE, *args, "-e", program],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=bpftrace_env(),
                                     start_new_session=True)
        self.lines: list[str] = []
        self.stderr_text = ""
        self.attached = threading.Event()
        self.last_line_at = time.monotonic()
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("Attaching"):
                self.attached.set()
            self.lines.append(line)
            self.last_line_at = time.monotonic()
        self.attached.set()   # wake waiters if bpftrace died

    def _read_stderr(self) -> None:
        self.stderr_text = self.proc.stderr.read()

    def wait_attached(self) -> None:
        """Waits for bpftrace to attach; raises if it failed to."""
        if not self.attached.wait(ATTACH_TIMEOUT) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("bpftrace did not attach:\n%s\n%s\nprogram:\n%s"
                               % ("\n".join(self.lines), self.stderr_text, self.program))
        # "Attaching N probes..." is printed just before the probes are
        # attached; give the kernel a moment to finish.
        time.sleep(0.3)

    def drain(self, quiet: float = 0.5, limit: float = 10) -> None:
        """Waits until no output arrived for QUIET seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_line_at >= quiet:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.join(10)
        self._err.join(10)


def pyusdt_command(script_args: list[str], wait: bool = False) -> list[str]:
    cmd = [support.PYTHON, "-m", "pyusdt"]
    if wait:
        cmd.append("--wait-for-tracer=60")
    return cmd + list(script_args)


def trace_system(program: str, script_args: list[str], *, stdin: str | None = None,
                 timeout: float = 120, launcher: bool = True, **env: str) -> Trace:
    """Attaches bpftrace by library path, then runs the program: under
    `python -m pyusdt`, or with LAUNCHER false as `python SCRIPT_ARGS`."""
    command = pyusdt_command(script_args) if launcher else [support.PYTHON, *script_args]
    bt = Bpftrace(program)
    try:
        bt.wait_attached()
        run = subprocess.run(command, input=stdin,
                             env=support.env(**env), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=timeout)
        bt.drain()
    finally:
        bt.stop()
    return Trace(parse_events(bt.lines), bt.lines, bt.stderr_text, run.stdout,
                 run.stderr, run.returncode)


def wait_for_library(pid: int, timeout: float = 30) -> None:
    """Waits until process PID has libpyusdt.so mapped."""
    deadline = time.monotonic() + timeout
    real = os.path.realpath(support.LIB)
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/maps" % pid) as maps:
                if real in maps.read():
                    return
        except OSError:
            return   # the process is gone; the caller sees why
        time.sleep(0.02)
    raise RuntimeError("process %d never mapped %s" % (pid, real))


def trace_pid(program: str, script_args: list[str], *, timeout: float = 120,
              wait_for_tracer: bool = True, **env: str) -> Trace:
    """Starts the program (waiting for a tracer), then attaches bpftrace -p."""
    proc = subprocess.Popen(pyusdt_command(script_args, wait=wait_for_tracer),
                            env=support.env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    bt = None
    try:
        wait_for_library(proc.pid)
        bt = Bpftrace(program, ["-p", str(proc.pid)])
        out, err = proc.communicate(timeout=timeout)
        bt.drain()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if bt is not None:
            bt.stop()
    return Trace(parse_events(bt.lines), bt.lines, bt.stderr_text, out, err,
                 proc.returncode)


@functools.lru_cache(maxsize=None)
def c_mode_supported() -> bool:
    """Whether this bpftrace can attach to probes of a shared library loaded
    by a -c child (0.17 cannot: "Error finding location for probe")."""
    if skip_reason():
        return False
    cmd = " ".join(pyusdt_command(["-c", "pass"]))
    run = subprocess.run([BPFTRACE, "-e", 'usdt:%s:pyusdt:PY_START { }' % support.LIB,
                          "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env={**bpftrace_env(), "PYTHONPATH": support.REPO},
                         timeout=60)
    return run.returncode == 0 and "Error finding location" not in run.stdout


def trace_c(program: str, script_args: list[str], *, timeout: float = 120) -> Trace:
    """bpftrace -c "python -m pyusdt SCRIPT": the program's output mixes
    with bpftrace's, so only events are reported."""
    cmd = " ".join(pyusdt_command(script_args))
    run = subprocess.run([BPFTRACE, "-c", cmd, "-e", program], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=timeout,
                         env={**bpftrace_env(), "PYTHONPATH": support.REPO})
    lines = run.stdout.splitlines()
    return Trace(parse_events(lines), lines, run.stderr, run.stdout, "", run.returncode)


def record(script_args: list[str], probes, **env: str) -> list[Event]:
    """The events tests/recorder.py sees for the same program."""
    import json
    import tempfile
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
        run = support.run_python([os.path.join(support.REPO, "tests", "recorder.py"),
                                  out.name, *script_args],
                                 RECORD_PROBES=",".join(probes), **env)
        if run.returncode != 0:
            raise RuntimeError("recorder failed:\n" + run.stderr)
        return [Event(*json.loads(line)) for line in out]
