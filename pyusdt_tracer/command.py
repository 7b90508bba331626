"""The traced process: a running one found by its pid, or a command the
launcher starts under ``python -m pyusdt --wait-for-tracer`` (which needs
a parser of python's own options, to find where the program begins), and
the libpyusdt.so it maps."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

from pyusdt_tracer import attach, session
from pyusdt_tracer.errors import TRACE_ERROR, USAGE_ERROR, TraceError

#: How long a command may take to load pyusdt, and then to wait for
#: bpftrace to attach, in seconds.
LOAD_TIMEOUT = 60.0
ATTACH_TIMEOUT = 60
#: What a python interpreter is called: python, python3, python3.14, and
#: with the ABI flags of a free-threaded or debug build (python3.14t,
#: python3.14td).
PYTHON_NAME = re.compile(r"python[0-9.]*[td]*$")
#: python's options that take an argument, and the options that name the
#: program.
PYTHON_ARG_OPTIONS = "WX"
PYTHON_PROGRAM_OPTIONS = "cm"


def mapped_library(pid: int) -> str | None:
    """The path of the libpyusdt.so process PID has mapped, or None.

    Raises TraceError if there is no such process, or if its library file
    has since been replaced (bpftrace would read the new file's probes)."""
    try:
        return session.mapped_library(pid)
    except FileNotFoundError:
        raise TraceError("there is no process %d" % pid) from None
    except OSError as exc:
        raise TraceError("cannot read the memory map of process %d: %s"
                         % (pid, exc.strerror)) from None
    except session.LibraryReplaced as exc:
        raise TraceError("process %d runs a libpyusdt.so that has since been "
                         "deleted or rebuilt (%s): restart it to trace it"
                         % (pid, exc.path)) from None

def library_of(pid: int) -> str:
    """The libpyusdt.so of running process PID, which gets pyusdt attached
    first (one notice line) when it has none; TraceError if it cannot."""
    if pid == os.getpid():
        raise TraceError("process %d is this launcher" % pid, USAGE_ERROR)
    library = mapped_library(pid)
    if library is None:
        library = attach.for_tracing(pid)
    return library

def _python_shebang(path: str) -> list[str] | None:
    """The interpreter command of a script whose #! line runs python."""
    try:
        with open(path, "rb") as file:
            first = file.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [word for word in words[1:] if not word.startswith("-")]
    if words and PYTHON_NAME.match(os.path.basename(words[0])):
        return words
    return None

def _program_start(command: list[str]) -> int:
    """The index in COMMAND (a python command line) where python's own
    options end and the program (script, -m, -c, -) begins."""
    index = 1
    while index < len(command):
        arg = command[index]
        if arg == "--" or arg == "-" or not arg.startswith("-") or arg.startswith("--"):
            if arg == "--check-hash-based-pycs":
                index += 2
                continue
            if arg.startswith("--") and arg != "--":
                index += 1
                continue
            return index
        letters = arg[1:]
        for position, letter in enumerate(letters):
            if letter in PYTHON_PROGRAM_OPTIONS:
                if position == 0:
                    return index
                # "-uc code": split off the options before the program.
                command[index:index + 1] = ["-" + letters[:position], "-" + letters[position:]]
                return index + 1
            if letter in PYTHON_ARG_OPTIONS:
                if position == len(letters) - 1:
                    index += 1   # the argument is the next word
                break
        index += 1
    return index

def python_command(command: list[str], wait: float) -> list[str] | None:
    """COMMAND rewritten to run under ``python -m pyusdt --wait-for-tracer``,
    or None when it is not a Python program: a python interpreter and its
    arguments, a .py file (run by this python), or a program whose #! line
    runs python (run by that python)."""
    waiting = "--wait-for-tracer=%g" % wait
    first = command[0]
    if PYTHON_NAME.match(os.path.basename(first)):
        command = list(command)
        start = _program_start(command)
        rest = command[start:]
        if rest[:2] == ["-m", "pyusdt"]:
            rest = rest[2:]
        elif rest[:1] == ["-mpyusdt"]:
            rest = rest[1:]
        return command[:start] + ["-m", "pyusdt", waiting] + rest
    if first.endswith(".py"):
        # N.B. this interpreter, which has pyusdt, rather than the file's #!
        # line's (often a python3 older than 3.12).
        return [sys.executable, "-m", "pyusdt", waiting] + command
    resolved = first if os.sep in first else shutil.which(first)
    interpreter = _python_shebang(resolved) if resolved else None
    if interpreter is not None:
        return interpreter + ["-m", "pyusdt", waiting, resolved] + command[1:]
    return None

def child_environment() -> dict[str, str]:
    """The environment of a command: pyusdt importable from where this
    launcher's pyusdt comes from when that is a checkout (an installed
    pyusdt is found without help, and putting site-packages first on
    PYTHONPATH would reorder a venv's path)."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.basename(root) not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (root, env.get("PYTHONPATH")) if part)
    return env

def wait_for_library(proc: subprocess.Popen, command: list[str],
                     timeout: float = LOAD_TIMEOUT) -> str:
    """Waits until PROC has mapped libpyusdt.so; returns its path."""
    try:
        library = session.wait_mapped(proc, timeout)
    except TimeoutError:
        raise TraceError("%s did not load pyusdt within %g s" % (command[0], timeout)) \
            from None
    if library is None:
        raise TraceError("%s exited with status %s before loading pyusdt"
                         % (" ".join(command[:1]), status_text(proc.wait())),
                         exit_status(proc.returncode) or TRACE_ERROR)
    return library

def status_text(returncode: int) -> str:
    if returncode < 0:
        return "signal %d" % -returncode
    return str(returncode)

def exit_status(returncode: int | None) -> int:
    """A process's returncode as a shell reports it (128 + signal)."""
    if returncode is None:
        return 0
    return 128 - returncode if returncode < 0 else returncode

def send_signal(proc: subprocess.Popen, signum: int) -> bool:
    """Sends SIGNUM to PROC if it still runs; returns whether it did."""
    if proc.poll() is not None:
        return False
    try:
        os.kill(proc.pid, signum)
    except ProcessLookupError:
        return False
    return True
