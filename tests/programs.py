"""A program the tests run in the background, its stdout read line by line
as it comes and its stderr kept (tests/e2e/reliability_harness.Running,
tests/attaching.Target)."""

from __future__ import annotations

import queue
import subprocess

from pyusdt_tracer import session


class LineProgram:
    """PROC's output, read by session.Output: stdout lines queued as they
    come (None once it ends) and kept, stderr kept whole."""

    #: How long next_line waits by default, in seconds.
    SETTLE = 60.0

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self._output = session.Output(proc, self._line, lambda: self.lines.put(None))

    @property
    def stderr(self) -> str:
        return self._output.stderr

    def _line(self, line: str) -> None:
        self.stdout.append(line + "\n")
        self.lines.put(line)

    def describe(self) -> str:
        return ("--- program stdout ---\n%s--- program stderr ---\n%s"
                % ("".join(self.stdout)[-3000:], self.stderr[-3000:]))

    def next_line(self, timeout: float | None = None) -> str:
        """The next line of output; raises, with the output so far, if none
        comes in TIMEOUT or the program ends first."""
        timeout = self.SETTLE if timeout is None else timeout
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("no output from pid %d in %g s\n%s"
                               % (self.pid, timeout, self.describe())) from None
        if line is None:
            self.lines.put(None)
            raise RuntimeError("pid %d ended early\n%s" % (self.pid, self.describe()))
        return line

    def finish(self, timeout: float = 60) -> int:
        """Closes its stdin and waits for the program to end (killing it
        after TIMEOUT); its exit status, once its output is all read."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._output.join()
        return self.proc.returncode
