"""Other tools at work beside pyusdt: a profiler, a coverage tool, a
debugger, a settrace or setprofile tracer, and a program that takes every
free sys.monitoring tool id.

Usage: reliability_tools.py TOOL, TOOL one of SCENARIOS.  Imports pyusdt
itself (so that with PYUSDT_FORCE every probe is attached from the start),
runs a fixed workload under the tool and prints what the tool saw: the same
lines whether or not pyusdt's probes are attached.
"""
import io
import pstats
import sys
import threading

import pyusdt

MONITORING = sys.monitoring
EVENTS = MONITORING.events


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def countdown(n):
    while n:
        yield n
        n -= 1


class Shape:
    def __init__(self, sides):
        self.sides = sides

    def describe(self):
        return "%d sides" % self.sides


def fails(n):
    if n % 3 == 0:
        raise ValueError(n)
    return n


def workload():
    """Calls, generators, methods, exceptions, lambdas and builtins: a known
    number of each (fib(11) makes 287 calls)."""
    total = fib(11)
    total += sum(countdown(23))
    total += len(sorted([Shape(n).describe() for n in range(7)], key=lambda s: s[::-1]))
    for n in range(13):
        try:
            total += fails(n)
        except ValueError:
            total -= 1
    return total


def ours(name):
    """Whether NAME is one of this file's functions (a tool's view of the
    runtime holds the standard library's too)."""
    return name in ("fib", "countdown", "__init__", "describe", "fails", "workload",
                    "<lambda>", "<listcomp>")


def with_cprofile():
    import cProfile
    profiler = cProfile.Profile()
    result = profiler.runcall(workload)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    rows = sorted((func[2], calls, primitive)
                  for func, (primitive, calls, _, _, _) in stats.stats.items()
                  if func[0] == __file__)
    return result, rows


def with_profile():
    import profile
    profiler = profile.Profile()
    result = profiler.runcall(workload)
    profiler.create_stats()
    rows = sorted((func[2], calls, primitive)
                  for func, (primitive, calls, _, _, _) in profiler.stats.items()
                  if func[0] == __file__)
    return result, rows


def with_coverage():
    """A line-coverage tool as coverage.py's sys.monitoring core is built:
    COVERAGE_ID, PY_START and LINE events, each line DISABLEd once seen."""
    tool = MONITORING.COVERAGE_ID
    lines = set()
    starts = []

    def on_start(code, offset):
        if code.co_filename == __file__:
            starts.append(code.co_name)
        return MONITORING.DISABLE

    def on_line(code, line):
        if code.co_filename == __file__:
            lines.add((code.co_name, line))
        return MONITORING.DISABLE

    MONITORING.use_tool_id(tool, "coverage-like")
    MONITORING.register_callback(tool, EVENTS.PY_START, on_start)
    MONITORING.register_callback(tool, EVENTS.LINE, on_line)
    MONITORING.set_events(tool, EVENTS.PY_START | EVENTS.LINE)
    try:
        result = workload() + workload()
    finally:
        MONITORING.set_events(tool, 0)
        MONITORING.register_callback(tool, EVENTS.PY_START, None)
        MONITORING.register_callback(tool, EVENTS.LINE, None)
        MONITORING.free_tool_id(tool)
    MONITORING.restart_events()
    return result, sorted(starts), sorted(lines)


def with_debugger():
    """A debugger on DEBUGGER_ID: a breakpoint as a local LINE event on one
    line of fib, counting hits and reading a local there."""
    tool = MONITORING.DEBUGGER_ID
    hits = []
    code = fib.__code__
    target_line = code.co_firstlineno + 1

    def on_line(code_obj, line):
        if line == target_line:
            frame = sys._getframe(1)
            hits.append(frame.f_locals["n"])

    MONITORING.use_tool_id(tool, "debugger-like")
    MONITORING.register_callback(tool, EVENTS.LINE, on_line)
    MONITORING.set_local_events(tool, code, EVENTS.LINE)
    try:
        result = workload()
    finally:
        MONITORING.set_local_events(tool, code, 0)
        MONITORING.register_callback(tool, EVENTS.LINE, None)
        MONITORING.free_tool_id(tool)
    return result, len(hits), sum(hits)


def with_pdb():
    """pdb (a bdb/settrace debugger) driven by commands as from a user."""
    import pdb
    commands = io.StringIO("break fails\ncontinue\np n\nwhere 1\nnext\nnext\np n\n"
                           "clear 1\ncontinue\n")
    out = io.StringIO()
    debugger = pdb.Pdb(stdin=commands, stdout=out, nosigint=True, readrc=False)
    debugger.use_rawinput = False
    result = debugger.runcall(workload)
    sys.settrace(None)
    text = out.getvalue().replace(__file__, "FILE")
    return result, text.splitlines()


def with_settrace():
    counts = {}

    def tracer(frame, event, arg):
        name = frame.f_code.co_name
        if ours(name):
            key = (event, name, frame.f_lineno)
            counts[key] = counts.get(key, 0) + 1
        return tracer

    sys.settrace(tracer)
    try:
        result = workload()
    finally:
        sys.settrace(None)
    return result, sorted(counts.items())


def with_setprofile():
    counts = {}

    def profiler(frame, event, arg):
        name = arg.__name__ if event.startswith("c_") else frame.f_code.co_name
        if ours(frame.f_code.co_name):
            counts[(event, name)] = counts.get((event, name), 0) + 1

    sys.setprofile(profiler)
    try:
        result = workload()
    finally:
        sys.setprofile(None)
    return result, sorted(counts.items())


def with_threads_settrace():
    """threading.settrace: every new thread traced by the program's tracer."""
    seen = []

    def tracer(frame, event, arg):
        if event == "call" and ours(frame.f_code.co_name):
            seen.append(frame.f_code.co_name)
        return None

    threading.settrace(tracer)
    results = []
    threads = [threading.Thread(target=lambda: results.append(workload())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    threading.settrace(None)
    return sorted(results), len(seen), sorted(set(seen))


def with_every_tool_id():
    """Takes every tool id sys.monitoring has free, then uses them all at
    once (events on each), then gives them back."""
    taken = []
    for tool in range(6):
        if MONITORING.get_tool(tool) is None:
            MONITORING.use_tool_id(tool, "greedy-%d" % tool)
            taken.append(tool)
    counts = dict.fromkeys(taken, 0)

    def make_callback(tool):
        def callback(code, offset):
            counts[tool] += ours(code.co_name)
        return callback

    callbacks = [make_callback(tool) for tool in taken]
    for tool, callback in zip(taken, callbacks):
        MONITORING.register_callback(tool, EVENTS.PY_START, callback)
        MONITORING.set_events(tool, EVENTS.PY_START)
    try:
        result = workload()
    finally:
        for tool in taken:
            MONITORING.set_events(tool, 0)
            MONITORING.register_callback(tool, EVENTS.PY_START, None)
            MONITORING.free_tool_id(tool)
    # Which ids were free depends on pyusdt (it may hold one); what each
    # tool saw must not.
    return result, sorted(set(counts.values())), len(taken) >= 5


SCENARIOS = {
    "cprofile": with_cprofile,
    "profile": with_profile,
    "coverage": with_coverage,
    "debugger": with_debugger,
    "pdb": with_pdb,
    "settrace": with_settrace,
    "setprofile": with_setprofile,
    "threading-settrace": with_threads_settrace,
    "every-tool-id": with_every_tool_id,
}


def main():
    scenario = SCENARIOS[sys.argv[1]]
    for line in scenario():
        print(line)
    # What a tool leaves behind is its own business; pyusdt's id stays
    # pyusdt's for as long as probes are attached.
    print("pyusdt tool", pyusdt.status().tool_id is None or
          MONITORING.get_tool(pyusdt.status().tool_id) == "pyusdt")


if __name__ == "__main__":
    main()
