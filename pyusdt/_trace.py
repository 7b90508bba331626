"""The launcher behind ``python -m pyusdt.trace``: finds a tool, bpftrace and
the traced process's libpyusdt.so, runs bpftrace, and renders its output.

bpftrace 0.17 cannot resolve probes of a shared library that a ``-c`` child
loads later, so a command is started by the launcher itself, under ``python
-m pyusdt --wait-for-tracer``, and bpftrace attaches to it with ``-p PID``
once the library is mapped; the program runs when the probes are in place.
The tools name the library ``./libpyusdt.so`` (what works from a checkout);
the launcher substitutes the path the process actually mapped, as bcc finds
a ``-p`` process's probes by that path.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from pyusdt import _bpftrace, _trace_report

PROG = "python -m pyusdt.trace"
#: Exit status of a command line the launcher cannot run, as argparse's.
USAGE_ERROR = 2
#: Exit status when tracing is impossible here (no bpftrace, not root...).
TRACE_ERROR = 1
#: How long a command may take to load pyusdt, and then to wait for
#: bpftrace to attach, in seconds.
LOAD_TIMEOUT = 60.0
ATTACH_TIMEOUT = 60
#: The library as the tools name it, replaced by the mapped path.
TOOL_LIBRARY = "./libpyusdt.so"
#: The launcher option behind each positional parameter a tool's usage
#: line names.
PARAMETERS = {"TOP": "top", "SECONDS": "interval", "DEPTH": "depth"}
#: What a python interpreter is called.
PYTHON_NAME = re.compile(r"python[0-9.]*$")
#: python's options that take an argument, and the options that name the
#: program.
PYTHON_ARG_OPTIONS = "WX"
PYTHON_PROGRAM_OPTIONS = "cm"


class TraceError(Exception):
    """Tracing cannot go ahead; the message says why in one sentence."""

    def __init__(self, message: str, status: int = TRACE_ERROR) -> None:
        super().__init__(message)
        self.status = status


# --- Tools --------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    """One tools/NAME.bt script: its PURPOSE (the header's first line) and
    the PARAMETERS of its usage line, in order (names of PARAMETERS)."""

    name: str
    path: str
    purpose: str
    parameters: tuple[str, ...]

    def source(self) -> str:
        with open(self.path, encoding="utf-8") as file:
            return file.read()

    def uses_tracepoints(self) -> bool:
        return re.search(r"^tracepoint:", self.source(), re.M) is not None


def tool_dirs() -> list[str]:
    """Where the tools are: inside the installed package, or in the
    checkout the package was imported from."""
    package = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(package, "tools"), os.path.join(os.path.dirname(package), "tools")]


def read_tool(path: str) -> Tool:
    """The Tool whose script is PATH, from its header comment."""
    name = os.path.basename(path)[:-len(".bt")]
    with open(path, encoding="utf-8") as file:
        header = file.read(8192)
    title = re.search(r"^ \* %s\.bt - (.*)$" % re.escape(name), header, re.M)
    purpose = title.group(1).strip() if title else ""
    usage = re.search(r"bpftrace tools/%s\.bt (.*)" % re.escape(name), header)
    parameters: tuple[str, ...] = ()
    if usage:
        parameters = tuple(word for word in re.findall(r"\b[A-Z]+\b", usage.group(1))
                           if word in PARAMETERS)
    return Tool(name, path, purpose, parameters)


def all_tools() -> dict[str, Tool]:
    """Every tool, by name; the first directory of tool_dirs() that has a
    tool wins."""
    tools: dict[str, Tool] = {}
    for directory in tool_dirs():
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            if entry.endswith(".bt") and entry[:-3] not in tools:
                tools[entry[:-3]] = read_tool(os.path.join(directory, entry))
    return tools


def find_tool(name: str) -> Tool:
    tools = all_tools()
    if name in tools:
        return tools[name]
    raise TraceError("there is no tool %r (the tools are %s; `%s --list` describes them)"
                     % (name, ", ".join(tools) or "missing", PROG), USAGE_ERROR)


def list_tools(out: IO[str]) -> None:
    tools = all_tools()
    width = max((len(name) for name in tools), default=0)
    for tool in tools.values():
        out.write("%-*s  %s\n" % (width, tool.name, tool.purpose))


# --- What is needed to trace -------------------------------------------------

def find_bpftrace(given: str | None) -> str:
    """The bpftrace to run: GIVEN (--bpftrace), else $BPFTRACE, else the one
    on PATH."""
    name = given or os.environ.get("BPFTRACE") or "bpftrace"
    found = _bpftrace.executable(given)
    if found is None:
        if given or os.environ.get("BPFTRACE"):
            raise TraceError("bpftrace not found at %r: give the path of a bpftrace "
                             "executable" % name)
        raise TraceError("bpftrace is not installed (not on PATH): install it "
                         "(apt-get install bpftrace) or give its path with --bpftrace")
    return found


def check_root() -> None:
    if os.geteuid() != 0:
        raise TraceError("bpftrace needs root to load BPF programs: run %s with sudo"
                         % PROG)


def check_tracefs(tool: Tool) -> None:
    if tool.uses_tracepoints() and not _bpftrace.tracefs_mounted():
        raise TraceError("%s needs kernel tracepoints, but tracefs is not mounted: "
                         "mount -t tracefs nodev %s" % (tool.name, _bpftrace.TRACEFS))


def mapped_library(pid: int) -> str | None:
    """The path of the libpyusdt.so process PID has mapped, or None.

    Raises TraceError if there is no such process, or if its library file
    has since been replaced (bpftrace would read the new file's probes)."""
    try:
        return _bpftrace.mapped_library(pid)
    except FileNotFoundError:
        raise TraceError("there is no process %d" % pid) from None
    except OSError as exc:
        raise TraceError("cannot read the memory map of process %d: %s"
                         % (pid, exc.strerror)) from None
    except _bpftrace.LibraryReplaced as exc:
        raise TraceError("process %d runs a libpyusdt.so that has since been "
                         "deleted or rebuilt (%s): restart it to trace it"
                         % (pid, exc.path)) from None


def library_of(pid: int) -> str:
    """The libpyusdt.so of running process PID; TraceError if it has none."""
    if pid == os.getpid():
        raise TraceError("process %d is this launcher" % pid, USAGE_ERROR)
    library = mapped_library(pid)
    if library is None:
        raise TraceError("process %d has not loaded pyusdt: start it with `python -m "
                         "pyusdt`, `import pyusdt` in it, or set PYUSDT_AUTO=1 with "
                         "pyusdt installed" % pid)
    return library


# --- Commands ----------------------------------------------------------------

def _python_shebang(path: str) -> list[str] | None:
    """The interpreter command of a script whose #! line runs python."""
    try:
        with open(path, "rb") as file:
            first = file.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [word for word in words[1:] if not word.startswith("-")]
    if words and PYTHON_NAME.match(os.path.basename(words[0])):
        return words
    return None


def _program_start(command: list[str]) -> int:
    """The index in COMMAND (a python command line) where python's own
    options end and the program (script, -m, -c, -) begins."""
    index = 1
    while index < len(command):
        arg = command[index]
        if arg == "--" or arg == "-" or not arg.startswith("-") or arg.startswith("--"):
            if arg == "--check-hash-based-pycs":
                index += 2
                continue
            if arg.startswith("--") and arg != "--":
                index += 1
                continue
            return index
        letters = arg[1:]
        for position, letter in enumerate(letters):
            if letter in PYTHON_PROGRAM_OPTIONS:
                if position == 0:
                    return index
                # "-uc code": split off the options before the program.
                command[index:index + 1] = ["-" + letters[:position], "-" + letters[position:]]
                return index + 1
            if letter in PYTHON_ARG_OPTIONS:
                if position == len(letters) - 1:
                    index += 1   # the argument is the next word
                break
        index += 1
    return index


def python_command(command: list[str], wait: float) -> list[str] | None:
    """COMMAND rewritten to run under ``python -m pyusdt --wait-for-tracer``,
    or None when it is not a Python program: a python interpreter and its
    arguments, a .py file (run by this python), or a program whose #! line
    runs python (run by that python)."""
    waiting = "--wait-for-tracer=%g" % wait
    first = command[0]
    if PYTHON_NAME.match(os.path.basename(first)):
        command = list(command)
        start = _program_start(command)
        rest = command[start:]
        if rest[:2] == ["-m", "pyusdt"]:
            rest = rest[2:]
        elif rest[:1] == ["-mpyusdt"]:
            rest = rest[1:]
        return command[:start] + ["-m", "pyusdt", waiting] + rest
    if first.endswith(".py"):
        # N.B. this interpreter, which has pyusdt, rather than the file's #!
        # line's (often a python3 older than 3.12).
        return [sys.executable, "-m", "pyusdt", waiting] + command
    resolved = first if os.sep in first else shutil.which(first)
    interpreter = _python_shebang(resolved) if resolved else None
    if interpreter is not None:
        return interpreter + ["-m", "pyusdt", waiting, resolved] + command[1:]
    return None


def child_environment() -> dict[str, str]:
    """The environment of a command: pyusdt importable from where this
    launcher's pyusdt comes from when that is a checkout (an installed
    pyusdt is found without help, and putting site-packages first on
    PYTHONPATH would reorder a venv's path)."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.basename(root) not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (root, env.get("PYTHONPATH")) if part)
    return env


def wait_for_library(proc: subprocess.Popen, command: list[str],
                     timeout: float = LOAD_TIMEOUT) -> str:
    """Waits until PROC has mapped libpyusdt.so; returns its path."""
    try:
        library = _bpftrace.wait_mapped(proc, timeout)
    except TimeoutError:
        raise TraceError("%s did not load pyusdt within %g s" % (command[0], timeout)) \
            from None
    if library is None:
        raise TraceError("%s exited with status %s before loading pyusdt"
                         % (" ".join(command[:1]), _status_text(proc.wait())),
                         _exit_status(proc.returncode) or TRACE_ERROR)
    return library


def _status_text(returncode: int) -> str:
    if returncode < 0:
        return "signal %d" % -returncode
    return str(returncode)


def _exit_status(returncode: int | None) -> int:
    """A process's returncode as a shell reports it (128 + signal)."""
    if returncode is None:
        return 0
    return 128 - returncode if returncode < 0 else returncode


# --- Running bpftrace --------------------------------------------------------

def tool_program(tool: Tool, library: str) -> str:
    """TOOL's script addressing LIBRARY instead of ./libpyusdt.so."""
    if re.search(r"[\s:\"]", library):
        raise TraceError("bpftrace cannot address the library %r: its path holds a "
                         "space, quote or colon" % library)
    return tool.source().replace("usdt:%s:" % TOOL_LIBRARY, "usdt:%s:" % library)


def tool_arguments(tool: Tool, options: argparse.Namespace) -> list[str]:
    """The positional parameters of TOOL's script, from OPTIONS: the launcher
    sorts and cuts tables itself, so TOP is left at 0 (all) unless --raw."""
    values = []
    for parameter in tool.parameters:
        value = getattr(options, PARAMETERS[parameter])
        if parameter == "TOP" and not options.raw:
            value = 0
        values.append(str(value or 0))
    # Trailing zeros are the scripts' defaults.
    while values and values[-1] == "0":
        values.pop()
    return values


def start_bpftrace(bpftrace: str, tool: Tool, library: str, pid: int,
                   options: argparse.Namespace, feed: Callable[[str], None],
                   attaching: Callable[[], None] | None = None,
                   attached: Callable[[], None] | None = None) -> _bpftrace.Session:
    """bpftrace running TOOL against PID, each line of its output given to
    FEED (in a reader thread) and its errors to this process's stderr.
    ATTACHING is called when bpftrace says it starts attaching probes, and
    ATTACHED once it has attached them all: when the first output of the
    tool's BEGIN probe arrives (every tool prints a line there)."""
    args = [] if options.raw else ["-f", "json"]
    try:
        return _bpftrace.Session(
            tool_program(tool, library), [*args, "-p", str(pid)],
            tool_arguments(tool, options), bpftrace=bpftrace, mark=False, name=tool.name,
            keep=False, on_line=feed, on_attaching=attaching, on_attached=attached,
            echo_errors=True, die_with_parent=True)
    except OSError as exc:
        raise TraceError("cannot run %s: %s" % (bpftrace, exc.strerror)) from None


def feeder(renderer: _trace_report.Renderer | None, out: IO[str]) -> Callable[[str], None]:
    """What takes each line bpftrace prints: RENDERER, given its JSON
    events, or OUT, given the lines as they are when there is no renderer
    (--raw)."""
    def feed(line: str) -> None:
        if renderer is None:
            out.write(line + "\n")
            out.flush()
            return
        line = line.strip()
        if not line.startswith("{"):
            return
        try:
            event = json.loads(line)
        except ValueError:
            return
        renderer.event(event)
    return feed


class Signals:
    """While tracing, Ctrl-C (SIGINT) and SIGTERM end bpftrace, which then
    prints its report; a command started by the launcher gets SIGTERM
    forwarded (it has SIGINT from the terminal already, being in the
    launcher's process group)."""

    def __init__(self) -> None:
        self.bpftrace: _bpftrace.Session | None = None
        self.command: subprocess.Popen | None = None
        self.interrupted = False
        self._saved: dict[int, object] = {}

    def __enter__(self) -> Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: object) -> None:
        self.interrupted = True
        if self.bpftrace is not None:
            self.bpftrace.interrupt()
        if signum == signal.SIGTERM and self.command is not None \
                and self.command.poll() is None:
            self.command.send_signal(signal.SIGTERM)


# --- The command line --------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s TOOL [options] (-p PID | -- command [args...])\n"
              "       %(prog)s --list",
        description="Runs one of pyusdt's bpftrace tools (see --list) against a Python\n"
                    "process (-p PID) or command (after --: a Python program, run under\n"
                    "`python -m pyusdt --wait-for-tracer`), and prints its report.\n"
                    "Needs root and bpftrace.",
        epilog="Examples:\n"
               "  sudo %(prog)s pycalls -n 10 -- python app.py\n"
               "  sudo %(prog)s pyoffcpu -p 4242\n"
               "  sudo %(prog)s pyflame -o app.svg -- python app.py",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("tool", nargs="?", help="the tool to run (see --list)")
    parse.add_argument("--list", action="store_true", help="list the tools and exit")
    parse.add_argument("-p", "--pid", type=int, help="trace this running process")
    parse.add_argument("-n", "--top", type=_natural, metavar="TOP",
                       help="show only the first TOP rows of each table")
    parse.add_argument("-i", "--interval", type=_natural, metavar="SECONDS",
                       help="report every SECONDS seconds (pycalls, pystat, "
                            "pysyscalls)")
    parse.add_argument("-d", "--depth", type=_natural, metavar="DEPTH",
                       help="pyflow: show frames at most DEPTH deep")
    parse.add_argument("-o", "--output", metavar="FILE",
                       help="write the report to FILE (pyflame: folded stacks, or a "
                            "flame graph if FILE ends in .svg)")
    parse.add_argument("--raw", action="store_true",
                       help="print bpftrace's own output (maps keyed by code_id)")
    parse.add_argument("--bpftrace", metavar="PATH",
                       help="the bpftrace to run (default: $BPFTRACE, or bpftrace on "
                            "PATH)")
    return parse


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("expected a whole number, not %r" % text)
    return value


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The options, and the command after "--" (empty if none)."""
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1:]
    else:
        command = []
    parse = parser()
    options = parse.parse_args(argv)
    if options.list:
        return options, command
    if options.tool is None:
        parse.error("give a TOOL (see --list)")
    if (options.pid is None) == (not command):
        parse.error("give either -p PID or -- command [args...]")
    return options, command


def check_options(tool: Tool, options: argparse.Namespace) -> None:
    """Refuses options TOOL has no use for."""
    wanted = {PARAMETERS[parameter] for parameter in tool.parameters}
    for option in ("top", "interval", "depth"):
        if getattr(options, option) is not None and option not in wanted:
            raise TraceError("%s has no --%s option" % (tool.name, option), USAGE_ERROR)


def trace(options: argparse.Namespace, command: list[str]) -> int:
    """Runs the trace OPTIONS and COMMAND describe; returns the exit status."""
    tool = find_tool(options.tool)
    check_options(tool, options)
    python = None
    if command:
        python = python_command(command, ATTACH_TIMEOUT)
        if python is None:
            raise TraceError("%s is not a Python program (a python command line, a .py "
                             "file or a script with a python #! line): start it with "
                             "PYUSDT_AUTO=1 and trace it with -p PID" % command[0],
                             USAGE_ERROR)
    bpftrace_path = find_bpftrace(options.bpftrace)
    check_root()
    check_tracefs(tool)
    if options.pid is not None:
        library_of(options.pid)   # fail early, before opening the output
    out, close = _open_output(options, tool)
    renderer = None if options.raw else _trace_report.renderer(tool.name, options, out)
    if renderer is None:
        options.raw = True   # a tool without a renderer speaks for itself
    try:
        with Signals() as signals:
            if python is not None:
                return _trace_command(tool, bpftrace_path, python, options, renderer,
                                      out, signals)
            return _trace_pid(tool, bpftrace_path, options, renderer, out, signals)
    finally:
        close()


def _trace_pid(tool: Tool, bpftrace_path: str, options: argparse.Namespace,
               renderer: _trace_report.Renderer | None, out: IO[str],
               signals: Signals) -> int:
    library = library_of(options.pid)
    bpftrace = start_bpftrace(bpftrace_path, tool, library, options.pid, options,
                              feeder(renderer, out))
    signals.bpftrace = bpftrace
    _finish(bpftrace, renderer, signals)
    return 0


def _finish(bpftrace: _bpftrace.Session, renderer: _trace_report.Renderer | None,
            signals: Signals) -> None:
    """Waits for BPFTRACE to end, then has RENDERER finish its report."""
    status = bpftrace.wait()
    if renderer is not None:
        renderer.finish()
    if status != 0 and not signals.interrupted:
        raise TraceError("bpftrace failed (status %s)%s"
                         % (_status_text(status), _first_error(bpftrace)))


def _trace_command(tool: Tool, bpftrace_path: str, python: list[str],
                   options: argparse.Namespace, renderer: _trace_report.Renderer | None,
                   out: IO[str], signals: Signals) -> int:
    proc = subprocess.Popen(python, env=child_environment())
    signals.command = proc
    stopped = False

    def stop() -> None:
        # bpftrace attaches its probes one at a time, sometimes slower than
        # --wait-for-tracer's settling time: the command, waiting by now,
        # stays stopped until all of them are in place.
        nonlocal stopped
        stopped = _signal(proc, signal.SIGSTOP)

    def resume() -> None:
        nonlocal stopped
        if stopped:
            stopped = False
            _signal(proc, signal.SIGCONT)

    try:
        library = wait_for_library(proc, python)
        bpftrace = start_bpftrace(bpftrace_path, tool, library, proc.pid, options,
                                  feeder(renderer, out), attaching=stop, attached=resume)
        signals.bpftrace = bpftrace
        try:
            _finish(bpftrace, renderer, signals)
        finally:
            resume()
        return _exit_status(proc.wait())
    except BaseException:
        # N.B. the command is ours: it does not outlive a failed trace.
        resume()
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
        raise


def _signal(proc: subprocess.Popen, signum: int) -> bool:
    """Sends SIGNUM to PROC if it still runs; returns whether it did."""
    if proc.poll() is not None:
        return False
    try:
        os.kill(proc.pid, signum)
    except ProcessLookupError:
        return False
    return True


def _first_error(bpftrace: _bpftrace.Session) -> str:
    for line in bpftrace.errors():
        if "error" in line.lower():
            return ": " + line.strip()
    return ""


def _open_output(options: argparse.Namespace,
                 tool: Tool) -> tuple[IO[str], Callable[[], None]]:
    if not options.output:
        return sys.stdout, lambda: None
    try:
        file = open(options.output, "w", encoding="utf-8")
    except OSError as exc:
        raise TraceError("cannot write %s: %s" % (options.output, exc.strerror),
                         USAGE_ERROR) from None
    return file, file.close


def main(argv: list[str] | None = None) -> int:
    """``python -m pyusdt.trace``; returns the exit status: the command's own
    when tracing one, 1 when tracing is impossible, 2 for usage errors."""
    options, command = parse_args(sys.argv[1:] if argv is None else argv)
    if options.list:
        list_tools(sys.stdout)
        return 0
    try:
        return trace(options, command)
    except TraceError as exc:
        print("%s: %s" % (PROG, exc), file=sys.stderr, flush=True)
        return exc.status
