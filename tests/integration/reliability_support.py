"""What the reliability integration tests share: running a target program
untraced and with every probe attached (PYUSDT_FORCE=all, which makes
pyusdt act exactly as if a tracer were attached, without one), under a
private copy of pyusdt, and comparing the two runs."""

from __future__ import annotations

import os
import signal
import subprocess

from tests import support
from tests.e2e import bpf

#: Every probe attached, as a tracer would attach them.
ALL = "all"
#: The probes fed by sys.monitoring, as pyusdt.status().enabled lists them.
MONITORING_PROBES = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "CALL", "LINE",
                     "PY_UNWIND", "PY_THROW", "RAISE", "EXCEPTION_HANDLED")
#: The aggregating probes: counting takes a sys.monitoring tool id of its
#: own (src/callstats.c), and status().enabled lists them after the rest.
AGGREGATING = ("CALL_STATS", "CALL_TIMES")
#: Every per-event probe, for the scenarios about tool ids, which the
#: aggregating probes' second id would change by construction.
PER_EVENT = ",".join((*MONITORING_PROBES, "GC_START", "GC_DONE", "MARK"))
#: How long a run may take before it counts as hung.  The sanitizer runs
#: (make asan, make valgrind) are much slower and scale it.
TIMEOUT = 120 * float(os.environ.get("PYUSDT_TEST_TIMEOUT_SCALE", "1"))


class PrivateCopy(bpf.PrivateCopyCase):
    """A TestCase whose programs load their own copy of pyusdt: a tracer
    attached system-wide to the checkout's library by another test on this
    machine then cannot attach probes to them, so "untraced" stays so."""

    @classmethod
    def run_target(cls, args: list[str], force: str | None = None, *,
                   input: str | None = None, timeout: float = TIMEOUT,
                   **env: str) -> subprocess.CompletedProcess:
        """Runs ARGS with this class's pyusdt, every probe in FORCE attached
        (none when None)."""
        if force is not None:
            env["PYUSDT_FORCE"] = force
        # N.B. in a session of its own: when it hangs, its forked children
        # go with it (subprocess.run's timeout kills only the direct child,
        # and a deadlocked fork child would outlive the test).
        with subprocess.Popen([support.PYTHON, *args], cwd=cls.root,
                              env=support.env(PYTHONPATH=cls.root, **env),
                              stdin=subprocess.PIPE if input is not None else None,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) as proc:
            try:
                stdout, stderr = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    @classmethod
    def run_both(cls, args: list[str], force: str = ALL, **kwargs):
        """(untraced, traced) runs of ARGS."""
        return (cls.run_target(args, None, **kwargs),
                cls.run_target(args, force, **kwargs))

    def assertSameRun(self, untraced, traced, what: str = "") -> None:
        """Same stdout, stderr and exit status, traced and untraced."""
        self.assertEqual((traced.stdout, traced.stderr, traced.returncode),
                         (untraced.stdout, untraced.stderr, untraced.returncode),
                         "%s: traced and untraced runs differ\n--- untraced stderr ---\n%s"
                         "\n--- traced stderr ---\n%s"
                         % (what, untraced.stderr[-2000:], traced.stderr[-2000:]))
