"""libpyusdt's stand-in in a tracer-side process: a module of its own, so
that an armed process, which never needs it, does not build the class."""

from ._loader import TRACER_COMMANDS


class Unloaded:
    """libpyusdt's stand-in in a tracer-side process (tracer_side()): no
    probes, and each of its functions raises RuntimeError."""

    PROBES: "tuple[tuple[str, int, str], ...]" = ()
    PYTHON_PROBES: "tuple[tuple[str, str], ...]" = ()

    def __getattr__(self, name: str) -> object:
        def unloaded(*args: object, **kwargs: object) -> object:
            raise RuntimeError("pyusdt: libpyusdt is not loaded in a tracer-side "
                               "process (python -m %s)" % " / ".join(TRACER_COMMANDS))
        if name.startswith("__"):
            unloaded()
        return unloaded
