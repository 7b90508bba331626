"""What the stress tests share: their size, and a private pyusdt with a
tracer attached to it system-wide."""

from __future__ import annotations

import os
import unittest

from tests.e2e import bpf

#: --quick (tests/stress/run.py) runs each test at a tenth of its size.
QUICK = os.environ.get("PYUSDT_STRESS_QUICK") == "1"


def size(full: int) -> int:
    """FULL, or a tenth of it (at least one) in quick mode."""
    return max(1, full // 10) if QUICK else full


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class Private(bpf.PrivateCopyCase):
    """Programs load a private copy of pyusdt (bpf.private_pyusdt()): the
    tracers a test attaches are the only ones they can see, and tracers
    others attach to the checkout's library never slow them down."""
