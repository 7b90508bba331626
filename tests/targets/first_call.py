"""Target: imports pyusdt directly (no launcher) and calls one function."""
import pyusdt  # noqa: F401


def first_call_after_import():
    return 1


first_call_after_import()
