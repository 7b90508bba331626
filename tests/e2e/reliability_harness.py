"""Helpers for the reliability tests: programs that keep running while
tracers come and go, counting bpftrace programs, and the checks they share.

Built on tests/e2e/bpf.py.  Every traced program here loads a private copy
of pyusdt (bpf.private_pyusdt()), so that what it sees attached is exactly
what the test attached: other tests on the machine attach bpftrace to the
checkout's library system-wide, which would reach a program loading that.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import random
import re
import subprocess
import time
from typing import NamedTuple

from pyusdt_tracer import session
from tests import support
from tests.e2e import bpf
from tests.programs import LineProgram

#: The probes fed by sys.monitoring, as pyusdt.status().enabled names them.
MONITORING_PROBES = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "CALL", "LINE",
                     "PY_UNWIND", "PY_THROW", "RAISE", "EXCEPTION_HANDLED")

#: Probes fed only by what the storm's workload never does (an audit event,
#: an import): attached and applied like the others, but silent.
QUIET_PROBES = frozenset({"AUDIT", "IMPORT_START", "IMPORT_DONE"})


def enabled_for(probes) -> set[str]:
    """The events pyusdt enables for PROBES: their monitoring ones, and
    PY_UNWIND for the import probes (a failed import ends in it, see
    src/imports.h; their other events are local to importlib's code)."""
    enabled = set(probes) & set(MONITORING_PROBES)
    if set(probes) & {"IMPORT_START", "IMPORT_DONE"}:
        enabled.add("PY_UNWIND")
    return enabled


#: Generous bound on anything that should take one poll interval (100 ms):
#: a hang fails the test, a slow machine does not.
SETTLE = 30.0


def counting_program(probes, lib: str, predicate: str | None = None) -> str:
    """A bpftrace program that only counts: @n[PROBE, pid] per event (cheap
    enough for startup, imports and busy loops with every probe attached).
    The counts are printed, and started again, every 100 ms while bpftrace
    runs (counts() adds them up), not only as it exits: a bpftrace that has
    to be killed has delivered them already."""
    parts = []
    for probe in probes:
        pred = "/%s/ " % predicate if predicate else ""
        parts.append('usdt:%s:pyusdt:%s %s{ @n["%s", pid] = count(); }'
                     % (lib, probe, pred, probe))
    parts.append("interval:ms:100 { print(@n); clear(@n); }")
    return "\n".join(parts) + "\n"


_COUNT = re.compile(r"^@n\[(\w+), (\d+)\]: (\d+)$")


def counts(lines: list[str]) -> dict[int, collections.Counter]:
    """pid -> Counter(probe -> events) from a counting program's output."""
    result: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in lines:
        match = _COUNT.match(line)
        if match:
            result[int(match.group(2))][match.group(1)] += int(match.group(3))
    return dict(result)


def without_counts(lines: list[str]) -> list[str]:
    """LINES without a counting program's map output (and the blank lines
    bpftrace prints before it), which bpf.parse_events would otherwise take
    for the continuation of the last value printed."""
    return [line for line in lines if line and not _COUNT.match(line)]


def events_by_pid(lines: list[str], pids) -> dict[int, list[bpf.Event]]:
    """The parsed events of each of PIDS (a system-wide trace sees all)."""
    return {pid: bpf.parse_events(lines, pid) for pid in pids}


class Running(LineProgram):
    """A target program running in the background under a private pyusdt,
    its stdout read line by line as it comes, stdin open for commands."""

    SETTLE = SETTLE

    def __init__(self, args: list[str], root: str, stdin: bool = False, **env: str):
        super().__init__(subprocess.Popen(
            [support.PYTHON, *args], cwd=root, env=support.env(PYTHONPATH=root, **env),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))

    def wait_mapped(self, lib: str) -> None:
        """Waits until the program has LIB mapped (bpftrace -p can attach);
        raises, with its output, if it ends first."""
        bpf.wait_for_library(self.proc, lib=lib)
        if self.proc.poll() is not None:
            self.finish()
            raise RuntimeError("pid %d ended before mapping %s\n%s"
                               % (self.pid, lib, self.describe()))

    def ask(self, command: str) -> dict:
        """Sends COMMAND to a reliability_storm.py-like program and returns
        its JSON answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.next_line())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


def wait_until(predicate, what: str, timeout: float = SETTLE, step: float = 0.02):
    """Polls PREDICATE until it returns something true and returns that;
    raises naming WHAT after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %g s" % (what, timeout))
        time.sleep(step)


def attached(program: str, args: list[str] = ()) -> bpf.Bpftrace:
    """A bpftrace running PROGRAM, attached."""
    tracer = bpf.Bpftrace(program, list(args), sentinel=True)
    tracer.wait_attached()
    return tracer


def untraced_run(args: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """ARGS run by this Python with pyusdt importable and no probe forced."""
    return support.run_python(args, timeout=timeout, **env)


class Ended(NamedTuple):
    """One finished run of a program."""

    args: list[str]
    pid: int
    returncode: int
    stdout: str
    stderr: str


def run_to_end(args: list[str], root: str, timeout: float = 120, **env: str) -> Ended:
    """Runs ARGS (for this Python, under the private pyusdt in ROOT) to its
    end; a run still going after TIMEOUT is killed and reported as hung."""
    with subprocess.Popen([support.PYTHON, *args], cwd=root,
                          env=support.env(PYTHONPATH=root, **env),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += "\n[hung: killed after %g s]" % timeout
            return Ended(args, proc.pid, -999, out, err)
        return Ended(args, proc.pid, proc.returncode, out, err)


def exit_storm(root: str, expected: dict, target: str, runs: int,
               workers: int = 1, first: int = 0) -> tuple[list[str], list[int]]:
    """Runs TARGET's modes (EXPECTED: mode -> (status, stdout)) RUNS times
    in all, WORKERS at a time, cycling through the modes and through
    loading pyusdt first (python -m pyusdt) or late (numbering runs from
    FIRST).  Returns the problems found, one line each (a crash, a hang, a
    wrong status or output, anything unexpected on stderr), and the pids of
    the runs, for the caller to check that the tracer saw them."""
    modes = sorted(expected)

    def one(index: int) -> tuple[Ended, str | None]:
        mode = modes[index % len(modes)]
        if (index // len(modes)) % 2:
            args = [target, mode, "late"]
        else:
            args = ["-m", "pyusdt", target, mode]
        run = run_to_end(args, root)
        status, stdout = expected[mode]
        stderr_ok = (run.stderr.endswith("RuntimeError: the end\n") if mode == "uncaught"
                     else run.stderr == "")
        if (run.returncode, run.stdout) == (status, stdout) and stderr_ok:
            return run, None
        return run, ("run %d %s: status %d (want %d), stdout %r (want %r), stderr %r"
                     % (index, " ".join(args[-2:]), run.returncode, status, run.stdout,
                        stdout, run.stderr[-500:]))

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, range(first, first + runs)))
    return ([problem for _, problem in results if problem],
            [run.pid for run, _ in results])


#: Every probe, for storms to pick sets from.
ALL_PROBES = bpf.ALL_PROBES


class Storm:
    """An attach/detach storm against reliability_storm.py: CYCLES times,
    bpftrace -p attaches a different set of probes, pyusdt must enable
    exactly the attached ones (and nothing once it detaches), every
    attached probe must deliver events, and the workload must stay right.
    Memory is measured after WARMUP cycles and at the end."""

    def __init__(self, root: str, lib: str, target: str, cycles: int, seed: int = 669,
                 warmup: int = 3, args: list[str] = (), steady: str | None = None,
                 steady_probes: tuple[str, ...] = ()):
        self.root = root
        self.lib = lib
        self.target = target
        #: The target's arguments.
        self.args = list(args)
        #: A bpftrace program (attached by pid to STEADY_PROBES) that stays
        #: attached from before the first cycle to after the workers stop:
        #: its output is kept in steady_lines.  It attaches while the
        #: target's workers are paused, which resume once it is applied:
        #: quit's since_reset counts the steps it saw.
        self.steady = steady
        self.steady_probes = tuple(steady_probes)
        self.steady_lines: list[str] = []
        #: Every tool id pyusdt held during the storm, and every answer to
        #: whether the GIL was on (from the target's status).
        self.tool_ids: set[int] = set()
        self.gil: set[bool] = set()
        self.cycles = cycles
        self.warmup = min(warmup, cycles)
        self.rng = random.Random(seed)
        self.log: list[str] = []
        self.memory: list[dict] = []
        #: How long each cycle's bpftrace took to exit after SIGINT.
        self.stops: list[float] = []

    def probe_sets(self):
        """CYCLES sets: single probes, pairs, larger mixes and, every tenth,
        all of them."""
        for cycle in range(self.cycles):
            if cycle % 10 == 9:
                yield ALL_PROBES
            else:
                size = self.rng.choice((1, 1, 2, 3, 5))
                yield tuple(sorted(self.rng.sample(ALL_PROBES, size),
                                   key=ALL_PROBES.index))

    def run(self) -> dict:
        """Runs the storm; returns what the workload reported at the end
        ({"steps": N, "wrong": N}).  Raises AssertionError on the first
        cycle that goes wrong."""
        program = Running(["-m", "pyusdt", self.target, *self.args], self.root, stdin=True)
        steady = None
        try:
            ready = json.loads(program.next_line())
            assert ready == {"ready": True}, ready
            program.wait_mapped(self.lib)
            if self.steady is not None:
                program.ask("pause")
                steady = attached(self.steady, ["-p", str(program.pid)])
                wait_until(lambda: set(self.steady_probes)
                           <= set(program.ask("status")["enabled"]),
                           "the steady tracer's probes enabled", step=0.05)
                program.ask("resume")
            for cycle, probes in enumerate(self.probe_sets()):
                self.cycle(program, cycle, probes)
                if cycle + 1 == self.warmup:
                    self.memory.append(program.ask("memory"))
            self.memory.append(program.ask("memory"))
            result = program.ask("quit")
            if steady is not None:
                time.sleep(0.3)   # a print of its maps after the workers stopped
                steady.stop()
                self.steady_lines = list(steady.lines)
                steady = None
            status = program.finish()
            assert (status, program.stderr) == (0, ""), program.describe()
            return result
        except BaseException:
            self.log.append(program.describe())
            raise
        finally:
            if steady is not None:
                steady.stop()
            program.kill()

    def cycle(self, program: Running, cycle: int, probes) -> None:
        wanted = set(probes) | set(self.steady_probes)
        enabled = enabled_for(wanted)
        self.log.append("cycle %d: %s" % (cycle, ",".join(probes)))
        tracer = attached(counting_program(probes, self.lib), ["-p", str(program.pid)])
        try:
            def applied():
                status = program.ask("status")
                return (set(status["attached"]) == wanted
                        and set(status["enabled"]) == enabled
                        and (status["tool_id"] is not None) == bool(enabled)
                        and status["gc_callback"] == bool(wanted & {"GC_START", "GC_DONE"})
                        and status)
            status = wait_until(applied, "cycle %d: pyusdt enabling exactly %s"
                                % (cycle, probes), step=0.05)
            if status["tool_id"] is not None:
                self.tool_ids.add(status["tool_id"])
            self.gil.add(status["gil"])
            # Every attached probe delivers events while the workload runs
            # (GC and MARK come every few hundred steps).
            def silent():
                seen = counts(list(tracer.lines)).get(program.pid, collections.Counter())
                return [probe for probe in probes
                        if not seen[probe] and probe not in QUIET_PROBES]
            try:
                wait_until(lambda: not silent(), "cycle %d: events from every probe" % cycle,
                           step=0.05)
            except AssertionError:
                raise AssertionError("cycle %d: no events from %s\n%s" % (
                    cycle, silent(), "\n".join(tracer.lines[-30:]))) from None
        finally:
            tracer.stop()
        self.stops.append(tracer.stop_seconds)

        steady = set(self.steady_probes)

        def released():
            status = program.ask("status")
            return (set(status["attached"]) == steady
                    and set(status["enabled"]) == enabled_for(steady)
                    and (status["tool_id"] is None) == (not steady)
                    and not status["gc_callback"])
        wait_until(released, "cycle %d: everything off after detach but the steady tracer's"
                   % cycle, step=0.05)
