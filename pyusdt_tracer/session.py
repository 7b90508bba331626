"""The one bpftrace session layer: how the launcher, the tests and the
benchmark run bpftrace against pyusdt processes.

A Session starts bpftrace on a program, knows when it has attached (its
BEGIN probe fired), interrupts it as Ctrl-C does (working around bpftrace
0.17's lost SIGINTs), and collects its output.  Around it: the environment
every session gets, the stderr lines that report nothing wrong, where the
kernel's tracepoints are, waiting for a process to map libpyusdt and for a
tracer's semaphores to be raised, and private copies of the package.

Standard library only: it imports nothing of pyusdt's, which would map
libpyusdt into the tracer.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

#: Where the kernel's tracepoints are, for programs that use them.
TRACEFS = "/sys/kernel/tracing"

#: bpftrace settings every session gets unless its environment already says
#: otherwise.  STRLEN: pyusdt's longest string argument is 131 bytes (127
#: and "..." and NUL, see docs/probes.md), so 136 shows every value whole,
#: while two such strings and a printf's other arguments still fit the
#: 512-byte BPF stack (every tool and the tests' programs print at most
#: two).  MAP_KEYS_MAX: more code objects than the default 4096 keys.
#: PERF_RB_PAGES (pages per CPU): room for bursts of printed events, so that
#: the reader never falls behind far enough to lose them (the tests compare
#: whole event streams; pyflow prints one line per call).
ENV_DEFAULTS = {"BPFTRACE_STRLEN": "136", "BPFTRACE_MAP_KEYS_MAX": "16384",
                "BPFTRACE_PERF_RB_PAGES": "512"}

#: bpftrace 0.17's stderr lines that report nothing wrong with the trace.
NOISE = re.compile(r"RLIMIT_MEMLOCK|uprobe_events|failed to detach probe|Addrspace"
                   r"|^\s*$")

#: How long bpftrace gets to act on a SIGINT before it is sent another.
RETRY_SECONDS = 1.0

#: What a session's own BEGIN probe prints (programs without a BEGIN of
#: their own): bpftrace runs BEGIN once every probe is attached, while
#: "Attaching N probes..." comes before it attaches them one by one, which
#: on a busy machine takes seconds.
ATTACHED_MARK = "PYUSDT-ATTACHED"

#: drain(sentinel=True): a kill(SENTINEL_PID, 0) no process makes (the pid
#: is above any pid_max, so it fails with ESRCH and touches nothing) is
#: traced on every CPU in turn.  The perf buffer of a CPU is read in order,
#: so once bpftrace prints the line of CPU k it has printed every event
#: written on CPU k before: a finished program's trace is whole.  (Waiting
#: for the output to go quiet is not: on a loaded machine bpftrace can be
#: off CPU long enough to look finished.)
SENTINEL_PID = 2147480011
SENTINEL_LINE = "PYUSDT-DRAINED|"
SENTINEL_PROBE = ('tracepoint:syscalls:sys_enter_kill /args->pid == %d && args->sig == 0/'
                  ' { printf("%s%%d\\n", cpu); }' % (SENTINEL_PID, SENTINEL_LINE))

#: A libpyusdt.so path in /proc/PID/maps, and whether it is deleted.
MAPPED_LIBRARY = re.compile(r"\s(/\S*/libpyusdt[^/\s]*\.so)( \(deleted\))?$")


class SessionError(RuntimeError):
    """bpftrace did not do what a session waited for; the message says what,
    with its output."""


class LibraryReplaced(Exception):
    """A process maps a libpyusdt.so that has since been deleted or
    rebuilt: bpftrace would read the new file's probes."""

    def __init__(self, pid: int, path: str) -> None:
        super().__init__("process %d maps %s, since deleted or rebuilt" % (pid, path))
        self.pid = pid
        self.path = path


# --- Finding and configuring bpftrace ------------------------------------------

def executable(given: str | None = None) -> str | None:
    """The bpftrace to run: GIVEN, else $BPFTRACE, else the one on PATH; None
    when there is no such executable."""
    return shutil.which(given or os.environ.get("BPFTRACE") or "bpftrace")


def unusable(given: str | None = None) -> str | None:
    """Why bpftrace cannot run here (GIVEN as for executable()), or None."""
    if executable(given) is None:
        return "bpftrace is not installed (apt-get install bpftrace)"
    if os.geteuid() != 0:
        return "bpftrace needs root"
    return None


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """BASE (default: this process's environment) with ENV_DEFAULTS for what
    it does not set."""
    env = dict(os.environ if base is None else base)
    for name, value in ENV_DEFAULTS.items():
        env.setdefault(name, value)
    return env


def errors(stderr: str) -> list[str]:
    """The lines of bpftrace's STDERR that are not NOISE."""
    return [line for line in stderr.splitlines() if not NOISE.search(line)]


def _kill_sentinel_on(cpu: int) -> None:
    """The sentinel's syscall, from the calling thread moved to CPU."""
    try:
        os.sched_setaffinity(0, {cpu})   # 0: this thread only
        os.kill(SENTINEL_PID, 0)
    except OSError:
        pass   # ESRCH, as intended (or CPU went offline: the next round)


def tracefs_mounted() -> bool:
    return os.path.isdir(os.path.join(TRACEFS, "events"))


# --- Stopping bpftrace ----------------------------------------------------------
# bpftrace (0.17, Debian 12's) acts on SIGINT only when the signal interrupts
# its epoll_wait(): one that arrives while it is handling events just sets its
# flag, and it then goes on polling, idle, until another signal comes.  Until
# its main loop ends it keeps its SIGINT handler, so another SIGINT is safe
# then; afterwards (printing its maps) SIGINT is back to the default action
# and would kill it in the middle of its report.  So SIGINT is sent again
# only while bpftrace still catches it and sleeps in epoll_wait().

def _stuck_in_main_loop(pid: int) -> bool:
    """Whether bpftrace PID still has its SIGINT handler and sleeps in
    epoll_wait(), i.e. has not acted on the SIGINT it got."""
    try:
        with open("/proc/%d/status" % pid) as status:
            caught = next((int(line.split()[1], 16) for line in status
                           if line.startswith("SigCgt:")), 0)
        with open("/proc/%d/wchan" % pid) as wchan:
            sleeping_in = wchan.read()
    except (OSError, ValueError):
        return False
    return bool(caught & (1 << (signal.SIGINT - 1))) and "epoll_wait" in sleeping_in


def interrupt(proc: subprocess.Popen, timeout: float | None = None,
              group: bool = False) -> bool:
    """Sends PROC, a bpftrace, SIGINT (to its process group with GROUP)
    and waits up to TIMEOUT seconds (None: for as long as it takes) for it
    to exit, sending SIGINT again every RETRY_SECONDS while it is stuck in
    its main loop.  Returns whether it exited."""
    deadline = None if timeout is None else time.monotonic() + timeout
    first = True
    while proc.poll() is None:
        if first or _stuck_in_main_loop(proc.pid):
            try:
                if first and group:
                    os.killpg(proc.pid, signal.SIGINT)
                else:
                    proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
            first = False
        wait = RETRY_SECONDS
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                return False
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
    return True


def _die_with_parent() -> None:
    """In bpftrace's child: get SIGINT, and so report and exit, if the
    thread that started it dies (PR_SET_PDEATHSIG)."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)
    except (OSError, AttributeError):
        pass


# --- Output ---------------------------------------------------------------------

class Output:
    """Reads a child's stdout line by line as it comes (ON_LINE(line), the
    newline stripped; ON_END() once it ends) and its stderr likewise
    (ON_ERROR(line), and kept whole in .stderr), each in a daemon thread, so
    that neither pipe can fill and block the child."""

    def __init__(self, proc: subprocess.Popen, on_line: Callable[[str], None],
                 on_end: Callable[[], None] = lambda: None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_out, args=(proc.stdout, on_line, on_end),
                             daemon=True),
            threading.Thread(target=self._read_err, args=(proc.stderr, on_error),
                             daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    @staticmethod
    def _read_out(pipe, on_line: Callable[[str], None],
                  on_end: Callable[[], None]) -> None:
        try:
            for line in pipe:
                on_line(line.rstrip("\n"))
        finally:
            on_end()

    def _read_err(self, pipe, on_error: Callable[[str], None] | None) -> None:
        for line in pipe:
            self._stderr.append(line)
            if on_error is not None:
                on_error(line)

    def join(self, timeout: float = 10) -> None:
        """Waits (TIMEOUT each) for both pipes to be read to their end."""
        for thread in self._threads:
            thread.join(timeout)


_MAP_LINE = re.compile(r"(@\w*)(?:\[(.*)\])?: (-?\d+)$")


class Session:
    """bpftrace running PROGRAM (written to a temporary NAME-*.bt file) with
    ARGS before the file and PARAMS after it, in its own process group,
    with environment(ENV) in CWD.

    Attached is when BEGIN has printed: with MARK, a BEGIN probe the
    session adds prints ATTACHED_MARK (which is not kept in lines), and
    PROGRAM must not have a BEGIN of its own; without, the program's own
    BEGIN must print, and its first line counts.  Each stdout line is kept
    in lines (with KEEP) and given to ON_LINE, in a reader thread, as it
    comes; ON_ATTACHING is called at "Attaching N probes..." and
    ON_ATTACHED once attached, in the same thread.  Lines bpftrace prints
    on stderr are kept in stderr; with ECHO_ERRORS those that are not NOISE
    are copied to this process's stderr as they come.  With
    DIE_WITH_PARENT, bpftrace gets SIGINT when the thread that started it
    dies."""

    def __init__(self, program: str, args: list[str] = (), params: list[str] = (), *,
                 bpftrace: str | None = None, mark: bool = True, name: str = "session",
                 cwd: str | None = None, env: dict[str, str] | None = None,
                 keep: bool = True,
                 on_line: Callable[[str], None] | None = None,
                 on_attaching: Callable[[], None] | None = None,
                 on_attached: Callable[[], None] | None = None,
                 echo_errors: bool = False, die_with_parent: bool = False,
                 sentinel: bool = False) -> None:
        self.program = program
        self.lines: list[str] = []
        self.attached = threading.Event()
        self.last_line_at = time.monotonic()
        #: How long stop() took.
        self.stop_seconds = 0.0
        self._mark = mark
        self._keep = keep
        self._on_line = on_line
        self._on_attaching = on_attaching
        self._on_attached = on_attached
        self._echo = echo_errors
        #: An exception ON_LINE raised; wait() raises it again.
        self._failure: BaseException | None = None
        self._stopper: threading.Thread | None = None
        #: The CPUs whose sentinel line came (None: no sentinel probe).
        self._drained: set[int] | None = (
            set() if sentinel and os.path.exists(
                os.path.join(TRACEFS, "events/syscalls/sys_enter_kill")) else None)
        #: When interrupt() or stop() was first called (time.monotonic_ns,
        #: the clock of bpftrace's nsecs): bpftrace then detaches its probes
        #: one by one, so events after it may lack their pairs.
        self.interrupted_ns: int | None = None
        path = executable(bpftrace)
        if path is None:
            raise FileNotFoundError("bpftrace not found: %s" % (bpftrace or "bpftrace"))
        self._script = tempfile.NamedTemporaryFile("w", prefix="pyusdt-%s-" % name,
                                                   suffix=".bt")
        self._script.write(program + ("\nBEGIN { printf(\"%s\\n\"); }\n" % ATTACHED_MARK
                                      if mark else "")
                           + ("\n%s\n" % SENTINEL_PROBE if self._drained is not None else ""))
        self._script.flush()
        self.command = [path, *args, self._script.name, *params]
        try:
            # N.B. a string cut at BPFTRACE_STRLEN may end inside a UTF-8
            # character: decoding must not fail on it.
            self.proc = subprocess.Popen(
                self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                encoding="utf-8", errors="replace", env=environment(env), cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if die_with_parent else None)
        except OSError:
            self._script.close()
            raise
        # N.B. set at the end too, to wake waiters if bpftrace died.
        self._output = Output(self.proc, self._line, self.attached.set,
                              self._error if echo_errors else None)

    # Reading -----------------------------------------------------------------

    def _line(self, line: str) -> None:
        if self._failure is not None:
            return
        if not self.attached.is_set():
            if line.startswith("Attaching ") or '"attached_probes"' in line:
                if self._on_attaching is not None:
                    self._call(self._on_attaching)
                if self._mark:
                    return
            elif not self._mark or ATTACHED_MARK in line:
                self.attached.set()
                if self._on_attached is not None:
                    self._call(self._on_attached)
                if self._mark:
                    return
        if self._drained is not None and line.startswith(SENTINEL_LINE):
            self._drained.add(int(line[len(SENTINEL_LINE):] or -1))
            return
        if self._keep:
            self.lines.append(line)
        self.last_line_at = time.monotonic()
        if self._on_line is not None:
            self._call(self._on_line, line)

    def _call(self, function: Callable, *args: object) -> None:
        try:
            function(*args)
        except BaseException as exc:   # noqa: B036 - raised again by wait()
            # N.B. nothing reads what comes after: bpftrace ends as at Ctrl-C.
            self._failure = exc
            self.interrupt()

    @staticmethod
    def _error(line: str) -> None:
        if not NOISE.search(line):
            sys.stderr.write(line)
            sys.stderr.flush()

    @property
    def stderr(self) -> str:
        """Everything bpftrace printed on stderr so far."""
        return self._output.stderr

    def errors(self) -> list[str]:
        """bpftrace's stderr lines that are not NOISE."""
        return errors(self.stderr)

    def maps(self) -> dict[str, dict[str, int]]:
        """The integer maps bpftrace printed, {"@name": {key: value}} (key ""
        for a map without keys); a map printed again overwrites."""
        found: dict[str, dict[str, int]] = {}
        for line in self.lines:
            match = _MAP_LINE.match(line)
            if match:
                name, key, value = match.groups()
                found.setdefault(name, {})[key or ""] = int(value)
        return found

    def describe(self) -> str:
        """The program, its output and its errors, for a failure message."""
        return ("--- bpftrace program ---\n%s\n--- bpftrace output (last 200 lines) ---\n"
                "%s\n--- bpftrace stderr ---\n%s"
                % (self.program[:3000], "\n".join(self.lines[-200:]), self.stderr[-3000:]))

    # Waiting -----------------------------------------------------------------

    def wait_attached(self, timeout: float = 60) -> None:
        """Waits for bpftrace to attach; stops it and raises SessionError if
        it did not within TIMEOUT seconds."""
        if not self.attached.wait(timeout) or self.proc.poll() is not None:
            self.stop()
            raise SessionError("bpftrace did not attach\n" + self.describe())

    def wait_line(self, prefix: str, timeout: float = 30) -> str:
        """The first line of output starting with PREFIX, waiting for it;
        SessionError if none comes within TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while True:
            ended = self.proc.poll() is not None
            if ended:
                self._output.join()
            found = next((line for line in list(self.lines) if line.startswith(prefix)),
                         None)
            if found is not None:
                return found
            if ended or time.monotonic() > deadline:
                raise SessionError("bpftrace printed no %r line\n%s"
                                   % (prefix, self.describe()))
            time.sleep(0.005)

    def drain(self, quiet: float = 0.5, limit: float = 10) -> None:
        """Waits until bpftrace has printed every event written so far: with
        the sentinel probe, until its line came from every CPU (60 s at
        most); without it, until no output arrived for QUIET seconds (LIMIT
        at most).  Returns early if bpftrace has ended."""
        if self._drained is not None:
            self._drain_by_sentinel(60)
            return
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_line_at >= quiet:
                return
            time.sleep(0.05)

    def _drain_by_sentinel(self, limit: float) -> None:
        assert self._drained is not None
        self._drained.clear()
        cpus = os.sched_getaffinity(0)
        deadline = time.monotonic() + limit
        while self.proc.poll() is None and time.monotonic() < deadline:
            for cpu in sorted(cpus - self._drained):
                pinned = threading.Thread(target=_kill_sentinel_on, args=(cpu,))
                pinned.start()
                pinned.join()
            stop = min(deadline, time.monotonic() + 1)
            while time.monotonic() < stop and not cpus <= self._drained:
                time.sleep(0.01)
            if cpus <= self._drained:
                return

    def wait(self, timeout: float | None = None) -> int:
        """Waits for bpftrace to exit (TIMEOUT: subprocess.TimeoutExpired)
        and for its output to be read; its exit status.  Raises what ON_LINE
        ON_ATTACHING or ON_ATTACHED raised."""
        status = self.proc.wait(timeout)
        self._output.join()
        self._script.close()
        if self._failure is not None:
            raise self._failure
        return status

    # Stopping ----------------------------------------------------------------

    def stop(self, timeout: float = 60) -> int:
        """SIGINT, as Ctrl-C: bpftrace prints its maps and exits, or is
        killed after TIMEOUT seconds (and the maps it prints at exit are
        lost).  It detaches every probe first, ~0.1-0.2 s each here.
        Returns its exit status."""
        started = time.monotonic()
        if self.interrupted_ns is None:
            self.interrupted_ns = time.monotonic_ns()
        if not interrupt(self.proc, timeout, group=True):
            os.killpg(self.proc.pid, signal.SIGKILL)
        status = self.wait()
        self.stop_seconds = time.monotonic() - started
        return status

    def interrupt(self) -> None:
        """Ctrl-C without waiting: the first time, a thread sees to it that
        bpftrace acts on it (interrupt()); another is passed on as it is."""
        if self._stopper is None:
            self.interrupted_ns = self.interrupted_ns or time.monotonic_ns()
            self._stopper = threading.Thread(target=interrupt, args=(self.proc,),
                                             daemon=True)
            self._stopper.start()
        elif self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()
        else:
            self._script.close()


# --- The traced process ------------------------------------------------------------

def mapped_library(pid: int) -> str | None:
    """The path of the libpyusdt.so process PID maps, or None.  OSError if
    its memory map cannot be read (FileNotFoundError: no such process);
    LibraryReplaced if the file has since been deleted or rebuilt."""
    with open("/proc/%d/maps" % pid, encoding="utf-8", errors="replace") as maps:
        lines = maps.read().splitlines()
    for line in lines:
        found = MAPPED_LIBRARY.search(line)
        if found:
            if found.group(2):
                raise LibraryReplaced(pid, found.group(1))
            return found.group(1)
    return None


def wait_mapped(proc: subprocess.Popen, timeout: float = 60,
                library: str | None = None) -> str | None:
    """Waits until PROC maps libpyusdt.so (LIBRARY, if given, by its real
    path), so that bpftrace -p finds its probes; returns the path it maps,
    or None once PROC has exited.  TimeoutError after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    wanted = None if library is None else os.path.realpath(library)
    while proc.poll() is None:
        try:
            found = mapped_library(proc.pid)
        except LibraryReplaced as exc:
            found = exc.path
        except OSError:
            return None
        if found is not None and (wanted is None or found == wanted):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("process %d did not map %s within %g s"
                               % (proc.pid, wanted or "libpyusdt.so", timeout))
        try:
            proc.wait(0.02)
        except subprocess.TimeoutExpired:
            pass
    return None


def probes_in(program: str) -> list[str]:
    """The pyusdt probes a bpftrace PROGRAM attaches to, of both providers
    (pyusdt's own and python, CPython's marker names)."""
    return sorted(set(re.findall(r":(?:pyusdt|python):(\w+)", program)))


# Run by the traced side's python, with its environment: it loads the same
# library the traced programs do.
_SEMAPHORE_CHECK = """
import sys, time, pyusdt
wanted = set(sys.argv[2:])
deadline = time.monotonic() + float(sys.argv[1])
while not wanted <= set(pyusdt.status().attached) and time.monotonic() < deadline:
    time.sleep(0.01)
print(",".join(sorted(wanted - set(pyusdt.status().attached))))
"""


def wait_for_semaphores(python: str, probes: list[str], env: dict[str, str],
                        cwd: str | None = None, timeout: float = 60) -> None:
    """Waits until a new process of PYTHON importing pyusdt (with ENV, in
    CWD) finds every one of PROBES attached: a tracer attached by path raises
    their semaphores one by one, after printing "Attaching"; attaching many
    takes a while on a busy machine.  SessionError if not within TIMEOUT
    seconds."""
    check = subprocess.run([python, "-c", _SEMAPHORE_CHECK, str(timeout), *probes],
                           cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout + 30)
    if check.returncode != 0 or check.stdout.strip():
        raise SessionError("probes not attached within %g s: %s"
                           % (timeout, check.stdout.strip()))
    # The kernel raises a semaphore as it registers the uprobe, a moment
    # before bpftrace's BPF program is attached to it.
    time.sleep(0.05)


# --- Private copies ---------------------------------------------------------------

def copy_pyusdt(root: str, library: str, library_at: str) -> tuple[str, str]:
    """Copies the pyusdt package beside this one into ROOT/pyusdt (without
    compiled files) and LIBRARY to ROOT/LIBRARY_AT.  Returns (ROOT, the copy's library):
    ROOT goes on PYTHONPATH.

    N.B. what is traced is best such a copy (its own inode): a uprobe
    attached by path reaches every process that maps that inode, and other
    people's tests map the checkout's own libpyusdt.so."""
    package = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "pyusdt")
    shutil.copytree(package, os.path.join(root, "pyusdt"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    copy = os.path.join(root, library_at)
    os.makedirs(os.path.dirname(copy), exist_ok=True)
    shutil.copyfile(library, copy)
    return root, copy

