"""The programs pyusdt's benchmark measures: run under the interpreter being
measured (plain, under ``python -m pyusdt``, forced, or traced) and report
what they timed as one JSON line on stdout.

Usage:
  workloads.py time NAME SIZE REPS [--expect-enabled PROBES] [--cpython-floor PROBES]
                     [--idle-thread yes] [--profile cprofile]
      Runs workload NAME at SIZE, REPS times; prints the CPU and wall
      nanoseconds of each repetition and the events one repetition makes.
      --expect-enabled: first wait until pyusdt has enabled these probes
      (comma-separated), failing after 10 s.  --cpython-floor: instead of
      pyusdt, register a trivial built-in C callback with sys.monitoring
      for these events (2-argument ones only): what CPython itself costs
      per event.  --idle-thread yes: first start a thread that blocks for
      good (what any second thread costs a program: see untraced.py).
      --audit-hook detached: with PYUSDT_FORCE=AUDIT (pyusdt's audit hook
      added at import), lower that semaphore first, as a tracer detaching
      would: the hook stays, unattached (see audit.py).
      --profile cprofile: run each repetition under cProfile.
  workloads.py count NAME SIZE
      Prints how many times Python functions start or resume in one run
      of workload NAME at SIZE (callstats.py's per-call denominator).
  workloads.py serve NAME SIZE [options, as for time]
      The same workload, one repetition per line read from stdin: prints a
      JSON line {"ready": true, "calls": N} once set up, then the CPU
      nanoseconds of each repetition, one per line, until stdin ends
      (turns.lockstep drives several of these in turn).  Each serving
      process first shuffles its heap and its frame stack (shuffle_heap,
      at_random_depth).
  workloads.py spin SECONDS
      Prints "ready", then calls a function in a tight loop for SECONDS
      (the target for attach latency).
  workloads.py memory KIND EVENTS... [--expect-enabled PROBES]
      Makes CALL, PY_START and PY_RETURN events (KIND "steady": one
      function, values of every rendered type; "churn": a new code object
      for every call) and prints the RSS in KiB once each cumulative event
      count in EVENTS is reached.

Stdlib only, and runs on CPython 3.11 too (the peer comparison).  Event
counts are exact: each workload says how many PY_START (and PY_RETURN)
events one repetition makes inside the timed region.
"""

from __future__ import annotations

import _thread
import json
import os
import random
import re
import sys
import time
from typing import Callable

# --- Workloads ----------------------------------------------------------------
# Each make_NAME(size) returns (run, calls): run() does one repetition and
# calls is the number of Python function calls it makes (each one PY_START and
# one PY_RETURN), or None when not counted.


def fib(n: int) -> int:
    """The call-heavy workload: every call is one PY_START and one
    PY_RETURN whose value is an int."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def walk(n: int) -> None:
    """fib's call tree with nothing to return: PY_RETURN renders None."""
    if n > 1:
        walk(n - 1)
        walk(n - 2)


def tree_calls(n: int) -> int:
    """How many calls fib(n) (or walk(n)) makes: 2 * F(n + 1) - 1."""
    a, b = 0, 1          # F(0), F(1)
    for _ in range(n):
        a, b = b, a + b  # now a = F(n), b = F(n + 1)
    return 2 * b - 1


def make_fib(size: int) -> tuple[Callable[[], object], int]:
    return (lambda: fib(size)), tree_calls(size)


def make_walk(size: int) -> tuple[Callable[[], object], int]:
    return (lambda: walk(size)), tree_calls(size)


def label(n: int) -> str:
    """fib's call tree returning a str: PY_RETURN renders its repr."""
    if n > 1:
        label(n - 1)
        label(n - 2)
        return "node"
    return "leaf"


def make_label(size: int) -> tuple[Callable[[], object], int]:
    return (lambda: label(size)), tree_calls(size)


class Vec:
    """A small value class: the method-heavy workload's unit."""

    __slots__ = ("x", "y")

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def add(self, other: Vec) -> Vec:
        return Vec(self.x + other.x, self.y + other.y)

    def scale(self, k: float) -> Vec:
        return Vec(self.x * k, self.y * k)

    def dot(self, other: Vec) -> float:
        return self.x * other.x + self.y * other.y

    @property
    def norm2(self) -> float:
        return self.dot(self)


class Particle:
    def __init__(self, i: int) -> None:
        self.pos = Vec(float(i), float(-i))
        self.vel = Vec(1.0 / (i + 1), 0.5)

    def step(self, dt: float) -> None:
        self.pos = self.pos.add(self.vel.scale(dt))
        if self.pos.norm2 > 1e6:
            self.vel = self.vel.scale(-1.0)


def make_oo(size: int) -> tuple[Callable[[], object], None]:
    def run() -> float:
        particles = [Particle(i) for i in range(100)]
        for _ in range(size):
            for p in particles:
                p.step(0.01)
        return sum(p.pos.x for p in particles)
    return run, None


def make_gen(size: int) -> tuple[Callable[[], object], None]:
    def numbers(n: int):
        i = 0
        while i < n:
            yield i
            i += 1

    def odd(items):
        for item in items:
            if item & 1:
                yield item

    def squared(items):
        for item in items:
            yield item * item

    def pairs(items):
        previous = None
        for item in items:
            if previous is not None:
                yield previous + item
            previous = item

    def run() -> int:
        return sum(pairs(squared(odd(numbers(size)))))
    return run, None


def make_stdlib(size: int) -> tuple[Callable[[], object], None]:
    document = {
        "id": 12345, "name": "pyusdt", "tags": ["usdt", "bpftrace", "python"],
        "nested": {"values": list(range(20)), "ratio": 0.125, "ok": True},
        "text": "the quick brown fox jumps over the lazy dog " * 4,
    }
    words = re.compile(r"\b(\w)(\w*)\b")
    numbers = re.compile(r"\d+")

    def run() -> int:
        total = 0
        for _ in range(size):
            text = json.dumps(document, sort_keys=True)
            back = json.loads(text)
            title = words.sub(lambda m: m.group(1).upper() + m.group(2),
                              back["text"])
            total += len(title) + len(numbers.findall(text))
        return total
    return run, None


def make_openclose(size: int) -> tuple[Callable[[], object], None]:
    """Opens and closes os.devnull SIZE times: one "open" audit event each
    (PEP 578), the workload of the audit hook's cost."""
    def run() -> int:
        for _ in range(size):
            open(os.devnull, "rb").close()
        return size
    return run, None


WORKLOADS = {
    "fib": make_fib,
    "openclose": make_openclose,
    "walk": make_walk,
    "label": make_label,
    "oo": make_oo,
    "gen": make_gen,
    "stdlib": make_stdlib,
}


# --- time ----------------------------------------------------------------------

def wait_enabled(probes: list[str], timeout: float = 10.0) -> None:
    """Waits until pyusdt has enabled every probe in PROBES (a tracer's
    semaphores are raised when the library is mapped, but events are enabled
    by pyusdt's poller)."""
    import pyusdt
    deadline = time.monotonic() + timeout
    while True:
        enabled = pyusdt.status().enabled
        if all(p in enabled for p in probes):
            return
        if time.monotonic() > deadline:
            sys.exit("workloads: pyusdt did not enable %s within %gs (enabled: %s)"
                     % (",".join(probes), timeout, ",".join(enabled) or "none"))
        time.sleep(0.002)


def cpython_floor(probes: list[str]) -> None:
    """Registers operator.is_ as the sys.monitoring callback for PROBES
    (events whose callbacks take 2 arguments: PY_START, PY_RESUME, LINE): a
    built-in fast-call function that allocates nothing and cannot fail, so
    what remains is CPython's own cost of delivering an event.  N.B. most
    other built-ins are no floor: slice() allocates, dict.get hashes the
    code object, a lambda runs a frame."""
    import operator
    mon = sys.monitoring
    tool = 2   # sys.monitoring.OPTIMIZER_ID: free in a benchmark process
    mon.use_tool_id(tool, "bench-floor")
    events = 0
    for name in probes:
        event = getattr(mon.events, name)
        mon.register_callback(tool, event, operator.is_)
        events |= event
    mon.set_events(tool, events)


def detach_audit_hook() -> None:
    """Leaves pyusdt's audit hook installed and no tracer attached."""
    import pyusdt
    if not pyusdt.status().audit_hook:
        sys.exit("workloads: no audit hook: run with PYUSDT_FORCE=AUDIT")
    if pyusdt._lib._release_forced():
        sys.exit("workloads: probes still attached: %s" % (pyusdt.status(),))


def idle_thread() -> None:
    """Starts a thread that blocks for good on a lock nobody releases (a
    _thread thread does not hold up the interpreter's exit)."""
    lock = _thread.allocate_lock()
    lock.acquire()
    _thread.start_new_thread(lock.acquire, ())


# Objects shuffle_heap keeps alive, for the process's life.
_SHUFFLED: list[object] = []


def shuffle_heap() -> None:
    """Leaves the heap in a random state: a random number of blocks of
    random sizes, below and above obmalloc's 512-byte limit (so in its
    pools and in malloc's bins), and of small lists (which the GC tracks),
    of which a random half stays alive.  A workload's speed depends on that
    state: where malloc finds its blocks, when the GC's generations fill
    up.  Without this, each configuration compared would start in one
    fixed state set by what it imported: json+re's instruction count
    moves by 1.1% with an empty sitecustomize.py on PYTHONPATH (valgrind,
    3.12), a bias that no number of rounds averages out.  With it, each
    fresh process draws a new state, and the rounds average over them."""
    rng = random.Random()   # seeded from os.urandom
    blocks = [bytearray(rng.randrange(1, 2048)) for _ in range(rng.randrange(1, 400))]
    lists = [[0] * rng.randrange(40) for _ in range(rng.randrange(1, 2000))]
    _SHUFFLED.extend(o for o in blocks + lists if rng.random() < 0.5)


def at_random_depth(fn: Callable[[], object], depth: int = -1) -> object:
    """FN(), called DEPTH Python calls deep (random: 0 to 63).  Python
    frames live on the thread's data stack: without this, the workload's
    frames would start at one fixed offset from its chunk in each
    configuration compared, set by the frames below (python -m pyusdt runs
    the program under a few of its own).  Measured on 3.13: fib under
    pyusdt ran 2% faster than under plain python in 39 of 40 rounds, with
    the same instruction count; 1.002 at random depths (80 rounds)."""
    if depth < 0:
        depth = random.randrange(64)
    if depth:
        return at_random_depth(fn, depth - 1)
    return fn()


def parse_options(args: list[str]) -> dict[str, str]:
    """--name value pairs."""
    if len(args) % 2:
        sys.exit("workloads: options come in --name value pairs: %r" % args)
    return dict(zip(args[::2], args[1::2]))


def prepare(args: list[str]) -> tuple[Callable[[], object], int | None]:
    """NAME SIZE [options], as time and serve take them: the workload's run
    and call count, once --expect-enabled and --cpython-floor are done."""
    name, size = args[0], int(args[1])
    options = parse_options(args[2:])
    run, calls = WORKLOADS[name](size)
    if "--expect-enabled" in options:
        wait_enabled(options["--expect-enabled"].split(","))
    if "--cpython-floor" in options:
        cpython_floor(options["--cpython-floor"].split(","))
    if options.get("--idle-thread") == "yes":
        idle_thread()
    if options.get("--audit-hook") == "detached":
        detach_audit_hook()
    if options.get("--profile") == "cprofile":
        run = under_cprofile(run)
    return run, calls


def under_cprofile(run: Callable[[], object]) -> Callable[[], object]:
    """RUN with cProfile enabled around it: the in-process profiler that
    CALL_STATS is measured against."""
    import cProfile
    profile = cProfile.Profile()

    def profiled() -> object:
        profile.enable()
        try:
            return run()
        finally:
            profile.disable()
    return profiled


def cmd_count(args: list[str]) -> None:
    """NAME SIZE: how many times a Python function starts or resumes in one
    run of the workload (what a profiler handles per unit of work)."""
    run, _ = WORKLOADS[args[0]](int(args[1]))
    monitoring = sys.monitoring
    tool = monitoring.COVERAGE_ID
    counted = [0]

    def entry(code: object, offset: int) -> None:
        counted[0] += 1

    monitoring.use_tool_id(tool, "count")
    for event in (monitoring.events.PY_START, monitoring.events.PY_RESUME):
        monitoring.register_callback(tool, event, entry)
    monitoring.set_events(tool, monitoring.events.PY_START | monitoring.events.PY_RESUME)
    run()
    monitoring.set_events(tool, 0)
    print(json.dumps({"workload": args[0], "size": int(args[1]), "entries": counted[0]}),
          flush=True)


def cmd_time(args: list[str]) -> None:
    name, size, reps = args[0], int(args[1]), int(args[2])
    run, calls = prepare([name, args[1], *args[3:]])
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        run()
        w1, c1 = time.perf_counter_ns(), time.process_time_ns()
        cpu.append(c1 - c0)
        wall.append(w1 - w0)
    print(json.dumps({"workload": name, "size": size, "calls": calls,
                      "cpu_ns": cpu, "wall_ns": wall}), flush=True)


def cmd_serve(args: list[str]) -> None:
    shuffle_heap()
    at_random_depth(lambda: _serve(args))


def _serve(args: list[str]) -> None:
    run, calls = prepare(args)
    print(json.dumps({"ready": True, "calls": calls}), flush=True)
    process_time_ns = time.process_time_ns
    for _ in sys.stdin:
        c0 = process_time_ns()
        run()
        c1 = process_time_ns()
        print(c1 - c0, flush=True)


# --- spin ----------------------------------------------------------------------

def tick() -> None:
    pass


def cmd_spin(args: list[str]) -> None:
    deadline = time.monotonic() + float(args[0])
    print("ready", flush=True)
    monotonic = time.monotonic
    while monotonic() < deadline:
        tick()


# --- memory --------------------------------------------------------------------

def rss_kib() -> int:
    """The resident set size now (not the peak), from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") // 1024


def identity(value: object) -> object:
    return value


class Opaque:
    pass


# Values of every kind pyusdt renders differently, long ones included.
VALUES = [None, True, 12345, -7, 2 ** 100, 2 ** 5000, 1.5, float("nan"),
          "short", "é" * 300, b"bytes", b"x" * 300, Opaque(), [1, 2], identity]


def steady(calls: int) -> None:
    """CALLS calls of one function, cycling through VALUES: 3 events each
    (CALL, PY_START, PY_RETURN)."""
    values = VALUES
    for i in range(calls):
        identity(values[i % 15])


def churn(calls: int) -> None:
    """CALLS calls, each of a function with a code object of its own, freed
    right after: 5 events each (CALL code.replace, CALL FunctionType, CALL
    f, PY_START f, PY_RETURN f).  Whatever pyusdt keeps per code object must
    go with it."""
    values = VALUES
    code = identity.__code__
    scope = globals()
    function = type(identity)
    for i in range(calls):
        f = function(code.replace(co_firstlineno=i % 1000 + 1), scope)
        f(values[i % 15])


MEMORY_KINDS = {"steady": (steady, 3), "churn": (churn, 5)}


def cmd_memory(args: list[str]) -> None:
    kind = args[0]
    rest = args[1:]
    split = next((i for i, a in enumerate(rest) if a.startswith("--")), len(rest))
    checkpoints = [int(a) for a in rest[:split]]
    options = parse_options(rest[split:])
    if "--expect-enabled" in options:
        wait_enabled(options["--expect-enabled"].split(","))
    make_events, events_per_call = MEMORY_KINDS[kind]
    done = 0
    report = []
    for target in checkpoints:
        calls = (target - done) // events_per_call
        make_events(calls)
        done += calls * events_per_call
        report.append({"events": done, "rss_kib": rss_kib()})
    print(json.dumps({"memory": kind, "events_per_call": events_per_call,
                      "checkpoints": report}), flush=True)


def main() -> None:
    commands = {"time": cmd_time, "serve": cmd_serve, "spin": cmd_spin,
                "memory": cmd_memory, "count": cmd_count}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
