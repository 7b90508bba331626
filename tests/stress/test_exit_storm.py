"""500 consecutive exits while traced: every way reliability_exit.py ends
(atexit handlers, daemon threads running Python, sys.exit and os._exit from
threads and from the main thread, an uncaught exception, finalizers), with
pyusdt loaded first or late, while tracers attach and detach.  No crash,
no hang, no wrong exit status or output, nothing on stderr."""

from __future__ import annotations

import random
import threading
import time
import unittest

from tests import support
from tests.e2e import bpf
from tests.e2e import reliability_harness as harness
from tests.stress.support import Private, size
from tests.targets import reliability_exit

EXIT = support.target("reliability_exit.py")
RUNS = 500
CHUNK = 50     # runs per tracer session: 50 pids x 13 probes fit bpftrace's maps


class Churn:
    """A second tracer attaching random sets of probes (never PY_START) for
    a moment, again and again, so that the attached set changes while
    programs start, work and exit."""

    def __init__(self, lib: str, seed: int):
        self.lib = lib
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.sessions = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        others = [p for p in bpf.ALL_PROBES if p != "PY_START"]
        while not self.stop.is_set():
            probes = self.rng.sample(others, self.rng.randint(1, len(others)))
            try:
                tracer = harness.attached(harness.counting_program(probes, self.lib))
            except RuntimeError as exc:
                self.errors.append(str(exc)[:500])
                continue
            self.stop.wait(self.rng.uniform(0.2, 1.0))
            tracer.stop()
            self.sessions += 1

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(60)


class ExitStorm(Private):
    def test_500_exits_while_traced_are_clean(self):
        """Chunks of 50 runs, two at a time.  Even chunks: one tracer with
        every probe attached.  Odd chunks: PY_START attached throughout
        (to see every run) and other probes coming and going."""
        modes = reliability_exit.EXPECTED
        runs = size(RUNS)
        problems, unseen = [], []
        start = time.monotonic()
        for chunk, first in enumerate(range(0, runs, CHUNK)):
            count = min(CHUNK, runs - first)
            probes = bpf.ALL_PROBES if chunk % 2 == 0 else ("PY_START",)
            tracer = harness.attached(harness.counting_program(probes, self.lib))
            churn = Churn(self.lib, seed=chunk) if chunk % 2 else None
            try:
                found, pids = harness.exit_storm(self.root, modes, EXIT, count, workers=2,
                                                 first=first)
            finally:
                if churn is not None:
                    churn.finish()
                tracer.stop()
            problems += found
            seen = harness.counts(tracer.lines)
            unseen += [pid for pid in pids if not seen.get(pid, {}).get("PY_START")]
            print("  runs %d-%d: %d problems, %s (%.0f s)"
                  % (first, first + count - 1, len(found),
                     "churn %d sessions" % churn.sessions if churn else "all probes",
                     time.monotonic() - start), flush=True)
            if churn is not None:
                self.assertEqual(churn.errors, [])
        self.assertEqual(problems, [])
        self.assertEqual(unseen, [], "runs no tracer saw")


if __name__ == "__main__":
    unittest.main()
