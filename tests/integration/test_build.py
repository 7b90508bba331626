"""The built extension has the shape the contract promises."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unittest

from tests import support

PROBES = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "CALL", "LINE",
          "PY_UNWIND", "PY_THROW", "RAISE", "EXCEPTION_HANDLED", "GC_START",
          "GC_DONE", "MARK")


def tool(*args: str) -> str:
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=True).stdout


@unittest.skipUnless(shutil.which("readelf"), "readelf missing (apt-get install binutils)")
class ElfShape(unittest.TestCase):
    def test_each_probe_is_in_provider_pyusdt_with_its_own_semaphore(self):
        notes = tool("readelf", "-n", support.LIB)
        found = re.findall(r"Provider: (\S+)\s+Name: (\S+)\s+Location: \S+, Base: \S+, "
                           r"Semaphore: (0x[0-9a-f]+)", notes)
        self.assertEqual(sorted(name for _, name, _ in found), sorted(PROBES), notes)
        self.assertEqual({provider for provider, _, _ in found}, {"pyusdt"})
        semaphores = [int(sem, 16) for _, _, sem in found]
        self.assertNotIn(0, semaphores)
        self.assertEqual(len(set(semaphores)), len(PROBES))

    def test_only_pyinit_is_exported(self):
        symbols = tool("nm", "-D", "--defined-only", support.LIB).split()
        exported = [s for s in symbols if re.match(r"^[A-Za-z_]\w*$", s)
                    and s not in ("T", "D", "B", "W", "R", "V")]
        self.assertEqual(exported, ["PyInit_libpyusdt"])

    def test_not_linked_against_libpython(self):
        needed = tool("readelf", "-d", support.LIB)
        self.assertNotIn("libpython", needed)


class FindPython(unittest.TestCase):
    def make(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-C", support.REPO, "--no-print-directory", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_python_that_does_not_run_is_refused_clearly(self):
        run = self.make("lib", "PYTHON=/nonexistent/python3")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("PYTHON=/nonexistent/python3 does not run", run.stderr)

    @unittest.skipUnless(os.path.exists("/usr/bin/python3.11"),
                         "no Python 3.11 to refuse (/usr/bin/python3.11)")
    def test_python_older_than_3_12_is_refused_clearly(self):
        run = self.make("lib", "PYTHON=/usr/bin/python3.11")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("pyusdt needs 3.12 or newer", run.stderr)

    def test_find_python_names_an_interpreter_of_3_12_or_newer(self):
        found = tool(os.path.join(support.REPO, "scripts", "find-python")).strip()
        version = tool(found, "-c", "import sys; print(sys.version_info >= (3, 12))")
        self.assertEqual(version.strip(), "True")

    def test_build_says_which_python_it_uses(self):
        run = self.make("lib", "PYTHON=" + support.PYTHON)
        self.assertEqual(run.returncode, 0, run.stderr)
        version = "%d.%d.%d" % sys.version_info[:3]
        self.assertIn("pyusdt: using Python %s at %s" % (version, support.PYTHON),
                      run.stdout)


if __name__ == "__main__":
    unittest.main()
