"""``python -m pyusdt.trace TOOL [options] (-p PID | -- command [args...])``:
runs one of pyusdt's bpftrace tools (tools/*.bt) against a Python process or
command and prints its report; ``--list`` lists the tools.

The launcher is on the tracer side, in pyusdt_tracer.launcher: run so, the
package pyusdt does not load libpyusdt into this process (pyusdt/_loader.py,
tracer_side())."""

from __future__ import annotations

import sys

from pyusdt_tracer.launcher import main

if __name__ == "__main__":
    sys.exit(main())
