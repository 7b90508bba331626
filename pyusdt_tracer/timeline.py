"""pytimeline's recording: the lines tools/pytimeline.bt prints, turned into
per-thread spans (Python frames, system calls, off-CPU intervals, garbage
collections) and marks, bounded by --max-events and --filter, and written
by pyusdt_tracer.formats as a Chrome trace or a speedscope file.

bpftrace prints each CPU's events in order, but not the CPUs' in order of
time, and a thread moves between CPUs: each thread's events are sorted by
their timestamps (one clock, bpftrace's nsecs) before entries are paired
with exits.  Pairing follows docs/probes.md: per thread, PY_START,
PY_RESUME and PY_THROW open a span that the next PY_RETURN, PY_YIELD or
PY_UNWIND closes, properly nested; a generator's or coroutine's every
resumption is a span of its own.  Kernel intervals nest inside the span
that was innermost when they began (the tool records them only for threads
inside a Python function).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from pyusdt_tracer import report
from pyusdt_tracer.errors import USAGE_ERROR, TraceError

FORMATS = ("chrome", "speedscope")
ENTRY_KINDS = {"s": "start", "r": "resume", "t": "throw"}
EXIT_KINDS = {"r": "return", "y": "yield", "u": "unwind"}
#: sched_switch's prev_state, low 7 bits (TASK_REPORT), as ps(1) letters;
#: a preempted task is reported as TASK_REPORT_MAX, whose low bits are 0.
TASK_STATES = ((0x01, "S"), (0x02, "D"), (0x04, "T"), (0x08, "t"), (0x10, "X"),
               (0x20, "Z"), (0x40, "P"))
STATE_REASONS = {"R": "preempted", "S": "sleeping", "D": "waiting (uninterruptible)",
                 "T": "stopped", "t": "traced", "X": "dead", "Z": "zombie",
                 "P": "parked"}


def task_state(prev_state: int) -> str:
    """The ps(1) letter of sched_switch's PREV_STATE: R when preempted."""
    for bit, letter in TASK_STATES:
        if prev_state & 0x7f & bit:
            return letter
    return "R"


@dataclass
class Span:
    """One interval on thread TID, START to END in ns of the trace's clock.

    KIND is "python" (a frame's entry to its exit: ENTRY and EXIT say
    which probes, EXIT "" when the trace ended first), "syscall", "offcpu"
    or "gc"; NAME names it (a qualified name, a system call, a state);
    PARENT is the index of the span it sits in (-1: none), DEPTH how many
    spans it sits in."""

    tid: int
    start: int
    end: int
    kind: str
    name: str
    file: str = ""
    line: int = 0
    entry: str = ""
    exit: str = ""
    depth: int = 0
    parent: int = -1
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mark:
    tid: int
    time: int
    name: str
    detail: str


@dataclass
class Trace:
    """A built timeline: SPANS (by thread, in order of start, a parent
    before its children), MARKS, THREADS (tid -> name), the process PID
    and its NAME, BEGIN and END (ns), and what was lost or left out.
    A thread's name is its comm: Linux's, as Python 3.14's threading
    sets it (the main thread and older Pythons' threads: "python3")."""

    spans: list[Span]
    marks: list[Mark]
    threads: dict[int, str]
    pid: int
    name: str
    begin: int
    end: int
    lost: int = 0
    truncated: bool = False
    max_events: int = 0
    unmatched: int = 0
    filters: tuple[str, ...] = ()


@dataclass
class _Thread:
    pid: int
    comm: str
    #: Python entries and exits: (time, seq, is_entry, kind letter, code_id).
    frames: list[tuple[int, int, bool, str, int]] = field(default_factory=list)
    #: Kernel intervals: (start, seq, end, kind, name, args).
    intervals: list[tuple[int, int, int, str, str, dict[str, Any]]] = field(
        default_factory=list)


class Recording:
    """The events of one pytimeline run, fed line by line (feed()), then
    built into a Trace (build()).  At most MAX_EVENTS events (0: no limit)
    are kept; ON_FULL is called once when one more arrives."""

    def __init__(self, max_events: int = 0,
                 on_full: Callable[[], None] | None = None) -> None:
        self.max_events = max_events
        self.on_full = on_full
        self.threads: dict[int, _Thread] = {}
        self.codes: dict[int, tuple[str, str, int]] = {}
        self.marks: list[Mark] = []
        self.events = 0
        self.lost = 0
        #: The earliest time among the events refused: the trace is cut
        #: there, so that it holds every event before it.
        self.cut: int | None = None
        #: When BEGIN and END fired: bpftrace attaches and detaches probes
        #: one at a time, so events outside the two may lack their pairs
        #: (a run of entries whose exits were detached first, say).
        self.opened: int | None = None
        self.closed: int | None = None
        self._seq = 0

    def thread(self, tid: int) -> _Thread:
        found = self.threads.get(tid)
        if found is None:
            found = self.threads[tid] = _Thread(0, "")
        return found

    def _admit(self, time: int) -> bool:
        """Whether an event at TIME is kept, under max_events."""
        if self.max_events and self.events >= self.max_events:
            if self.cut is None and self.on_full is not None:
                self.on_full()
            self.cut = time if self.cut is None else min(self.cut, time)
            return False
        self.events += 1
        self._seq += 1
        return True

    def feed(self, line: str) -> bool:
        """Takes one line of pytimeline.bt's output; False if it is none of
        its events (a banner)."""
        kind, _, rest = line.rstrip("\n").partition(" ")
        try:
            if kind in (">", "<"):
                time, tid, letter, code = rest.split(" ")
                if self._admit(int(time)):
                    self.thread(int(tid)).frames.append(
                        (int(time), self._seq, kind == ">", letter, int(code)))
            elif kind in ("S", "O", "G"):
                self._interval(kind, rest.split(" "))
            elif kind == "C":
                head, _, file = rest.partition("\t")
                code, line_number, name = head.split(" ", 2)
                self.codes.setdefault(int(code), (name, file, int(line_number)))
            elif kind == "T":
                pid, tid, comm = rest.split(" ", 2)
                thread = self.thread(int(tid))
                thread.pid, thread.comm = int(pid), comm
            elif kind in ("B", "E"):
                if kind == "B":
                    self.opened = int(rest)
                else:
                    self.closed = int(rest)
            elif kind == "M":
                head, _, detail = rest.partition("\t")
                time, tid, name = head.split(" ", 2)
                if self._admit(int(time)):
                    self.marks.append(Mark(int(tid), int(time), name, detail))
            else:
                return False
        except ValueError:
            return False
        return True

    def _interval(self, kind: str, fields: list[str]) -> None:
        tid, start, end = int(fields[0]), int(fields[1]), int(fields[2])
        if not self._admit(start):
            return
        if kind == "S":
            number = int(fields[3])
            item = ("syscall", report.syscall_name(number), {"nr": number})
        elif kind == "O":
            state = task_state(int(fields[3]))
            item = ("offcpu", "off-CPU: %s (%s)" % (STATE_REASONS[state], state),
                    {"state": state, "prev_state": int(fields[3])})
        else:
            item = ("gc", "gc: generation %s" % fields[3],
                    {"generation": int(fields[3]), "collected": int(fields[4]),
                     "uncollectable": int(fields[5])})
        self.thread(tid).intervals.append((start, self._seq, max(end, start), *item))

    def times(self) -> list[int]:
        """The times of every event fed between BEGIN and END."""
        found = [time for thread in self.threads.values()
                 for time, *_ in thread.frames]
        found += [time for thread in self.threads.values()
                  for start, _, end, *_ in thread.intervals for time in (start, end)]
        found += [mark.time for mark in self.marks]
        return [time for time in found if self.inside(time)]

    def inside(self, time: int) -> bool:
        return (self.opened is None or time >= self.opened) and \
            (self.closed is None or time <= self.closed)

    def build(self, filters: tuple[str, ...] = (), names: dict[int, str] | None = None,
              process: str | None = None) -> Trace:
        """The Trace of what was fed: cut where max_events refused the first
        event, spans still open closed at its end, only the spans FILTERS
        keep (keep()).  NAMES overrides threads' names (their current
        /proc names), PROCESS the process's."""
        times = self.times()
        begin = min(times, default=0)
        end = max(times, default=0) if self.closed is None else max(self.closed, begin)
        if self.cut is not None:
            end = min(end, self.cut)
        spans: list[Span] = []
        unmatched = 0
        for tid in sorted(self.threads):
            made, lost = self._thread_spans(tid, self.threads[tid], end)
            for span in made:   # parents are indexes in SPANS, not in MADE
                span.parent += len(spans) if span.parent >= 0 else 0
            spans += made
            unmatched += lost
        marks = sorted((mark for mark in self.marks if begin <= mark.time <= end),
                       key=lambda mark: (mark.tid, mark.time))
        pid = next((thread.pid for thread in self.threads.values() if thread.pid), 0)
        threads = {tid: (names or {}).get(tid) or thread.comm or "thread"
                   for tid, thread in sorted(self.threads.items())}
        if filters:
            spans = keep(spans, filters)
            kept_threads = {span.tid for span in spans} | {mark.tid for mark in marks}
            threads = {tid: name for tid, name in threads.items() if tid in kept_threads}
        main = self.threads.get(pid)
        return Trace(spans, marks, threads, pid,
                     process or (main.comm if main else "") or "python", begin, end,
                     self.lost, self.cut is not None, self.max_events, unmatched,
                     tuple(filters))

    def _thread_spans(self, tid: int, thread: _Thread, end: int) -> tuple[list[Span], int]:
        """THREAD's spans, in order of start (a parent first), and how many
        exits closed nothing (frames entered before the trace began)."""
        spans: list[Span] = []
        stack: list[int] = []   # indexes in spans of the open spans
        unmatched = 0
        items = sorted([(time, seq, 0, index) for index, (time, seq, *_)
                        in enumerate(thread.frames) if self.inside(time) and time <= end]
                       + [(start, seq, 1, index) for index, (start, seq, *_)
                          in enumerate(thread.intervals)
                          if self.inside(start) and start <= end])

        def close_intervals(time: int) -> None:
            # Kernel intervals hold no Python event: whatever follows one
            # ends it (at its own end, or cut at TIME if data disagree).
            while stack and spans[stack[-1]].kind != "python":
                span = spans[stack.pop()]
                span.end = min(span.end, time)

        for time, _, source, index in items:
            if source == 1:
                start, _, stop, kind, name, args = thread.intervals[index]
                while stack and spans[stack[-1]].kind != "python" \
                        and spans[stack[-1]].end <= start:
                    stack.pop()
                if stack and spans[stack[-1]].kind != "python":
                    stop = min(stop, spans[stack[-1]].end)
                spans.append(Span(tid, start, min(stop, end), kind, name,
                                  depth=len(stack), parent=stack[-1] if stack else -1,
                                  args=dict(args)))
                stack.append(len(spans) - 1)
                continue
            close_intervals(time)
            _, _, is_entry, letter, code = thread.frames[index]
            if is_entry:
                name, file, line = self.codes.get(code, ("code#%d" % code, "", 0))
                spans.append(Span(tid, time, time, "python", name, file, line,
                                  ENTRY_KINDS.get(letter, letter), depth=len(stack),
                                  parent=stack[-1] if stack else -1,
                                  args={"code_id": code}))
                stack.append(len(spans) - 1)
            elif stack:
                span = spans[stack.pop()]
                span.end = time
                span.exit = EXIT_KINDS.get(letter, letter)
            else:
                unmatched += 1
        for index in stack:
            spans[index].end = max(spans[index].start, min(spans[index].end, end)
                                   if spans[index].kind != "python" else end)
        # Intervals were appended when they began, among the frames: order
        # everything by start, parents before their children.
        order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].depth, i))
        where = {old: new for new, old in enumerate(order)}
        result = [spans[i] for i in order]
        for span in result:
            span.parent = where.get(span.parent, -1) if span.parent >= 0 else -1
        return result, unmatched


def thread_label(trace: Trace, tid: int) -> str:
    """A thread's name (its comm) with its tid, and "main" for the
    process's first thread: what a viewer that shows only a name shows."""
    return "%s (tid %d%s)" % (trace.threads[tid], tid, ", main" if tid == trace.pid else "")


def matches(span: Span, prefixes: tuple[str, ...]) -> bool:
    """Whether a Python span's qualified name, or its module (the file's
    name without .py) and qualified name joined by ".", starts with one of
    PREFIXES."""
    module = os.path.basename(span.file)
    module = module[:-3] if module.endswith(".py") else module
    full = "%s.%s" % (module, span.name) if module else span.name
    return any(span.name.startswith(prefix) or full.startswith(prefix)
               for prefix in prefixes)


def keep(spans: list[Span], prefixes: tuple[str, ...]) -> list[Span]:
    """The spans --filter PREFIXES keeps: Python spans that match, and
    kernel intervals inside a kept Python span; parents and depths
    renumbered among the kept ones."""
    kept: list[int] = []
    new_index: dict[int, int] = {}
    # Spans come per thread in order of start with parents first, so a
    # parent's fate is known before its children's.
    inside_kept: dict[int, bool] = {}
    for index, span in enumerate(spans):
        parent_inside = inside_kept.get(span.parent, False) if span.parent >= 0 else False
        if span.kind == "python":
            wanted = matches(span, prefixes)
            inside_kept[index] = parent_inside or wanted
        else:
            wanted = parent_inside
            inside_kept[index] = parent_inside
        if wanted:
            new_index[index] = len(kept)
            kept.append(index)
    result = []
    for index in kept:
        span = spans[index]
        parent = span.parent
        while parent >= 0 and parent not in new_index:
            parent = spans[parent].parent
        depth = 0 if parent < 0 else result[new_index[parent]].depth + 1
        result.append(Span(**{**span.__dict__, "parent": new_index.get(parent, -1),
                              "depth": depth}))
    return result


def proc_names(pid: int, tids: list[int]) -> tuple[str | None, dict[int, str]]:
    """The process's and its threads' current names (comm), where they
    still run."""
    def read(path: str) -> str | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                return file.read().strip() or None
        except OSError:
            return None
    if not pid:
        return None, {}
    names = {}
    for tid in tids:
        name = read("/proc/%d/task/%d/comm" % (pid, tid))
        if name:
            names[tid] = name
    return read("/proc/%d/comm" % pid), names


def check_options(tool_report: str | None, options: argparse.Namespace) -> None:
    """Refuses pytimeline's options for a tool other than pytimeline."""
    if tool_report == "Timeline":
        return
    for option in ("format", "max_events", "filter"):
        if getattr(options, option, None):
            raise TraceError("%s has no --%s option (pytimeline has)"
                             % (options.tool, option.replace("_", "-")), USAGE_ERROR)


class Timeline(report.Renderer):
    """pytimeline: the recording, written as a Chrome trace or speedscope
    file at the end, with a summary on stderr."""

    def __init__(self, options: argparse.Namespace, out: IO[str]) -> None:
        super().__init__(options, out)
        self.stop: Callable[[], None] | None = None
        self.recording = Recording(getattr(options, "max_events", None) or 0, self._full)
        self.names: tuple[str | None, dict[int, str]] = (None, {})

    def _full(self) -> None:
        print("pyusdt.trace: --max-events %d reached: the timeline is truncated there"
              % self.recording.max_events, file=sys.stderr, flush=True)
        if self.stop is not None:
            self.stop()

    def interrupted(self, ns: int) -> None:
        """bpftrace was interrupted at NS (its clock): the recording ends
        there, before it detached a probe."""
        closed = self.recording.closed
        self.recording.closed = ns if closed is None else min(closed, ns)

    def event(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type"), event.get("data")
        if kind == "printf" and isinstance(data, str):
            for line in data.splitlines():
                if line and not self.recording.feed(line):
                    self.printf(line + "\n")
                elif line.startswith("T "):
                    self._note_names()
        elif kind == "lost_events" and isinstance(data, dict):
            self.recording.lost += int(data.get("events", 0) or 0)
            super().event(event)

    def _note_names(self) -> None:
        # Names while the threads still run; a thread seen later that has
        # ended by the end keeps the name bpftrace saw (its comm).
        pid = next((t.pid for t in self.recording.threads.values() if t.pid), 0)
        process, names = proc_names(pid, list(self.recording.threads))
        self.names = (process or self.names[0], {**self.names[1], **names})

    def finish(self) -> None:
        from pyusdt_tracer import formats
        trace = self.recording.build(tuple(getattr(self.options, "filter", None) or ()),
                                     self.names[1], self.names[0])
        kind = getattr(self.options, "format", None) or "chrome"
        data = formats.chrome(trace) if kind == "chrome" else formats.speedscope(trace)
        json.dump(data, self.out, separators=(",", ":"))
        self.out.write("\n")
        self.out.flush()
        counts = {kind: sum(1 for span in trace.spans if span.kind == kind)
                  for kind in ("python", "syscall", "offcpu", "gc")}
        print("pytimeline: %d spans, %d system calls, %d off-CPU intervals, %d "
              "collections, %d marks on %d threads (%d events lost)%s written to %s (%s)"
              % (counts["python"], counts["syscall"], counts["offcpu"], counts["gc"],
                 len(trace.marks), len(trace.threads), trace.lost,
                 ", truncated at --max-events" if trace.truncated else "",
                 getattr(self.options, "output", None) or "stdout", kind),
              file=sys.stderr, flush=True)
