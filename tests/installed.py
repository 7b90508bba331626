"""pyusdt built and installed the way a user does it, once per test run.

From a copy of the checkout (the checkout itself is never written to):
the sdist, made by setuptools' PEP 517 hook as `python -m build` and `make
dist` make it; the wheel, built by `pip wheel --no-build-isolation` from the
*unpacked sdist*, so that a file missing from the sdist fails the build;
and the wheel installed into a fresh venv without pip.  The build venv gets
its setuptools and wheel from scripts/build-deps, offline.

Used by tests/integration/test_packaging.py and tests/e2e/test_installed.py.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sysconfig
import tarfile
import tempfile
from dataclasses import dataclass

from tests import support

# Where CPython keeps the setuptools wheel scripts/build-deps installs.
BUNDLE_GLOBS = ("test/wheeldata/setuptools-*.whl", "test/setuptools-*.whl",
                "ensurepip/_bundled/setuptools-*.whl")
# Left out of a copy of the checkout: build products and VCS data.
NOT_COPIED = (".git", "build", "dist", "*.egg-info", "__pycache__", "*.so", "*.o",
              "*.pyc")
# How much of a failed step's output a BuildError shows: the end, where the
# error is.
LOG_TAIL = 8000


@dataclass(frozen=True)
class Installed:
    """An installed pyusdt: where each piece is."""

    #: Scratch directory holding everything below; not inside the checkout.
    work: str
    #: The copy of the checkout the sdist was made from.
    tree: str
    #: The venv that built the sdist and the wheel (has pip and setuptools).
    build_python: str
    sdist: str
    wheel: str
    #: The fresh venv the wheel is installed in, its python, site-packages.
    venv: str
    python: str
    site_packages: str
    #: Output of every step, for failure messages.
    log: str


class BuildError(Exception):
    """A step of building or installing failed; the message has its output."""


def skip_reason() -> str | None:
    """Why pyusdt cannot be built offline here, or None."""
    if importlib.util.find_spec("ensurepip") is None:
        return "%s has no ensurepip, so no venv with pip (apt-get install python3-venv)" \
            % support.PYTHON
    stdlib = sysconfig.get_paths()["stdlib"]
    if not any(glob.glob(os.path.join(stdlib, pattern)) for pattern in BUNDLE_GLOBS):
        return ("CPython at %s bundles no setuptools wheel (%s), and there is no "
                "package index to fetch one from" % (support.PYTHON, stdlib))
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """An environment in which a child sees no checkout and no pyusdt
    settings: nothing of the repo on sys.path, no enclosing make."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV",
               "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    env = {k: v for k, v in os.environ.items()
           if k not in dropped and not k.startswith("PYUSDT_")}
    env.update(extra)
    return env


def run(args: list[str], *, cwd: str, log: list[str] | None = None,
        check: bool = True, timeout: float = 300,
        **extra_env: str) -> subprocess.CompletedProcess:
    """Runs ARGS in CWD with clean_env(EXTRA_ENV); output captured (text).
    Appends the command and its output to LOG; raises BuildError with them
    if CHECK and it fails."""
    proc = subprocess.run(args, cwd=cwd, env=clean_env(**extra_env),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    record = "$ %s  (in %s)\n%s" % (" ".join(args), cwd, proc.stdout)
    if log is not None:
        log.append(record)
    if check and proc.returncode != 0:
        output = "\n".join(log) if log is not None else record
        raise BuildError("exit status %d:\n%s" % (proc.returncode, output[-LOG_TAIL:]))
    return proc


def copy_checkout(dest: str) -> None:
    """Copies the checkout's sources to DEST: the files git knows of or
    would add (tracked or not ignored), else everything but build products."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=support.REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if listed.returncode != 0 or not os.path.isdir(os.path.join(support.REPO, ".git")):
        shutil.copytree(support.REPO, dest, symlinks=True,
                        ignore=shutil.ignore_patterns(*NOT_COPIED))
        return
    for rel in sorted(set(listed.stdout.decode().split("\0")) - {""}):
        source = os.path.join(support.REPO, rel)
        if not os.path.lexists(source):
            continue   # deleted in the working tree, not yet in git
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def tree_state(root: str) -> dict[str, str]:
    """Every file under ROOT (relative path) with a hash of its content."""
    state = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as file:
                digest = hashlib.sha256(file.read()).hexdigest()
            state[os.path.relpath(path, root)] = digest
    return state


def venv_python(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def make_venv(path: str, *, with_pip: bool, log: list[str]) -> str:
    """Creates a venv of this interpreter at PATH; returns its python."""
    args = [support.PYTHON, "-m", "venv"]
    if not with_pip:
        args.append("--without-pip")
    run(args + [path], cwd=os.path.dirname(path), log=log)
    return venv_python(path)


def site_packages(python: str) -> str:
    out = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
              cwd="/")
    return out.stdout.strip()


def _build() -> Installed:
    work = tempfile.mkdtemp(prefix="pyusdt-installed-")
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    log: list[str] = []
    tree = os.path.join(work, "tree")
    copy_checkout(tree)

    build_python = make_venv(os.path.join(work, "build-venv"), with_pip=True, log=log)
    run([build_python, os.path.join(tree, "scripts", "build-deps")], cwd=tree, log=log)

    dist = os.path.join(work, "dist")
    run([build_python, "-c", "import sys; from setuptools import build_meta; "
         "print(build_meta.build_sdist(sys.argv[1]))", dist], cwd=tree, log=log)
    sdists = glob.glob(os.path.join(dist, "pyusdt-*.tar.gz"))
    if len(sdists) != 1:
        raise BuildError("expected one sdist in %s, found %s\n%s"
                         % (dist, sdists, "\n".join(log)))
    unpacked = os.path.join(work, "sdist")
    with tarfile.open(sdists[0]) as archive:
        archive.extractall(unpacked, filter="data")
    (source,) = glob.glob(os.path.join(unpacked, "pyusdt-*"))
    run([build_python, "-m", "pip", "wheel", "-v", "--no-build-isolation", "--no-deps",
         "--no-index", "-w", dist, source], cwd=work, log=log)
    wheels = glob.glob(os.path.join(dist, "pyusdt-*.whl"))
    if len(wheels) != 1:
        raise BuildError("expected one wheel in %s, found %s\n%s"
                         % (dist, wheels, "\n".join(log)))

    venv = os.path.join(work, "venv")
    python = make_venv(venv, with_pip=False, log=log)
    # The build venv's pip installs into the pip-less fresh venv.
    run([build_python, "-m", "pip", "--python", python, "install", "--no-index",
         "--no-deps", wheels[0]], cwd=work, log=log)
    return Installed(work=work, tree=tree, build_python=build_python,
                     sdist=sdists[0], wheel=wheels[0], venv=venv, python=python,
                     site_packages=site_packages(python), log="\n".join(log))


_result: Installed | BuildError | None = None


def installed() -> Installed:
    """The installed pyusdt, built on first use; raises BuildError (the same
    one on every call) if building or installing failed."""
    global _result
    if _result is None:
        try:
            _result = _build()
        except BuildError as exc:
            _result = exc
        except subprocess.TimeoutExpired as exc:
            _result = BuildError("timed out: %s" % exc)
    if isinstance(_result, BuildError):
        raise _result
    return _result
