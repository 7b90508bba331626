"""Shared helpers for pyusdt's tests: paths, subprocess runs, checks."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = os.path.join(REPO, "tests", "targets")
EXAMPLES = os.path.join(REPO, "examples")
PYTHON = sys.executable
# This interpreter's build directory is build/BUILD_NAME/: its cache tag and
# ABI flags (cpython-314t for the free-threaded 3.14), as the Makefile and
# pyusdt/_loader.py's build_name() name it.
BUILD_NAME = sys.implementation.cache_tag + sys.abiflags
# The extension built for this interpreter by `make lib`, by the name a
# child process maps it under (as pyusdt/_loader.py chooses): ./libpyusdt.so
# when that is the same file (this is the default interpreter), else the
# build directory's.  `bpftrace -p` needs that exact name.  `make asan` and
# `make valgrind` run the tests against their own builds, named by
# PYUSDT_LIBRARY (relative to REPO, as pyusdt/_loader.py takes it).
BUILD_LIB = os.path.join(REPO, os.environ.get("PYUSDT_LIBRARY") or os.path.join(
    "build", BUILD_NAME, "libpyusdt.so"))


def _mapped_lib() -> str:
    if os.environ.get("PYUSDT_LIBRARY"):
        return BUILD_LIB
    default = os.path.join(REPO, "libpyusdt.so")
    try:
        return default if os.path.samefile(default, BUILD_LIB) else BUILD_LIB
    except OSError:
        return BUILD_LIB


LIB = _mapped_lib()


def restore_sigint() -> None:
    """Lets the programs under test see Ctrl-C as they would from a
    terminal.  A shell without job control starts a background command with
    SIGINT ignored, and an ignored signal stays ignored across exec: Python
    then never raises KeyboardInterrupt, and the tests that send SIGINT
    would hang or fail.  Called by the test runners before any test."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
TOOL_IDS = (3, 4, 5)


def env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: the repo importable, nothing of
    pyusdt's configuration inherited unless given in EXTRA (but the choice
    of library, PYUSDT_LIBRARY, is)."""
    result = {k: v for k, v in os.environ.items()
              if (not k.startswith("PYUSDT_") or k == "PYUSDT_LIBRARY")
              and k != "PYTHONPATH"}
    result["PYTHONPATH"] = REPO
    result.update(extra)
    return result


#: What tests/sanitizers/run.py sets so that the Pythons under test run
#: with a sanitizer runtime; none of it belongs to a program that is not
#: under test (node and Chromium preloaded with ASan hang at start).
SANITIZER_VARIABLES = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")


def outside_env(**extra: str) -> dict[str, str]:
    """The environment for a program that is not under test: this one
    without the sanitizer runtimes, plus EXTRA."""
    result = {k: v for k, v in os.environ.items() if k not in SANITIZER_VARIABLES}
    result.update(extra)
    return result


def run_python(args: list[str], *, input: str | None = None, cwd: str | None = None,
               timeout: float = 60, **extra_env: str) -> subprocess.CompletedProcess:
    """Runs this interpreter with ARGS and returns the finished process
    (text stdout/stderr captured)."""
    return subprocess.run([PYTHON, *args], input=input, cwd=cwd, env=env(**extra_env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def target(name: str) -> str:
    return os.path.join(TARGETS, name)


def load_bench(name: str):
    """bench/NAME.py, imported as the benchmark's own modules import each
    other (bench/ is not a package): bench/ is on sys.path, last, so that
    its module names shadow nothing."""
    bench = os.path.join(REPO, "bench")
    if bench not in sys.path:
        sys.path.append(bench)
    return importlib.import_module(name)


def waits_on_stdin(pid: int) -> bool:
    """Whether process PID sleeps reading a pipe (its stdin, for a process
    with no other pipe to read)."""
    try:
        with open("/proc/%d/wchan" % pid) as wchan:
            return "pipe_read" in wchan.read()   # anon_pipe_read on 6.x
    except OSError:
        return False


class NoToolLeftBehind(unittest.TestCase):
    """Checks after each test that pyusdt holds no sys.monitoring tool id in
    this process (as CPython's test_monitoring does for its tools)."""

    def tearDown(self) -> None:
        for tool in TOOL_IDS:
            self.assertNotEqual(sys.monitoring.get_tool(tool), "pyusdt",
                                "pyusdt left tool id %d in use" % tool)
        super().tearDown()
