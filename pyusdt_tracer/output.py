"""Where a trace's report goes: bpftrace's lines to a renderer (or as they
are, with --raw), and the file or stdout it writes to."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import IO

from pyusdt_tracer import report
from pyusdt_tracer.errors import USAGE_ERROR, TraceError


def feeder(renderer: report.Renderer | None, out: IO[str]) -> Callable[[str], None]:
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


def open_output(options: argparse.Namespace,
                 tool: Tool) -> tuple[IO[str], Callable[[], None]]:
    if not options.output:
        return sys.stdout, lambda: None
    try:
        file = open(options.output, "w", encoding="utf-8")
    except OSError as exc:
        raise TraceError("cannot write %s: %s" % (options.output, exc.strerror),
                         USAGE_ERROR) from None
    return file, file.close
