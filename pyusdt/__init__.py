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
from ._loader import runner_side as _runner_side
from ._loader import tracer_side as _tracer_side

# N.B. no `from __future__ import annotations` here: it imports the
# __future__ module at run time, which a bare python does not.  The
# annotations that would build objects at import on 3.12 and 3.13
# (generic aliases, unions) are quoted instead.  __version__ and Status
# come from their modules on first use (__getattr__ below), not at import.

# N.B. not typing.TYPE_CHECKING: importing typing would cost every armed
# process ~20 ms.  Type checkers honour any constant of this name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import libpyusdt as _lib   # the stub, for type checkers only
    from ._status import Status
elif _tracer_side():
    from ._unloaded import Unloaded
    _lib = Unloaded()
else:
    try:
        _lib = _load()
    except ImportError as _exc:
        if not _runner_side():
            raise
        # python -m pyusdt: its __main__ says why, in one sentence.
        from ._unloaded import Unloaded
        _lib = Unloaded()
        _load_error = str(_exc)
        del _exc

#: Every probe: (name, sys.monitoring event bit or 0, argument list).  The
#: bits are the running interpreter's own (3.14 renumbered some); 0 for the
#: probes fed otherwise, and for an event this Python lacks.
PROBES: "tuple[tuple[str, int, str], ...]" = _lib.PROBES

#: The probes of provider ``python``, CPython's own marker names and
#: arguments (docs/cpython-dialect.md): (name, argument list).
PYTHON_PROBES: tuple[tuple[str, str], ...] = _lib.PYTHON_PROBES


def status() -> "Status":
    """Returns which probes are attached and which events are enabled."""
    from ._status import Status
    return Status(**_lib.status())


#: mark(name: str, detail: str = "") -> None: fires the MARK probe when a
#: tracer is attached to it, and otherwise returns at once (a C function: no
#: Python frame, no cost worth measuring).
mark = _lib.mark

#: marking() -> bool: whether a tracer is attached to MARK, so a caller can
#: skip building an expensive detail string.
marking = _lib.marking


def __getattr__(name: str) -> object:
    """The module's lazy attributes (PEP 562): __version__ and Status."""
    if name == "__version__":
        from ._version import __version__
        return __version__
    if name == "Status":
        from ._status import Status
        return Status
    raise AttributeError("module 'pyusdt' has no attribute %r" % name)


def __dir__() -> "list[str]":
    """The module's names, the lazy ones (__getattr__) included."""
    return sorted(set(globals()) | {"Status", "__version__"})


def library_path() -> str:
    """The absolute path of the loaded libpyusdt.so, for bpftrace probes
    such as ``usdt:PATH:pyusdt:PY_START``."""
    return os.path.realpath(_lib.__file__)


__all__ = ["PROBES", "PYTHON_PROBES", "Status", "__version__", "library_path", "mark", "marking",
           "status"]
