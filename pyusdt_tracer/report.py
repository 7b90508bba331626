"""Turns the JSON output of pyusdt's bpftrace tools (``bpftrace -f json``)
into the reports ``python -m pyusdt.trace`` prints.

The tools key their maps by code_id (and name each code object once in
@name, @file and @line), because bpftrace cannot join maps itself: a
report is the set of maps printed after one ``time()`` event (or at the
end), joined here by code_id into tables that fit 80 columns.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

#: bpftrace prints some u64 keys as signed numbers; keys are compared as u64.
U64 = (1 << 64) - 1
#: Where the kernel headers number the system calls, by machine.
SYSCALL_HEADERS = {
    "x86_64": ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
               "/usr/include/asm/unistd_64.h"),
    "aarch64": ("/usr/include/asm-generic/unistd.h",),
}
NO_FRAME = "(no Python frame)"


# --- Maps --------------------------------------------------------------------

class Maps:
    """The maps of one report, as bpftrace's JSON output gave them."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __bool__(self) -> bool:
        return bool(self.data)

    def scalar(self, name: str, default: int = 0) -> int:
        value = self.data.get(name, default)
        return value if isinstance(value, int) else default

    def keyed(self, name: str, ints: int = 1, text: bool = False) -> dict[tuple, Any]:
        """Map NAME by key tuple: INTS integers (as u64), then a string if
        TEXT.  bpftrace joins a tuple key's parts with "," (a string part is
        last, so it may hold commas itself)."""
        result: dict[tuple, Any] = {}
        value = self.data.get(name)
        if not isinstance(value, dict):
            return result
        parts = ints + (1 if text else 0)
        for key, item in value.items():
            fields = key.split(",", parts - 1)
            if len(fields) != parts:
                continue
            try:
                numbers = tuple(int(field) & U64 for field in fields[:ints])
            except ValueError:
                continue
            result[numbers + tuple(fields[ints:])] = item
        return result

    def by_code(self, name: str) -> dict[int, Any]:
        """Map NAME keyed by a single integer (a code_id, a pid...)."""
        return {key[0]: value for key, value in self.keyed(name).items()}


class Codes:
    """Names of code objects, from a report's @name, @file and @line."""

    def __init__(self, maps: Maps) -> None:
        self.names = maps.by_code("@name")
        self.files = maps.by_code("@file")
        self.lines = maps.by_code("@line")

    def function(self, code: int) -> str:
        if code == 0:
            return NO_FRAME
        return str(self.names.get(code, "code#%d" % code))

    def file(self, code: int) -> str:
        path = str(self.files.get(code, ""))
        return os.path.basename(path) or path

    def location(self, code: int) -> str:
        """FILE:LINE, the file's base name and the line the tool noted."""
        file = self.file(code)
        line = self.lines.get(code)
        if not file:
            return ""
        return "%s:%s" % (file, line) if line is not None else file

    def frame(self, code: int) -> str:
        """A flame graph frame: "function (file:line)", without ';'."""
        location = self.location(code)
        text = "%s (%s)" % (self.function(code), location) if location else self.function(code)
        return text.replace(";", ":").replace("\n", " ")


# --- Formatting --------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """A table column: TITLE, WIDTH, numbers right-aligned (RIGHT)."""

    title: str
    width: int
    right: bool = False


def fit(text: str, width: int) -> str:
    """TEXT cut to WIDTH, keeping its end (a qualified name's most specific
    part) after "..", when it is longer."""
    return text if len(text) <= width else ".." + text[len(text) - width + 2:]


def table(columns: list[Column], rows: Iterable[list[object]]) -> list[str]:
    def line(cells: list[object]) -> str:
        parts = []
        for column, cell in zip(columns, cells):
            text = fit(str(cell), column.width) if not column.right else str(cell)
            parts.append(text.rjust(column.width) if column.right
                         else text.ljust(column.width))
        return " ".join(parts).rstrip()
    return [line([column.title for column in columns])] + [line(row) for row in rows]


def ms(ns: int) -> str:
    return "%.3f" % (ns / 1e6)


def us(ns: float) -> str:
    return "%.1f" % (ns / 1e3)


def _size(value: int) -> str:
    """A histogram bound as bpftrace writes it: 1K, 4M..."""
    for shift, suffix in ((60, "E"), (50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")):
        if value >= 1 << shift and value % (1 << shift) == 0:
            return "%d%s" % (value >> shift, suffix)
    return str(value)


def histogram(buckets: list[dict[str, int]], width: int = 40) -> list[str]:
    """A power-of-two histogram from bpftrace's JSON buckets, drawn as
    bpftrace draws it, trimmed of empty buckets at either end."""
    used = [i for i, bucket in enumerate(buckets) if bucket.get("count")]
    if not used:
        return []
    shown = buckets[used[0]:used[-1] + 1]
    top = max(bucket.get("count", 0) for bucket in shown)
    lines = []
    for bucket in shown:
        low, high, count = bucket.get("min"), bucket.get("max"), bucket.get("count", 0)
        if low is None:
            label = "(..., %s)" % _size((high or -1) + 1)
        elif high is None:
            label = "[%s, ...)" % _size(low)
        elif low == high:
            label = "%s" % _size(low)
        else:
            label = "[%s, %s)" % (_size(low), _size(high + 1))
        bar = "@" * (count * width // top if top else 0)
        lines.append("%-14s %8d |%-*s|" % (label, count, width, bar))
    return lines


# --- Renderers ---------------------------------------------------------------

class Renderer:
    """Reads a tool's JSON events and writes its report to OUT.  printf
    output (the tools' banners) goes to stderr, so that OUT holds only the
    report; maps are gathered per report and joined by report()."""

    #: Whether the report is a file for other programs (folded stacks, a
    #: trace file), which a traced command's own output on the same stdout
    #: would corrupt: the launcher then wants -o FILE.
    WRITES_A_FILE = False

    def __init__(self, options: argparse.Namespace, out: IO[str]) -> None:
        self.options = options
        self.out = out
        self.time: str | None = None
        self.pending: dict[str, Any] = {}

    def event(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type"), event.get("data")
        if kind == "printf" and isinstance(data, str):
            self.printf(data)
        elif kind == "time" and isinstance(data, str):
            self.flush()
            self.time = data.strip()
        elif kind in ("map", "hist", "stats") and isinstance(data, dict):
            self.pending.update(data)
        elif kind == "lost_events" and isinstance(data, dict):
            print("pyusdt.trace: bpftrace lost %s events; the report is incomplete"
                  % data.get("events", "some"), file=sys.stderr, flush=True)

    def printf(self, text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    def flush(self) -> None:
        if self.pending:
            maps, self.pending = Maps(self.pending), {}
            self.write(self.report(maps))

    def finish(self) -> None:
        self.flush()

    def write(self, lines: list[str]) -> None:
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def heading(self) -> list[str]:
        """A report's first line: its time, when reports repeat."""
        return [self.time or ""] if getattr(self.options, "interval", None) else []

    def top(self, rows: list[Any]) -> list[Any]:
        limit = getattr(self.options, "top", None)
        return rows[:limit] if limit else rows

    def report(self, maps: Maps) -> list[str]:
        raise NotImplementedError


class Flow(Renderer):
    """pyflow: its printf lines are the report."""

    def printf(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def report(self, maps: Maps) -> list[str]:
        return []


class Calls(Renderer):
    """pycalls: calls, total and self time per function, most called first."""

    COLUMNS = [Column("FUNCTION", 20), Column("FILE:LINE", 20), Column("CALLS", 7, True),
               Column("TOTAL ms", 9, True), Column("SELF ms", 9, True),
               Column("AVG us", 9, True)]

    def report(self, maps: Maps) -> list[str]:
        codes = Codes(maps)
        calls = maps.by_code("@calls")
        total = maps.by_code("@total_ns")
        own = maps.by_code("@self_ns")
        # N.B. the average is over the calls that ended: one still running
        # has started (CALLS) but added no time yet.
        completed = maps.by_code("@completed")
        keys = sorted(set(calls) | set(total),
                      key=lambda code: (-calls.get(code, 0), -total.get(code, 0), code))
        rows = []
        for code in self.top(keys):
            done = completed.get(code, 0)
            rows.append([codes.function(code), codes.location(code), calls.get(code, 0),
                         ms(total.get(code, 0)), ms(own.get(code, 0)),
                         us(total.get(code, 0) / done) if done else "-"])
        return self.heading() + table(self.COLUMNS, rows) + [""]


class Stat(Renderer):
    """pystat: rates per process in each interval, then totals."""

    COUNTERS = ("calls", "returns", "yields", "raises", "gcs", "marks")
    RATES = [Column("TIME", 8), Column("PID", 7)] + [
        Column(title, width, True) for title, width in (
            ("CALLS/s", 9), ("RETURNS/s", 9), ("YIELDS/s", 9), ("RAISES/s", 9),
            ("GCS/s", 7), ("MARKS/s", 8))]
    TOTALS = [Column("TOTAL", 8), Column("PID", 7)] + [
        Column(title, width, True) for title, width in (
            ("CALLS", 9), ("RETURNS", 9), ("YIELDS", 9), ("RAISES", 9), ("GCS", 7),
            ("MARKS", 8))]

    #: What --counted (tools/counted/pystat.bt) does not count: shown as "-".
    NOT_COUNTED = ("returns", "yields")

    def __init__(self, options: argparse.Namespace, out: IO[str]) -> None:
        super().__init__(options, out)
        self.totals: dict[int, list[int]] = defaultdict(lambda: [0] * len(self.COUNTERS))
        self.headed = False
        counted = getattr(options, "mode", None) == "counted"
        self.shown = [not (counted and name in self.NOT_COUNTED) for name in self.COUNTERS]

    def cells(self, values: list[object]) -> list[object]:
        return [value if shown else "-" for value, shown in zip(values, self.shown)]

    def report(self, maps: Maps) -> list[str]:
        counts = [maps.by_code("@" + name) for name in self.COUNTERS]
        elapsed = maps.scalar("@interval_ms") or 1
        pids = sorted(set().union(*counts))
        rows = []
        for pid in pids:
            values = [count.get(pid, 0) for count in counts]
            for index, value in enumerate(values):
                self.totals[pid][index] += value
            rows.append([self.time or "", pid]
                        + self.cells([round(value * 1000 / elapsed) for value in values]))
        lines = table(self.RATES, rows)
        if self.headed:
            lines = lines[1:]
        self.headed = True
        return lines

    def finish(self) -> None:
        super().finish()
        rows = [["", pid] + self.cells(values) for pid, values in sorted(self.totals.items())]
        self.write([""] + table(self.TOTALS, rows))


class Syscalls(Renderer):
    """pysyscalls: system calls per function, most time first."""

    COLUMNS = [Column("FUNCTION", 20), Column("FILE:LINE", 20), Column("SYSCALL", 15),
               Column("COUNT", 7, True), Column("TOTAL ms", 10, True)]

    def report(self, maps: Maps) -> list[str]:
        codes = Codes(maps)
        counts = maps.keyed("@syscalls", 2)
        times = maps.keyed("@syscall_ns", 2)
        keys = sorted(set(counts) | set(times),
                      key=lambda key: (-times.get(key, 0), -counts.get(key, 0), key))
        rows = [[codes.function(code), codes.location(code), syscall_name(nr),
                 counts.get((code, nr), 0), ms(times.get((code, nr), 0))]
                for code, nr in self.top(keys)]
        return self.heading() + table(self.COLUMNS, rows) + [""]


class OffCpu(Renderer):
    """pyoffcpu: off-CPU time per function, most blocked first."""

    COLUMNS = [Column("FUNCTION", 20), Column("FILE:LINE", 20), Column("BLOCKS", 7, True),
               Column("BLOCKED ms", 11, True), Column("PREEMPTED ms", 12, True)]

    def report(self, maps: Maps) -> list[str]:
        codes = Codes(maps)
        blocks = maps.by_code("@blocked")
        blocked = maps.by_code("@blocked_ns")
        preempted = maps.by_code("@preempted_ns")
        keys = sorted(set(blocked) | set(preempted),
                      key=lambda code: (-blocked.get(code, 0), -preempted.get(code, 0), code))
        rows = [[codes.function(code), codes.location(code), blocks.get(code, 0),
                 ms(blocked.get(code, 0)), ms(preempted.get(code, 0))]
                for code in self.top(keys)]
        return table(self.COLUMNS, rows) + [""]


class Gc(Renderer):
    """pygc: a pause histogram per generation, then the functions."""

    COLUMNS = [Column("RUNNING WHEN COLLECTED", 22), Column("FILE:LINE", 20),
               Column("GEN0", 6, True), Column("GEN1", 6, True), Column("GEN2", 6, True),
               Column("PAUSE ms", 10, True)]

    def report(self, maps: Maps) -> list[str]:
        lines: list[str] = []
        pauses = maps.by_code("@pause_us")
        collected = maps.by_code("@collected")
        uncollectable = maps.by_code("@uncollectable")
        gcs = maps.keyed("@gcs", 2)
        gc_ns = maps.keyed("@gc_ns", 2)
        generations = sorted(set(pauses) | {generation for _, generation in gcs})
        for generation in generations:
            runs = sum(count for (_, gen), count in gcs.items() if gen == generation)
            lines.append("generation %d: %d collections, %d objects collected, "
                         "%d uncollectable" % (generation, runs,
                                               collected.get(generation, 0),
                                               uncollectable.get(generation, 0)))
            drawn = histogram(pauses.get(generation, []))
            if drawn:
                lines.append("%-14s %8s" % ("pause us", "count"))
                lines.extend(drawn)
            lines.append("")
        codes = Codes(maps)
        by_code: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for (code, generation), count in gcs.items():
            if 0 <= generation <= 2:
                by_code[code][generation] += count
        for (code, _), ns in gc_ns.items():
            by_code[code][3] += ns
        keys = sorted(by_code, key=lambda code: (-sum(by_code[code][:3]), code))
        rows = [[codes.function(code), codes.location(code), *by_code[code][:3],
                 ms(by_code[code][3])] for code in self.top(keys)]
        if rows:
            lines += table(self.COLUMNS, rows) + [""]
        return lines


class Exceptions(Renderer):
    """pyexc: exceptions per function and type, most raised first."""

    COLUMNS = [Column("FUNCTION", 19), Column("FILE", 16), Column("EXCEPTION", 18),
               Column("RAISED", 7, True), Column("CAUGHT", 7, True),
               Column("UNWOUND", 7, True)]

    def report(self, maps: Maps) -> list[str]:
        codes = Codes(maps)
        counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for index, name in enumerate(("@raised", "@caught", "@unwound")):
            for (code, text), count in maps.keyed(name, 1, text=True).items():
                counts[(code, exception_type(text))][index] += count
        keys = sorted(counts, key=lambda key: (-counts[key][0], -counts[key][1], key))
        rows = [[codes.function(code), codes.file(code), kind, *counts[(code, kind)]]
                for code, kind in self.top(keys)]
        return table(self.COLUMNS, rows) + [""]


class Flame(Renderer):
    """pyflame: folded stacks, an SVG flame graph of them (-o *.svg), or a
    speedscope file (-o *.json)."""

    WRITES_A_FILE = True

    def report(self, maps: Maps) -> list[str]:
        lines = folded(maps)
        output = getattr(self.options, "output", None) or ""
        title = "pyusdt: %s" % output
        if output.endswith(".svg"):
            from pyusdt_tracer import flame
            return [flame.render(flame.parse(lines), title=title)]
        if output.endswith(".json"):
            from pyusdt_tracer import flame, formats
            stacks = flame.read_stacks(lines)
            return [json.dumps(formats.speedscope_from_folded(stacks, title))]
        return lines


class Timeline(Renderer):
    """pytimeline: a Chrome trace or speedscope file, built by
    pyusdt_tracer.timeline (imported here only when used: it imports this
    module)."""

    WRITES_A_FILE = True

    def __new__(cls, options: argparse.Namespace, out: IO[str]) -> Renderer:
        from pyusdt_tracer.timeline import Timeline as Built
        return Built(options, out)


def exception_type(text: str) -> str:
    """The type of an exception as pyusdt renders it: "Type: message"."""
    return text.split(": ", 1)[0]


def folded(maps: Maps) -> list[str]:
    """Folded stacks ("a;b;c 123", microseconds) from pyflame's tree: each
    node's @stack_ns, its frames found by following @parent to the root."""
    codes = Codes(maps)
    code_of = maps.by_code("@code")
    parent_of = maps.by_code("@parent")
    totals: dict[str, int] = defaultdict(int)
    for node, ns in maps.by_code("@stack_ns").items():
        frames = []
        seen = set()
        while node and node in code_of and node not in seen:
            seen.add(node)
            frames.append(codes.frame(code_of[node]))
            node = parent_of.get(node, 0) & U64
        if frames:
            totals[";".join(reversed(frames))] += ns
    return ["%s %d" % (stack, round(ns / 1000)) for stack, ns in sorted(totals.items())
            if round(ns / 1000) > 0]


@functools.lru_cache(maxsize=None)
def syscall_table() -> dict[int, str]:
    """System call numbers to names, from the kernel headers (linux-libc-dev)
    for this machine; empty if they are not installed."""
    names: dict[int, str] = {}
    for path in SYSCALL_HEADERS.get(os.uname().machine, ()):
        try:
            with open(path, encoding="utf-8") as header:
                text = header.read()
        except OSError:
            continue
        for name, number in re.findall(r"^#define\s+__NR_(\w+)\s+(\d+)\s*$", text, re.M):
            names.setdefault(int(number), name)
        if names:
            break
    return names


def syscall_name(number: int) -> str:
    return syscall_table().get(number, "syscall %d" % number)


def renderer_class(report_name: str | None) -> type[Renderer] | None:
    """The renderer a tool header names ("Report:"), or None for a tool
    without one (its output is copied as bpftrace prints it)."""
    return getattr(sys.modules[__name__], report_name) if report_name else None


def renderer(tool: str, options: argparse.Namespace, out: IO[str]) -> Renderer | None:
    """The renderer of TOOL, made for OPTIONS and OUT, or None."""
    from pyusdt_tracer.tools import find_tool   # N.B. tools imports this module
    cls = renderer_class(find_tool(tool).report)
    return cls(options, out) if cls else None
