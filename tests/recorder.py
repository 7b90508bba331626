"""An independent, pure-Python recorder of the events pyusdt's probes report.

Usage: python tests/recorder.py OUTPUT.jsonl script.py [args...]

Runs SCRIPT as __main__ under a sys.monitoring tool of its own (tool id 4,
never pyusdt's code) and writes one JSON list per event:
    [probe, tid, function, file, line, offset, value]
with offset and value null where the probe has none.  The rendering rules are
written from README's probe reference, not from pyusdt's C code, so that an
e2e test comparing the two streams catches a mistake in either.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import types

VALUE_MAX = 127
HEAPTYPE = 1 << 9
EVENTS = sys.monitoring.events
TOOL = 4


def bounded(text: str, cut: bool = False) -> str:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > VALUE_MAX:
        data = data[:VALUE_MAX + 1]
        end = VALUE_MAX
        while end > 0 and (data[end] & 0xC0) == 0x80:
            end -= 1
        data = data[:end]
        cut = True
    return data.decode("utf-8", "replace") + ("..." if cut else "")


def tp_name(cls: type) -> str:
    """The C-level name of a type, as its instances' placeholders show it."""
    if cls.__flags__ & HEAPTYPE or cls.__module__ == "builtins":
        return cls.__name__
    return "%s.%s" % (cls.__module__, cls.__name__)


def type_name(cls: type) -> str:
    return cls.__qualname__ if cls.__flags__ & HEAPTYPE else tp_name(cls)


def render_value(value: object) -> str:
    kind = type(value)
    if value is None or kind in (bool, float):
        return bounded(repr(value))
    if kind is int:
        if -2**63 <= value < 2**63:
            return str(value)
        bits = value.bit_length()
        if bits <= 4096:
            try:
                return bounded(repr(value))
            except ValueError:
                pass
        return "<int of %d bits>" % bits
    if kind in (str, bytes):
        if len(value) > VALUE_MAX + 1:
            return bounded(repr(value[:VALUE_MAX + 1]), cut=True)
        return bounded(repr(value))
    return bounded("<%s object>" % tp_name(kind))


def render_callable(func: object) -> str:
    if isinstance(func, types.MethodType):
        func = func.__func__
    if isinstance(func, types.FunctionType):
        return bounded(func.__qualname__)
    if isinstance(func, types.BuiltinFunctionType):
        owner = func.__self__
        if owner is None or isinstance(owner, types.ModuleType):
            module = func.__module__
            if isinstance(module, str) and module != "builtins":
                return bounded("%s.%s" % (module, func.__name__))
            return bounded(func.__name__)
        cls = owner if isinstance(owner, type) else type(owner)
        return bounded("%s.%s" % (type_name(cls), func.__name__))
    if isinstance(func, type):
        return bounded(type_name(func))
    if isinstance(func, (types.MethodDescriptorType, types.ClassMethodDescriptorType)):
        return bounded("%s.%s" % (type_name(func.__objclass__), func.__name__))
    return bounded("<%s object>" % tp_name(type(func)))


def line_of(code: types.CodeType, offset: int) -> int:
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return -1 if line is None else line
    return -1


class Recorder:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    def emit(self, probe, code, line, offset, value):
        row = [probe, threading.get_native_id(), code.co_qualname,
               code.co_filename, line, offset, value]
        with self.lock:
            self.out.write(json.dumps(row) + "\n")

    def py_start(self, code, offset):
        self.emit("PY_START", code, code.co_firstlineno, offset, None)

    def py_resume(self, code, offset):
        self.emit("PY_RESUME", code, line_of(code, offset), offset, None)

    def py_return(self, code, offset, value):
        self.emit("PY_RETURN", code, line_of(code, offset), offset, render_value(value))

    def py_yield(self, code, offset, value):
        self.emit("PY_YIELD", code, line_of(code, offset), offset, render_value(value))

    def call(self, code, offset, func, arg0):
        self.emit("CALL", code, line_of(code, offset), offset, render_callable(func))

    def line(self, code, line):
        self.emit("LINE", code, line, None, None)

    def install(self, probes):
        sys.monitoring.use_tool_id(TOOL, "pyusdt-test-recorder")
        mask = 0
        for name in probes:
            event = getattr(EVENTS, name)
            sys.monitoring.register_callback(TOOL, event, getattr(self, name.lower()))
            mask |= event
        sys.monitoring.set_events(TOOL, mask)

    def uninstall(self):
        sys.monitoring.set_events(TOOL, 0)
        sys.monitoring.free_tool_id(TOOL)


def main() -> None:
    output, script, *args = sys.argv[1:]
    probes = os.environ.get("RECORD_PROBES",
                            "PY_START,PY_RESUME,PY_RETURN,PY_YIELD,CALL,LINE").split(",")
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    with open(output, "w") as out:
        recorder = Recorder(out)
        recorder.install(probes)
        try:
            runpy.run_path(script, run_name="__main__")
        finally:
            recorder.uninstall()


if __name__ == "__main__":
    main()
