"""What every benchmark section shares: paths, private copies of what is
traced, child processes that report JSON, bpftrace sessions, statistics.

N.B. everything traced is a private copy (its own inode) in a temporary
directory: a uprobe attached by path reaches every process that maps that
inode, and other people's tests map the checkout's own libpyusdt.so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
WORKLOADS = os.path.join(BENCH, "workloads.py")
PEER_PYTHON = "/usr/bin/python3.11"


# N.B. the tracer side only: pyusdt_tracer imports nothing that loads
# libpyusdt into this process (the package pyusdt would).
if REPO not in sys.path:
    sys.path.append(REPO)
from pyusdt_tracer import session as bpftrace  # noqa: E402


class BenchError(Exception):
    """A measurement that could not be made; its message says why."""


#: What a section fails with when a measurement cannot be made.
FAILURES = (BenchError, bpftrace.SessionError)


def log(message: str) -> None:
    """Progress, on stderr, so that stdout is the table alone."""
    print("bench: " + message, file=sys.stderr, flush=True)


# --- Statistics ----------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    """The P-th percentile (0-100) by linear interpolation between ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float], digits: int = 4,
            raw: bool = True) -> dict[str, object]:
    """Median, quartiles and (RAW) the values themselves, for results.json."""
    result: dict[str, object] = {"median": round(median(values), digits),
                                 "q1": round(percentile(values, 25), digits),
                                 "q3": round(percentile(values, 75), digits),
                                 "n": len(values)}
    if raw:
        result["values"] = [round(v, digits) for v in values]
    return result


def rotated(items: list, round_index: int) -> list:
    """ITEMS in a different order each round, so that no configuration is
    always the one that runs first (or right after a given other)."""
    k = round_index % len(items)
    order = items[k:] + items[:k]
    return order if round_index % 2 == 0 else order[::-1]


# --- Child processes -----------------------------------------------------------

def child_env(pythonpath: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a measured child: nothing of pyusdt's
    configuration inherited, PYTHONPATH only when given, and one hash seed
    for all (str hashes, hence dict layouts, would differ between the runs
    being compared)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYUSDT_") and k != "PYTHONPATH"}
    env["PYTHONHASHSEED"] = "0"
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    env.update(extra)
    return env


def run_json(cmd: list[str], env: dict[str, str] | None = None,
             timeout: float = 300) -> dict:
    """Runs CMD and returns the JSON object on the last line of its stdout,
    with the child's pid added as "pid" (bpftrace counts events by pid)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchError("timed out after %gs: %s" % (timeout, " ".join(cmd)))
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BenchError("%s exited %d\n%s%s" % (" ".join(cmd), proc.returncode,
                                                 out, err))
    result = json.loads(lines[-1])
    result["pid"] = proc.pid
    return result


# --- Lockstep: processes taking turns -------------------------------------------
# This machine's noise comes in three kinds, each larger than what is being
# measured: long stretches (seconds) in which everything runs up to 1.8x
# slower (other tenants of the host), short bursts, and each process's own
# speed, which differs by a few per cent with its address-space layout (ASLR
# places the heap, stacks and libraries anew each time).  So:
# - the configurations being compared run as long-lived processes side by
#   side, taking turns a few milliseconds each: the repetitions of one cycle
#   share the machine's state of that moment;
# - each round starts fresh processes, so that the figures average over
#   layouts (ASLR's, and the heap and call depth that workloads.py serve
#   draws at random);
# - figures in ns come from the quiet cycles: those in which the
#   configurations being compared each ran within QUIET of their own quiet
#   speed, the median over rounds of each round's fastest repetition (not
#   the fastest of all: a process now and then runs in a rarer, faster
#   state for its whole life, and a window anchored on that state kept
#   only its cycles, on one side alone).  A slow machine does not only
#   stretch time, it changes some ratios too (a trap's eviction of the
#   caches costs more when another tenant shares them): the quiet cycles
#   are the machine as its owner would have it.  A ratio of two
#   repetitions of one cycle does not depend on the machine's speed, so it
#   may take every cycle.  paired_figure gives both.

QUIET = 1.10


class Server:
    """A child serving one repetition per request (workloads.py serve,
    floor serve): its first stdout line is a JSON hello, then one CPU-time
    figure in ns per line written to its stdin."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None) -> None:
        self.cmd = cmd
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True)
        self.pid = self.proc.pid
        try:
            self.hello = json.loads(self._line())
        except (BenchError, ValueError):
            self.proc.kill()
            self.proc.wait()
            self._stderr.close()
            raise

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise BenchError("%s exited %s before answering\n%s"
                             % (" ".join(self.cmd), self.proc.returncode, self._errors()))
        return line

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def rep(self) -> int:
        """Runs one repetition; its CPU time in ns."""
        try:
            self.proc.stdin.write("run\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass   # it has exited: _line says how
        return int(self._line())

    def close(self) -> None:
        """Ends the child (end of stdin), which must exit 0."""
        try:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass   # it has exited already
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            errors = self._errors()
            self._stderr.close()
        if self.proc.returncode != 0:
            raise BenchError("%s exited %d\n%s" % (" ".join(self.cmd),
                                                    self.proc.returncode, errors))


@dataclass
class Turns:
    """One round of lockstep: per configuration, its process's pid and
    hello, and the CPU ns of its repetition in each cycle."""

    pid: dict[str, int]
    hello: dict[str, dict]
    cpu_ns: dict[str, list[int]]


def raw(rounds: list[Turns]) -> list[dict[str, list[int]]]:
    """ROUNDS' CPU ns per configuration and cycle, for results.json: other
    estimators can be tried on a run afterwards."""
    return [t.cpu_ns for t in rounds]


def lockstep(configs: dict[str, tuple[list[str], dict[str, str] | None]],
             rounds: int, cycles: int, comparisons: list[list[str]] | None = None,
             min_quiet: int = 0, max_rounds: int = 0) -> list[Turns]:
    """Runs CONFIGS (label: (command, environment)) side by side, ROUNDS
    times with fresh processes: after one warm-up repetition each, CYCLES
    cycles in which every process runs one repetition, in an order that
    rotates from cycle to cycle.  Then more rounds, up to MAX_ROUNDS in
    all, while fewer than MIN_QUIET cycles are quiet for one of COMPARISONS
    (lists of labels, see quiet_cycles)."""
    labels = list(configs)
    result: list[Turns] = []
    while len(result) < rounds or (len(result) < max_rounds and comparisons
                                   and fewest_quiet(result, comparisons) < min_quiet):
        servers: dict[str, Server] = {}
        try:
            for label in labels:
                servers[label] = Server(*configs[label])
            for server in servers.values():
                server.rep()
            turns = Turns({k: v.pid for k, v in servers.items()},
                          {k: v.hello for k, v in servers.items()},
                          {label: [] for label in labels})
            for c in range(cycles):
                for label in rotated(labels, len(result) + c):
                    turns.cpu_ns[label].append(servers[label].rep())
        finally:
            for server in servers.values():
                server.close()
        result.append(turns)
    return result


def quiet_speed(rounds: list[Turns], label: str) -> float:
    """LABEL's quiet speed: the median over ROUNDS of each round's fastest
    repetition.  Over rounds, because a process's speed holds for its
    life (layout, a rare faster state): one round cannot set it alone."""
    return median([min(t.cpu_ns[label]) for t in rounds])


def quiet_cycles(rounds: list[Turns], labels: list[str]) -> list[tuple[int, int]]:
    """(round, cycle) of every cycle in which each configuration in LABELS
    ran within QUIET of its quiet speed (or faster).  N.B. LABELS names
    both sides of a comparison: picking cycles by the baseline alone would
    pick those in which the baseline happened to run in a quiet moment and
    the other did not."""
    if not rounds:
        return []
    limit = {k: quiet_speed(rounds, k) * QUIET for k in labels}
    return [(r, c) for r, t in enumerate(rounds) for c in range(len(t.cpu_ns[labels[0]]))
            if all(t.cpu_ns[k][c] <= limit[k] for k in labels)]


def fewest_quiet(rounds: list[Turns], comparisons: list[list[str]]) -> int:
    """The smallest number of quiet cycles among COMPARISONS."""
    return min(len(quiet_cycles(rounds, labels)) for labels in comparisons)


def per_cycle(rounds: list[Turns], cycles: list[tuple[int, int]], fn) -> list[float]:
    """FN(times) for each (round, cycle) in CYCLES, TIMES mapping each
    configuration to its CPU ns in that cycle."""
    return [fn({k: v[c] for k, v in rounds[r].cpu_ns.items()}) for r, c in cycles]


def all_cycles(rounds: list[Turns]) -> list[tuple[int, int]]:
    return [(r, c) for r, t in enumerate(rounds)
            for c in range(len(next(iter(t.cpu_ns.values()))))]


def paired_figure(rounds: list[Turns], labels: list[str], fn,
                  digits: int = 4) -> dict[str, object]:
    """FN's median over the cycles quiet for LABELS ("median", with their
    quartiles and count), and over all cycles ("all_cycles").  With fewer
    than 10 quiet cycles, over all cycles, "quiet" saying so."""
    quiet = quiet_cycles(rounds, labels)
    everything = summary(per_cycle(rounds, all_cycles(rounds), fn), digits, raw=False)
    if len(quiet) < 10:
        result = dict(everything, quiet=False)
    else:
        result = dict(summary(per_cycle(rounds, quiet, fn), digits, raw=False), quiet=True)
    result["all_cycles"] = everything
    return result


# --- Private copies ------------------------------------------------------------

@dataclass
class PythonInfo:
    path: str
    version: str      # "3.12.1", "3.14.7t": the key of its results
    tag: str          # "cpython-312", "cpython-314t": its build/ directory
    suffix: str       # ".cpython-312-x86_64-linux-gnu.so": its EXT_SUFFIX

    @property
    def free_threaded(self) -> bool:
        """Whether this is a free-threaded build (ABI flag t)."""
        return "t" in self.tag.split("-")[-1]

    @classmethod
    def probe(cls, path: str) -> PythonInfo:
        # The tag as the Makefile and pyusdt/_loader.py's build_name() make
        # it: the cache tag and the ABI flags.
        out = subprocess.run(
            [path, "-c", "import importlib.machinery, sys; "
             "print('%d.%d.%d' % sys.version_info[:3] + sys.abiflags, "
             "sys.implementation.cache_tag + sys.abiflags, "
             "importlib.machinery.EXTENSION_SUFFIXES[0])"],
            stdout=subprocess.PIPE, text=True, check=True).stdout.split()
        return cls(path, out[0], out[1], out[2])


class Sandbox:
    """A temporary directory of private copies, removed on close()."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="pyusdt-bench-")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def pyusdt(self, python: PythonInfo, name: str) -> tuple[str, str]:
        """A private pyusdt package with its own copy of the library built
        for PYTHON.  Returns (directory for PYTHONPATH, library path)."""
        built = os.path.join(REPO, "build", python.tag, "libpyusdt.so")
        # The library named as an installed package names it:
        # pyusdt/_loader.py looks for no other name inside the package.
        top, lib = bpftrace.copy_pyusdt(
            os.path.join(self.root, "%s-%s" % (python.tag, name)), built,
            os.path.join("pyusdt", "libpyusdt" + python.suffix))
        package = os.path.join(top, "pyusdt")
        # Byte-compiled, as pip installs it: start-up is measured as users
        # meet it, whatever PYTHONDONTWRITEBYTECODE says here.
        subprocess.run([python.path, "-m", "compileall", "-q", package], check=True)
        return top, lib

    def file(self, source: str, name: str) -> str:
        """A private copy of SOURCE (an executable, say) named NAME."""
        path = os.path.join(self.root, name)
        shutil.copy(source, path)
        return path

    def floor(self, cc: str, name: str) -> str:
        """bench/floor.c compiled as the private executable NAME."""
        path = os.path.join(self.root, name)
        cmd = [cc, "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-o", path,
               os.path.join(BENCH, "floor.c")]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        if proc.returncode != 0:
            raise BenchError("building floor failed: %s\n%s" % (" ".join(cmd),
                                                               proc.stdout))
        return path


# --- ELF: where a process keeps a probe's semaphore -----------------------------

def usdt_semaphores(path: str) -> dict[str, int]:
    """{probe name: semaphore link-time address} from PATH's stapsdt notes."""
    out = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    found = {}
    for name, sem in re.findall(r"Name: (\S+)\s+Location: \S+, Base: \S+, "
                                r"Semaphore: (0x[0-9a-f]+)", out):
        found[name] = int(sem, 16)
    return found


def first_load_vaddr(path: str) -> int:
    """The p_vaddr of PATH's first PT_LOAD segment (64-bit little-endian ELF)."""
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            raise BenchError("%s is not a 64-bit ELF file" % path)
        phoff, = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", table, i * phentsize)
        if p_type == 1:   # PT_LOAD
            p_vaddr, = struct.unpack_from("<Q", table, i * phentsize + 0x10)
            return p_vaddr
    raise BenchError("%s has no PT_LOAD segment" % path)


def semaphore_address(pid: int, path: str, probe: str) -> int:
    """Where process PID, which maps PATH, keeps PROBE's semaphore."""
    real = os.path.realpath(path)
    base = None
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == real and int(fields[2], 16) == 0:
                base = int(fields[0].split("-")[0], 16)
                break
    if base is None:
        raise BenchError("process %d does not map %s" % (pid, real))
    return base - first_load_vaddr(real) + usdt_semaphores(real)[probe]


class SemaphoreWatch:
    """Polls a semaphore in another process (through /proc/PID/mem) and
    records the CLOCK_MONOTONIC time it was first seen non-zero: the moment
    a tracer's attach became visible to the process."""

    PERIOD = 0.0001   # seconds between reads

    def __init__(self, pid: int, address: int) -> None:
        self.fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
        self.address = address
        self.raised_ns: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def value(self) -> int:
        return struct.unpack("<H", os.pread(self.fd, 2, self.address))[0]

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.value() != 0:
                self.raised_ns = time.monotonic_ns()
                return
            time.sleep(self.PERIOD)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:   # started
            self._thread.join()
        os.close(self.fd)


# --- bpftrace --------------------------------------------------------------------

def session(ctx: Context, program: str, args: list[str] = (),
            mark: bool = True) -> bpftrace.Session:
    """A bpftrace session (pyusdt_tracer/session.py) of ctx.bpftrace running
    PROGRAM, printing each line as it comes; with MARK, PROGRAM has no BEGIN
    probe of its own."""
    return bpftrace.Session(program, ["-B", "line", *args], bpftrace=ctx.bpftrace,
                            mark=mark, name="bench")


def wait_attached(python: str, pythonpath: str, probes: list[str]) -> None:
    """Waits until a new process importing the pyusdt at PYTHONPATH finds
    PROBES attached (their semaphores raised by a tracer attached by path)."""
    bpftrace.wait_for_semaphores(python, probes, child_env(pythonpath))


# --- What a section is given ---------------------------------------------------

@dataclass
class Context:
    """One benchmark run's settings and the private copies it made."""

    quick: bool
    bpftrace: str
    cc: str
    sandbox: Sandbox
    floor_plain: str = ""    # floor executable nobody attaches to
    floor_traced: str = ""   # floor executable bpftrace attaches to
    no_bpftrace: str | None = None   # why bpftrace cannot be used, or None

    def pick(self, quick: object, full: object) -> object:
        return quick if self.quick else full


@dataclass
class Target:
    """One Python being measured, with its private pyusdt copies: "armed"
    (never traced), "traced" (bpftrace attaches system-wide by path) and
    "attach" (bpftrace attaches by -p PID)."""

    python: PythonInfo
    armed: tuple[str, str]
    traced: tuple[str, str]
    attach: tuple[str, str]
