"""``python -m pyusdt [option] ... (script.py | -m module | -c code | -) [arg] ...``:
runs a Python program as ``python`` would, with pyusdt's probes armed."""

import sys

import pyusdt

# pyusdt's own reasons (no library for this Python, too old a Python): one
# sentence, not runpy's traceback (pyusdt/__init__.py keeps it for us).
_load_error = getattr(pyusdt, "_load_error", None)
if _load_error is not None:
    # N.B. no str.removeprefix: this must run on any python 3 to say so.
    if _load_error.startswith("pyusdt: "):
        _load_error = _load_error[len("pyusdt: "):]
    sys.stderr.write("python -m pyusdt: %s\n" % _load_error)
    sys.exit(1)

from pyusdt._cli import cli   # noqa: E402 (only once the library is there)

if __name__ == "__main__":
    # N.B. nothing may follow: the program's globals replace this module's.
    cli()
