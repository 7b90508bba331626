"""How the launcher (``python -m pyusdt.trace``) fails: its name in
messages, its exit statuses, and the exception that carries them."""

from __future__ import annotations

PROG = "python -m pyusdt.trace"
#: Exit status of a command line the launcher cannot run, as argparse's.
USAGE_ERROR = 2
#: Exit status when tracing is impossible here (no bpftrace, not root...).
TRACE_ERROR = 1


class TraceError(Exception):
    """Tracing cannot go ahead; the message says why in one sentence."""

    def __init__(self, message: str, status: int = TRACE_ERROR) -> None:
        super().__init__(message)
        self.status = status
