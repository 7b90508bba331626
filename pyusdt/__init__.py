"""pyusdt: USDT probes (provider ``pyusdt``) for CPython 3.12+.

Importing pyusdt loads ``libpyusdt.so`` and starts its poller: while no
tracer is attached to any probe, nothing else happens.  When bpftrace (or
any USDT consumer) attaches, the matching sys.monitoring events are enabled
within one poll interval (``PYUSDT_CHECK_MSEC``, default 100 ms) and turned
off again when it detaches.

N.B. not when the process is a tracer-side command of this package
(``python -m pyusdt.trace``, ``python -m pyusdt.flame``, ``python -m
pyusdt attach``): python imports
the package on its way to the command's module, and a tracer never maps
what it traces.  PROBES is then empty, and the functions raise
RuntimeError.
"""

import os

from ._loader import load as _load
from ._loader import tracer_side as _tracer_side

# N.B. no `from __future__ import annotations` here: it imports the
# __future__ module at run time, which a bare python does not.  The
# annotations that would build objects at import on 3.12 and 3.13
# (generic aliases, unions) are quoted instead.  __version__ is
# read from _version on first use (__getattr__ below), not at import.

# N.B. not typing.TYPE_CHECKING: importing typing would cost every armed
# process ~20 ms.  Type checkers honour any constant of this name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import libpyusdt as _lib   # the stub, for type checkers only
elif _tracer_side():
    from ._loader import Unloaded
    _lib = Unloaded()
else:
    _lib = _load()

#: Every probe: (name, sys.monitoring event bit or 0, argument list).  The
#: bits are the running interpreter's own (3.14 renumbered some); 0 for the
#: probes fed otherwise, and for an event this Python lacks.
PROBES: "tuple[tuple[str, int, str], ...]" = _lib.PROBES

#: The probes of provider ``python``, CPython's own marker names and
#: arguments (docs/cpython-dialect.md): (name, argument list).
PYTHON_PROBES: tuple[tuple[str, str], ...] = _lib.PYTHON_PROBES


class Status:
    """What pyusdt is doing at one moment (read-only)."""

    __slots__ = ("attached", "enabled", "tool_id", "check_msec", "forced",
                 "gc_callback", "unavailable", "audit_hook", "native")

    #: Probes a tracer is attached to (their semaphores are non-zero).
    attached: "tuple[str, ...]"
    #: Probes whose sys.monitoring events are enabled.
    enabled: "tuple[str, ...]"
    #: The sys.monitoring tool id pyusdt holds, or None.
    tool_id: "int | None"
    #: The poll interval, in milliseconds.
    check_msec: int
    #: Probes attached by PYUSDT_FORCE (a testing switch), not by a tracer.
    forced: "tuple[str, ...]"
    #: Whether the GC probes' gc.callbacks entry is installed.
    gc_callback: bool
    #: Probes whose sys.monitoring event the running Python lacks: they
    #: never fire, and attaching to one says so on stderr.
    unavailable: "tuple[str, ...]"
    #: Whether the audit probes' hook is installed (once in, for good: PEP
    #: 578 hooks cannot be removed).
    audit_hook: bool
    #: The python-provider probes the interpreter fires itself (a build
    #: configured --with-dtrace): pyusdt leaves them unfed, so that no
    #: event is reported twice.  None until a python probe is first
    #: attached (the interpreter is looked at then, not at import).
    native: "tuple[str, ...] | None"

    def __init__(self, attached: "tuple[str, ...]", enabled: "tuple[str, ...]",
                 tool_id: "int | None", check_msec: int,
                 forced: "tuple[str, ...]" = (), gc_callback: bool = False,
                 unavailable: "tuple[str, ...]" = (), audit_hook: bool = False,
                 native: "tuple[str, ...] | None" = None) -> None:
        for name, value in zip(self.__slots__, (attached, enabled, tool_id, check_msec,
                                                forced, gc_callback, unavailable,
                                                audit_hook, native)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Status is read-only")

    def _fields(self) -> "tuple[object, ...]":
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "Status(%s)" % ", ".join("%s=%r" % (name, getattr(self, name))
                                        for name in self.__slots__)


def status() -> Status:
    """Returns which probes are attached and which events are enabled."""
    return Status(**_lib.status())


#: mark(name: str, detail: str = "") -> None: fires the MARK probe when a
#: tracer is attached to it, and otherwise returns at once (a C function: no
#: Python frame, no cost worth measuring).
mark = _lib.mark

#: marking() -> bool: whether a tracer is attached to MARK, so a caller can
#: skip building an expensive detail string.
marking = _lib.marking


def __getattr__(name: str) -> object:
    """The module's lazy attributes (PEP 562): __version__."""
    if name == "__version__":
        from ._version import __version__
        return __version__
    raise AttributeError("module 'pyusdt' has no attribute %r" % name)


def library_path() -> str:
    """The absolute path of the loaded libpyusdt.so, for bpftrace probes
    such as ``usdt:PATH:pyusdt:PY_START``."""
    return os.path.realpath(_lib.__file__)


__all__ = ["PROBES", "PYTHON_PROBES", "Status", "__version__", "library_path", "mark", "marking",
           "status"]
