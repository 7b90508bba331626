"""``python -m pyusdt.trace TOOL [options] (-p PID | -- command [args...])``:
runs one of pyusdt's bpftrace tools (tools/*.bt) against a Python process or
command and prints its report; ``--list`` lists the tools."""

from __future__ import annotations

import sys

from pyusdt._trace import main

if __name__ == "__main__":
    sys.exit(main())
