"""Ctrl-C and SIGTERM while tracing: bpftrace reports and exits, and a
command the launcher started gets SIGTERM passed on."""

from __future__ import annotations

import signal
import subprocess

from pyusdt_tracer import session


class Signals:
    """While tracing, Ctrl-C (SIGINT) and SIGTERM end bpftrace, which then
    prints its report; a command started by the launcher gets SIGTERM
    forwarded (it has SIGINT from the terminal already, being in the
    launcher's process group)."""

    def __init__(self) -> None:
        self.bpftrace: session.Session | None = None
        self.command: subprocess.Popen | None = None
        self.interrupted = False
        self._saved: dict[int, object] = {}

    def __enter__(self) -> Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: object) -> None:
        self.interrupted = True
        if self.bpftrace is not None:
            self.bpftrace.interrupt()
        if signum == signal.SIGTERM and self.command is not None \
                and self.command.poll() is None:
            self.command.send_signal(signal.SIGTERM)
