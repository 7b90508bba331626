"""Where a process keeps a probe's semaphore (its ELF notes and memory
map), and watching it rise from outside the process."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import threading
import time

from common import BenchError


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
