"""The tool catalogue: pyusdt's bpftrace tools (tools/*.bt), read from
their headers, and a tool's program and parameters for one trace."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import IO

from pyusdt_tracer.errors import PROG, USAGE_ERROR, TraceError

#: The library as the tools name it, replaced by the mapped path.
TOOL_LIBRARY = "./libpyusdt.so"
#: The launcher option behind each positional parameter a tool's usage
#: line names.
PARAMETERS = {"TOP": "top", "SECONDS": "interval", "DEPTH": "depth"}


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
    """Where the tools are: inside the installed package pyusdt (beside
    this one), or in the checkout this package was imported from."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.join(root, "pyusdt", "tools"), os.path.join(root, "tools")]


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
