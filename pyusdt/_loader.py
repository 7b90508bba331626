"""Finds and loads the libpyusdt extension for the running interpreter."""

from __future__ import annotations

import importlib.machinery
import os
import sys

# N.B. neither importlib.util nor types: every process that imports pyusdt
# would pay for them (~1 ms); importlib.machinery is frozen in.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

_EXT_NAME = "libpyusdt"


def _candidates() -> list[str]:
    """Where libpyusdt may be, most specific first.

    An installed package carries the extension inside it; a source checkout
    has one build per interpreter under build/<cache_tag>/ and ./libpyusdt.so
    for the default one.  PYUSDT_LIBRARY names the one file to load instead
    (the sanitizer builds of `make asan` and `make valgrind`); a relative
    path is taken from the directory holding the pyusdt package, so that a
    copy of the package with its library tree loads its own copy.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    override = os.environ.get("PYUSDT_LIBRARY")
    if override:
        return [os.path.join(os.path.dirname(here), override)]
    found = []
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        found.append(os.path.join(here, _EXT_NAME + suffix))
    root = os.path.dirname(here)
    tag = sys.implementation.cache_tag
    build = os.path.join(root, "build", tag, _EXT_NAME + ".so")
    default = os.path.join(root, _EXT_NAME + ".so")
    # N.B. ./libpyusdt.so is a hard link to the build of the default
    # interpreter.  When that is this one, load it by that name: `bpftrace
    # -p PID` matches probes by the path the process mapped, so
    # `usdt:./libpyusdt.so:...` (as in sample.bt) then works from the
    # checkout.
    try:
        default_first = os.path.samefile(default, build)
    except OSError:
        default_first = False
    found += [default, build] if default_first else [build, default]
    return found


def load() -> ModuleType:
    """Imports libpyusdt (once per process) and returns it."""
    module = sys.modules.get(_EXT_NAME)
    if module is not None:
        return module
    for path in _candidates():
        if os.path.exists(path):
            loader = importlib.machinery.ExtensionFileLoader(_EXT_NAME, path)
            spec = importlib.machinery.ModuleSpec(_EXT_NAME, loader, origin=path)
            spec.has_location = True
            module = loader.create_module(spec)
            # What importlib.util.module_from_spec() would set.
            module.__spec__ = spec
            module.__loader__ = loader
            module.__package__ = ""
            module.__file__ = path
            sys.modules[_EXT_NAME] = module
            try:
                loader.exec_module(module)
            except BaseException:
                del sys.modules[_EXT_NAME]
                raise
            return module
    raise ImportError(
        "pyusdt: libpyusdt.so not found for Python %d.%d (looked in %s); "
        "run 'make' in the pyusdt checkout, or install pyusdt with pip"
        % (sys.version_info[0], sys.version_info[1],
           ", ".join(_candidates())))
