"""The benchmark's bpftrace sessions, through the one session layer
(pyusdt_tracer.session)."""

from __future__ import annotations

from children import child_env
from common import Context, bpftrace


def session(ctx: Context, program: str, args: list[str] = (),
            mark: bool = True) -> bpftrace.Session:
    """A bpftrace session (pyusdt_tracer/session.py) of ctx.bpftrace running
    PROGRAM, printing each line as it comes; with MARK, PROGRAM has no BEGIN
    probe of its own."""
    return bpftrace.Session(program, ["-B", "line", *args], bpftrace=ctx.bpftrace,
                            mark=mark, name="bench")


def wait_attached(python: str, pythonpath: str, probes: list[str]) -> None:
    """Waits until a new process importing the pyusdt at PYTHONPATH finds
    PROBES attached (their semaphores raised by a tracer attached by path)."""
    bpftrace.wait_for_semaphores(python, probes, child_env(pythonpath))
