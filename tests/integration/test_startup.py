"""Start-up: arming pyusdt imports nothing a bare python would not, so
that `import pyusdt`, `python -m pyusdt` and PYUSDT_AUTO cost as little as
the interpreter allows (bench/startup.py measures them in instructions)."""

import ast
import unittest

from tests import support

MODULES = "import sys; print(sorted(sys.modules))"

#: What importing pyusdt may add to a bare python's modules: the package,
#: its loader, the library, and atexit (a builtin: its poller stop hook).
OWN = {"pyusdt", "pyusdt._loader", "libpyusdt", "atexit"}

#: Modules pyusdt imported at start-up once, and must not any more: each
#: one is paid by every armed process.
DEFERRED = ("__future__", "importlib", "importlib.machinery", "importlib.util", "gc",
            "types", "typing", "pyusdt._version", "pyusdt._status", "pyusdt._unloaded")


def modules(args: list[str], **env: str) -> set[str]:
    run = support.run_python(args, **env)
    if run.returncode != 0:
        raise AssertionError("python %s failed:\n%s" % (" ".join(args), run.stderr))
    return set(ast.literal_eval(run.stdout.splitlines()[-1]))


class Import(unittest.TestCase):
    def test_import_pyusdt_loads_only_its_own_modules(self) -> None:
        bare = modules(["-c", MODULES])
        armed = modules(["-c", "import pyusdt; " + MODULES])
        self.assertLessEqual(armed - bare, OWN)
        for name in DEFERRED:
            with self.subTest(module=name):
                self.assertNotIn(name, armed - bare)

    def test_python_m_pyusdt_loads_nothing_runpy_does_not(self) -> None:
        # python -m anything imports runpy and what runpy imports.
        bare = modules(["-c", "import runpy; " + MODULES])
        armed = modules(["-m", "pyusdt", "-c", MODULES])
        self.assertLessEqual(armed - bare, OWN | {"pyusdt.__main__", "pyusdt._cli"})
        self.assertNotIn("__future__", armed - bare)
        self.assertNotIn("gc", armed - bare)

    def test_version_is_read_on_first_use(self) -> None:
        run = support.run_python(["-c", "import pyusdt, sys; "
                                  "print('pyusdt._version' in sys.modules); "
                                  "print(pyusdt.__version__); "
                                  "from pyusdt import _version; "
                                  "print(pyusdt.__version__ == _version.__version__)"])
        self.assertEqual(run.stderr, "")
        lines = run.stdout.split()
        self.assertEqual((lines[0], lines[2]), ("False", "True"))
        self.assertRegex(lines[1], r"^\d+\.\d+")

    def test_status_class_is_made_on_first_use(self) -> None:
        run = support.run_python(["-c", "import pyusdt, sys; "
                                  "print('pyusdt._status' in sys.modules); "
                                  "print(type(pyusdt.status()) is pyusdt.Status, "
                                  "pyusdt.Status.__module__, pyusdt.Status.__name__)"])
        self.assertEqual(run.stderr, "")
        self.assertEqual(run.stdout.split(), ["False", "True", "pyusdt", "Status"])

    def test_gc_is_imported_when_a_gc_probe_attaches(self) -> None:
        code = ("import sys, pyusdt; print('gc' in sys.modules, "
                "pyusdt.status().gc_callback)")
        self.assertEqual(support.run_python(["-c", code]).stdout.split(),
                         ["False", "False"])
        forced = support.run_python(["-c", code], PYUSDT_FORCE="GC_START")
        self.assertEqual(forced.stdout.split(), ["True", "True"], forced.stderr)


if __name__ == "__main__":
    unittest.main()
