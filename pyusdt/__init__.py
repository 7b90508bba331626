"""pyusdt: USDT probes (provider ``pyusdt``) for CPython 3.12+.

Importing pyusdt loads ``libpyusdt.so`` and starts its poller: while no
tracer is attached to any probe, nothing else happens.  When bpftrace (or
any USDT consumer) attaches, the matching sys.monitoring events are enabled
within one poll interval (``PYUSDT_CHECK_MSEC``, default 100 ms) and turned
off again when it detaches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ._loader import load as _load
from ._version import __version__

_lib = _load()

#: Every probe: (name, sys.monitoring event bit, argument list).
PROBES: tuple[tuple[str, int, str], ...] = _lib.PROBES


@dataclass(frozen=True)
class Status:
    """What pyusdt is doing at one moment."""

    #: Probes a tracer is attached to (their semaphores are non-zero).
    attached: tuple[str, ...]
    #: Probes whose sys.monitoring events are enabled.
    enabled: tuple[str, ...]
    #: The sys.monitoring tool id pyusdt holds, or None.
    tool_id: int | None
    #: The poll interval, in milliseconds.
    check_msec: int


def status() -> Status:
    """Returns which probes are attached and which events are enabled."""
    return Status(**_lib.status())


def library_path() -> str:
    """The absolute path of the loaded libpyusdt.so, for bpftrace probes
    such as ``usdt:PATH:pyusdt:PY_START``."""
    return os.path.realpath(_lib.__file__)


__all__ = ["PROBES", "Status", "__version__", "library_path", "status"]
