"""Says why pyusdt could not be armed at interpreter start-up.
pyusdt-auto.pth (from site-packages) imports pyusdt itself when PYUSDT_AUTO
is set, so that a service can be traced without changing its command line,
and imports this module only when that failed: it tries once more, and
the failure is one line on stderr, never an exception: the program runs
as it would without pyusdt.  (A module of its own only for that path: a
module's import costs every armed process about 0.5% of its start-up.)
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
