"""Private copies of what is traced: the pyusdt package with its library
built for each Python, executables, and bench/floor.c compiled.

N.B. everything traced is a private copy (its own inode) in a temporary
directory: a uprobe attached by path reaches every process that maps that
inode, and other people's tests map the checkout's own libpyusdt.so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from common import BENCH, REPO, BenchError, bpftrace


@dataclass
class PythonInfo:
    path: str
    version: str      # "3.12.1", "3.14.7t": the key of its results
    tag: str          # "cpython-312", "cpython-314t": its build/ directory
    suffix: str       # ".cpython-312-x86_64-linux-gnu.so": its EXT_SUFFIX

    @property
    def free_threaded(self) -> bool:
        """Whether this is a free-threaded build (ABI flag t)."""
        return "t" in self.tag.split("-")[-1]

    @classmethod
    def probe(cls, path: str) -> PythonInfo:
        # The tag as the Makefile and pyusdt/_loader.py's build_name() make
        # it: the cache tag and the ABI flags.
        out = subprocess.run(
            [path, "-c", "import importlib.machinery, sys; "
             "print('%d.%d.%d' % sys.version_info[:3] + sys.abiflags, "
             "sys.implementation.cache_tag + sys.abiflags, "
             "importlib.machinery.EXTENSION_SUFFIXES[0])"],
            stdout=subprocess.PIPE, text=True, check=True).stdout.split()
        return cls(path, out[0], out[1], out[2])


class Sandbox:
    """A temporary directory of private copies, removed on close()."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="pyusdt-bench-")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def pyusdt(self, python: PythonInfo, name: str) -> tuple[str, str]:
        """A private pyusdt package with its own copy of the library built
        for PYTHON.  Returns (directory for PYTHONPATH, library path)."""
        built = os.path.join(REPO, "build", python.tag, "libpyusdt.so")
        # The library named as an installed package names it:
        # pyusdt/_loader.py looks for no other name inside the package.
        top, lib = bpftrace.copy_pyusdt(
            os.path.join(self.root, "%s-%s" % (python.tag, name)), built,
            os.path.join("pyusdt", "libpyusdt" + python.suffix))
        package = os.path.join(top, "pyusdt")
        # Byte-compiled, as pip installs it: start-up is measured as users
        # meet it, whatever PYTHONDONTWRITEBYTECODE says here.
        subprocess.run([python.path, "-m", "compileall", "-q", package], check=True)
        return top, lib

    def file(self, source: str, name: str) -> str:
        """A private copy of SOURCE (an executable, say) named NAME."""
        path = os.path.join(self.root, name)
        shutil.copy(source, path)
        return path

    def floor(self, cc: str, name: str) -> str:
        """bench/floor.c compiled as the private executable NAME."""
        path = os.path.join(self.root, name)
        cmd = [cc, "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-o", path,
               os.path.join(BENCH, "floor.c")]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        if proc.returncode != 0:
            raise BenchError("building floor failed: %s\n%s" % (" ".join(cmd),
                                                               proc.stdout))
        return path
