"""The tool catalogue: pyusdt's bpftrace tools (tools/*.bt), read from
their headers, and a tool's program and parameters for one trace.

A tool's header comment is its contract with the launcher, which reads:
- the title line, "NAME.bt - PURPOSE";
- "Parameters: $1 TOP, $2 SECONDS" (or "none"): the script's positional
  parameters in order, each one of PARAMETERS; the script uses exactly
  these ($1 to $N), and both usage lines ("python -m pyusdt.trace NAME
  ..." and "bpftrace tools/NAME.bt ...") name exactly these;
- "Report: pyusdt_tracer.report.CLASS" (or "none"): the Renderer that
  turns the tool's output into its report.
A tool's other mode (MODES) has the same header, in tools/MODE/NAME.bt
(launcher option --MODE).
A header that breaks any of these is an error (ToolError), never a tool
with fewer parameters: the launcher refuses to run, and the tests fail."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import IO

from pyusdt_tracer import report
from pyusdt_tracer.errors import PROG, USAGE_ERROR, TraceError

#: The library as the tools name it, replaced by the mapped path.
TOOL_LIBRARY = "./libpyusdt.so"
#: A tool's other mode, beside its default, lives in tools/MODE/NAME.bt:
#: "events" (--events: per-event probes, where the default reads the
#: statistics the process counts: pycalls), "counted" (--counted: those
#: statistics, where the default needs per-event probes: pystat).
MODES = ("events", "counted")
#: The launcher option behind each positional parameter a tool's usage
#: line names.
PARAMETERS = {"TOP": "top", "SECONDS": "interval", "DEPTH": "depth"}


class ToolError(TraceError):
    """A tool's header does not parse; the message says where and why."""


@dataclass(frozen=True)
class Tool:
    """One tools/NAME.bt script: its PURPOSE (the header's title line), its
    PARAMETERS in order (names of PARAMETERS), and the name of the class of
    pyusdt_tracer.report that renders its REPORT (None: its output as it
    is)."""

    name: str
    path: str
    purpose: str
    parameters: tuple[str, ...]
    report: str | None

    def source(self) -> str:
        with open(self.path, encoding="utf-8") as file:
            return file.read()

    def uses_tracepoints(self) -> bool:
        return re.search(r"^tracepoint:", self.source(), re.M) is not None


def tool_dirs() -> list[str]:
    """Where the tools are: inside the installed package pyusdt (beside
    this one), or in the checkout this package was imported from."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.join(root, "pyusdt", "tools"), os.path.join(root, "tools")]


def _header(source: str) -> tuple[list[str], str]:
    """The lines of SOURCE's first comment, without their " * " and with
    the lines a trailing backslash continues joined, and the rest of
    SOURCE."""
    found = re.search(r"^/\*\n(.*?)^ \*/\n", source, re.M | re.S)
    if found is None:
        return [], source
    lines: list[str] = []
    for line in found.group(1).splitlines():
        line = line[3:] if line.startswith(" * ") else line[2:]
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1].rstrip() + " " + line.strip()
        else:
            lines.append(line)
    return lines, source[found.end():]


def _named_parameters(text: str) -> list[str]:
    return [word for word in re.findall(r"\b[A-Z]+\b", text) if word in PARAMETERS]


def read_tool(path: str) -> Tool:
    """The Tool whose script is PATH, from its header comment (this
    module's docstring says how it reads).  ToolError if it does not
    parse."""
    name = os.path.basename(path)[:-len(".bt")]
    with open(path, encoding="utf-8") as file:
        lines, body = _header(file.read())
    problems = []

    def field(label: str) -> str:
        found = [line.strip()[len(label):].strip() for line in lines
                 if line.strip().startswith(label)]
        if len(found) != 1:
            problems.append("%d %r lines, not one" % (len(found), label))
            return ""
        return found[0]

    title = re.match(r"%s\.bt - (.+)$" % re.escape(name), lines[0] if lines else "")
    if title is None:
        problems.append('no title line "%s.bt - PURPOSE"' % name)
    parameters: list[str] = []
    declared = field("Parameters:")
    if declared and declared != "none":
        for number, item in enumerate(declared.split(","), 1):
            match = re.fullmatch(r"\$(\d+) ([A-Z]+)", item.strip())
            if not match or int(match.group(1)) != number \
                    or match.group(2) not in PARAMETERS:
                problems.append("Parameters: %r is not $%d and one of %s"
                                % (item.strip(), number, ", ".join(PARAMETERS)))
            else:
                parameters.append(match.group(2))
    used = sorted({int(n) for n in re.findall(r"\$(\d+)", body)})
    if used != list(range(1, len(parameters) + 1)):
        problems.append("the script uses %s, not $1 to $%d"
                        % (", ".join("$%d" % n for n in used) or "no parameter",
                           len(parameters)))
    script = "tools/%s.bt" % name
    mode = os.path.basename(os.path.dirname(path))
    if mode in MODES:
        script = "tools/%s/%s.bt" % (mode, name)
    for usage in ("python -m pyusdt.trace %s" % name, "bpftrace %s" % script):
        text = [line.strip() for line in lines if line.strip().startswith(usage)]
        if len(text) != 1:
            problems.append("%d usage lines %r, not one" % (len(text), usage))
        elif _named_parameters(text[0][len(usage):]) != parameters:
            problems.append("usage %r names %s, Parameters: says %s"
                            % (usage, _named_parameters(text[0][len(usage):]), parameters))
    renderer = field("Report:")
    if renderer and renderer != "none":
        match = re.fullmatch(r"pyusdt_tracer\.report\.(\w+)", renderer)
        cls = getattr(report, match.group(1), None) if match else None
        if not (isinstance(cls, type) and issubclass(cls, report.Renderer)):
            problems.append("Report: %r is not a renderer of pyusdt_tracer.report"
                            % renderer)
    if problems:
        raise ToolError("%s: its header does not parse: %s" % (path, "; ".join(problems)))
    return Tool(name, path, title.group(1).strip(), tuple(parameters),
                None if renderer == "none" else renderer.rpartition(".")[2])


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


def find_tool(name: str, mode: str | None = None) -> Tool:
    """Tool NAME; with MODE (one of MODES), that mode of it
    (tools/MODE/NAME.bt)."""
    tools = all_tools()
    if name in tools and mode:
        for directory in tool_dirs():
            path = os.path.join(directory, mode, name + ".bt")
            if os.path.exists(path):
                return read_tool(path)
        raise TraceError("%s has no --%s mode" % (name, mode), USAGE_ERROR)
    if name in tools:
        return tools[name]
    raise TraceError("there is no tool %r (the tools are %s; `%s --list` describes them)"
                     % (name, ", ".join(tools) or "missing", PROG), USAGE_ERROR)


def list_tools(out: IO[str]) -> None:
    tools = all_tools()
    width = max((len(name) for name in tools), default=0)
    for tool in tools.values():
        out.write("%-*s  %s\n" % (width, tool.name, tool.purpose))


def check_options(tool: Tool, options: argparse.Namespace) -> None:
    """Refuses options TOOL has no use for."""
    wanted = {PARAMETERS[parameter] for parameter in tool.parameters}
    for option in ("top", "interval", "depth"):
        if getattr(options, option) is not None and option not in wanted:
            raise TraceError("%s has no --%s option" % (tool.name, option), USAGE_ERROR)


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
