"""What every benchmark section shares: paths, how a measurement fails,
progress, the bpftrace session layer (pyusdt_tracer.session, which the
launcher and the tests use too), and what a section is given.  Statistics
(stats.py), child processes (children.py), lockstep (turns.py), private
copies (sandbox.py), semaphores (semaphores.py) and bpftrace sessions
(tracing.py) have their own modules.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
WORKLOADS = os.path.join(BENCH, "workloads.py")
PEER_PYTHON = "/usr/bin/python3.11"

# N.B. the tracer side only: pyusdt_tracer imports nothing that loads
# libpyusdt into this process (the package pyusdt would).
if REPO not in sys.path:
    sys.path.append(REPO)
from pyusdt_tracer import session as bpftrace  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sandbox import PythonInfo, Sandbox


class BenchError(Exception):
    """A measurement that could not be made; its message says why."""


#: What a section fails with when a measurement cannot be made.
FAILURES = (BenchError, bpftrace.SessionError)


def log(message: str) -> None:
    """Progress, on stderr, so that stdout is the table alone."""
    print("bench: " + message, file=sys.stderr, flush=True)


# --- What a section is given ---------------------------------------------------

@dataclass
class Context:
    """One benchmark run's settings and the private copies it made."""

    quick: bool
    bpftrace: str
    cc: str
    sandbox: Sandbox
    floor_plain: str = ""    # floor executable nobody attaches to
    floor_traced: str = ""   # floor executable bpftrace attaches to
    no_bpftrace: str | None = None   # why bpftrace cannot be used, or None

    def pick(self, quick: object, full: object) -> object:
        return quick if self.quick else full


@dataclass
class Target:
    """One Python being measured, with its private pyusdt copies: "armed"
    (never traced), "traced" (bpftrace attaches system-wide by path) and
    "attach" (bpftrace attaches by -p PID)."""

    python: PythonInfo
    armed: tuple[str, str]
    traced: tuple[str, str]
    attach: tuple[str, str]
