"""cli_globals: prints what a __main__ program can see of how it was started,
for comparing python -m pyusdt with python itself."""

import atexit
import sys


def annotated(x: int) -> None:
    """Its annotations show whether a __future__ import leaked in."""


def report() -> None:
    main = sys.modules["__main__"]
    print("keys", list(globals()))
    print("main is this module", main.__dict__ is globals())
    print("__name__", __name__)
    print("__doc__", __doc__)
    print("__file__", globals().get("__file__", "-"))
    print("__cached__", globals().get("__cached__", "-"))
    print("__package__", __package__)
    print("__spec__", getattr(__spec__, "name", __spec__))
    print("__loader__", getattr(__loader__, "__name__", type(__loader__).__name__),
          getattr(__loader__, "name", "-"), getattr(__loader__, "path", "-"))
    print("__builtins__", __builtins__)
    print("annotations", annotated.__annotations__)
    print("sys.argv", sys.argv)
    print("sys.path", sys.path)


def at_exit() -> None:
    """python drops __file__ and __cached__ once a script has run."""
    print("at exit", sorted(k for k in ("__file__", "__cached__") if k in globals()))


atexit.register(at_exit)
report()
