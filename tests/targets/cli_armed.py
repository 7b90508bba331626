"""cli_armed: reports whether pyusdt's extension was loaded before it ran."""

import sys

print("libpyusdt loaded", "libpyusdt" in sys.modules)
