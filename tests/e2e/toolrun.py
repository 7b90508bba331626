"""Runs pyusdt's tools (tools/*.bt) through ``python -m pyusdt.trace`` with
real bpftrace, for tests/e2e/test_tools.py, and reads their tables back.

The launcher prints fixed-width tables whose text columns come first and
whose numeric columns are last; read_table() splits a row from the right
for the numbers and by column width for the text, using the renderer's own
column list.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import NamedTuple

from pyusdt_tracer import report, session
from tests import support
from tests.e2e import bpf

TIMEOUT = 180


def tracefs_reason() -> str | None:
    """Why kernel tracepoints cannot be used here, or None; mounts tracefs
    (as a booted system would have it) when it is missing."""
    if session.tracefs_mounted():
        return None
    mounted = subprocess.run(["mount", "-t", "tracefs", "nodev", session.TRACEFS],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if mounted.returncode != 0 or not session.tracefs_mounted():
        return "tracefs is not mounted on %s and cannot be: %s" % (
            session.TRACEFS, mounted.stdout.strip())
    return None


def skip_reason(tracepoints: bool = False) -> str | None:
    reason = bpf.skip_reason()
    if reason is None and tracepoints:
        reason = tracefs_reason()
    return reason


class Run(NamedTuple):
    """One finished launcher run."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return ("--- command ---\n%s\n--- exit status %d\n--- stdout ---\n%s\n"
                "--- stderr ---\n%s" % (" ".join(self.command), self.returncode,
                                        self.stdout[-6000:], self.stderr[-4000:]))


def launcher(tool: str, options: list[str] = ()) -> list[str]:
    return [support.PYTHON, "-m", "pyusdt.trace", tool, *options]


def run_tool(tool: str, script_args: list[str], options: list[str] = (),
             timeout: float = TIMEOUT) -> Run:
    """python -m pyusdt.trace TOOL OPTIONS -- python SCRIPT_ARGS, to the end."""
    command = launcher(tool, options) + ["--", support.PYTHON, *script_args]
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=support.env(), cwd=support.REPO, timeout=timeout)
    return Run(command, proc.returncode, proc.stdout, proc.stderr)


class Table(NamedTuple):
    """A table of the launcher's output: its header line and rows (one dict
    per row, by column title)."""

    header: str
    rows: list[dict[str, str]]

    def row(self, **where: str) -> dict[str, str]:
        """The one row whose columns have the values WHERE gives."""
        found = [row for row in self.rows
                 if all(row.get(key) == value for key, value in where.items())]
        if len(found) != 1:
            raise AssertionError("%d rows with %r in:\n%s" % (len(found), where,
                                                             self.format()))
        return found[0]

    def column(self, title: str) -> list[str]:
        return [row[title] for row in self.rows]

    def format(self) -> str:
        return "\n".join([self.header] + [repr(row) for row in self.rows])


def read_tables(text: str, columns: list[report.Column]) -> list[Table]:
    """Every table in TEXT with the header COLUMNS: its rows are the lines
    after the header up to a blank line."""
    titles = [column.title for column in columns]
    numeric = sum(1 for column in columns if column.right)
    tables: list[Table] = []
    current: Table | None = None
    for line in text.splitlines():
        if line.split() == " ".join(titles).split():
            current = Table(line, [])
            tables.append(current)
            continue
        if current is None:
            continue
        if not line.strip():
            current = None
            continue
        parts = line.rsplit(None, numeric)
        text_part, numbers = parts[0], parts[1:]
        cells = []
        position = 0
        for column in columns[:len(columns) - numeric]:
            cells.append(text_part[position:position + column.width].strip())
            position += column.width + 1
        current.rows.append(dict(zip(titles, cells + numbers)))
    return tables


def read_table(text: str, columns: list[report.Column]) -> Table:
    """The one table with header COLUMNS in TEXT."""
    tables = read_tables(text, columns)
    if len(tables) != 1:
        raise AssertionError("expected one table headed %s, found %d in:\n%s"
                             % ([c.title for c in columns], len(tables), text))
    return tables[0]


class Background:
    """A process running in its own session (so that a signal to its group
    stands for Ctrl-C at a terminal), its output read by threads."""

    def __init__(self, command: list[str], stdin: bool = False,
                 env: dict[str, str] | None = None) -> None:
        """ENV: the process's whole environment (default: the one tests
        give programs under test, support.env())."""
        self.command = command
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE if stdin else None,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=support.env() if env is None else env,
                                     cwd=support.REPO,
                                     start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.out),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.err),
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def wait_for(self, predicate, what: str, timeout: float = 60) -> None:
        """Waits until PREDICATE(self) is true."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                if predicate(self):
                    return
                raise AssertionError("never saw %s:\n%s" % (what, self.describe()))
            time.sleep(0.05)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 60) -> Run:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        for thread in self._threads:
            thread.join(10)
        return Run(self.command, self.proc.returncode, "".join(self.out), "".join(self.err))

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def describe(self) -> str:
        return "%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(self.command), "".join(self.out)[-4000:], "".join(self.err)[-4000:])
