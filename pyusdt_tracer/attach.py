"""``python -m pyusdt attach PID``: loads pyusdt into a running CPython that
was started without it, so that bpftrace can trace it with no restart.

The code the target runs is a small script written into the target's /tmp
(through /proc/PID/root: a container's, or a service's PrivateTmp); it
imports pyusdt, the copy installed in the target's environment if there is
one, else this copy (when the target sees the same files), and writes back
what happened.  It runs at a safe point of the target's own interpreter,
GIL held, handed over by:

- CPython 3.14 and later: ``sys.remote_exec`` (PEP 768), called by an
  interpreter of the target's own version and ABI (its executable, from
  /proc/PID/exe); the target's main thread runs it.
- CPython 3.12 and 3.13: a pending call that gdb queues without calling
  into the process (attach_gdb.py); any thread of the interpreter runs it.

Both are asynchronous: the script runs when a thread next executes Python
code, which a thread blocked in a system call does only when the call
returns.  The attach waits up to --timeout for it; on a timeout it
withdraws the script first (the script and this command each try to
delete one token file, and only one of them can), so that a target that
reaches the safe point later does nothing.

On the tracer side: it never maps libpyusdt itself (pyusdt/_loader.py
loads nothing for ``python -m pyusdt attach``), and imports nothing of
``pyusdt``.  Used by that command and by the launcher's ``-p PID``.  Linux
only (/proc).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from pyusdt_tracer import attach_gdb, session
from pyusdt_tracer.errors import PROG as LAUNCHER, TraceError

PROG = "python -m pyusdt attach"
USAGE = "usage: %s PID [--timeout SECONDS]" % PROG
#: How long the target has to reach a safe point, in seconds.
DEFAULT_TIMEOUT = 5.0
#: How often the wait looks at the target, in seconds.
POLL = 0.005
#: Once the target has taken the script, how long it may take to import
#: pyusdt before the attach gives up (a cold disk cache, a loaded machine).
IMPORT_GRACE = 30.0
#: The oldest Python pyusdt runs on, and the oldest remote_exec reaches.
OLDEST = (3, 12)
REMOTE_EXEC = (3, 14)
#: A CPython executable or library name, and its version and ABI flags.
PYTHON_EXE = re.compile(r"^python(\d+)\.(\d+)([a-z]*)$")
LIBPYTHON = re.compile(r"/libpython(\d+)\.(\d+)([a-z]*)\.so[.\d]*$")
#: The name of a workspace (a directory in the target's /tmp) begins so:
#: then pid-starttime-random.
WORKSPACE = "pyusdt-attach-"
#: CAP_SYS_PTRACE, in /proc/self/status's CapEff.
CAP_SYS_PTRACE = 19

#: Run by the target's own interpreter (python -I -S -c): calls
#: sys.remote_exec and reports a failure as "TYPE: MESSAGE" on stdout.
HELPER = """\
import sys
try:
    sys.remote_exec(int(sys.argv[1]), sys.argv[2])
except BaseException as exc:
    print("%s: %s" % (type(exc).__name__, exc))
    sys.exit(1)
"""

#: Run in the target, in a namespace of its own, between two bytecodes of
#: whatever the thread was running: the main thread (sys.remote_exec), or
#: the first to check its eval breaker (a pending call, 3.12 and 3.13).
#: Formatted with the paths of the script, token and result (as the target
#: sees them) and of this copy of pyusdt ("" when the target cannot see
#: it).  Nothing may escape it: CPython would print the exception on the
#: target's stderr, or raise it in the program (a pending call).  N.B. a KeyboardInterrupt that arrives while it runs is raised in
#: it; it is handed back to the program (interrupt_main) as its last act,
#: after which no bytecode of the script checks for signals.
SCRIPT = """\
def _pyusdt_attach(script, token, result, fallback):
    import os, sys
    try:
        os.unlink(token)
    except OSError:
        # Withdrawn: the attach gave up before this ran.
        try:
            os.unlink(script)
            os.rmdir(os.path.dirname(script))
        except OSError:
            pass
        return False
    version = sys.version.split()[0] + sys.abiflags
    before = set(sys.modules)
    interrupted = False
    try:
        if "libpyusdt" in sys.modules:
            state, text = "already", ""
        else:
            try:
                import pyusdt
            except ModuleNotFoundError as exc:
                if exc.name != "pyusdt" or not fallback:
                    raise
                sys.path.insert(0, fallback)
                try:
                    import pyusdt
                finally:
                    if fallback in sys.path:
                        sys.path.remove(fallback)
            state, text = "ok", ""
    except KeyboardInterrupt:
        interrupted = True
        state, text = "error", "interrupted by SIGINT while importing pyusdt"
    except Exception as exc:
        state, text = "error", str(exc) or type(exc).__name__
    if state == "error":
        for name in set(sys.modules) - before:
            if name == "pyusdt" or name.startswith("pyusdt."):
                del sys.modules[name]
    try:
        with open(result + ".new", "w", encoding="utf-8") as out:
            out.write("%%s\\n%%s\\n%%s\\n" %% (state, version, " ".join(text.split())))
        os.rename(result + ".new", result)
    except OSError:
        pass
    return interrupted

if _pyusdt_attach(%(script)r, %(token)r, %(result)r, %(fallback)r):
    import _thread
    _thread.interrupt_main()
"""


class AttachError(TraceError):
    """Attaching cannot go ahead or failed; the message says why in one
    sentence, and the target was left as it was.  A TraceError, for the
    launcher's -p PID."""


class Attached:
    """What an attach did: the target's PID, its Python VERSION (as
    "3.14.7" or "3.14t"), the LIBRARY it maps (give it to bpftrace), and
    whether pyusdt was ALREADY loaded."""

    __slots__ = ("pid", "version", "library", "already")

    def __init__(self, pid: int, version: str, library: str, already: bool) -> None:
        self.pid = pid
        self.version = version
        self.library = library
        self.already = already

    def describe(self) -> str:
        """The line the attach command prints."""
        if self.already:
            return ("process %d (Python %s) already has pyusdt loaded: %s"
                    % (self.pid, self.version, self.library))
        return ("attached pyusdt to process %d (Python %s): %s"
                % (self.pid, self.version, self.library))


# --- The target, as /proc shows it -----------------------------------------------

def _proc(pid: int, name: str) -> str:
    return "/proc/%d/%s" % (pid, name)


def _alive(pid: int) -> bool:
    """Whether PID exists and has not exited (a zombie has)."""
    try:
        with open(_proc(pid, "stat"), "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _gone(pid: int) -> bool:
    """Whether PID has exited or is exiting: a zombie, or its memory
    already released (an empty map), which a helper that failed on it may
    have seen before the process became a zombie."""
    if not _alive(pid):
        return True
    try:
        with open(_proc(pid, "maps"), "rb") as maps:
            return not maps.read(1)
    except OSError:
        return True


def _status_field(pid: int, field: str) -> list[str]:
    try:
        with open(_proc(pid, "status"), encoding="utf-8", errors="replace") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return line.split()[1:]
    except OSError:
        pass
    return []


def _owner(pid: int) -> tuple[int, int]:
    """The effective uid and gid of PID (-1 when unknown)."""
    uid, gid = _status_field(pid, "Uid"), _status_field(pid, "Gid")
    return (int(uid[1]) if len(uid) > 1 else -1, int(gid[1]) if len(gid) > 1 else -1)


def _user(uid: int) -> str:
    try:
        import pwd
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except (ImportError, KeyError):
        return "uid %d" % uid


def _can_ptrace_any() -> bool:
    """Whether this process has CAP_SYS_PTRACE (root has)."""
    caps = _status_field(os.getpid(), "CapEff")
    return bool(caps) and bool(int(caps[0], 16) & (1 << CAP_SYS_PTRACE))


def _ptrace_scope() -> int:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as scope:
            return int(scope.read())
    except (OSError, ValueError):
        return 0


def _denied(pid: int) -> AttachError:
    """Why this process may not read or write process PID, in a sentence."""
    scope = _ptrace_scope()
    if scope >= 3:
        return AttachError("cannot attach to process %d: kernel.yama.ptrace_scope is 3, "
                           "which forbids attaching to any process until reboot" % pid)
    uid, _ = _owner(pid)
    if uid != os.geteuid() and not _can_ptrace_any():
        return AttachError("permission denied: process %d belongs to %s; run the "
                           "attach as root or as that user" % (pid, _user(uid)))
    if scope >= 1 and not _can_ptrace_any():
        return AttachError("permission denied: kernel.yama.ptrace_scope is %d, which lets "
                           "only root (CAP_SYS_PTRACE) attach to process %d; run the "
                           "attach as root" % (scope, pid))
    return AttachError("permission denied: cannot read or attach to process %d" % pid)


def mapped_library(pid: int) -> str | None:
    """The libpyusdt.so PID maps (its path as the process sees it), or None.
    Raises AttachError when PID does not exist or cannot be read."""
    try:
        return session.mapped_library(pid)
    except FileNotFoundError:
        raise AttachError("there is no process %d" % pid) from None
    except PermissionError:
        raise _denied(pid) from None
    except OSError as exc:
        raise AttachError("cannot read process %d's memory map: %s"
                          % (pid, exc.strerror)) from None
    except session.LibraryReplaced as exc:
        raise AttachError("process %d runs a libpyusdt.so that has since been deleted "
                          "or rebuilt (%s): restart it to trace it" % (pid, exc.path)) from None


def _python_of(pid: int) -> tuple[str, tuple[int, int], str]:
    """(executable, (major, minor), ABI flags) of the CPython process PID
    runs, from the names of its executable or of the libpython it maps.
    AttachError if it runs no CPython."""
    try:
        exe = os.readlink(_proc(pid, "exe"))
    except FileNotFoundError:
        raise AttachError("there is no process %d" % pid) from None
    except PermissionError:
        raise _denied(pid) from None
    except OSError:
        # A kernel thread has no executable.
        raise AttachError("process %d is not a Python process" % pid) from None
    deleted = exe.endswith(" (deleted)")
    exe = exe.removesuffix(" (deleted)")
    found = PYTHON_EXE.match(os.path.basename(exe))
    if found and deleted:
        raise AttachError("process %d's Python executable %s was deleted or replaced since "
                          "it started (an upgrade?), so no interpreter of its version can "
                          "be found: restart it" % (pid, exe))
    if found:
        return exe, (int(found.group(1)), int(found.group(2))), found.group(3)
    with open(_proc(pid, "maps"), encoding="utf-8", errors="replace") as maps:
        for line in maps:
            lib = LIBPYTHON.search(line.rstrip("\n"))
            if lib:
                # An embedded interpreter: the python executable of the
                # prefix that holds its libpython.
                version = (int(lib.group(1)), int(lib.group(2)))
                prefix = os.path.dirname(os.path.dirname(line.split()[-1]))
                name = "python%d.%d%s" % (version + (lib.group(3),))
                return os.path.join(prefix, "bin", name), version, lib.group(3)
    raise AttachError("process %d is not a Python process (it runs %s)" % (pid, exe))


def _disabled_by(pid: int) -> str | None:
    """What disables remote debugging in PID, if anything does: the
    environment variable or the -X option (sys.remote_exec reports the first
    but silently does nothing with the second)."""
    try:
        with open(_proc(pid, "environ"), "rb") as environ:
            if any(entry.startswith(b"PYTHON_DISABLE_REMOTE_DEBUG=") and entry != b"PYTHON_DISABLE_REMOTE_DEBUG="
                   for entry in environ.read().split(b"\0")):
                return "PYTHON_DISABLE_REMOTE_DEBUG in its environment"
        with open(_proc(pid, "cmdline"), "rb") as cmdline:
            args = cmdline.read().split(b"\0")[1:]
    except OSError:
        return None
    for index, arg in enumerate(args):
        if not arg.startswith(b"-") or arg in (b"-", b"--") or arg.startswith(b"-c") \
                or arg.startswith(b"-m"):
            break   # the options end at the program
        option = arg[2:] or (args[index + 1] if index + 1 < len(args) else b"")
        if arg.startswith(b"-X") and option.split(b"=")[0] == b"disable_remote_debug":
            return "-X disable_remote_debug on its command line"
    return None


def _what_main_thread_does(pid: int) -> str:
    """What PID's main thread is doing, as far as /proc tells."""
    try:
        with open(_proc(pid, "stat"), "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0].decode()
        with open(_proc(pid, "wchan")) as wchan:
            waiting = wchan.read().strip()
    except (OSError, IndexError):
        return "ran no Python code"
    if state in ("S", "D") and waiting not in ("", "0"):
        return "is blocked in the kernel, in %s" % waiting
    if state in ("T", "t"):
        return "is stopped, by a signal or a debugger"
    return "is running, but not Python code: C code of the program's or of a library"


# --- The attach ------------------------------------------------------------------

def _same_file(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _this_copy() -> str:
    """The directory the package pyusdt is imported from here (a checkout
    or site-packages), for the target's sys.path when it has no pyusdt.
    N.B. find_spec finds a top-level package without importing it."""
    module = sys.modules.get("pyusdt")
    origin = getattr(module, "__file__", None)
    if origin is None:
        spec = importlib.util.find_spec("pyusdt")
        origin = spec.origin if spec is not None else None
    if origin is None:
        return ""
    return os.path.dirname(os.path.dirname(os.path.abspath(origin)))


def _identity(pid: int) -> str:
    """PID and its start time (clock ticks since boot): a process's name
    that no later process reuses."""
    try:
        with open(_proc(pid, "stat"), "rb") as stat:
            return "%d-%s" % (pid, stat.read().rpartition(b")")[2].split()[19].decode())
    except (OSError, IndexError):
        return "%d-0" % pid


def _sweep(directory: str) -> None:
    """Removes from DIRECTORY the workspaces of processes that have ended
    since: a withdrawn script removes its own when it runs, but not when
    its process never runs Python again."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) == 5 and name.startswith(WORKSPACE) and parts[2].isdigit():
            if _identity(int(parts[2])) != "%s-%s" % (parts[2], parts[3]):
                shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


class _Workspace:
    """A private directory in the target's /tmp (as the target sees it,
    through /proc/PID/root) holding the script, the token the script and the
    attach race to delete, and the result the script writes.  Named after
    the target (pid and start time), so that a later attach can tell the
    directories of processes that ended from the others."""

    def __init__(self, pid: int) -> None:
        root = _proc(pid, "root")
        self.outside = None
        for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
            _sweep(root + tmp)
            try:
                self.outside = tempfile.mkdtemp(prefix="%s%s-" % (WORKSPACE, _identity(pid)),
                                                dir=root + tmp)
                break
            except OSError:
                continue
        if self.outside is None:
            raise AttachError("cannot write into process %d's /tmp" % pid)
        self.inside = self.outside[len(root):]
        try:
            self._fill(pid, root)
        except OSError:
            # N.B. the process may have exited meanwhile, its /proc/PID/root
            # with it: what was made is then in this process's /tmp (the
            # name is unique), or gone with the process's own.
            shutil.rmtree(self.outside, ignore_errors=True)
            shutil.rmtree(self.inside, ignore_errors=True)
            raise

    def _fill(self, pid: int, root: str) -> None:
        """Writes the token and the script into the new directory."""
        # N.B. /proc/PID/root is gone with the process: remove() goes
        # through this process's own path to the directory when it has one.
        self.local = self.inside if _same_file(self.inside, self.outside) else None
        self.token = os.path.join(self.inside, "token")
        self.result = os.path.join(self.inside, "result")
        self.script = os.path.join(self.inside, "attach.py")
        self._placeholder: str | None = None
        uid, gid = _owner(pid)
        fallback = _this_copy()
        if not fallback or not _same_file(root + fallback, fallback):
            fallback = ""   # the target sees other files (a container)
        #: Whether the target may fall back to this copy of pyusdt.
        self.fallback = bool(fallback)
        with open(self._out(self.token), "w"):
            pass
        with open(self._out(self.script), "w", encoding="utf-8") as script:
            script.write(SCRIPT % {"script": self.script, "token": self.token, "result": self.result,
                                   "fallback": fallback})
        if os.geteuid() == 0 and uid not in (-1, 0):
            for path in (self.outside, self._out(self.token), self._out(self.script)):
                os.chown(path, uid, gid)

    def _out(self, inside: str) -> str:
        return self.outside + inside[len(self.inside):]

    def script_for_caller(self) -> str:
        """The script's path as sys.remote_exec is given it.  remote_exec
        checks that the path exists here, and the target opens it in its own
        mount namespace: when the two differ (a container, PrivateTmp), an
        empty file stands in for it here while remote_exec runs."""
        if not os.path.exists(self.script):
            directory = os.path.dirname(self.script)
            os.mkdir(directory, 0o700)
            with open(self.script, "w"):
                pass
            self._placeholder = directory
        return self.script

    def drop_placeholder(self) -> None:
        if self._placeholder is not None:
            shutil.rmtree(self._placeholder, ignore_errors=True)
            self._placeholder = None

    def withdraw(self) -> bool:
        """Takes the token back so that the script, if it ever runs, does
        nothing; False if the script took it first."""
        try:
            os.unlink(self._out(self.token))
            return True
        except FileNotFoundError:
            return False

    def outcome(self) -> tuple[str, str, str] | None:
        """(state, version, text) the script wrote, or None yet."""
        try:
            with open(self._out(self.result), encoding="utf-8") as result:
                lines = result.read().split("\n")
        except OSError:
            return None
        return (lines + ["", "", ""])[0], (lines + ["", ""])[1], (lines + ["", "", ""])[2]

    def remove(self) -> None:
        self.drop_placeholder()
        shutil.rmtree(self.local or self.outside, ignore_errors=True)


def _remote_exec(pid: int, exe: str, script: str) -> None:
    """Calls sys.remote_exec(PID, SCRIPT) in EXE, the target's interpreter."""
    try:
        status, output, interrupted = attach_gdb.run_to_the_end(
            [exe, "-I", "-S", "-c", HELPER, str(pid), script], 60)
    except OSError as exc:
        # N.B. a process that exits takes /proc/PID/root, the path's start, along.
        if _gone(pid):
            raise AttachError("process %d exited during the attach" % pid) from None
        raise AttachError("cannot run process %d's interpreter %s here (%s): run %s "
                          "inside the process's container instead"
                          % (pid, exe, exc.strerror, PROG)) from None
    if interrupted:
        raise attach_gdb.Interrupted(status == 0)
    if status == 0:
        return
    said = output.strip() or "exit status %s" % status
    said = said.splitlines()[-1]
    if _gone(pid):
        raise AttachError("process %d exited during the attach" % pid)
    if said.startswith("PermissionError"):
        raise _denied(pid)
    if "not enabled in the remote process" in said:
        raise AttachError("process %d has remote debugging disabled: restart it under "
                          "python -m pyusdt or with PYUSDT_AUTO=1 to trace it" % pid)
    if "PyRuntime" in said or "debug offsets" in said:
        raise AttachError("sys.remote_exec could not find the interpreter in process %d "
                          "(%s); if it runs in a container, run %s inside the container"
                          % (pid, said, PROG))
    raise AttachError("sys.remote_exec failed on process %d: %s" % (pid, said))


def attach(pid: int, timeout: float = DEFAULT_TIMEOUT) -> Attached:
    """Loads pyusdt into the running CPython process PID, waiting up to
    TIMEOUT seconds for it to reach a safe point.  Raises
    AttachError, leaving the process as it was, when it cannot."""
    if pid <= 0:
        raise AttachError("there is no process %d" % pid)
    if pid == os.getpid():
        raise AttachError("process %d is this attach command itself" % pid)
    library = mapped_library(pid)
    exe, version, abiflags = _python_of(pid)
    name = "%d.%d%s" % (version + (abiflags,))
    if library is not None:
        return Attached(pid, name, library, True)
    if version < OLDEST:
        raise AttachError("process %d runs Python %s, and pyusdt needs 3.12 or later"
                          % (pid, name))
    by_gdb = version < REMOTE_EXEC
    if by_gdb:
        if attach_gdb.gdb_path() is None:
            raise AttachError("attaching to a running Python %s needs gdb, which is not "
                              "installed (apt-get install gdb)" % name)
    else:
        disabled = _disabled_by(pid)
        if disabled:
            raise AttachError("process %d has remote debugging disabled (%s): restart it "
                              "without it, or under python -m pyusdt" % (pid, disabled))
    deadline = time.monotonic() + timeout
    workspace = None
    keep = False
    handed_over = False
    try:
        # N.B. a Ctrl-C must not come between the making of the workspace
        # and the note of it, nor between the hand-over and its note.
        with _HeldInterrupt():
            try:
                workspace = _Workspace(pid)
            except OSError:
                # Through /proc/PID/root, gone with the process (a later
                # attach sweeps what it left in /tmp).
                if _gone(pid):
                    raise AttachError("process %d exited during the attach" % pid) from None
                raise
        with _HeldInterrupt() as held:
            if by_gdb:
                handed_over = _queue_by_gdb(pid, version, workspace, deadline, held)
            else:
                root = _proc(pid, "root")
                runnable = exe if _same_file(root, "/") else root + exe
                try:
                    _remote_exec(pid, runnable, workspace.script_for_caller())
                finally:
                    workspace.drop_placeholder()
                handed_over = True
        outcome = _wait(pid, workspace, max(0.0, deadline - time.monotonic()))
        if outcome is None:
            if workspace.withdraw():
                keep = _alive(pid)   # the script, should it ever run, removes it
                if not keep:
                    raise AttachError("process %d exited during the attach" % pid)
                raise AttachError("%s within %g s (its main thread %s); nothing was loaded"
                                  % ("no thread of process %d ran Python code" % pid
                                     if by_gdb else "process %d's main thread did not "
                                     "reach a safe point" % pid,
                                     timeout, _what_main_thread_does(pid)))
            outcome = _wait(pid, workspace, IMPORT_GRACE)
            if outcome is None:
                raise AttachError("process %d %s while importing pyusdt"
                                  % (pid, "exited" if not _alive(pid) else "took too long"))
        state, full_version, text = outcome
        if state == "error":
            if text == "No module named 'pyusdt'" and not workspace.fallback:
                raise AttachError("process %d has no pyusdt in its environment and does not "
                                  "see this one's files (it runs in another mount namespace, "
                                  "a container?): install pyusdt where it can import it, or "
                                  "run %s inside its container" % (pid, PROG))
            raise AttachError("process %d could not import pyusdt: %s" % (pid, text))
        library = mapped_library(pid)
        if library is None:
            raise AttachError("process %d imported pyusdt but does not map libpyusdt.so"
                              % pid)
        return Attached(pid, full_version or name, library, state == "already")
    except KeyboardInterrupt as exc:
        # Withdrawn, a script handed over removes its directory if it ever
        # runs; one never handed over leaves it to us.
        handed_over = handed_over or getattr(exc, "handed_over", False)
        keep = handed_over and workspace.withdraw() and _alive(pid)
        raise
    finally:
        if not keep and workspace is not None:
            workspace.remove()


class _HeldInterrupt:
    """Holds a Ctrl-C (SIGINT) back while the workspace is made, or the
    script handed over, and raises it after: an interrupted attach must
    know whether it has a workspace to remove, and whether the target was
    given the script (it then withdraws it, and leaves the workspace for
    the script to remove).  A KeyboardInterrupt raised between a step and
    the attach's note of it would not say (a workspace was left in /tmp,
    or removed under a script handed over: 1 Ctrl-C test in 5 on 3.14t).
    Main thread only (elsewhere no handler runs): it holds nothing there."""

    def __init__(self) -> None:
        self.came = False
        self._previous = None
        self._holding = False

    def __enter__(self) -> _HeldInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._note)
            self._holding = True
        return self

    def _note(self, signum: int, frame: object) -> None:
        self.came = True

    def __exit__(self, *exc_info: object) -> None:
        if not self._holding:
            return
        previous = signal.SIG_DFL if self._previous is None else self._previous
        signal.signal(signal.SIGINT, previous)
        if self.came:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt


def _queue_by_gdb(pid: int, version: tuple[int, int], workspace: _Workspace,
                  deadline: float, held: _HeldInterrupt) -> bool:
    """Queues the attach script as a pending call in PID (3.12, 3.13), with
    gdb (pyusdt/attach_gdb.py), trying again while a thread of PID is
    inside the pending-call code, until DEADLINE or a Ctrl-C HELD back.
    Whether it queued it."""
    while True:
        try:
            if attach_gdb.queue_pending_call(pid, version, workspace.script) == "queued":
                return True
        except attach_gdb.GdbError as exc:
            if _gone(pid):
                raise AttachError("process %d exited during the attach" % pid) from None
            if "Operation not permitted" in str(exc):
                raise _denied(pid) from None
            raise AttachError(str(exc)) from None
        if time.monotonic() >= deadline:
            raise AttachError("process %d was inside CPython's pending-call code at each "
                              "try until the timeout; nothing was loaded" % pid)
        if held.came:
            return False
        time.sleep(0.05)


def for_tracing(pid: int) -> str:
    """For ``python -m pyusdt.trace -p PID``, whose process has not loaded
    pyusdt: attaches, says so in one line on stderr, and returns the
    library.  AttachError (a TraceError) when it cannot."""
    attached = attach(pid)
    print("%s: %s" % (LAUNCHER, attached.describe()), file=sys.stderr, flush=True)
    return attached.library


def _wait(pid: int, workspace: _Workspace, seconds: float) -> tuple[str, str, str] | None:
    """The script's outcome, waiting up to SECONDS; None if it has none."""
    deadline = time.monotonic() + seconds
    while True:
        outcome = workspace.outcome()
        if outcome is not None:
            return outcome
        if not _alive(pid):
            raise AttachError("process %d exited during the attach" % pid)
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


# --- Command line ----------------------------------------------------------------

class UsageError(Exception):
    """A command line the attach command cannot run."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):   # type: ignore[override]
        raise UsageError(message)


def parse_args(argv: list[str]) -> tuple[int, float]:
    """(pid, timeout) of ``attach PID [--timeout SECONDS]``; UsageError
    with a one-line message if ARGV is not that."""
    parser = _Parser(prog=PROG, add_help=False)
    parser.add_argument("pid", type=int)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    options = parser.parse_args(argv)
    # N.B. written so that NaN fails too.
    if not 0 < options.timeout < float("inf"):
        raise UsageError("--timeout expects a positive number of seconds, not %r"
                         % options.timeout)
    return options.pid, options.timeout


def main(argv: list[str]) -> int:
    """Runs ``python -m pyusdt attach ARGV``; returns the exit status."""
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE + "\n\nLoads pyusdt into the running Python process PID (3.14+: by "
              "sys.remote_exec;\n3.12, 3.13: by gdb) and prints the library to give "
              "bpftrace.  --timeout: how\nlong it has to reach a safe point (default "
              "%g s)." % DEFAULT_TIMEOUT)
        return 0
    try:
        pid, timeout = parse_args(argv)
    except UsageError as exc:
        print("pyusdt attach: %s\n%s" % (exc, USAGE), file=sys.stderr)
        return 2
    try:
        attached = attach(pid, timeout)
    except AttachError as exc:
        print("pyusdt attach: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # attach() withdrew the script, unless the target had taken it.
        print("pyusdt attach: interrupted; if process %d had not started the "
              "import yet, nothing was loaded" % pid, file=sys.stderr)
        return 130
    print(attached.describe(), flush=True)
    return 0
