"""Types of libpyusdt, pyusdt's C extension (src/module.c).

At run time pyusdt/_loader.py loads it as the top-level module ``libpyusdt``
from this directory; ``import pyusdt`` is the supported way in, and
``pyusdt.Status`` the typed form of status().  The private functions serve
pyusdt's own CLI and tests.
"""

from collections.abc import Callable
from types import CodeType
from typing import Final, TypedDict

class _StatusDict(TypedDict):
    attached: tuple[str, ...]
    enabled: tuple[str, ...]
    tool_id: int | None
    check_msec: int
    forced: tuple[str, ...]
    gc_callback: bool
    unavailable: tuple[str, ...]
    audit_hook: bool
    native: tuple[str, ...] | None

#: Every probe: (name, sys.monitoring event bit or 0, argument list).
PROBES: Final[tuple[tuple[str, int, str], ...]]

#: The probes of provider python (CPython's own markers): (name, argument list).
PYTHON_PROBES: Final[tuple[tuple[str, str], ...]]

def status() -> _StatusDict:
    """What pyusdt is doing now: attached probes, enabled probes, the
    sys.monitoring tool id held (or None), the poll interval in ms, the
    probes PYUSDT_FORCE attached, whether the GC probes' callback is in,
    and the probes whose sys.monitoring event this Python lacks."""

def mark(name: str, detail: str = "") -> None:
    """Fires the MARK probe with NAME and DETAIL when a tracer is attached
    to it; otherwise returns at once."""

def marking() -> bool:
    """Whether a tracer is attached to MARK."""

def _sync() -> tuple[str, ...]:
    """Reads the semaphores and applies them now; returns the attached
    probes' names."""

def _release_forced() -> tuple[str, ...]:
    """Lowers the semaphores PYUSDT_FORCE raised (a detach) and applies it;
    returns the attached probes' names."""

def _poll_period_us() -> int:
    """How often the poller reads the semaphores, in microseconds: the poll
    interval, less the GIL switch interval (at most half) on 3.12."""

def _wait_for_tracer(timeout: float, settle: float, /) -> tuple[str, ...]:
    """Waits up to TIMEOUT seconds for a tracer, then SETTLE seconds of no
    change; returns the attached probes' names (empty on timeout)."""

def _hide_code(code: CodeType, /) -> None:
    """Never report events of CODE (the frames that launched python -m
    pyusdt)."""

def _render_value(value: object, /) -> str:
    """The text a PY_RETURN/PY_YIELD probe would carry for VALUE."""

def _render_callable(callable: object, /) -> str:
    """The text a CALL probe would carry for CALLABLE."""

def _render_args(args: object, /) -> str:
    """The text an AUDIT probe would carry for an audit event's ARGS."""

def _call_at_bottom(func: Callable[..., object], /, *args: object) -> object:
    """Calls FUNC(*ARGS) with the caller's frames not counted against the
    recursion limit (the runner's frames below a program)."""

def _exec_at_bottom(code: CodeType, globals: dict[str, object], /) -> object:
    """Runs CODE in GLOBALS as python runs a script, the caller's frames
    not counted against the recursion limits."""

def _run_source_at_bottom(source: bytes | str, filename: str,
                          globals: dict[str, object], /) -> object:
    """Runs a program in GLOBALS as python runs it, the caller's frames not
    counted against the recursion limits: SOURCE bytes as the contents of
    the file FILENAME, a str as -c's command."""

def _shutdown() -> None:
    """Stops the poller thread (run at exit)."""

def _before_fork() -> None: ...
def _after_fork_parent() -> None: ...
def _after_fork_child() -> None: ...
