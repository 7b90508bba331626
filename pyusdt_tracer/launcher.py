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
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from pyusdt_tracer import report, session, timeline
from pyusdt_tracer.command import (ATTACH_TIMEOUT, exit_status, library_of, python_command,
                                   send_signal, status_text, child_environment,
                                   wait_for_library)
from pyusdt_tracer.errors import PROG, TRACE_ERROR, USAGE_ERROR, TraceError
from pyusdt_tracer.output import feeder, open_output
from pyusdt_tracer.signals import Signals
from pyusdt_tracer.tools import (Tool, check_options, find_tool, list_tools, tool_arguments,
                                 tool_program)


def find_bpftrace(given: str | None) -> str:
    """The bpftrace to run: GIVEN (--bpftrace), else $BPFTRACE, else the one
    on PATH."""
    name = given or os.environ.get("BPFTRACE") or "bpftrace"
    found = session.executable(given)
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
    if tool.uses_tracepoints() and not session.tracefs_mounted():
        raise TraceError("%s needs kernel tracepoints, but tracefs is not mounted: "
                         "mount -t tracefs nodev %s" % (tool.name, session.TRACEFS))

def start_bpftrace(bpftrace: str, tool: Tool, library: str, pid: int,
                   options: argparse.Namespace, feed: Callable[[str], None],
                   attaching: Callable[[], None] | None = None,
                   attached: Callable[[], None] | None = None) -> session.Session:
    """bpftrace running TOOL against PID, each line of its output given to
    FEED (in a reader thread) and its errors to this process's stderr.
    ATTACHING is called when bpftrace says it starts attaching probes, and
    ATTACHED once it has attached them all: when the first output of the
    tool's BEGIN probe arrives (every tool prints a line there)."""
    args = [] if options.raw else ["-f", "json"]
    try:
        return session.Session(
            tool_program(tool, library), [*args, "-p", str(pid)],
            tool_arguments(tool, options), bpftrace=bpftrace, mark=False, name=tool.name,
            keep=False, on_line=feed, on_attaching=attaching, on_attached=attached,
            echo_errors=True, die_with_parent=True)
    except OSError as exc:
        raise TraceError("cannot run %s: %s" % (bpftrace, exc.strerror)) from None

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
               "  sudo %(prog)s pyflame -o app.svg -- python app.py\n"
               "  sudo %(prog)s pytimeline -o app.json --duration 5 -p 4242",
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
                       help="write the report to FILE (pyflame: folded stacks, a "
                            "flame graph if FILE ends in .svg, speedscope JSON if "
                            "in .json)")
    parse.add_argument("--duration", type=_positive, metavar="SECONDS",
                       help="stop tracing after SECONDS seconds (the command runs on)")
    parse.add_argument("--format", choices=timeline.FORMATS,
                       help="pytimeline: the file's format (default: chrome, for "
                            "Perfetto and chrome://tracing)")
    parse.add_argument("--max-events", type=_natural, metavar="N",
                       help="pytimeline: record at most N events, then stop "
                            "(the file says it is truncated)")
    parse.add_argument("--filter", action="append", metavar="PREFIX",
                       help="pytimeline: keep only functions whose qualified name, "
                            "or module.qualname, starts with PREFIX (repeatable)")
    mode = parse.add_mutually_exclusive_group()
    mode.add_argument("--events", action="store_const", dest="mode", const="events",
                      help="pycalls: time every call with per-event probes (a uprobe "
                           "hit each) instead of the statistics the process counts")
    mode.add_argument("--counted", action="store_const", dest="mode", const="counted",
                      help="pystat: calls from the statistics the process counts, no "
                           "uprobe hit per call (returns and yields are then not shown)")
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

def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value > 0:
        raise argparse.ArgumentTypeError("expected a positive number of seconds, not %r"
                                         % text)
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

def trace(options: argparse.Namespace, command: list[str]) -> int:
    """Runs the trace OPTIONS and COMMAND describe; returns the exit status."""
    tool = find_tool(options.tool, options.mode)
    check_options(tool, options)
    timeline.check_options(tool.report, options)
    python = None
    writer = report.renderer_class(tool.report)
    if (command and not options.output and not options.raw
            and writer is not None and writer.WRITES_A_FILE):
        raise TraceError("%s writes a file: give -o FILE with a command, whose own "
                         "output would be mixed into it on stdout (with -p PID, stdout "
                         "holds only the file)" % tool.name, USAGE_ERROR)
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
    out, close = open_output(options, tool)
    renderer = None if options.raw else report.renderer(tool.name, options, out)
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
               renderer: report.Renderer | None, out: IO[str],
               signals: Signals) -> int:
    library = library_of(options.pid)
    bpftrace = start_bpftrace(bpftrace_path, tool, library, options.pid, options,
                              feeder(renderer, out))
    signals.bpftrace = bpftrace
    _bound(bpftrace, renderer, options)
    _finish(bpftrace, renderer, signals)
    return 0

def _bound(bpftrace: session.Session, renderer: report.Renderer | None,
           options: argparse.Namespace) -> None:
    """Stops BPFTRACE --duration seconds after it attached, and when
    RENDERER (one that can, pytimeline's) has all the events --max-events
    lets it keep."""
    if renderer is not None and hasattr(renderer, "stop"):
        renderer.stop = bpftrace.interrupt
    if options.duration:
        def stop_later() -> None:
            # N.B. counted from the attach: attaching takes seconds on a
            # busy machine.
            bpftrace.attached.wait()
            time.sleep(options.duration)
            bpftrace.interrupt()
        threading.Thread(target=stop_later, daemon=True).start()

def _finish(bpftrace: session.Session, renderer: report.Renderer | None,
            signals: Signals) -> None:
    """Waits for BPFTRACE to end, then has RENDERER finish its report."""
    status = bpftrace.wait()
    if renderer is not None:
        if bpftrace.interrupted_ns is not None and hasattr(renderer, "interrupted"):
            renderer.interrupted(bpftrace.interrupted_ns)
        renderer.finish()
    if status != 0 and not signals.interrupted:
        raise TraceError("bpftrace failed (status %s)%s"
                         % (status_text(status), _first_error(bpftrace)))

def _trace_command(tool: Tool, bpftrace_path: str, python: list[str],
                   options: argparse.Namespace, renderer: report.Renderer | None,
                   out: IO[str], signals: Signals) -> int:
    proc = subprocess.Popen(python, env=child_environment())
    signals.command = proc
    stopped = False

    def stop() -> None:
        # bpftrace attaches its probes one at a time, sometimes slower than
        # --wait-for-tracer's settling time: the command, waiting by now,
        # stays stopped until all of them are in place.
        nonlocal stopped
        stopped = send_signal(proc, signal.SIGSTOP)

    def resume() -> None:
        nonlocal stopped
        if stopped:
            stopped = False
            send_signal(proc, signal.SIGCONT)

    try:
        library = wait_for_library(proc, python)
        bpftrace = start_bpftrace(bpftrace_path, tool, library, proc.pid, options,
                                  feeder(renderer, out), attaching=stop, attached=resume)
        signals.bpftrace = bpftrace
        _bound(bpftrace, renderer, options)
        try:
            _finish(bpftrace, renderer, signals)
        finally:
            resume()
        return exit_status(proc.wait())
    except BaseException:
        # N.B. the command is ours: it does not outlive a failed trace.
        resume()
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
        raise

def _first_error(bpftrace: session.Session) -> str:
    for line in bpftrace.errors():
        if "error" in line.lower():
            return ": " + line.strip()
    return ""

def main(argv: list[str] | None = None) -> int:
    """``python -m pyusdt.trace``; returns the exit status: the command's own
    when tracing one, 1 when tracing is impossible, 2 for usage errors."""
    options, command = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if options.list:
            list_tools(sys.stdout)
            return 0
        return trace(options, command)
    except TraceError as exc:
        print("%s: %s" % (PROG, exc), file=sys.stderr, flush=True)
        return exc.status
