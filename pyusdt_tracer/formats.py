"""Writing timelines and stacks in the formats viewers open: Chrome's Trace
Event Format (the JSON object form that Perfetto, chrome://tracing and
speedscope read) and speedscope's own file format
(https://www.speedscope.app/file-format-schema.json).

Chrome traces time events in microseconds: times are written as ns / 1000
with three decimals, which is exact.  speedscope files keep nanoseconds.
Both count from the trace's first event; the clock's own value there
(bpftrace's nsecs, CLOCK_MONOTONIC) is kept in the metadata.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyusdt_tracer.timeline import Span, Trace, thread_label

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
EXPORTER = "pyusdt"
#: The Chrome trace category of each kind of span.
CATEGORIES = {"python": "python", "syscall": "syscall", "offcpu": "sched", "gc": "gc"}
TRUNCATED = "truncated"


def _us(ns: int) -> float:
    return round(ns / 1000, 3)


def truncation_note(trace: Trace) -> str:
    return "%s: --max-events %d reached; nothing after this point was recorded" % (
        TRUNCATED, trace.max_events)


def lost_note(trace: Trace) -> str:
    return "lost: bpftrace lost %d events; spans around them may be cut short" % trace.lost


def _span_args(span: Span) -> dict[str, object]:
    args: dict[str, object] = dict(span.args)
    if span.kind == "python":
        args.update(file=span.file, line=span.line, entry=span.entry,
                    exit=span.exit or "unfinished")
    return args


def chrome(trace: Trace) -> dict[str, object]:
    """TRACE as a Chrome trace (JSON object format): a complete ("X")
    event per span, an instant ("i") per mark and, when truncated or
    when bpftrace lost events, a global instant "truncated: ..." or
    "lost: ..." at the end;
    process and thread names as metadata ("M") events."""
    events: list[dict[str, object]] = [
        {"name": "process_name", "ph": "M", "pid": trace.pid, "tid": trace.pid,
         "args": {"name": trace.name}}]
    for index, (tid, name) in enumerate(sorted(trace.threads.items(),
                                               key=lambda item: (item[0] != trace.pid,
                                                                 item[0]))):
        events.append({"name": "thread_name", "ph": "M", "pid": trace.pid, "tid": tid,
                       "args": {"name": name + (" (main)" if tid == trace.pid else "")}})
        events.append({"name": "thread_sort_index", "ph": "M", "pid": trace.pid,
                       "tid": tid, "args": {"sort_index": index}})
    for span in trace.spans:
        events.append({"name": span.name, "cat": CATEGORIES[span.kind], "ph": "X",
                       "ts": _us(span.start - trace.begin),
                       "dur": _us(span.end - span.start), "pid": trace.pid,
                       "tid": span.tid, "args": _span_args(span)})
    for mark in trace.marks:
        events.append({"name": "MARK %s" % mark.name, "cat": "mark", "ph": "i", "s": "t",
                       "ts": _us(mark.time - trace.begin), "pid": trace.pid,
                       "tid": mark.tid, "args": {"detail": mark.detail}})
    notes = ([truncation_note(trace)] if trace.truncated else []) \
        + ([lost_note(trace)] if trace.lost else [])
    for note in notes:
        events.append({"name": note, "cat": "pyusdt", "ph": "i", "s": "g",
                       "ts": _us(trace.end - trace.begin), "pid": trace.pid,
                       "tid": trace.pid, "args": {}})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"exporter": EXPORTER, "clock": "CLOCK_MONOTONIC",
                          "clock_begin_ns": trace.begin, "lost_events": trace.lost,
                          "truncated": trace.truncated, "max_events": trace.max_events,
                          "filters": list(trace.filters),
                          "unmatched_exits": trace.unmatched}}


class _Frames:
    """speedscope's shared frame table: one entry per distinct frame."""

    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []
        self.index: dict[tuple, int] = {}

    def of(self, name: str, file: str = "", line: int = 0) -> int:
        key = (name, file, line)
        found = self.index.get(key)
        if found is None:
            frame: dict[str, object] = {"name": name}
            if file:
                frame["file"] = file
            if line > 0:
                frame["line"] = line
            found = self.index[key] = len(self.frames)
            self.frames.append(frame)
        return found


def _evented(spans: list[Span], frames: _Frames, begin: int) -> list[dict[str, object]]:
    """One thread's spans (in order of start, parents first) as speedscope
    open ("O") and close ("C") events, each close matching the frame on
    top, at non-decreasing times."""
    events: list[dict[str, object]] = []
    stack: list[tuple[int, Span]] = []   # (index among SPANS, span)
    position = {id(span): index for index, span in enumerate(spans)}

    def close(until: int) -> None:
        while stack and stack[-1][0] != until:
            _, done = stack.pop()
            events.append({"type": "C", "at": done.end - begin,
                           "frame": frames.of(*_frame(done))})

    for span in spans:
        close(span.parent if span.parent >= 0 else -2)
        events.append({"type": "O", "at": span.start - begin,
                       "frame": frames.of(*_frame(span))})
        stack.append((position[id(span)], span))
    close(-2)
    return events


def _frame(span: Span) -> tuple[str, str, int]:
    if span.kind == "python":
        return span.name, span.file, span.line
    return span.name, "", 0


def speedscope(trace: Trace) -> dict[str, object]:
    """TRACE as a speedscope file: one evented profile per thread, in
    nanoseconds, its name the thread's.  Marks have no place in the format
    and are left out; truncation and lost events show in the file's and
    profiles' names."""
    frames = _Frames()
    profiles = []
    suffix = " [%s at %d events]" % (TRUNCATED, trace.max_events) if trace.truncated else ""
    suffix += " [%d events lost]" % trace.lost if trace.lost else ""
    for tid in sorted(trace.threads, key=lambda tid: (tid != trace.pid, tid)):
        name = thread_label(trace, tid)
        spans = [span for span in trace.spans if span.tid == tid]
        # Parents are indexes in trace.spans: renumber them in SPANS.
        where = {index: local for local, index in enumerate(
            i for i, span in enumerate(trace.spans) if span.tid == tid)}
        local = [Span(**{**span.__dict__, "parent": where.get(span.parent, -1)})
                 for span in spans]
        profiles.append({"type": "evented", "name": name + suffix,
                         "unit": "nanoseconds", "startValue": 0,
                         "endValue": trace.end - trace.begin,
                         "events": _evented(local, frames, trace.begin)})
    return {"$schema": SPEEDSCOPE_SCHEMA, "shared": {"frames": frames.frames},
            "profiles": profiles, "name": "pyusdt: %s (pid %d)%s"
            % (trace.name, trace.pid, suffix), "activeProfileIndex": 0,
            "exporter": "%s (%d events lost)" % (EXPORTER, trace.lost)}


def speedscope_from_folded(stacks: Iterable[tuple[list[str], float]], name: str,
                           unit: str = "microseconds") -> dict[str, object]:
    """Folded stacks (frames root first, and a value) as a speedscope file
    with one sampled profile, each stack a sample weighted by its value."""
    frames = _Frames()
    samples: list[list[int]] = []
    weights: list[float] = []
    for stack, value in stacks:
        samples.append([frames.of(frame) for frame in stack])
        weights.append(value)
    return {"$schema": SPEEDSCOPE_SCHEMA, "shared": {"frames": frames.frames},
            "profiles": [{"type": "sampled", "name": name, "unit": unit,
                          "startValue": 0, "endValue": sum(weights),
                          "samples": samples, "weights": weights}],
            "name": name, "activeProfileIndex": 0, "exporter": EXPORTER}
