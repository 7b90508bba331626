"""``python -m pyusdt.flame folded.txt -o flame.svg``: draws folded stacks as
a self-contained SVG flame graph (pyusdt_tracer.flame).  Run so, the
package pyusdt does not load libpyusdt into this process (pyusdt/_loader.py,
tracer_side())."""

from __future__ import annotations

import sys

from pyusdt_tracer.flame import main

if __name__ == "__main__":
    sys.exit(main())
