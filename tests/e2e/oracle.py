"""Comparing event streams: pyusdt's (through bpftrace) with the recorder's.

Two runs of one program give different thread ids and different code ids,
and threads that run at the same time interleave differently.  So streams
are compared in a canonical form:

  - split per thread, each thread's events in order;
  - threads ordered by their own events (not by tid or by when they ran),
    so that two runs of the same program line up thread for thread;
  - tids dropped, and each code_id replaced by its number in order of first
    appearance over the threads in that order: two streams are equal only if
    the same code objects carry the same id everywhere and different ones
    different ids.

Also here: the pairing rule README documents (every entry matched by one
exit of the same frame, on the same thread, properly nested).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable

from tests.e2e.bpf import Event

ENTRIES = ("PY_START", "PY_RESUME", "PY_THROW")
EXITS = ("PY_RETURN", "PY_YIELD", "PY_UNWIND")


def by_thread(events: Iterable[Event]) -> dict[int, list[Event]]:
    """Each thread's events, in order, keyed by tid."""
    threads: dict[int, list[Event]] = {}
    for event in events:
        threads.setdefault(event.tid, []).append(event)
    return threads


def _shape(stream: list[Event]) -> str:
    """A thread's events without its tid and code ids: the key threads are
    ordered by."""
    return json.dumps([list(event._replace(tid=0, code_id=None)) for event in stream])


def canonical(events: Iterable[Event]) -> list[list[Event]]:
    """EVENTS as a list of per-thread streams in the canonical form above."""
    streams = sorted(by_thread(events).values(), key=_shape)
    numbers: dict[int, int] = {}
    result = []
    for stream in streams:
        result.append([event._replace(tid=0, code_id=None if event.code_id is None
                                      else numbers.setdefault(event.code_id,
                                                              len(numbers) + 1))
                       for event in stream])
    return result


def describe(event: Event) -> str:
    fields = [event.probe, event.function, event.file, event.line, event.offset,
              event.value, event.code_id]
    if event.args is not None:
        fields.append(event.args)
    return " | ".join("-" if field is None else str(field) for field in fields)


def difference(expected: Iterable[Event], actual: Iterable[Event]) -> str | None:
    """None if the two streams are equal in canonical form, else a diff of
    them (expected first), thread by thread."""
    want, got = canonical(expected), canonical(actual)
    if want == got:
        return None
    lines = []
    if len(want) != len(got):
        lines.append("%d threads expected, %d seen" % (len(want), len(got)))
    for index in range(max(len(want), len(got))):
        a = [describe(e) for e in want[index]] if index < len(want) else []
        b = [describe(e) for e in got[index]] if index < len(got) else []
        if a != b:
            lines.append("thread %d:" % index)
            lines.extend(difflib.unified_diff(a, b, "recorder", "bpftrace", n=3,
                                              lineterm=""))
    return "\n".join(lines)


def pairing_errors(events: Iterable[Event]) -> list[str]:
    """Where EVENTS break the pairing rule: per thread, every entry
    (PY_START, PY_RESUME, PY_THROW) is closed by exactly one exit
    (PY_RETURN, PY_YIELD, PY_UNWIND) of the same code object, properly
    nested, and every exit closes an open entry.  Events of other probes are
    ignored."""
    errors = []
    for tid, stream in by_thread(events).items():
        stack: list[Event] = []
        for index, event in enumerate(stream):
            if event.probe in ENTRIES:
                stack.append(event)
            elif event.probe in EXITS:
                if not stack:
                    errors.append("thread %d, event %d: %s closes nothing"
                                  % (tid, index, describe(event)))
                    continue
                entry = stack.pop()
                if entry.code_id != event.code_id or entry.function != event.function:
                    errors.append("thread %d, event %d: %s closes %s"
                                  % (tid, index, describe(event), describe(entry)))
        for entry in stack:
            errors.append("thread %d: %s never closed" % (tid, describe(entry)))
    return errors
