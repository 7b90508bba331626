"""Section 8 (startup): what arming pyusdt adds to an interpreter's start,
in instructions counted by valgrind (cachegrind, no cache simulation), so
that a fleet of short-lived processes under PYUSDT_AUTO pays as little as
possible.

Five commands, each against `python -c pass`: `python -c 'import
pyusdt'` (target ≤ 1.05), `python -m pyusdt -c pass` (≤ 1.10),
`PYUSDT_AUTO=1 python -c pass` (≤ 1.05), `python -c 'import runpy'`, the
floor of any `python -m` (python imports runpy before it looks for the
module), and `python -m` of an empty package, what `-m` of a package
shaped as pyusdt is costs before its code does anything.  pyusdt is
installed as pip installs it, byte-compiled, with pyusdt-auto.pth, in a
private user site directory (PYTHONUSERBASE) that every command sees, the
baseline too.  One hash seed and a poller that never wakes keep the
counts the same from run to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from children import child_env
from common import REPO, BenchError, Context, Target, log
from instructions import _instructions

#: A package shaped as pyusdt is, an empty __init__ and __main__, installed
#: beside it: what `python -m` of a package costs before its code does
#: anything (runpy, then finding and running both modules).
EMPTY = "pyusdt_bench_empty"

#: (label, arguments after the interpreter, extra environment, target ratio).
CASES = (
    ("python -c 'import pyusdt'", ["-c", "import pyusdt"], {}, 1.05),
    ("python -m pyusdt -c pass", ["-m", "pyusdt", "-c", "pass"], {}, 1.10),
    ("PYUSDT_AUTO=1 python -c pass", ["-c", "pass"], {"PYUSDT_AUTO": "1"}, 1.05),
    ("python -c 'import runpy' (floor of -m)", ["-c", "import runpy"], {}, None),
    ("python -m of an empty package (floor of -m pyusdt)", ["-m", EMPTY], {}, None),
)


def _user_site(ctx: Context, target: Target) -> str:
    """A user base with pyusdt installed in its site-packages, as pip
    would: the package with its library, the .pth and its module."""
    python = target.python
    base = os.path.join(ctx.sandbox.root, "%s-userbase" % python.tag)
    site = subprocess.run(
        [python.path, "-c", "import site, sys; sys.stdout.write(site.getusersitepackages())"],
        env={**os.environ, "PYTHONUSERBASE": base}, stdout=subprocess.PIPE, text=True,
        check=True).stdout
    os.makedirs(site, exist_ok=True)
    shutil.copytree(os.path.join(target.armed[0], "pyusdt"), os.path.join(site, "pyusdt"),
                    dirs_exist_ok=True)
    for name in ("pyusdt-auto.pth", "_pyusdt_auto.py"):
        shutil.copy(os.path.join(REPO, name), site)
    os.makedirs(os.path.join(site, EMPTY), exist_ok=True)
    for name in ("__init__.py", "__main__.py"):
        with open(os.path.join(site, EMPTY, name), "w"):
            pass
    subprocess.run([python.path, "-m", "compileall", "-q", site], check=True)
    return base


def _env(base: str, **extra: str) -> dict[str, str]:
    """No PYTHONPATH: pyusdt is found where pip would put it."""
    return child_env(None, PYUSDT_CHECK_MSEC="60000", PYTHONUSERBASE=base, **extra)


def run(ctx: Context, target: Target) -> dict:
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind not found"}
    py = target.python.path
    log("startup: %s, valgrind" % target.python.version)
    base = _user_site(ctx, target)
    check = subprocess.run([py, "-c", "import sys; print('libpyusdt' in sys.modules)"],
                           env=_env(base, PYUSDT_AUTO="1"), stdout=subprocess.PIPE,
                           text=True)
    if check.stdout.strip() != "True":
        raise BenchError("PYUSDT_AUTO=1 did not arm %s from the user site "
                         "directory of %s" % (py, base))
    plain = _instructions([py, "-c", "pass"], _env(base))
    result: dict[str, object] = {"python -c pass": plain}
    for label, args, extra, goal in CASES:
        count = _instructions([py, *args], _env(base, **extra))
        entry: dict[str, object] = {"instructions": count, "ratio": round(count / plain, 4)}
        if goal is not None:
            entry["target"] = goal
            entry["met"] = count / plain <= goal
        result[label] = entry
    return result
