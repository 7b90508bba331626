"""Arms pyusdt at interpreter start-up: imported by pyusdt-auto.pth (from
site-packages) only when PYUSDT_AUTO is set, so that a service can be traced
without changing its command line.

Importing pyusdt starts its poller; nothing else happens until a tracer
attaches.  A failure is one line on stderr, never an exception: the program
runs as it would without pyusdt.
"""

import sys


def _arm() -> None:
    try:
        import pyusdt  # noqa: F401  (imported for its side effect)
    except Exception as exc:
        # N.B. subinterpreters process .pth files too, and pyusdt refuses to
        # load in one (its probes belong to the main interpreter, which is
        # armed already): not worth a message.
        if isinstance(exc, ImportError) and "subinterpreter" in str(exc):
            return
        print("pyusdt: PYUSDT_AUTO is set, but pyusdt cannot be loaded: %s" % exc,
              file=sys.stderr, flush=True)


_arm()
