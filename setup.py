"""setup.py - builds pyusdt's wheel: the package, the libpyusdt extension
inside it, the bpftrace scripts as package data, and the PYUSDT_AUTO
start-up hook.

Metadata lives in pyproject.toml; this file holds only what setuptools 66+
cannot take from there: the extension, and files that live outside
pyusdt/ in the checkout.  Run it through pip (`pip install
--no-build-isolation .`) or `make install`; README's "Install" says how to
get setuptools offline.
"""

from __future__ import annotations

import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# The Makefile's compiler flags (CFLAGS_BASE and OPTFLAGS there), so that
# pip builds the same extension `make` does; tests/integration/
# test_packaging.py checks that the two lists agree.  All but -Werror: a
# warning stops a developer's build, never a user's install with a newer
# compiler than ours.  They follow Python's own CFLAGS on the command line,
# so -O2 wins over its -O3.  EXTRA_CFLAGS is honoured last, as by the
# Makefile.
CFLAGS = ["-std=gnu11", "-fvisibility=hidden", "-g", "-Wall", "-Wextra",
          "-Wno-missing-field-initializers", "-O2", "-DNDEBUG"]
LDFLAGS = ["-pthread"]

# The start-up hook: the .pth file goes to the root of site-packages, where
# site.py reads it, next to the module it imports.
STARTUP_PTH = "pyusdt-auto.pth"

# bpftrace scripts shipped inside the package: (source glob, directory in
# the package).  tools/ is optional.
PACKAGE_SCRIPTS = [("sample.bt", ""), ("tools/*.bt", "tools"),
                   ("tools/events/*.bt", "tools/events"),
                   ("tools/counted/*.bt", "tools/counted")]


class BuildPy(build_py):
    """build_py that also copies the files living outside pyusdt/ in the
    checkout: the bpftrace scripts into the package, and the .pth hook into
    the root of the build, hence of site-packages."""

    def extra_files(self) -> list[tuple[str, str]]:
        """(source, destination) pairs, destinations inside build_lib."""
        pairs = [(STARTUP_PTH, os.path.join(self.build_lib, STARTUP_PTH))]
        for pattern, subdir in PACKAGE_SCRIPTS:
            for source in sorted(glob.glob(pattern)):
                pairs.append((source, os.path.join(
                    self.build_lib, "pyusdt", subdir, os.path.basename(source))))
        return pairs

    def run(self) -> None:
        super().run()
        for source, dest in self.extra_files():
            self.mkpath(os.path.dirname(dest))
            self.copy_file(source, dest, preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        # N.B. install and bdist_wheel list what is installed from this.
        return (super().get_outputs(include_bytecode)
                + [dest for _, dest in self.extra_files()])


def extension() -> Extension:
    extra = os.environ.get("EXTRA_CFLAGS", "").split()
    return Extension(
        # The module is named libpyusdt (PyInit_libpyusdt); pyusdt/_loader.py
        # loads it under that name from inside the package.
        "pyusdt.libpyusdt",
        sources=sorted(glob.glob("src/*.c")),
        depends=sorted(glob.glob("src/*.h")),
        extra_compile_args=CFLAGS + extra,
        extra_link_args=LDFLAGS,
    )


setup(ext_modules=[extension()], cmdclass={"build_py": BuildPy})
