"""``python -m pyusdt``: runs a Python program exactly as ``python`` would, with
pyusdt's probes armed.

The program sees what ``python script.py`` / ``python -m module`` /
``python -c code`` / ``python -`` would give it: the same ``sys.argv``,
``sys.path[0]``, ``__main__`` globals, tracebacks (no pyusdt or runpy frames
that python itself would not show), exit statuses and stdin.  The mirrored
CPython behaviour lives in Modules/main.c and Python/pythonrun.c; the
comments below name the function each step copies.
"""

import importlib.machinery
import importlib.util
import marshal
import os
import runpy
import sys
from types import CodeType, ModuleType, TracebackType

import pyusdt

# N.B. for annotations only: collections.abc costs a start-up ~4 ms.  And
# no `from __future__ import annotations`, which imports __future__ at run
# time: the names known only to type checkers are quoted instead.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PROG = "python -m pyusdt"
USAGE = ("usage: %s [option] ... (script.py | -m module | -c code | -) [arg] ..."
         % PROG)
HELP = USAGE + """

Runs a Python program the way `python` runs it, with pyusdt's USDT probes
(provider "pyusdt") armed: a tracer such as bpftrace may attach at any time,
and sys.monitoring events are enabled only while one is attached.

Options (recognised only before the program; everything after it is the
program's sys.argv[1:], as with python):
  -h, --help     print this help and exit
  -V, --version  print pyusdt's version and exit
  --wait-for-tracer[=SECONDS]
                 before running the program, wait up to SECONDS (default 10)
                 for a tracer to attach to any probe, then until its probes
                 have stayed the same for 0.2 s (longer on a slow attach);
                 if none attaches, say so on stderr and run the program
                 anyway
  --             end of options: the next argument is the script

The program, as with python:
  script.py      a file (or a directory or zip file with __main__.py)
  -m module      a module found on sys.path, run as __main__
  -c code        a string of Python code
  -              a program read from stdin
  arg ...        the program's arguments (sys.argv[1:])

Attaching to a running Python instead:
  attach PID     load pyusdt into running process PID and print the library
                 to give bpftrace; `attach -h` for more.  The word attach
                 alone is this command: run a script named attach as ./attach

Environment variables:
  PYUSDT_CHECK_MSEC  how often, in milliseconds, pyusdt checks whether a
                     tracer has attached or detached (default 100)
  PYUSDT_VERBOSE=1   report on stderr each time probes are attached or
                     detached

Example, counting calls by function name (LIB is the path printed by
`python -c 'import pyusdt; print(pyusdt.library_path())'`):
  %s --wait-for-tracer app.py &
  sudo bpftrace -p $! -e 'usdt:LIB:pyusdt:PY_START { @[str(arg0)] = count(); }'
""" % PROG

#: Exit status of a usage error, as python's own.
USAGE_ERROR = 2
#: How long --wait-for-tracer waits when given no number, in seconds.
DEFAULT_WAIT = 10.0
#: How long the attached probes must stay unchanged before --wait-for-tracer
#: runs the program, in seconds: a tracer attaches its probes one by one, and
#: its BPF program a moment after the kernel raises the semaphore.
SETTLE = 0.2


class UsageError(Exception):
    """A command line python -m pyusdt cannot run."""


class Program:
    """What to run: KIND is "script", "module", "code" or "stdin"; SOURCE is
    the script path, module name or code; ARGS its sys.argv[1:].

    N.B. plain classes, not dataclasses: importing dataclasses costs every
    python -m pyusdt start some 30 ms."""

    __slots__ = ("kind", "source", "args")

    def __init__(self, kind: str, source: str, args: list[str]) -> None:
        self.kind = kind
        self.source = source
        self.args = args

    def __repr__(self) -> str:
        return "Program(%r, %r, %r)" % (self.kind, self.source, self.args)

    def describe(self) -> str:
        """The program as the command line named it, for messages."""
        if self.kind == "module":
            return "-m " + self.source
        if self.kind == "code":
            return "-c code"
        if self.kind == "stdin":
            return "- (stdin)"
        return self.source


class Options:
    """A parsed command line: an ACTION ("run", "help" or "version"), the
    program to run and how long to wait for a tracer first (None: don't)."""

    __slots__ = ("action", "program", "wait")

    def __init__(self, action: str, program: Program | None = None,
                 wait: float | None = None) -> None:
        self.action = action
        self.program = program
        self.wait = wait

    def __repr__(self) -> str:
        return "Options(%r, %r, %r)" % (self.action, self.program, self.wait)


# --- Command line ------------------------------------------------------------

def parse_args(argv: list[str]) -> Options:
    """Parses ARGV (without the program name) the way python parses its own
    options: they end at the first non-option, which is the program.

    Raises UsageError for an unknown option or a missing program."""
    wait: float | None = None
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg in ("-h", "--help"):
            return Options("help")
        if arg in ("-V", "--version"):
            return Options("version")
        if arg == "--wait-for-tracer" or arg.startswith("--wait-for-tracer="):
            wait = _parse_wait(arg)
        elif arg == "--":
            break
        elif arg[:2] in ("-m", "-c"):
            return Options("run", _attached_or_next(arg, argv, index), wait)
        elif arg == "-":
            return Options("run", Program("stdin", "-", argv[index:]), wait)
        elif arg.startswith("-"):
            raise UsageError("unknown option: %s" % arg)
        else:
            return Options("run", Program("script", arg, argv[index:]), wait)
    if index >= len(argv):
        raise UsageError("no program to run: give script.py, -m module, "
                         "-c code or -")
    # After "--": the next argument is the script ("-" still means stdin).
    arg = argv[index]
    kind = "stdin" if arg == "-" else "script"
    return Options("run", Program(kind, arg, argv[index + 1:]), wait)


def _attached_or_next(arg: str, argv: list[str], index: int) -> Program:
    """The program of "-mNAME", "-m NAME", "-cCODE" or "-c CODE" at
    ARGV[INDEX - 1]."""
    kind = "module" if arg[1] == "m" else "code"
    if len(arg) > 2:
        return Program(kind, arg[2:], argv[index:])
    if index >= len(argv):
        raise UsageError("argument expected for the %s option" % arg)
    return Program(kind, argv[index], argv[index + 1:])


def _parse_wait(arg: str) -> float:
    """The seconds of "--wait-for-tracer[=SECONDS]"."""
    _, equals, text = arg.partition("=")
    if not equals:
        return DEFAULT_WAIT
    return positive_seconds("--wait-for-tracer", text)


def positive_seconds(option: str, text: str) -> float:
    """TEXT, the value of OPTION, as a finite positive number of seconds;
    UsageError if it is not one."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    # N.B. written so that NaN fails too.
    if not 0 < seconds < float("inf"):
        raise UsageError("%s expects a positive number of seconds, not %r"
                         % (option, text))
    return seconds


# --- Waiting for a tracer ----------------------------------------------------

def wait_for_tracer(seconds: float, program: Program) -> bool:
    """Waits up to SECONDS for a tracer to attach to any probe, applying the
    probes as soon as one does.  Says so on stderr if none did.

    Returns whether a tracer is attached."""
    try:
        if pyusdt._lib._wait_for_tracer(seconds, SETTLE):
            return True
    except KeyboardInterrupt as exc:
        # Ctrl-C while waiting ends the run as it would end the program:
        # "KeyboardInterrupt", then death by SIGINT, without our frames.
        _report_as_program(exc, None)
        raise
    print("pyusdt: no tracer attached after %g s; running %s anyway"
          % (seconds, program.describe()), file=sys.stderr, flush=True)
    return False


# --- Running the program -----------------------------------------------------

def _hide_launcher_frames() -> None:
    """python -m pyusdt itself runs under runpy: its frames below ours are
    not the program's, and would report their returns after it ends."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is not globals():
            pyusdt._lib._hide_code(frame.f_code)
        frame = frame.f_back


def run(program: Program) -> int:
    """Runs PROGRAM in the real __main__ module as python would.

    Returns 0 when it ran to completion, or the exit status of a failure
    python reports before running anything (a script it cannot open).
    Exceptions from the program propagate, tracebacks prepared to print
    as python would print them."""
    if program.kind == "module":
        return _run_module(program)
    if program.kind == "code":
        return _run_code_string(program)
    if program.kind == "stdin":
        return _run_stdin(program)
    return _run_script(program)


def _run_module(program: Program) -> int:
    """python -m: pymain_run_module()."""
    sys.argv[:] = ["-m", *program.args]
    _set_path0(os.getcwd())
    _reset_main(importlib.machinery.BuiltinImporter)
    _run_as_program(lambda: _at_bottom(runpy._run_module_as_main,  # type: ignore[attr-defined]
                                       program.source, True))
    return 0


def _run_code_string(program: Program) -> int:
    """python -c: pymain_run_command()."""
    sys.argv[:] = ["-c", *program.args]
    _set_path0("")
    namespace = _reset_main(importlib.machinery.BuiltinImporter)
    # N.B. python runs the command with a newline added (config_parse_cmdline()
    # in Python/initconfig.c): the source that tracebacks, warnings and
    # inspect read back from linecache ends with it.
    command = program.source + "\n"

    def run_code() -> None:
        try:
            command.encode("utf-8")
        except UnicodeEncodeError:
            # An undecodable byte in the command (a surrogate escape).
            print("Unable to decode the command from the command line:",
                  file=sys.stderr, flush=True)
            raise
        _run_source_at_bottom(command, "<string>", namespace)

    _run_as_program(run_code)
    return 0


def _run_stdin(program: Program) -> int:
    """python -: pymain_run_stdin() for a non-interactive stdin."""
    sys.argv[:] = ["-", *program.args]
    _set_path0("")
    # N.B. python leaves __loader__ alone for <stdin>: BuiltinImporter.
    namespace = _reset_main(importlib.machinery.BuiltinImporter, "<stdin>")
    source = sys.stdin.buffer.read()
    _run_file_code(namespace, lambda: _run_source_at_bottom(source, "<stdin>", namespace))
    return 0


def _run_script(program: Program) -> int:
    """python script.py: pymain_run_python() and pymain_run_file()."""
    sys.argv[:] = [program.source, *program.args]
    filename = _abspath(program.source)
    if _path_importer(filename) is not None:
        # A directory or zip file: python puts it first on sys.path and runs
        # its __main__ module, without altering sys.argv.
        _set_path0(None)
        sys.path.insert(0, filename)
        _reset_main(importlib.machinery.BuiltinImporter)
        _run_as_program(lambda: _at_bottom(runpy._run_module_as_main,  # type: ignore[attr-defined]
                                           "__main__", False))
        return 0
    _set_path0(os.path.dirname(os.path.realpath(program.source)))
    try:
        with open(filename, "rb") as file:
            data = file.read()
    except OSError as exc:
        print("%s: can't open file %r: [Errno %d] %s"
              % (sys.orig_argv[0], filename, exc.errno, os.strerror(exc.errno or 0)),
              file=sys.stderr, flush=True)
        return USAGE_ERROR
    if _is_pyc(filename, data):
        loader: object = importlib.machinery.SourcelessFileLoader("__main__", filename)
        namespace = _reset_main(loader, filename)
        _run_file_code(namespace, lambda: _exec_at_bottom(_pyc_code(data), namespace))
    else:
        loader = importlib.machinery.SourceFileLoader("__main__", filename)
        namespace = _reset_main(loader, filename)
        _run_file_code(namespace, lambda: _run_source_at_bottom(data, filename, namespace))
    return 0


def _run_file_code(namespace: dict[str, object],
                   run_program: "Callable[[], object]") -> None:
    """Calls RUN_PROGRAM, which runs a program in NAMESPACE, as
    _PyRun_SimpleFileObject() runs a file: flushing stdio after it, and
    dropping __file__ and __cached__ once it is over (unless it ended with
    SystemExit)."""
    def forget_file() -> None:
        namespace.pop("__file__", None)
        namespace.pop("__cached__", None)

    def run_code() -> None:
        try:
            run_program()
        finally:
            _flush_io()

    _run_as_program(run_code, after_report=forget_file)
    forget_file()


#: Calls f(*args) with the runner's frames (and runpy's, which launched
#: python -m pyusdt) not counted against the recursion limit: the program
#: meets RecursionError at the depth python gives it.
_at_bottom = pyusdt._lib._call_at_bottom
_exec_at_bottom = pyusdt._lib._exec_at_bottom


#: Runs a program's source as python does, from the bottom of the stack:
#: bytes as a file's contents (PEP 263 coding cookies, BOMs, and the errors
#: python reports for them), a str as -c's command (dedented on 3.14, and
#: put into linecache on 3.13+ so that tracebacks quote it, as each version
#: of python does); none of pyusdt's __future__ flags leak in.  N.B. not
#: compile() and exec(): compile()'s first call builds the ast module's
#: types, which cost more than all the rest of the runner's start-up.
_run_source_at_bottom = pyusdt._lib._run_source_at_bottom


def _is_pyc(filename: str, data: bytes) -> bool:
    """maybe_pyc_file(): a .pyc name, or the first half of the magic."""
    return (filename.endswith(".pyc")
            or data[:2] == importlib.util.MAGIC_NUMBER[:2])


def _pyc_code(data: bytes) -> CodeType:
    """The code object in a .pyc file's DATA, as run_pyc_file() reads it."""
    if data[:4] != importlib.util.MAGIC_NUMBER:
        raise RuntimeError("Bad magic number in .pyc file")
    try:
        code = marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError):
        code = None
    if not isinstance(code, CodeType):
        raise RuntimeError("Bad code object in .pyc file")
    return code


def _flush_io() -> None:
    """flush_io(): flushes sys.stderr then sys.stdout, ignoring errors."""
    for name in ("stderr", "stdout"):
        stream = getattr(sys, name, None)
        try:
            stream.flush()  # type: ignore[union-attr]
        except Exception:
            pass


# --- The program's environment -----------------------------------------------

def _abspath(path: str) -> str:
    """_Py_abspath(): PATH made absolute by prefixing the current directory,
    and *not* normalised (python's __file__ for "./x.py" is "CWD/./x.py")."""
    if path in ("", "."):
        return os.getcwd()
    if os.path.isabs(path):
        return path
    return os.getcwd() + os.sep + path


def _path_importer(path: str) -> object | None:
    """PyImport_GetImporter(): the sys.path_hooks importer for PATH (a
    directory or zip file has one, a plain file none), cached like python's."""
    cache = sys.path_importer_cache
    if path in cache:
        return cache[path]
    cache[path] = None
    for hook in sys.path_hooks:
        try:
            importer = hook(path)
        except ImportError:
            continue
        cache[path] = importer
        return importer
    return None


def _set_path0(entry: str | None) -> None:
    """Replaces the sys.path[0] that ``python -m pyusdt`` added with ENTRY
    (None: with nothing).  Under -P / PYTHONSAFEPATH python adds neither."""
    if sys.flags.safe_path:
        return
    del sys.path[0]
    if entry is not None:
        sys.path.insert(0, entry)


def _reset_main(loader: object, filename: str | None = None) -> dict[str, object]:
    """Installs a fresh __main__ module in place of pyusdt's (or of the tool
    running pyusdt) with the globals python starts a program with
    (add_main_module(), then _PyRun_SimpleFileObject() for a file).
    Returns its namespace."""
    old: dict[str, object] = sys.modules["__main__"].__dict__
    builtins = old["__builtins__"]
    had_annotations = "__annotations__" in old
    # N.B. a new module, not the old one emptied: the old __main__ may be
    # another tool's that runs pyusdt (python -m cProfile -m pyusdt ...),
    # whose functions still need their globals.
    main = ModuleType("__main__")
    namespace: dict[str, object] = main.__dict__
    namespace.update(__loader__=loader)
    sys.modules["__main__"] = main
    if had_annotations:
        namespace["__annotations__"] = {}
    namespace["__builtins__"] = builtins
    if filename is not None:
        namespace["__file__"] = filename
        namespace["__cached__"] = None
    return namespace


# --- Tracebacks ---------------------------------------------------------------

#: Called once, just before the program's own code runs (the wait for a
#: tracer), or None.
_before_program: "Callable[[], object] | None" = None

def _run_as_program(run_program: "Callable[[], object]",
                    after_report: "Callable[[], None] | None" = None) -> None:
    """Calls RUN_PROGRAM.  An exception other than SystemExit escaping it is
    re-raised, so that the interpreter reports it and picks the exit status
    (1, or death by SIGINT for KeyboardInterrupt) as it would for python
    itself, but shown with only the frames python would show.  AFTER_REPORT
    runs once the exception has been reported.

    The wait for a tracer, when asked for, happens here: after everything
    pyusdt prepares, so that the trace holds only the program's events."""
    if _before_program is not None:
        _before_program()
    try:
        run_program()
    except SystemExit:
        raise
    except BaseException as exc:
        _report_as_program(exc, _program_traceback(exc.__traceback__), after_report)
        raise


def _program_traceback(tb: TracebackType | None) -> TracebackType | None:
    """The part of TB after the last frame of this module: the frames python
    itself would show (the program's, and runpy's for -m)."""
    rest = tb
    while tb is not None:
        if tb.tb_frame.f_globals is globals():
            rest = tb.tb_next
        tb = tb.tb_next
    return rest


def _report_as_program(exc: BaseException, tb: TracebackType | None,
                       after_report: "Callable[[], None] | None" = None) -> None:
    """Arranges for EXC, about to propagate out of python -m pyusdt, to be
    reported with traceback TB by the sys.excepthook in place now."""
    exc.__traceback__ = tb
    hook = getattr(sys, "excepthook", None)
    if hook is None:
        # N.B. python then prints "sys.excepthook is missing" and the full
        # traceback; nothing can trim it.
        if after_report is not None:
            after_report()
        return
    sys.excepthook = _OneShotExceptHook(hook, exc, tb, after_report)


class _OneShotExceptHook:
    """A sys.excepthook that, called once for its exception, puts the
    previous hook back and calls it with the program's traceback."""

    def __init__(self, hook: "Callable[..., object]", exc: BaseException,
                 tb: TracebackType | None,
                 after_report: "Callable[[], None] | None") -> None:
        self.hook = hook
        self.exc = exc
        self.tb = tb
        self.after_report = after_report

    def __call__(self, exc_type: type[BaseException], value: BaseException,
                 tb: TracebackType | None) -> object:
        sys.excepthook = self.hook
        if value is not self.exc:
            return self.hook(exc_type, value, tb)
        # The traceback grew on the way out through our frames: trim it
        # again, here and where pdb.pm() looks.
        value.__traceback__ = self.tb
        if getattr(sys, "last_exc", None) is value:
            sys.last_traceback = self.tb
        try:
            return self.hook(exc_type, value, self.tb)
        finally:
            if self.after_report is not None:
                self.after_report()


# --- Entry points -------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Runs ``python -m pyusdt ARGV`` (default: sys.argv[1:]).

    Returns the exit status of the CLI's own outcomes (help, version, usage
    errors, a script that cannot be opened) and 0 once the program has run
    to completion; the program's exceptions, SystemExit included, propagate.
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["attach"]:
        # N.B. imported here: the runner's start-up does not pay for it.
        from pyusdt_tracer.attach import main as attach_main
        return attach_main(args[1:])
    try:
        options = parse_args(args)
    except UsageError as exc:
        print("pyusdt: %s\n%s\nTry '%s -h' for more information."
              % (exc, USAGE, PROG), file=sys.stderr, flush=True)
        return USAGE_ERROR
    if options.action == "help":
        print(HELP, end="", flush=True)
        return 0
    if options.action == "version":
        print("pyusdt %s" % pyusdt.__version__, flush=True)
        return 0
    assert options.program is not None
    _hide_launcher_frames()
    global _before_program
    if options.wait is not None:
        seconds, program = options.wait, options.program
        _before_program = lambda: wait_for_tracer(seconds, program)
    return run(options.program)


def cli() -> None:
    """The body of ``python -m pyusdt``: main(), exiting only when it
    reports a failure so that a program that ran to completion ends the
    process exactly as under python."""
    status = main()
    if status:
        raise SystemExit(status)
