"""Measured child processes: their environment, and running one that
reports JSON."""

from __future__ import annotations

import json
import os
import subprocess

from common import BenchError


def child_env(pythonpath: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a measured child: nothing of pyusdt's
    configuration inherited, PYTHONPATH only when given, and one hash seed
    for all (str hashes, hence dict layouts, would differ between the runs
    being compared)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYUSDT_") and k != "PYTHONPATH"}
    env["PYTHONHASHSEED"] = "0"
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    env.update(extra)
    return env


def run_json(cmd: list[str], env: dict[str, str] | None = None,
             timeout: float = 300) -> dict:
    """Runs CMD and returns the JSON object on the last line of its stdout,
    with the child's pid added as "pid" (bpftrace counts events by pid)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchError("timed out after %gs: %s" % (timeout, " ".join(cmd)))
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BenchError("%s exited %d\n%s%s" % (" ".join(cmd), proc.returncode,
                                                 out, err))
    result = json.loads(lines[-1])
    result["pid"] = proc.pid
    return result
