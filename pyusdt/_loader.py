"""Finds and loads the libpyusdt extension for the running interpreter."""

import os
import sys

# N.B. no stdlib module that a bare `python -c pass` does not import
# already: every armed process would pay for it.  So neither
# importlib.machinery nor importlib.util: the classes they name live in
# the import system's own frozen modules, always loaded (their suffixes
# come from _imp), and no `from __future__ import annotations`, which
# imports the __future__ module at run time.
import _imp
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import ExtensionFileLoader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

_EXT_NAME = "libpyusdt"

#: The tracer side's commands that are modules of this package, for their
#: names' sake (``python -m pyusdt.trace``); their code is in pyusdt_tracer.
TRACER_COMMANDS = ("pyusdt.trace", "pyusdt.flame")


def _m_module() -> "str | None":
    """The module python is looking for when this package is imported on
    the way to ``python -m MODULE``, else None.  While python looks for a
    -m module, sys.argv[0] is "-m" and the module's name is the word of
    sys.orig_argv just before the arguments (or that word's end, as in
    "-mpyusdt.trace")."""
    # N.B. getattr: Python < 3.10 has no orig_argv, and must get as far as
    # load()'s "needs CPython 3.12 or newer".
    argv, orig = sys.argv, getattr(sys, "orig_argv", [])
    if not argv or argv[0] != "-m" or len(orig) < len(argv) + 1:
        return None
    name = orig[len(orig) - len(argv)]
    if name.startswith("-"):
        name = name[name.index("m") + 1:]
    return name


def tracer_side() -> bool:
    """Whether this process is ``python -m`` of one of TRACER_COMMANDS, or
    ``python -m pyusdt attach``, and python imports this package on the
    way to it: the tracer never loads what it traces."""
    name = _m_module()
    if name == "pyusdt" and sys.argv[1:2] == ["attach"]:
        return True   # python -m pyusdt attach PID (pyusdt_tracer/attach.py)
    return name in TRACER_COMMANDS


def runner_side() -> bool:
    """Whether python imports this package on the way to ``python -m
    pyusdt`` running a program (whose __main__ then reports a library that
    cannot load in one sentence, not with runpy's traceback)."""
    return _m_module() == "pyusdt"


def build_name() -> str:
    """The name of this interpreter's build directory in a checkout,
    build/<name>/: its cache tag and ABI flags, as in the first two fields of
    its SOABI ("cpython-314" for 3.14, "cpython-314t" for the free-threaded
    3.14, whose cache tag is the same but whose object layout is not).  The
    Makefile names its build directories so too."""
    # N.B. sys.abiflags, not sysconfig: sysconfig costs every importer of
    # pyusdt milliseconds.
    return sys.implementation.cache_tag + sys.abiflags


def _candidates() -> "list[str]":
    """Where libpyusdt may be, most specific first; each a build for this
    interpreter's ABI only.

    An installed package carries the extension inside it, named with this
    ABI's own extension suffix (EXT_SUFFIX, the first of
    EXTENSION_SUFFIXES: libpyusdt.cpython-314t-x86_64-linux-gnu.so); the
    plain .so and .abi3.so names, which any ABI may have written, are not
    looked for.  A source checkout has one build per ABI under
    build/<build_name()>/, and ./libpyusdt.so, a hard link to the build of
    the default interpreter only: a candidate when it is the same file as
    this ABI's build, never otherwise.  PYUSDT_LIBRARY names the one file to
    load instead (the sanitizer builds of `make asan` and `make valgrind`);
    a relative path is taken from the directory holding the pyusdt package,
    so that a copy of the package with its library tree loads its own copy.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    override = os.environ.get("PYUSDT_LIBRARY")
    if override:
        return [os.path.join(os.path.dirname(here), override)]
    found = [os.path.join(here, _EXT_NAME + _imp.extension_suffixes()[0])]
    root = os.path.dirname(here)
    build = os.path.join(root, "build", build_name(), _EXT_NAME + ".so")
    default = os.path.join(root, _EXT_NAME + ".so")
    # N.B. when ./libpyusdt.so is this build, load it by that name: `bpftrace
    # -p PID` matches probes by the path the process mapped, so
    # `usdt:./libpyusdt.so:...` (as in sample.bt) then works from the
    # checkout.
    try:
        default_is_ours = os.path.samefile(default, build)
    except OSError:
        default_is_ours = False
    found += [default, build] if default_is_ours else [build]
    return found


def _unloadable(path: str, exc: ImportError) -> ImportError:
    """EXC, from the dynamic linker, said in one sentence.  A library built
    for another ABI fails here rather than in its init function, which
    names both builds: a free-threaded build needs symbols a GIL-enabled
    interpreter does not export."""
    text = str(exc)
    if "undefined symbol" not in text:
        return exc
    return ImportError(
        "pyusdt: %s was built for another Python version or ABI (undefined "
        "symbol %s), not for "
        "Python %d.%d%s; rebuild it with 'make lib PYTHON=%s'"
        % (path, text.rpartition(": ")[2], sys.version_info[0], sys.version_info[1],
           sys.abiflags, sys.executable))


def load() -> "ModuleType":
    """Imports libpyusdt (once per process) and returns it."""
    module = sys.modules.get(_EXT_NAME)
    if module is not None:
        return module
    if sys.implementation.name != "cpython" or sys.version_info < (3, 12):
        raise ImportError(
            "pyusdt: needs CPython 3.12 or newer; %s is %s %d.%d"
            % (sys.executable, sys.implementation.name, sys.version_info[0],
               sys.version_info[1]))
    for path in _candidates():
        if os.path.exists(path):
            loader = ExtensionFileLoader(_EXT_NAME, path)
            spec = ModuleSpec(_EXT_NAME, loader, origin=path)
            spec.has_location = True
            try:
                module = loader.create_module(spec)
            except ImportError as exc:
                raise _unloadable(path, exc) from exc
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
        "pyusdt: libpyusdt.so not found for Python %d.%d%s (looked in %s); "
        "run 'make lib PYTHON=%s' in the pyusdt checkout, or install pyusdt "
        "with pip"
        % (sys.version_info[0], sys.version_info[1], sys.abiflags,
           ", ".join(_candidates()), sys.executable))
