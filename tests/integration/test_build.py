"""The built extension has the shape the contract promises, and each ABI
(3.14 and the free-threaded 3.14t share a cache tag) has a build of its own
that no other interpreter loads."""

from __future__ import annotations

import glob
import importlib.machinery
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import unittest

from tests import installed, support

PROBES = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "CALL", "LINE",
          "PY_UNWIND", "PY_THROW", "RAISE", "EXCEPTION_HANDLED", "GC_START",
          "GC_DONE", "MARK", "AUDIT", "IMPORT_START", "IMPORT_DONE",
          "CALL_STATS", "CALL_TIMES")
#: CPython's own marker names (provider python).
PYTHON_PROBES = ("function__entry", "function__return", "line", "gc__start", "gc__done",
                 "import__find__load__start", "import__find__load__done", "audit")


def tool(*args: str) -> str:
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=True).stdout


@unittest.skipUnless(shutil.which("readelf"), "readelf missing (apt-get install binutils)")
class ElfShape(unittest.TestCase):
    def test_each_probe_is_in_its_provider_with_its_own_semaphore(self):
        notes = tool("readelf", "-n", support.LIB)
        found = re.findall(r"Provider: (\S+)\s+Name: (\S+)\s+Location: \S+, Base: \S+, "
                           r"Semaphore: (0x[0-9a-f]+)", notes)
        expected = {("pyusdt", name) for name in PROBES} | {("python", name)
                                                           for name in PYTHON_PROBES}
        self.assertEqual({(provider, name) for provider, name, _ in found}, expected, notes)
        semaphore_of = {}
        for provider, name, sem in found:
            # A probe fired from several places has one semaphore for all.
            self.assertEqual(semaphore_of.setdefault((provider, name), sem), sem, name)
        semaphores = [int(sem, 16) for sem in semaphore_of.values()]
        self.assertNotIn(0, semaphores)
        self.assertEqual(len(set(semaphores)), len(expected))

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
        version = "%d.%d.%d%s" % (*sys.version_info[:3], sys.abiflags)
        self.assertIn("pyusdt: using Python %s at %s" % (version, support.PYTHON),
                      run.stdout)

    def test_find_python_all_lists_each_interpreter_once_those_with_the_gil_first(self):
        script = os.path.join(support.REPO, "scripts", "find-python")
        found = tool(script, "--all").split()
        files, flags = [], []
        for python in found:
            st = os.stat(python)
            files.append((st.st_dev, st.st_ino))
            flags.append("t" in tool(python, "-c", "import sys; print(sys.abiflags)"))
        self.assertEqual(len(set(files)), len(files), found)
        self.assertEqual(flags, sorted(flags), "a free-threaded one before one with the GIL: %s"
                         % found)
        self.assertEqual(tool(script).strip(), found[0])


def other_abi(build_name: str, abiflags: str) -> str:
    """The build directory name of the other threading ABI of this Python
    version: cpython-314t for cpython-314 and the reverse."""
    tag = build_name[:len(build_name) - len(abiflags)]
    return tag + (abiflags.replace("t", "") if "t" in abiflags else "t" + abiflags)


class LoaderTakesOnlyItsOwnAbi(unittest.TestCase):
    """pyusdt/_loader.py in a private tree where every name the library might
    have holds a copy of this interpreter's own build, which would load: the
    loader takes only the names of this ABI's build, so a build for the
    other ABI (3.14 against 3.14t) is never mapped."""

    # The copy's pyusdt/_loader.py alone: importing the package would load
    # the library before the test could see why not.
    LOAD = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('_loader', sys.argv[1])\n"
            "_loader = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(_loader)\n"
            "try:\n"
            "    print(_loader.load().__file__)\n"
            "except ImportError as exc:\n"
            "    print('ImportError:', exc)\n")

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="pyusdt-abi-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        package = os.path.join(self.root, "pyusdt")
        os.makedirs(package)
        for path in glob.glob(os.path.join(support.REPO, "pyusdt", "*.py")):
            shutil.copy(path, package)
        # Other ABIs' names, each holding a library this process could load.
        other = other_abi(support.BUILD_NAME, sys.abiflags)
        self.other_build = os.path.join(self.root, "build", other, "libpyusdt.so")
        self.place(self.other_build)
        os.link(self.other_build, os.path.join(self.root, "libpyusdt.so"))
        own_suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        for name in ("libpyusdt.so", "libpyusdt.abi3.so",
                     "libpyusdt" + own_suffix.replace(support.BUILD_NAME, other)):
            self.place(os.path.join(package, name))
        self.own_build = os.path.join(self.root, "build", support.BUILD_NAME, "libpyusdt.so")

    def place(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(support.BUILD_LIB, path)

    def load(self) -> str:
        env = support.env(PYTHONPATH=self.root)
        env.pop("PYUSDT_LIBRARY", None)
        loader = os.path.join(self.root, "pyusdt", "_loader.py")
        run = subprocess.run([support.PYTHON, "-c", self.LOAD, loader], cwd=self.root, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.stdout.strip()

    def test_without_a_build_for_its_abi_the_loader_finds_none(self) -> None:
        out = self.load()
        self.assertTrue(out.startswith("ImportError: pyusdt: libpyusdt.so not found for "
                                       "Python %d.%d%s " % (*sys.version_info[:2],
                                                            sys.abiflags)), out)
        self.assertIn(self.own_build, out)
        self.assertNotIn(self.other_build, out)

    def test_the_loader_takes_the_build_directory_of_its_abi(self) -> None:
        self.place(self.own_build)
        self.assertEqual(self.load(), self.own_build)

    def test_the_loader_takes_libpyusdt_so_when_it_is_the_build_of_its_abi(self) -> None:
        self.place(self.own_build)
        default = os.path.join(self.root, "libpyusdt.so")
        os.unlink(default)
        os.link(self.own_build, default)
        self.assertEqual(self.load(), default)

    def test_the_loader_takes_an_installed_extension_named_for_its_abi(self) -> None:
        installed_ext = os.path.join(self.root, "pyusdt", "libpyusdt"
                                     + importlib.machinery.EXTENSION_SUFFIXES[0])
        self.place(installed_ext)
        self.place(self.own_build)
        self.assertEqual(self.load(), installed_ext)


@unittest.skipIf(os.environ.get("PYUSDT_LIBRARY"),
                 "make asan and make valgrind test their own build, not make lib's")
class BuildDirectoryPerAbi(unittest.TestCase):
    """`make lib` in a private copy of the checkout: each interpreter's build
    goes to build/<cache tag><ABI flags>/, as pyusdt/_loader.py looks for
    it; the GIL and free-threaded builds of one version get one each."""

    tree = ""

    @classmethod
    def setUpClass(cls) -> None:
        scratch = tempfile.mkdtemp(prefix="pyusdt-abi-")
        cls.addClassCleanup(shutil.rmtree, scratch, ignore_errors=True)
        cls.tree = os.path.join(scratch, "tree")
        installed.copy_checkout(cls.tree)

    def make_lib(self, python: str) -> None:
        run = subprocess.run(["make", "-s", "--no-print-directory", "lib", "PYTHON=" + python],
                             cwd=self.tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        self.assertEqual(run.returncode, 0, run.stdout)

    def loaded_by(self, python: str) -> dict[str, str]:
        """What PYTHON's pyusdt, from the copy, reports of itself."""
        env = support.env(PYTHONPATH=self.tree)
        env.pop("PYUSDT_LIBRARY", None)
        code = ("import json, sysconfig, pyusdt\n"
                "from pyusdt import _loader\n"
                "print(json.dumps({'library': pyusdt.library_path(),\n"
                "                  'name': _loader.build_name(),\n"
                "                  'soabi': sysconfig.get_config_var('SOABI')}))\n")
        run = subprocess.run([python, "-c", code], cwd=self.tree, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        return json.loads(run.stdout)

    def built(self) -> list[str]:
        return sorted(os.listdir(os.path.join(self.tree, "build")))

    def test_build_directory_is_named_by_cache_tag_and_abi_flags_as_the_loader_looks(self):
        self.make_lib(support.PYTHON)
        self.assertIn(support.BUILD_NAME, self.built())
        facts = self.loaded_by(support.PYTHON)
        self.assertEqual(facts["name"], support.BUILD_NAME)
        self.assertEqual(facts["library"], os.path.join(
            self.tree, "build", support.BUILD_NAME, "libpyusdt.so"))
        # As SOABI begins: cpython-314t-x86_64-linux-gnu.
        self.assertTrue(facts["soabi"].startswith(support.BUILD_NAME + "-"), facts)
        self.assertEqual("t" in support.BUILD_NAME[len(sys.implementation.cache_tag):],
                         bool(sysconfig.get_config_var("Py_GIL_DISABLED")))

    def test_gil_and_free_threaded_builds_of_one_version_are_two_libraries(self):
        # The interpreters find-python lists of this version, with the other
        # threading ABI: 3.14t for 3.14 and the reverse.
        wanted = other_abi(support.BUILD_NAME, sys.abiflags)
        others = [python for python in tool(os.path.join(support.REPO, "scripts",
                                                         "find-python"), "--all").split()
                  if tool(python, "-c", "import sys; print(sys.implementation.cache_tag "
                          "+ sys.abiflags)").strip() == wanted]
        if not others:
            self.skipTest("no %s interpreter found beside this %s one "
                          "(../shared/cpython/install --free-threaded makes 3.14t)"
                          % (wanted, support.BUILD_NAME))
        other = others[0]
        self.make_lib(support.PYTHON)
        self.make_lib(other)
        names = (support.BUILD_NAME, wanted)
        self.assertLessEqual(set(names), set(self.built()))
        paths = [os.path.join(self.tree, "build", name, "libpyusdt.so") for name in names]
        self.assertFalse(os.path.samefile(*paths))
        with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
            self.assertNotEqual(a.read(), b.read())
        for python, path in zip((support.PYTHON, other), paths):
            with self.subTest(python=python):
                self.assertEqual(self.loaded_by(python)["library"], path)


if __name__ == "__main__":
    unittest.main()
