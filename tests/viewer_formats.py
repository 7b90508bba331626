"""Checkers of the files viewers open, written from each format's published
description, not from pyusdt's writer (pyusdt_tracer/formats.py), so that
a test passing a file through them catches a mistake in either.

- chrome_errors: Google's "Trace Event Format" document (the JSON Object
  Format: traceEvents, displayTimeUnit, otherData; each event's name, cat,
  ph, ts in microseconds, pid, tid, args; per phase: "X" complete events
  with dur, "B"/"E" duration events properly nested, "i"/"I" instants
  with scope s of g, p or t, "M" metadata events process_name,
  process_labels, process_sort_index, thread_name, thread_sort_index).
  Duration events on one thread must nest: a child ends before its parent.
- speedscope_errors: speedscope's file-format-schema.json (FileFormat.File,
  draft-07 JSON Schema: $schema, shared.frames, profiles, evented and
  sampled profiles, value units) and its evented-profile rules: events in
  order of time, each close ("C") closing the frame opened last, every
  frame closed, times within startValue and endValue.
"""

from __future__ import annotations

from typing import Any

CHROME_PHASES = set("BEXiIC") | set("bne") | set("stf") | set("PNODM") | set("Rcv") \
    | {"(", ")"}
CHROME_METADATA = {"process_name": ("name", str), "process_labels": ("labels", str),
                   "process_sort_index": ("sort_index", int),
                   "thread_name": ("name", str), "thread_sort_index": ("sort_index", int)}
SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
SPEEDSCOPE_UNITS = {"bytes", "microseconds", "milliseconds", "nanoseconds", "none",
                    "seconds"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ns(us: float) -> int:
    """A Chrome time (microseconds) in whole nanoseconds, so that nesting
    is compared without floating-point error."""
    return round(us * 1000)


def chrome_errors(data: Any) -> list[str]:
    """What breaks the Trace Event Format in DATA (a parsed JSON file)."""
    if isinstance(data, list):
        events, errors = data, []
    elif isinstance(data, dict):
        events = data.get("traceEvents")
        errors = []
        if not isinstance(events, list):
            return ["the object has no traceEvents array"]
        if "displayTimeUnit" in data and data["displayTimeUnit"] not in ("ms", "ns"):
            errors.append("displayTimeUnit %r is neither ms nor ns" % data["displayTimeUnit"])
        if "otherData" in data and not isinstance(data["otherData"], dict):
            errors.append("otherData is not an object")
    else:
        return ["neither an array of events nor an object with traceEvents"]
    durations: dict[tuple, list[tuple[int, int, int]]] = {}
    open_b: dict[tuple, list[str]] = {}
    for index, event in enumerate(events):
        where = "event %d" % index
        if not isinstance(event, dict):
            errors.append("%s is not an object" % where)
            continue
        phase = event.get("ph")
        if phase not in CHROME_PHASES:
            errors.append("%s: unknown phase %r" % (where, phase))
            continue
        if not isinstance(event.get("name", ""), str) or ("name" not in event
                                                          and phase not in "E"):
            errors.append("%s: no string name" % where)
        if "cat" in event and not isinstance(event["cat"], str):
            errors.append("%s: cat is not a string" % where)
        if "args" in event and not isinstance(event["args"], dict):
            errors.append("%s: args is not an object" % where)
        for key in ("pid", "tid"):
            if key in event and not isinstance(event[key], (int, str)):
                errors.append("%s: %s is neither a number nor a string" % (where, key))
        if phase == "M":
            errors += _metadata_errors(where, event)
            continue
        if not _number(event.get("ts")):
            errors.append("%s: ts is not a number" % where)
            continue
        thread = (event.get("pid"), event.get("tid"))
        if phase == "X":
            if not _number(event.get("dur")) or event["dur"] < 0:
                errors.append("%s: a complete event without a dur >= 0" % where)
                continue
            durations.setdefault(thread, []).append(
                (_ns(event["ts"]), _ns(event["ts"] + event["dur"]), index))
        elif phase in "iI":
            if event.get("s", "t") not in ("g", "p", "t"):
                errors.append("%s: instant scope %r is not g, p or t" % (where, event["s"]))
        elif phase == "B":
            open_b.setdefault(thread, []).append(event.get("name", ""))
        elif phase == "E":
            if not open_b.get(thread):
                errors.append("%s: an end event with no begin open" % where)
            else:
                open_b[thread].pop()
    for thread, spans in durations.items():
        errors += _nesting_errors(thread, spans)
    return errors


def _metadata_errors(where: str, event: dict) -> list[str]:
    name = event.get("name")
    if name not in CHROME_METADATA:
        return ["%s: unknown metadata event %r" % (where, name)]
    key, kind = CHROME_METADATA[name]
    value = (event.get("args") or {}).get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        return ["%s: %s without args.%s of type %s" % (where, name, key, kind.__name__)]
    return []


def _nesting_errors(thread: tuple, spans: list[tuple[int, int, int]]) -> list[str]:
    """Complete events on one thread must nest: sorted by start (longest
    first), each lies within every event still open when it starts."""
    errors = []
    stack: list[tuple[int, int, int]] = []
    for start, end, index in sorted(spans, key=lambda s: (s[0], -s[1], s[2])):
        while stack and stack[-1][1] <= start and not (stack[-1][1] == start == end):
            stack.pop()
        if stack and end > stack[-1][1]:
            errors.append("thread %s: event %d (%d-%d ns) overlaps event %d (%d-%d ns) "
                          "without nesting" % (thread, index, start, end, stack[-1][2],
                                               stack[-1][0], stack[-1][1]))
            continue
        stack.append((start, end, index))
    return errors


def nest_chrome(events: list[dict]) -> dict[int, int | None]:
    """Each complete event of EVENTS (by its index) with the index of the
    innermost complete event of its thread that contains it (None at the
    top), found as chrome_errors' nesting check finds it."""
    threads: dict[tuple, list[tuple[int, int, int]]] = {}
    for index, event in enumerate(events):
        if event.get("ph") == "X":
            threads.setdefault((event.get("pid"), event.get("tid")), []).append(
                (_ns(event["ts"]), _ns(event["ts"] + event["dur"]), index))
    result: dict[int, int | None] = {}
    for spans in threads.values():
        stack: list[tuple[int, int, int]] = []
        for start, end, index in sorted(spans, key=lambda s: (s[0], -s[1], s[2])):
            while stack and (stack[-1][1] < start or (stack[-1][1] == start
                                                      and end > start)):
                stack.pop()
            result[index] = stack[-1][2] if stack else None
            stack.append((start, end, index))
    return result


def speedscope_errors(data: Any) -> list[str]:
    """What breaks speedscope's file format in DATA (a parsed JSON file)."""
    if not isinstance(data, dict):
        return ["the file is not an object"]
    errors = []
    if data.get("$schema") != SPEEDSCOPE_SCHEMA:
        errors.append("$schema is not %s" % SPEEDSCOPE_SCHEMA)
    for key, kind in (("name", str), ("exporter", str), ("activeProfileIndex", (int, float))):
        if key in data and not isinstance(data[key], kind):
            errors.append("%s has the wrong type" % key)
    shared = data.get("shared")
    frames = shared.get("frames") if isinstance(shared, dict) else None
    if not isinstance(frames, list):
        return errors + ["shared.frames is not an array"]
    for index, frame in enumerate(frames):
        if not isinstance(frame, dict) or not isinstance(frame.get("name"), str):
            errors.append("frame %d has no string name" % index)
            continue
        if "file" in frame and not isinstance(frame["file"], str):
            errors.append("frame %d: file is not a string" % index)
        for key in ("line", "col"):
            if key in frame and not _number(frame[key]):
                errors.append("frame %d: %s is not a number" % (index, key))
    profiles = data.get("profiles")
    if not isinstance(profiles, list):
        return errors + ["profiles is not an array"]
    for index, profile in enumerate(profiles):
        errors += ["profile %d: %s" % (index, error)
                   for error in _profile_errors(profile, len(frames))]
    return errors


def _profile_errors(profile: Any, frames: int) -> list[str]:
    if not isinstance(profile, dict):
        return ["not an object"]
    errors = []
    if not isinstance(profile.get("name"), str):
        errors.append("no string name")
    if profile.get("unit") not in SPEEDSCOPE_UNITS:
        errors.append("unit %r is not one of %s" % (profile.get("unit"),
                                                    sorted(SPEEDSCOPE_UNITS)))
    start, end = profile.get("startValue"), profile.get("endValue")
    if not (_number(start) and _number(end)):
        return errors + ["startValue or endValue is not a number"]
    kind = profile.get("type")
    if kind == "evented":
        return errors + _evented_errors(profile.get("events"), frames, start, end)
    if kind == "sampled":
        samples, weights = profile.get("samples"), profile.get("weights")
        if not isinstance(samples, list) or not isinstance(weights, list):
            return errors + ["samples or weights is not an array"]
        if len(samples) != len(weights):
            errors.append("%d samples but %d weights" % (len(samples), len(weights)))
        for number, stack in enumerate(samples):
            if not isinstance(stack, list) or not all(
                    isinstance(frame, int) and 0 <= frame < frames for frame in stack):
                errors.append("sample %d is not a list of frame indexes" % number)
        if not all(_number(weight) and weight >= 0 for weight in weights):
            errors.append("a weight is not a number >= 0")
        return errors
    return errors + ["type %r is neither evented nor sampled" % kind]


def _evented_errors(events: Any, frames: int, start: float, end: float) -> list[str]:
    if not isinstance(events, list):
        return ["events is not an array"]
    errors = []
    stack: list[int] = []
    last = start
    for index, event in enumerate(events):
        if not isinstance(event, dict) or event.get("type") not in ("O", "C") \
                or not _number(event.get("at")) or not isinstance(event.get("frame"), int):
            errors.append("event %d is not an open or close event" % index)
            continue
        at, frame = event["at"], event["frame"]
        if not 0 <= frame < frames:
            errors.append("event %d: frame %d does not exist" % (index, frame))
        if at < last:
            errors.append("event %d at %s goes back in time (last %s)" % (index, at, last))
        if at > end:
            errors.append("event %d at %s is after endValue %s" % (index, at, end))
        last = max(last, at)
        if event["type"] == "O":
            stack.append(frame)
        elif not stack or stack[-1] != frame:
            errors.append("event %d closes frame %d, but %s is open on top"
                          % (index, frame, stack[-1] if stack else "nothing"))
        else:
            stack.pop()
    if stack:
        errors.append("%d frames never closed" % len(stack))
    return errors
