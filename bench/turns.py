"""Lockstep: the configurations being compared run as processes side by
side, taking turns one repetition at a time, and figures come from the
cycles in which they all ran at their quiet speed."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass

from common import BenchError
from stats import median, rotated, summary

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
