"""An installed pyusdt, traced by real bpftrace -p PID as README says:
probes addressed by the path pyusdt.library_path() prints, the program run
from a fresh venv with no checkout on sys.path, either under `python -m
pyusdt --wait-for-tracer` or armed by PYUSDT_AUTO=1 with its command line
unchanged."""

from __future__ import annotations

import os
import subprocess
import unittest

from pyusdt_tracer import session
from tests import installed
from tests.e2e import bpf

CALLS = 23   # prime, so a count off by a factor or a few calls shows

# Calls ticked() CALLS times; prints where pyusdt was imported from.
TARGET = """\
import pyusdt


def ticked():
    pass


for _ in range(%d):
    ticked()
print(pyusdt.__file__)
""" % CALLS

# Started with PYUSDT_AUTO=1 and never imports pyusdt itself: reports
# whether it is armed, waits for the go line on stdin (sent once bpftrace
# has attached) and for the poller to enable PY_START, then calls ticked()
# CALLS times.
AUTO_TARGET = """\
import sys
import time

pyusdt = sys.modules.get("pyusdt")
print("armed" if pyusdt else "not armed", flush=True)
if pyusdt is None:
    sys.exit(1)
sys.stdin.readline()
deadline = time.monotonic() + 30
while "PY_START" not in pyusdt.status().enabled:
    if time.monotonic() > deadline:
        sys.exit("PY_START never enabled: %%r" %% (pyusdt.status(),))
    time.sleep(0.01)


def ticked():
    pass


for _ in range(%d):
    ticked()
print("done", flush=True)
""" % CALLS


def skip_reason() -> str | None:
    return session.unusable() or installed.skip_reason()


@unittest.skipIf(skip_reason(), skip_reason())
class InstalledTraced(unittest.TestCase):
    def setUp(self) -> None:
        self.inst = installed.installed()
        run = installed.run([self.inst.python, "-c",
                             "import pyusdt; print(pyusdt.library_path())"],
                            cwd=self.inst.work)
        self.lib = run.stdout.strip()

    def script(self, name: str, text: str) -> str:
        path = os.path.join(self.inst.work, name)
        with open(path, "w") as file:
            file.write(text)
        return path

    def program(self) -> str:
        """Prints one line per ticked() start, with the file argument."""
        return ('usdt:%s:pyusdt:PY_START /str(arg0) == "ticked"/ '
                '{ printf("T %%s\\n", str(arg1)); }' % self.lib)

    def trace(self, command: list[str], *, stdin: str | None = None,
              **env: str) -> tuple[list[str], str, str]:
        """Runs COMMAND in the venv's scratch directory, attaches bpftrace
        -p to it once it has the library mapped, writes STDIN to it after
        bpftrace attached.  Returns the ticked() lines, the program's
        output and everything for a failure message."""
        proc = subprocess.Popen(command, cwd=self.inst.work,
                                env=installed.clean_env(**env), text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        bt, out, _ = bpf.attach_by_pid(proc, self.program(), self.lib, stdin=stdin)
        ticks = [line for line in bt.lines if line.startswith("T ")]
        describe = ("--- bpftrace program ---\n%s\n--- bpftrace output ---\n%s\n"
                    "--- bpftrace stderr ---\n%s\n--- program output (status %s) ---\n%s"
                    % (bt.program, "\n".join(bt.lines[-50:]), bt.stderr[-3000:],
                       proc.returncode, out))
        self.assertEqual(proc.returncode, 0, describe)
        return ticks, out, describe

    def test_bpftrace_p_traces_program_run_by_installed_python_m_pyusdt(self) -> None:
        target = self.script("ticks.py", TARGET)
        ticks, out, describe = self.trace(
            [self.inst.python, "-m", "pyusdt", "--wait-for-tracer=60", target])
        self.assertEqual(ticks, ["T " + target] * CALLS, describe)
        self.assertEqual(out.splitlines()[-1], os.path.join(
            self.inst.site_packages, "pyusdt", "__init__.py"), describe)

    def test_pyusdt_auto_lets_bpftrace_p_trace_an_unchanged_command_line(self) -> None:
        target = self.script("auto_ticks.py", AUTO_TARGET)
        ticks, out, describe = self.trace([self.inst.python, target], stdin="go\n",
                                          PYUSDT_AUTO="1")
        self.assertEqual(out, "armed\ndone\n", describe)
        self.assertEqual(ticks, ["T " + target] * CALLS, describe)


if __name__ == "__main__":
    unittest.main()
