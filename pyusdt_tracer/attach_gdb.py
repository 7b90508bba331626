"""Queues a pending call in a running CPython 3.12 or 3.13 with gdb, for
``python -m pyusdt attach`` (attach.py): these versions have no
sys.remote_exec, and the pending call is their one way to have the
interpreter run code at a safe point of its own.

gdb attaches (every thread stops), and changes nothing but memory: it makes
no call into the process.  A call from gdb would run at whatever
instruction each thread was stopped at (inside malloc, holding a lock the
callee takes), must restore every register (gdb 13 cannot write back the
AMX state of recent Intel CPUs, and a target so interrupted in a system
call then sees it fail with errno 514), and is what pyrasite and early
attach tools got wrong.  Instead, with all threads stopped and none inside
the pending-call code (no thread's stack has a frame whose function name
holds "pending"; 3.13's PyMutex is also checked free), gdb:

1. writes a short bootstrap program (it exec()s the attach script in a
   fresh namespace, and lets nothing escape) into the unused tail of the
   page that ends the RW segment of the object holding _PyRuntime
   (libpython, or python itself when static): zero-filled bss the loader
   maps and nothing allocates, so no malloc is needed;
2. appends {PyRun_SimpleString, bootstrap} to the main interpreter's
   pending-call queue, as Py_AddPendingCall's _push_pending_call does
   (3.12: calls[last], last, calls_to_do; 3.13: calls[next], flags,
   npending, next), the struct layouts from libpython's debug info;
3. sets the eval breaker (3.12: the interpreter's; 3.13: the pending-call
   bit of each of its threads), and detaches.

The first thread of the interpreter to check its eval breaker, GIL held,
runs the call: the main thread, or another thread running Python while the
main thread waits (a per-interpreter pending call may run in any thread).
The process is stopped for as long as gdb takes to attach, read the debug
information and detach, about 0.2 s.

Needs gdb and libpython's debug information (pyenv and python.org builds
keep it; Debian's is python3.X-dbg); without either, one sentence says so.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile

#: What the gdb script prints before each of its results.
MARK = "PYUSDT-GDB"
#: The program the pending call runs: PyRun_SimpleString runs it in
#: __main__'s namespace, so it binds no name there; the attach script runs
#: in a namespace of its own.
BOOTSTRAP = ("try:\n    exec(open(%r, encoding='utf-8').read(), {})\n"
             "except BaseException:\n    pass\n")
#: How long gdb may take, in seconds (reading the debug information of a
#: large libpython on a loaded machine).
GDB_TIMEOUT = 60

#: Run by gdb -batch -x: the body (see the module docstring), formatted
#: with PID, the bootstrap's address and bytes, and the Python version.
GDB_SCRIPT = """\
import gdb

PID, ADDRESS, CODE, VERSION = %(pid)d, %(address)d, %(code)r, %(version)r
EXE, OBJECT, BASE = %(exe)r, %(object)r, %(base)d
PENDING = "_PyRuntime.interpreters.main->ceval.pending"


def say(*words):
    print(%(mark)r, *words, flush=True)


def value(expression):
    return int(gdb.parse_and_eval(expression))


def busy_thread():
    for thread in gdb.selected_inferior().threads():
        thread.switch()
        frame, depth = gdb.newest_frame(), 0
        while frame is not None and depth < 256:
            if "pending" in (frame.name() or "").lower():
                return thread.ptid[1]
            frame, depth = frame.older(), depth + 1
    return None


def queue():
    inferior = gdb.selected_inferior()
    try:
        calls = value("sizeof(%%s.calls) / sizeof(%%s.calls[0])" %% (PENDING, PENDING))
    except gdb.error:
        return say("nodebug")
    thread = busy_thread()
    if thread is not None or (VERSION >= (3, 13) and value(PENDING + ".mutex._bits")):
        return say("busy", thread or 0)
    old = bytes(inferior.read_memory(ADDRESS, len(CODE)))
    if old.strip(b"\\0") and not old.startswith(CODE[:16]):
        return say("noroom")
    if VERSION >= (3, 13):
        npending = value(PENDING + ".npending")
        if npending >= value(PENDING + ".max"):
            return say("full")
        slot = value(PENDING + ".next")
    else:
        slot = value(PENDING + ".last")
        if (slot + 1) %% calls == value(PENDING + ".first"):
            return say("full")
    inferior.write_memory(ADDRESS, CODE)
    entry = "%%s.calls[%%d]" %% (PENDING, slot)
    gdb.execute("set var %%s.func = (void *)PyRun_SimpleString" %% entry)
    gdb.execute("set var %%s.arg = (void *)%%d" %% (entry, ADDRESS))
    if VERSION >= (3, 13):
        gdb.execute("set var %%s.flags = 0" %% entry)
        gdb.execute("set var %%s.npending = %%d" %% (PENDING, npending + 1))
        gdb.execute("set var %%s.next = %%d" %% (PENDING, (slot + 1) %% calls))
        # _PY_CALLS_TO_DO_BIT of every thread's eval breaker.
        tstate = gdb.parse_and_eval("_PyRuntime.interpreters.main->threads.head")
        while int(tstate):
            gdb.execute("set var ((PyThreadState *)%%d)->eval_breaker |= 4" %% int(tstate))
            tstate = tstate["next"]
    else:
        gdb.execute("set var %%s.last = %%d" %% (PENDING, (slot + 1) %% calls))
        gdb.execute("set var %%s.calls_to_do._value = 1" %% PENDING)
        gdb.execute("set var _PyRuntime.interpreters.main->ceval.eval_breaker._value = 1")
    say("queued")


for setting in ("pagination off", "confirm off", "debuginfod enabled off",
                "auto-load off", "print thread-events off", "verbose off",
                "auto-solib-add off"):
    try:
        gdb.execute("set " + setting, to_string=True)
    except gdb.error:
        pass
try:
    # The interpreter's symbols, and the types queue() needs, read before
    # the process is stopped: that takes gdb some 0.2 s.  Only those:
    # auto-solib-add is off.
    if OBJECT == EXE:
        gdb.execute("file %%s" %% EXE, to_string=True)
    else:
        gdb.execute("add-symbol-file %%s -o %%d" %% (OBJECT, BASE), to_string=True)
    try:
        value("sizeof(%%s.calls)" %% PENDING)
    except gdb.error:
        pass   # queue() says so
    gdb.execute("attach %%d" %% PID, to_string=True)
except gdb.error as exc:
    say("noattach", " ".join(str(exc).split()))
else:
    try:
        queue()
    except Exception as exc:
        say("error", " ".join(str(exc).split()))
    finally:
        gdb.execute("detach", to_string=True)
"""


class GdbError(Exception):
    """The pending call could not be queued; the message says why in one
    sentence."""


def gdb_path() -> str | None:
    return shutil.which("gdb")


def _rw_segment_end(path: str) -> tuple[int, int] | None:
    """(file offset of the first LOAD, end address of the last writable
    LOAD) of the ELF file PATH, addresses relative to its load base."""
    with open(path, "rb") as elf:
        header = elf.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            return None   # not a little-endian 64-bit ELF file
        phoff, = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        elf.seek(phoff)
        table = elf.read(phentsize * phnum)
    first_vaddr = None
    end = None
    for index in range(phnum):
        p_type, flags, _, vaddr, _, _, memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", table, index * phentsize)
        if p_type != 1:   # PT_LOAD
            continue
        if first_vaddr is None:
            first_vaddr = vaddr
        if flags & 2:     # PF_W
            end = vaddr + memsz
    if first_vaddr is None or end is None:
        return None
    return first_vaddr, end


class Room:
    """Where the bootstrap goes: ADDRESS and SIZE, the unused tail of the
    last page of the writable segment of OBJECT (a path under
    /proc/PID/root), the ELF object that holds the interpreter, loaded at
    BASE; EXE is the process's executable, as a path there too."""

    __slots__ = ("address", "size", "object", "base", "exe")

    def __init__(self, address: int, size: int, obj: str, base: int, exe: str) -> None:
        self.address = address
        self.size = size
        self.object = obj
        self.base = base
        self.exe = exe


def bootstrap_room(pid: int) -> Room | None:
    """The Room for the bootstrap in PID: in libpython when it maps one,
    else in its executable; None if it cannot be found."""
    root = "/proc/%d/root" % pid
    try:
        with open("/proc/%d/maps" % pid, encoding="utf-8", errors="replace") as maps:
            rows = [line.split() for line in maps]
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None
    objects = [row[5] for row in rows if len(row) >= 6 and "/libpython3" in row[5]]
    path = objects[0] if objects else exe
    base = None
    for row in rows:
        if len(row) >= 6 and row[5] == path and int(row[2], 16) == 0:
            base = int(row[0].split("-")[0], 16)
            break
    try:
        segment = _rw_segment_end(root + path)
    except OSError:
        return None
    if base is None or segment is None:
        return None
    first_vaddr, end = segment
    start = base - first_vaddr + end
    page_end = (start + 4095) // 4096 * 4096
    return Room(start, page_end - start, root + path, base - first_vaddr, root + exe)


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that came while a helper of the attach ran (gdb, or the
    interpreter calling sys.remote_exec), raised once the helper has
    finished: HANDED_OVER says whether the target was given the script."""

    def __init__(self, handed_over: bool) -> None:
        super().__init__()
        self.handed_over = handed_over


def run_to_the_end(command: list[str], timeout: float) -> tuple[int | None, str, bool]:
    """Runs COMMAND, a helper of the attach, to its end: (its exit status,
    or None if it ran past TIMEOUT and was sent SIGTERM; its stdout and
    stderr; whether a Ctrl-C came meanwhile, which the caller raises).

    N.B. a helper must never die halfway: a gdb killed while attached (by
    SIGKILL, or by SIGPIPE writing to the pipe of an attach command that
    has gone) can leave the process stopped, and a Ctrl-C would leave the
    attach not knowing whether the script was handed over.  So the helper
    runs in a session of its own, out of reach of the terminal's Ctrl-C,
    and a Ctrl-C here waits for it; SIGTERM, not SIGKILL, on a timeout:
    gdb detaches as it quits."""
    run = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    interrupted = False
    while True:
        try:
            output, _ = run.communicate(timeout=timeout)
            return run.returncode, output, interrupted
        except KeyboardInterrupt:
            interrupted = True
        except subprocess.TimeoutExpired:
            run.terminate()
            output, _ = run.communicate()
            return None, output, interrupted


def queue_pending_call(pid: int, version: tuple[int, int], script: str) -> str:
    """Queues, with gdb, a pending call in process PID (CPython VERSION)
    that runs the attach SCRIPT (its path in the target).  Returns "queued"
    or "busy" (a thread is inside the pending-call code: try again);
    raises GdbError."""
    gdb = gdb_path()
    if gdb is None:
        raise GdbError("attaching to a running Python %d.%d needs gdb, which is not "
                       "installed (apt-get install gdb)" % version)
    code = (BOOTSTRAP % script).encode() + b"\0"
    room = bootstrap_room(pid)
    if room is None or room.size < len(code):
        raise GdbError("process %d has no room for the attach's %d-byte program at the "
                       "end of its interpreter's data segment" % (pid, len(code)))
    source = GDB_SCRIPT % {"pid": pid, "address": room.address, "code": code,
                           "version": version, "mark": MARK, "exe": room.exe,
                           "object": room.object, "base": room.base}
    with tempfile.NamedTemporaryFile("w", prefix="pyusdt-gdb-", suffix=".py") as file:
        file.write(source)
        file.flush()
        status, output, interrupted = run_to_the_end([gdb, "-nx", "-batch", "-x", file.name],
                                                     GDB_TIMEOUT)
    said = [line.split(None, 1)[1:] for line in output.splitlines()
            if line.startswith(MARK + " ")]
    if interrupted:
        raise Interrupted(bool(said) and said[-1][:1] == ["queued"])
    if status is None:
        raise GdbError("gdb did not finish with process %d within %d s"
                       % (pid, GDB_TIMEOUT))
    if not said:
        tail = " ".join(output.split())[-300:]
        raise GdbError("gdb failed on process %d: %s" % (pid, tail))
    result = said[-1][0].split(None, 1) if said[-1] else [""]
    word, rest = result[0], (result[1] if len(result) > 1 else "")
    if word in ("queued", "busy"):
        return word
    if word == "nodebug":
        raise GdbError("attaching to a running Python %d.%d needs its libpython's debug "
                       "information, which gdb did not find (Debian: apt-get install "
                       "python%d.%d-dbg)" % (version + version))
    if word == "noattach":
        raise GdbError("gdb could not attach to process %d: %s" % (pid, rest))
    if word == "full":
        raise GdbError("process %d's pending-call queue is full: try again" % pid)
    if word == "noroom":
        raise GdbError("process %d's data segment does not end with unused room "
                       "for the attach's program" % pid)
    raise GdbError("gdb failed on process %d: %s" % (pid, rest))
