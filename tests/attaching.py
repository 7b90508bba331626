"""Plain Python programs to attach to, and the attach command, for
tests/integration/test_attach_cli.py and tests/e2e/test_attach.py.

A Target is tests/targets/attach_target.py run by this interpreter with
nothing of pyusdt's in its environment (its working directory and
PYTHONPATH a scratch directory): the attach must bring pyusdt in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from tests import support
from tests.programs import LineProgram

TARGET = support.target("attach_target.py")
HTTP_TARGET = support.target("attach_http.py")
#: How a program of this interpreter is attached: sys.remote_exec on 3.14
#: and later, gdb on 3.12 and 3.13.
REMOTE_EXEC = sys.version_info >= (3, 14)
CAN_ATTACH = REMOTE_EXEC or shutil.which("gdb") is not None
CANNOT_ATTACH = ("attaching to Python %s needs gdb (apt-get install gdb)"
                 % sys.version.split()[0])
#: Generous bound on anything that should take milliseconds: a hang fails
#: the test, a busy machine does not.
SETTLE = 60.0


class Target(LineProgram):
    """PROGRAM (attach_target.py) running in MODE, its output read line by
    line."""

    def __init__(self, mode: str, *, python: str = support.PYTHON, program: str = TARGET,
                 extra_args: list[str] = (), hide: list[str] = (), **env: str) -> None:
        """With HIDE, the program runs in a mount namespace of its own in
        which those directories are empty (an unshare -m and a tmpfs on
        each), as in a container or a service with PrivateTmp; its scratch
        directory, and a copy of the program, are then in /var/tmp."""
        self.scratch = tempfile.mkdtemp(prefix="pyusdt-attach-test-",
                                        dir="/var/tmp" if hide else None)
        os.chmod(self.scratch, 0o755)
        self.stopfile = os.path.join(self.scratch, "stop")
        # N.B. PYUSDT_LIBRARY stays: it names the build under test (make
        # asan's, make valgrind's), which the attach must load, and arms
        # nothing by itself.
        environment = {k: v for k, v in os.environ.items()
                       if k == "PYUSDT_LIBRARY"
                       or not k.startswith("PYUSDT_") and k != "PYTHONPATH"}
        environment["PYTHONPATH"] = self.scratch
        environment.update(env)
        prefix: list[str] = []
        if hide:
            program = shutil.copy(program, self.scratch)
            mounts = " && ".join('mount -t tmpfs none "%s"' % path for path in hide)
            prefix = ["unshare", "-m", "sh", "-c", mounts + ' && exec "$@"', "sh"]
        super().__init__(subprocess.Popen(
            [*prefix, python, *extra_args, program, self.stopfile, mode], cwd=self.scratch,
            env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
        self.ready = self.next_line()
        if not self.ready.startswith("ready"):
            raise RuntimeError("target did not start: %r\n%s" % (self.ready, self.describe()))

    def running(self) -> bool:
        return self.proc.poll() is None

    def maps_pyusdt(self) -> bool:
        with open("/proc/%d/maps" % self.pid) as maps:
            return "libpyusdt" in maps.read()

    def lines_from_now(self, count: int) -> list[str]:
        """Waits until COUNT lines have come after every line received so
        far, and returns them.  N.B. not COUNT calls of next_line(): a
        program in loop mode prints all the while, and every line it printed
        while the test waited (for an attach, a tracer) is queued already;
        reading those returns at once, long before it has run any further."""
        mark = len(self.stdout)
        while len(self.stdout) < mark + count:
            self.next_line()
        return self.stdout[mark:mark + count]

    def stop(self, timeout: float = SETTLE) -> int:
        """Asks the program to end; its exit status (it is killed if it
        does not end within TIMEOUT)."""
        with open(self.stopfile, "w"):
            pass
        return self.finish(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def describe(self) -> str:
        return ("--- target stdout (end) ---\n%s--- target stderr ---\n%s"
                % ("".join(self.stdout[-40:]), self.stderr[-3000:]))


def attach_command(pid: int, *args: str) -> list[str]:
    """The attach command line; attach_env() is its environment."""
    return [support.PYTHON, "-m", "pyusdt", "attach", str(pid), *args]


def attach_env(pythonpath: str = support.REPO, **env: str) -> dict[str, str]:
    """pyusdt imported from PYTHONPATH, the copy the target falls back to;
    pyusdt_tracer, which runs the attach, from the checkout."""
    return support.env(PYTHONPATH=os.pathsep.join([pythonpath, support.REPO]), **env)


def attach(pid: int, *args: str, pythonpath: str = support.REPO,
           prefix: list[str] = (), **env: str) -> subprocess.CompletedProcess:
    """Runs the attach command to its end (PREFIX before it: setpriv...),
    in PYTHONPATH: python -m imports from its working directory first."""
    return subprocess.run([*prefix, *attach_command(pid, *args)],
                          env=attach_env(pythonpath, **env),
                          cwd=pythonpath,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=SETTLE + 60)


def start_attach(pid: int, *args: str, pythonpath: str = support.REPO) -> subprocess.Popen:
    """Starts the attach command without waiting for it."""
    return subprocess.Popen(attach_command(pid, *args), env=attach_env(pythonpath),
                            cwd=pythonpath,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
