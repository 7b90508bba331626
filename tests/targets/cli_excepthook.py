"""cli_excepthook: installs its own sys.excepthook and dies, for checking
that the hook sees the program's traceback and nothing of pyusdt's."""

import sys
import traceback


def hook(exc_type, value, tb):
    print("hook", exc_type.__name__, value, flush=True)
    print("tb is value.__traceback__", tb is value.__traceback__)
    print("tb is sys.last_traceback", tb is getattr(sys, "last_traceback", None))
    print("hook is sys.excepthook", sys.excepthook is hook)
    print("".join(traceback.format_exception(value)), end="")


def fail() -> None:
    raise LookupError("twenty-three")


sys.excepthook = hook
fail()
