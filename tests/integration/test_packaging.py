"""Packaging: the sdist and wheel carry what they must, an installed pyusdt
works from a fresh venv with no checkout in sight, its version is the one of
pyusdt/_version.py everywhere, PYUSDT_AUTO arms it at start-up (and its
absence costs nothing), the stubs match the extension, and the Makefile's
install, uninstall, dist and clean targets do what they say."""

from __future__ import annotations

import ast
import glob
import os
import re
import shlex
import shutil
import sys
import sysconfig
import tarfile
import unittest
import zipfile

import pyusdt
from tests import installed, support

STUB = os.path.join(support.REPO, "pyusdt", "libpyusdt.pyi")
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def repo_version() -> str:
    """The version written in pyusdt/_version.py, read without importing."""
    with open(os.path.join(support.REPO, "pyusdt", "_version.py")) as file:
        tree = ast.parse(file.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("pyusdt/_version.py assigns no __version__")


def makefile_flags() -> tuple[list[str], list[str]]:
    """The Makefile's compiler flags (CFLAGS_BASE, then OPTFLAGS) and link
    flags (LDFLAGS_LIB), variables and -shared left out."""
    with open(os.path.join(support.REPO, "Makefile")) as file:
        text = file.read().replace("\\\n", " ")
    values = dict(re.findall(r"^(CFLAGS_BASE|OPTFLAGS|LDFLAGS_LIB)\s*[:?]?=\s*(.*)$",
                             text, re.M))
    cflags = (values["CFLAGS_BASE"] + " " + values["OPTFLAGS"]).split()
    ldflags = values["LDFLAGS_LIB"].split()
    return ([f for f in cflags if "$(" not in f], [f for f in ldflags if f != "-shared"])


class Stubs(unittest.TestCase):
    """pyusdt/libpyusdt.pyi against the extension built for this Python."""

    def stub(self) -> ast.Module:
        with open(STUB) as file:
            return ast.parse(file.read(), STUB)

    def test_stub_declares_exactly_what_the_extension_defines(self) -> None:
        declared = set()
        for node in self.stub().body:
            if isinstance(node, ast.FunctionDef):
                declared.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                declared.add(node.target.id)
        defined = {name for name in dir(pyusdt._lib)
                   if not (name.startswith("__") and name.endswith("__"))}
        self.assertEqual(declared, defined,
                         "pyusdt/libpyusdt.pyi and the extension disagree")

    def test_status_fields_agree_between_extension_stub_and_status_class(self) -> None:
        (typed,) = [node for node in self.stub().body
                    if isinstance(node, ast.ClassDef) and node.name == "_StatusDict"]
        stub_fields = {node.target.id for node in typed.body
                       if isinstance(node, ast.AnnAssign)}
        self.assertEqual(set(pyusdt._lib.status()), stub_fields)
        self.assertEqual(set(pyusdt.Status.__annotations__), stub_fields)
        self.assertIsInstance(pyusdt.status(), pyusdt.Status)

    def test_package_is_marked_typed(self) -> None:
        self.assertTrue(os.path.isfile(os.path.join(support.REPO, "pyusdt", "py.typed")))


class InstalledTest(unittest.TestCase):
    """Tests of the pyusdt built and installed by tests/installed.py."""

    @classmethod
    def setUpClass(cls) -> None:
        reason = installed.skip_reason()
        if reason:
            raise unittest.SkipTest(reason)

    def setUp(self) -> None:
        self.inst = installed.installed()

    def venv_python(self, *args: str, **env: str):
        """Runs the venv's python with ARGS outside the checkout."""
        return installed.run([self.inst.python, *args], cwd=self.inst.work,
                             check=False, **env)

    def venv_eval(self, expression: str, **env: str) -> str:
        """The printed value of EXPRESSION in the venv's python, after
        `import pyusdt, sys`."""
        run = self.venv_python("-c", "import pyusdt, sys; print(%s)" % expression, **env)
        self.assertEqual(run.returncode, 0, run.stdout)
        return run.stdout.strip()


class Sdist(InstalledTest):
    def members(self) -> set[str]:
        """The sdist's files, relative to its top directory."""
        with tarfile.open(self.inst.sdist) as archive:
            names = [m.name for m in archive.getmembers() if m.isfile()]
        top = "pyusdt-%s/" % repo_version()
        self.assertTrue(all(n.startswith(top) for n in names), names)
        return {n[len(top):] for n in names}

    def test_sdist_carries_c_sources_package_hook_scripts_and_build_files(self) -> None:
        tree = self.inst.tree
        wanted = {"setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "Makefile",
                  "pyusdt-auto.pth", "_pyusdt_auto.py", "sample.bt", "pyusdt/py.typed",
                  "scripts/build-deps", "scripts/find-python", "tests/runner.py",
                  "tools/README.md", "bench/README.md"}
        for pattern in ("src/*.c", "src/*.h", "pyusdt/*.py", "pyusdt/*.pyi", "tools/*.bt",
                        "docs/*.md"):
            wanted |= {os.path.relpath(p, tree) for p in glob.glob(os.path.join(tree, pattern))}
        self.assertEqual(wanted - self.members(), set(), "missing from the sdist")

    def test_sdist_carries_no_build_products(self) -> None:
        products = [n for n in self.members()
                    if n.endswith((".so", ".o", ".pyc")) or n.startswith(("build/", "dist/"))]
        self.assertEqual(products, [])

    def test_sdist_name_and_metadata_carry_the_version_of_version_py(self) -> None:
        version = repo_version()
        self.assertEqual(os.path.basename(self.inst.sdist), "pyusdt-%s.tar.gz" % version)
        with tarfile.open(self.inst.sdist) as archive:
            info = archive.extractfile("pyusdt-%s/PKG-INFO" % version).read().decode()
        self.assertIn("\nVersion: %s\n" % version, info)


class Wheel(InstalledTest):
    def names(self) -> set[str]:
        with zipfile.ZipFile(self.inst.wheel) as archive:
            return set(archive.namelist())

    def test_wheel_holds_package_extension_stubs_bpftrace_scripts_and_hook(self) -> None:
        tree = self.inst.tree
        expected = {"pyusdt-auto.pth", "_pyusdt_auto.py", "pyusdt/py.typed",
                    "pyusdt/sample.bt", "pyusdt/libpyusdt" + EXT_SUFFIX}
        for pattern in ("pyusdt/*.py", "pyusdt/*.pyi", "pyusdt_tracer/*.py"):
            expected |= {os.path.relpath(p, tree) for p in glob.glob(os.path.join(tree, pattern))}
        expected |= {"pyusdt/tools/" + os.path.basename(p)
                     for p in glob.glob(os.path.join(tree, "tools", "*.bt"))}
        for mode in ("events", "counted"):
            expected |= {"pyusdt/tools/%s/%s" % (mode, os.path.basename(p))
                         for p in glob.glob(os.path.join(tree, "tools", mode, "*.bt"))}
        info = "pyusdt-%s.dist-info/" % repo_version()
        files = {n for n in self.names() if not n.startswith(info)}
        self.assertEqual(files, expected)
        self.assertIn(info + "RECORD", self.names())

    def test_wheel_is_tagged_for_this_cpython_and_its_abi_and_not_pure(self) -> None:
        # cp314-cp314t for the free-threaded 3.14: its own ABI tag.
        tag = "cp%d%d" % sys.version_info[:2]
        name = os.path.basename(self.inst.wheel)
        self.assertRegex(name, r"^pyusdt-%s-%s-%s-linux_\w+\.whl$"
                         % (re.escape(repo_version()), tag, tag + sys.abiflags))
        with zipfile.ZipFile(self.inst.wheel) as archive:
            info = "pyusdt-%s.dist-info/" % repo_version()
            wheel = archive.read(info + "WHEEL").decode()
            metadata = archive.read(info + "METADATA").decode()
        self.assertIn("Root-Is-Purelib: false", wheel)
        self.assertIn("\nVersion: %s\n" % repo_version(), metadata)
        self.assertIn("\nRequires-Python: >=3.12\n", metadata)

    def test_extension_is_built_with_the_makefiles_flags_but_warnings_do_not_fail_it(self) -> None:
        cflags, ldflags = makefile_flags()
        compiles = [shlex.split(line) for line in self.inst.log.splitlines()
                    if re.search(r"\s-c\s+\S*src/\w+\.c\b", line)]
        self.assertTrue(compiles, "no compiler command in the build log:\n" + self.inst.log)
        include = sysconfig.get_paths()["include"]
        for command in compiles:
            for flag in cflags:
                if flag != "-Werror":
                    self.assertIn(flag, command, " ".join(command))
            # Warnings must not fail a user's install (setup.py).
            self.assertNotIn("-Werror", command)
            self.assertIn("-I" + include, command)
            # Python's own -O3 comes first; the Makefile's level must win.
            levels = [arg for arg in command if re.fullmatch(r"-O\w*", arg)]
            self.assertEqual(levels[-1], "-O2", " ".join(command))
        links = [shlex.split(line) for line in self.inst.log.splitlines()
                 if re.search(r"\s-shared\s.*-o\s+\S*/libpyusdt\S*\.so\b", line)]
        self.assertEqual(len(links), 1, "no single link command in the build log")
        for flag in ldflags:
            self.assertIn(flag, links[0], " ".join(links[0]))

    @unittest.skipUnless(shutil.which("readelf") and shutil.which("nm"),
                         "readelf/nm missing (apt-get install binutils)")
    def test_installed_extension_has_every_probe_exports_only_pyinit_no_libpython(self) -> None:
        lib = os.path.join(self.inst.site_packages, "pyusdt", "libpyusdt" + EXT_SUFFIX)
        notes = installed.run(["readelf", "-n", lib], cwd="/").stdout
        found = re.findall(r"Provider: (\S+)\s+Name: (\S+)\s+Location: \S+, Base: \S+, "
                           r"Semaphore: (0x[0-9a-f]+)", notes)
        probes = self.venv_eval("' '.join(p[0] for p in pyusdt.PROBES)").split()
        dialect = self.venv_eval("' '.join(p[0] for p in pyusdt.PYTHON_PROBES)").split()
        self.assertEqual({(provider, name) for provider, name, _ in found},
                         {("pyusdt", name) for name in probes}
                         | {("python", name) for name in dialect}, notes)
        self.assertNotIn("0x0000000000000000", [sem for _, _, sem in found])
        symbols = installed.run(["nm", "-D", "--defined-only", lib], cwd="/").stdout
        self.assertEqual([line.split()[-1] for line in symbols.splitlines()],
                         ["PyInit_libpyusdt"])
        needed = installed.run(["readelf", "-d", lib], cwd="/").stdout
        self.assertNotIn("libpython", needed)


class InstalledVenv(InstalledTest):
    def test_version_of_version_py_is_reported_everywhere(self) -> None:
        version = repo_version()
        self.assertEqual(self.venv_eval("pyusdt.__version__"), version)
        self.assertEqual(self.venv_eval(
            "__import__('importlib.metadata').metadata.version('pyusdt')"), version)
        cli = self.venv_python("-m", "pyusdt", "--version")
        self.assertEqual((cli.returncode, cli.stdout), (0, "pyusdt %s\n" % version))
        self.assertIn("-%s-" % version, os.path.basename(self.inst.wheel))

    def test_installed_pyusdt_comes_from_the_venv_not_the_checkout(self) -> None:
        where = self.venv_eval("pyusdt.__file__, *sys.path, sep='\\n'").splitlines()
        self.assertEqual(where[0], os.path.join(self.inst.site_packages, "pyusdt",
                                                "__init__.py"))
        repo = os.path.realpath(support.REPO)
        self.assertEqual([p for p in where[1:]
                          if p and os.path.realpath(p).startswith(repo)], [])

    def test_library_path_is_the_extension_inside_the_installed_package(self) -> None:
        path = self.venv_eval("pyusdt.library_path()")
        self.assertEqual(path, os.path.realpath(os.path.join(
            self.inst.site_packages, "pyusdt", "libpyusdt" + EXT_SUFFIX)))
        self.assertTrue(os.path.isfile(path))

    def test_python_m_pyusdt_runs_a_program_as_python_does(self) -> None:
        script = os.path.join(self.inst.work, "hello.py")
        with open(script, "w") as file:
            file.write("import sys\nprint('hello', sys.argv[1:], "
                       "'pyusdt' in sys.modules)\nsys.exit(3)\n")
        run = self.venv_python("-m", "pyusdt", script, "a", "b")
        self.assertEqual((run.returncode, run.stdout), (3, "hello ['a', 'b'] True\n"))

    def test_package_data_is_installed_with_the_package(self) -> None:
        package = os.path.join(self.inst.site_packages, "pyusdt")
        with open(os.path.join(support.REPO, "sample.bt")) as a, \
                open(os.path.join(package, "sample.bt")) as b:
            self.assertEqual(a.read(), b.read())
        for name in ("py.typed", "libpyusdt.pyi"):
            self.assertTrue(os.path.isfile(os.path.join(package, name)), name)

    def test_python_m_pyusdt_trace_lists_the_tools_installed_in_the_package(self) -> None:
        if not os.path.exists(os.path.join(self.inst.tree, "pyusdt", "trace.py")):
            self.skipTest("pyusdt/trace.py does not exist in this checkout yet")
        tools = sorted(os.path.basename(p)[:-3]
                       for p in glob.glob(os.path.join(self.inst.tree, "tools", "*.bt")))
        run = self.venv_python("-m", "pyusdt.trace", "--list")
        self.assertEqual(run.returncode, 0, run.stdout)
        self.assertEqual(sorted(line.split()[0] for line in run.stdout.splitlines()
                                if line.strip()), tools, run.stdout)


class AutoArming(InstalledTest):
    """The pyusdt-auto.pth start-up hook."""

    PYUSDT_MODULES = ("import sys; print(sorted(m for m in sys.modules "
                      "if 'usdt' in m.lower()))")

    def test_without_pyusdt_auto_nothing_of_pyusdt_is_imported(self) -> None:
        for value in (None, "", "0"):
            with self.subTest(PYUSDT_AUTO=value):
                env = {} if value is None else {"PYUSDT_AUTO": value}
                run = self.venv_python("-c", self.PYUSDT_MODULES, **env)
                self.assertEqual((run.returncode, run.stdout), (0, "[]\n"))

    def test_unarmed_interpreter_imports_no_more_modules_than_without_pyusdt(self) -> None:
        bare = os.path.join(self.inst.work, "bare-venv")
        if not os.path.exists(bare):
            installed.make_venv(bare, with_pip=False, log=[])
            # N.B. reading any .pth file has a cost of its own (3.13 imports
            # encodings.utf_8_sig for it), which every environment with a
            # .pth hook pays: an inert one makes the comparison fair.
            inert = os.path.join(installed.site_packages(installed.venv_python(bare)),
                                 "inert.pth")
            with open(inert, "w") as file:
                file.write("# no paths, no imports\n")

        def imported(python: str) -> list[str]:
            run = installed.run([python, "-X", "importtime", "-c", "pass"],
                                cwd=self.inst.work)
            return sorted(line.split("|")[-1].strip() for line in run.stdout.splitlines()
                          if line.startswith("import time:")
                          and "imported package" not in line)

        self.assertEqual(imported(self.inst.python), imported(installed.venv_python(bare)))

    def test_pyusdt_auto_imports_pyusdt_at_startup(self) -> None:
        for value in ("1", "yes"):
            with self.subTest(PYUSDT_AUTO=value):
                run = self.venv_python(
                    "-c", "import sys; p = sys.modules.get('pyusdt'); "
                    "print(p and (p.__file__, p.status().enabled))", PYUSDT_AUTO=value)
                self.assertEqual((run.returncode, run.stdout), (0, "('%s', ())\n" % (
                    os.path.join(self.inst.site_packages, "pyusdt", "__init__.py"))))

    def test_pyusdt_auto_leaves_a_free_threaded_gil_off(self) -> None:
        # A GIL-enabled Python answers True whatever pyusdt does; a
        # free-threaded one (3.14t) must still answer False, with every
        # probe forced too, and no warning (an error under -W error).
        code = ("import sys; gil = getattr(sys, '_is_gil_enabled', lambda: True)(); "
                "print('pyusdt' in sys.modules, gil)")
        expected = "True %s\n" % (not sysconfig.get_config_var("Py_GIL_DISABLED"))
        for force in ("", "all"):
            with self.subTest(PYUSDT_FORCE=force):
                run = self.venv_python("-W", "error", "-c", code, PYUSDT_AUTO="1",
                                       PYUSDT_FORCE=force)
                # N.B. stderr comes merged into stdout: any warning shows.
                self.assertEqual((run.returncode, run.stdout), (0, expected))

    def test_pyusdt_auto_reports_unloadable_pyusdt_in_one_line_and_runs_program(self) -> None:
        fake = os.path.join(self.inst.work, "broken", "pyusdt")
        os.makedirs(fake, exist_ok=True)
        with open(os.path.join(fake, "__init__.py"), "w") as file:
            file.write("raise ImportError('no libpyusdt here')\n")
        run = self.venv_python("-c", "print('ran')", PYUSDT_AUTO="1",
                               PYTHONPATH=os.path.dirname(fake))
        self.assertEqual((run.returncode, run.stdout),
                         (0, "pyusdt: PYUSDT_AUTO is set, but pyusdt cannot be loaded: "
                             "no libpyusdt here\nran\n"))

    def test_pyusdt_auto_is_silent_in_an_isolated_subinterpreter(self) -> None:
        code = (
            "try:\n"
            "    import _interpreters as interpreters\n"       # 3.13+
            "except ImportError:\n"
            "    import _xxsubinterpreters as interpreters\n"   # 3.12
            "import sys\n"
            "print('main', 'pyusdt' in sys.modules, flush=True)\n"
            "sub = interpreters.create()\n"
            "interpreters.run_string(sub, 'import sys; print(\"sub\", "
            "\"_pyusdt_auto\" in sys.modules, \"pyusdt\" in sys.modules, flush=True)')\n"
            "interpreters.destroy(sub)\n")
        run = self.venv_python("-c", code, PYUSDT_AUTO="1")
        # The hook ran in the subinterpreter too; pyusdt refused to load
        # there, without a word.
        self.assertEqual((run.returncode, run.stdout), (0, "main True\nsub True False\n"))


class BuildDeps(InstalledTest):
    """scripts/build-deps, which gave the build venv its setuptools."""

    def build_deps(self, python: str, *args: str):
        return installed.run([python, os.path.join(self.inst.tree, "scripts", "build-deps"),
                              *args], cwd=self.inst.work, check=False)

    def test_build_deps_installs_bundled_setuptools_once_offline(self) -> None:
        versions = installed.run([self.inst.build_python, "-c",
                                  "from importlib.metadata import version as v, "
                                  "PackageNotFoundError as Missing\n"
                                  "try:\n    wheel = v('wheel')\n"
                                  "except Missing:\n    wheel = '-'\n"
                                  "print(v('setuptools'), wheel)"], cwd="/").stdout
        setuptools = tuple(int(part) for part in versions.split()[0].split(".")[:2])
        self.assertGreaterEqual(setuptools, (66,), versions)
        # setuptools builds wheels itself from 70.1 on (3.14 bundles 79 and
        # no wheel); before, it needs the wheel package.
        if setuptools < (70, 1):
            self.assertNotEqual(versions.split()[1], "-", "no wheel beside " + versions)
        again = self.build_deps(self.inst.build_python)
        self.assertEqual((again.returncode, again.stdout), (0, ""), "not a no-op")

    def test_build_deps_dry_run_names_the_bundled_wheels(self) -> None:
        fresh = os.path.join(self.inst.work, "fresh-venv")
        if not os.path.exists(fresh):
            installed.make_venv(fresh, with_pip=False, log=[])
        run = self.build_deps(installed.venv_python(fresh), "--dry-run")
        self.assertEqual(run.returncode, 0, run.stdout)
        stdlib = sysconfig.get_paths()["stdlib"]
        self.assertRegex(run.stdout, r"^%s -m pip install --no-index .*%s/\S+/setuptools-"
                         r"\d+[.\d]*-py3-none-any\.whl" % (
                             re.escape(installed.venv_python(fresh)), re.escape(stdlib)))


class MakeTargets(InstalledTest):
    """make dist, install, uninstall and clean, in a copy of the checkout,
    with the build venv (which has setuptools) as PYTHON."""

    def make(self, tree: str, *args: str) -> str:
        run = installed.run(["make", "--no-print-directory", *args,
                             "PYTHON=" + self.inst.build_python], cwd=tree, check=False)
        self.assertEqual(run.returncode, 0, run.stdout)
        return run.stdout

    def build_venv_has_pyusdt(self) -> str | None:
        """Where the build venv imports pyusdt from, or None."""
        run = installed.run([self.inst.build_python, "-c",
                             "import pyusdt; print(pyusdt.library_path())"],
                            cwd=self.inst.work, check=False)
        return run.stdout.strip() if run.returncode == 0 else None

    def test_dist_install_uninstall_work_and_clean_restores_the_tree(self) -> None:
        tree = os.path.join(self.inst.work, "make-tree")
        installed.copy_checkout(tree)
        before = installed.tree_state(tree)
        self.assertIn("install", self.make(tree, "help"))

        self.make(tree, "dist")
        version = repo_version()
        self.assertTrue(os.path.isfile(os.path.join(tree, "dist",
                                                    "pyusdt-%s.tar.gz" % version)))
        self.assertEqual(len(glob.glob(os.path.join(tree, "dist",
                                                    "pyusdt-%s-*.whl" % version))), 1)

        self.make(tree, "install")
        site = installed.site_packages(self.inst.build_python)
        self.assertEqual(self.build_venv_has_pyusdt(), os.path.join(
            site, "pyusdt", "libpyusdt" + EXT_SUFFIX))
        self.assertTrue(os.path.isfile(os.path.join(site, "pyusdt-auto.pth")))

        self.make(tree, "uninstall")
        self.assertIsNone(self.build_venv_has_pyusdt())
        left = [name for name in os.listdir(site) if "usdt" in name.lower()]
        self.assertEqual(left, [], "left behind in site-packages by make uninstall")

        self.make(tree, "clean")
        self.assertEqual(installed.tree_state(tree), before,
                         "make clean did not restore the tree")


if __name__ == "__main__":
    unittest.main()
