"""An independent, pure-Python recorder of the events pyusdt's probes report.

Usage: python tests/recorder.py OUTPUT.jsonl script.py [args...]

Runs SCRIPT as __main__ under a sys.monitoring tool of its own (tool id 4,
never pyusdt's code) and writes one JSON list per event:
    [probe, tid, function, file, line, offset, value, code_id, args]
with offset and value null where the probe has none.  code_id is the
recorder's own number for the code object (1, 2, ... in order of first
sight, each code object kept alive so that no number is ever reused); it is
comparable with pyusdt's only structurally.  GC_START and GC_DONE (recorded
through gc.callbacks) have no function, file, line or code: their integer
arguments are in args.

The probes recorded are those named in $RECORD_PROBES (comma-separated;
default: every probe that reports a code event).  SCRIPT's own exit status
and traceback are passed through, so that a program whose exception escapes
can be recorded too.

The rendering rules are written from README's probe reference, not from
pyusdt's C code, so that an e2e test comparing the two streams catches a
mistake in either.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import runpy
import sys
import threading
import types
from typing import TextIO

VALUE_MAX = 127
HEAPTYPE = 1 << 9
EVENTS = sys.monitoring.events
TOOL = 4
CODE_PROBES = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "CALL", "LINE",
               "PY_UNWIND", "PY_THROW", "RAISE", "EXCEPTION_HANDLED")
GC_PROBES = ("GC_START", "GC_DONE")


def bounded(text: str, cut: bool = False) -> str:
    """TEXT as at most VALUE_MAX bytes of UTF-8, "..." appended when cut
    (here or, when CUT, already by the caller)."""
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
    """The C-level name of a type (tp_name), as its instances' placeholders
    show it: "list", "collections.OrderedDict", "Foo" for a class statement,
    "functools.partial" for a type made by PyType_FromSpec.  Python has no
    attribute equal to it for all types, so it is read from the type object
    itself: tp_name follows PyObject_VAR_HEAD, an object header (whose size
    is object.__basicsize__: larger on free-threaded builds) and a size."""
    address = id(cls) + object.__basicsize__ + ctypes.sizeof(ctypes.c_ssize_t)
    return ctypes.c_char_p.from_address(address).value.decode("utf-8", "replace")


def type_name(cls: type) -> str:
    """A type's own name: __qualname__ of a class defined in Python, the
    C-level name of a built-in one."""
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


def render_exception(exc: BaseException) -> str:
    """The exception's type name, then ": message" when its args are exactly
    one exact str.  args is read through BaseException's own descriptor, so
    nothing the program defines (__str__, an args property) runs.  A message
    with no UTF-8 form (lone surrogates) cannot be produced, and is left
    out: the type name alone is still worth reporting."""
    text = type_name(type(exc))
    args = BaseException.args.__get__(exc)
    if type(args) is tuple and len(args) == 1 and type(args[0]) is str:
        try:
            args[0].encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            text += ": " + args[0]
    return bounded(text)


def line_of(code: types.CodeType, offset: int) -> int:
    """The source line of the instruction at OFFSET, -1 if it has none."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return -1 if line is None else line
    return -1


class Recorder:
    """The sys.monitoring callbacks, one per probe, writing rows to OUT."""

    def __init__(self, out: TextIO):
        self.out = out
        self.lock = threading.Lock()
        # Numbers by id(): code objects compare equal by content, and two
        # compilations of one source are still two code objects.  Every code
        # object seen is kept alive, so no id() and no number is reused.
        self.code_ids: dict[int, int] = {}
        self.codes: list[types.CodeType] = []
        # GC rows not yet written.  A collection can start anywhere, in the
        # middle of write() too (which must not be re-entered), so the GC
        # callback only queues its row and the next write() writes it first.
        self.collections: list[list] = []
        self.gc_start = self.gc_done = False

    def code_id(self, code: types.CodeType) -> int:
        with self.lock:
            number = self.code_ids.get(id(code))
            if number is None:
                self.codes.append(code)
                number = self.code_ids[id(code)] = len(self.codes)
            return number

    def write(self, row: list | None) -> None:
        """Writes ROW (if any) after the rows of collections that happened
        before it."""
        with self.lock:
            while self.collections:
                self.out.write(json.dumps(self.collections.pop(0)) + "\n")
            if row is not None:
                self.out.write(json.dumps(row) + "\n")

    def emit(self, probe, code, line, offset, value):
        self.write([probe, threading.get_native_id(), code.co_qualname, code.co_filename,
                    line, offset, value, self.code_id(code), None])

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

    def exception_event(self, probe, code, offset, exc):
        self.emit(probe, code, line_of(code, offset), offset, render_exception(exc))

    def py_unwind(self, code, offset, exc):
        self.exception_event("PY_UNWIND", code, offset, exc)

    def py_throw(self, code, offset, exc):
        self.exception_event("PY_THROW", code, offset, exc)

    def raise_(self, code, offset, exc):
        self.exception_event("RAISE", code, offset, exc)

    def exception_handled(self, code, offset, exc):
        self.exception_event("EXCEPTION_HANDLED", code, offset, exc)

    def gc_callback(self, phase: str, info: dict) -> None:
        if phase == "start" and self.gc_start:
            self.gc_row("GC_START", [info["generation"]])
        elif phase == "stop" and self.gc_done:
            self.gc_row("GC_DONE", [info["generation"], info["collected"],
                                    info["uncollectable"]])

    def gc_row(self, probe: str, args: list[int]) -> None:
        self.collections.append([probe, threading.get_native_id(), None, None, None, None,
                                 None, None, args])

    def install(self, probes) -> None:
        sys.monitoring.use_tool_id(TOOL, "pyusdt-test-recorder")
        mask = 0
        for name in probes:
            if name in CODE_PROBES:
                event = getattr(EVENTS, name)
                callback = getattr(self, "raise_" if name == "RAISE" else name.lower())
                sys.monitoring.register_callback(TOOL, event, callback)
                mask |= event
            elif name not in GC_PROBES:
                raise ValueError("the recorder cannot record %s" % name)
        self.gc_start = "GC_START" in probes
        self.gc_done = "GC_DONE" in probes
        if self.gc_start or self.gc_done:
            gc.callbacks.append(self.gc_callback)
        sys.monitoring.set_events(TOOL, mask)

    def uninstall(self) -> None:
        sys.monitoring.set_events(TOOL, 0)
        sys.monitoring.free_tool_id(TOOL)
        if self.gc_callback in gc.callbacks:
            gc.callbacks.remove(self.gc_callback)
        self.write(None)


def main() -> None:
    output, script, *args = sys.argv[1:]
    probes = os.environ.get("RECORD_PROBES", ",".join(CODE_PROBES)).split(",")
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
