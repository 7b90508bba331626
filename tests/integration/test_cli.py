"""``python -m pyusdt`` runs programs exactly as ``python`` does: each test
runs the same command line both ways and compares stdout, stderr and the
exit status, except where pyusdt means to differ."""

from __future__ import annotations

import os
import py_compile
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import unittest
import zipfile

import pyusdt
from tests.support import TARGETS, NoToolLeftBehind, run_python, target

PYUSDT = ["-m", "pyusdt"]

#: Whether the interpreter under test is a free-threaded build.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

#: A -c statement that prints what python left in linecache of the command
#: it runs: nothing on 3.12 (linecache not even imported), the source under
#: "<string>" on 3.13, under each code object on 3.14.  N.B. reads linecache's
#: private tables: they are where tracebacks find -c's lines.
SHOW_COMMAND_SOURCE = (
    "import sys; imported = 'linecache' in sys.modules; import linecache; "
    "print(imported, linecache.cache.get('<string>'), "
    "sorted(getattr(linecache, '_interactive_cache', {}).items()))")


def outcome(proc: subprocess.CompletedProcess) -> tuple[int, str, str]:
    """What a finished run showed the world."""
    return proc.returncode, proc.stdout, proc.stderr


class CliTest(NoToolLeftBehind):
    """Comparisons of python -m pyusdt with python."""

    def run_both(self, args: list[str], *, input: str | None = None,
                 cwd: str = TARGETS) -> tuple[subprocess.CompletedProcess,
                                              subprocess.CompletedProcess]:
        """Runs python ARGS and python -m pyusdt ARGS; returns both."""
        plain = run_python(args, input=input, cwd=cwd)
        ours = run_python(PYUSDT + args, input=input, cwd=cwd)
        return plain, ours

    def assertSameAsPython(self, args: list[str], *, input: str | None = None,
                           cwd: str = TARGETS) -> subprocess.CompletedProcess:
        """Checks that python -m pyusdt ARGS behaves as python ARGS; returns
        python's run."""
        plain, ours = self.run_both(args, input=input, cwd=cwd)
        self.assertEqual(outcome(ours), outcome(plain),
                         "python -m pyusdt %s differs from python (cwd %s)"
                         % (" ".join(args), cwd))
        return plain

    def scratch_dir(self) -> str:
        """A temporary directory removed after the test."""
        path = tempfile.mkdtemp(prefix="pyusdt-cli-")
        self.addCleanup(shutil.rmtree, path)
        return path

    # --- What the program sees -------------------------------------------

    def test_script_sees_same_argv_path_and_globals_as_python(self) -> None:
        for script in ("cli_globals.py", "./cli_globals.py", target("cli_globals.py")):
            with self.subTest(script=script):
                plain = self.assertSameAsPython(
                    [script, "a", "-h", "--version", "-c", "x"])
                self.assertIn("sys.argv ['%s', 'a', '-h', '--version', '-c', 'x']"
                              % script, plain.stdout)
                self.assertIn("at exit []", plain.stdout)

    def test_script_via_symlink_has_real_directory_on_sys_path(self) -> None:
        link = os.path.join(self.scratch_dir(), "cli_link.py")
        os.symlink(target("cli_globals.py"), link)
        plain = self.assertSameAsPython([link])
        self.assertIn("__file__ %s\n" % link, plain.stdout)
        self.assertIn("sys.path ['%s'," % TARGETS, plain.stdout)

    def test_dash_m_runs_module_as_main(self) -> None:
        plain = self.assertSameAsPython(["-m", "cli_globals", "b", "-m", "x"])
        self.assertIn("__spec__ cli_globals", plain.stdout)
        self.assertSameAsPython(["-mcli_globals"])

    def test_dash_m_missing_module_error_matches_python(self) -> None:
        plain = self.assertSameAsPython(["-m", "cli_no_such_module"])
        self.assertEqual(plain.returncode, 1)

    def test_dash_c_runs_code(self) -> None:
        code = ("import sys; print(list(globals()), __loader__, __spec__, "
                "sys.argv, sys.path)")
        self.assertSameAsPython(["-c", code, "x", "-m", "y"])
        self.assertSameAsPython(["-c" + code])

    def test_dash_c_code_is_dedented_as_python_dedents_it(self) -> None:
        # 3.14 cuts the indent that every line with code on it shares (spaces
        # and tabs only); 3.12 and 3.13 find an indented command an error.
        for code in ("\n    {show}\n",
                     "\tif True:\n\t    {show}\n",
                     "    {show}\n\n  \t\n      # deeper\n    pass\n  ",
                     "  {show}\n   \n  pass\n      ",
                     "    {show}\n  \f\n    pass\n",
                     "    {show}\n   pass\n",
                     "    x = (1,\n"):
            with self.subTest(code=code):
                plain = self.assertSameAsPython(["-c", code.format(show=SHOW_COMMAND_SOURCE)])
                if code.startswith("\n    {show}"):
                    self.assertEqual(plain.returncode, 0 if sys.version_info >= (3, 14) else 1,
                                     plain.stderr)

    def test_dash_c_traceback_quotes_source_lines_as_python_does(self) -> None:
        code = ("import warnings\n"
                "warnings.warn('twenty-three')\n"
                "class Shape:\n"
                "    sides = [12 // n for n in (3, 0)]\n")
        indented = "".join("    " + line for line in code.splitlines(keepends=True))
        for command in (code, indented):
            with self.subTest(command=command):
                plain = self.assertSameAsPython(["-c", command])
                if command is indented and sys.version_info < (3, 14):
                    self.assertIn("IndentationError", plain.stderr)
                    continue
                self.assertIn("ZeroDivisionError", plain.stderr)
                # Python quotes -c's lines from 3.13 on; the class body is a
                # code object of its own, which 3.14 registers separately.
                quoted = "    sides = [12 // n for n in (3, 0)]\n" in plain.stderr
                self.assertEqual(quoted, sys.version_info >= (3, 13), plain.stderr)

    def test_dash_c_source_in_linecache_is_what_python_leaves_there(self) -> None:
        # Python runs the command with a newline added, and registers it with
        # linecache from 3.13 on.
        plain = self.assertSameAsPython(["-c", SHOW_COMMAND_SOURCE])
        if sys.version_info >= (3, 13):
            self.assertIn("(%d, None, " % (len(SHOW_COMMAND_SOURCE) + 1), plain.stdout)
        else:
            self.assertTrue(plain.stdout.startswith("False None []"), plain.stdout)

    def test_program_from_stdin_runs_like_python(self) -> None:
        with open(target("cli_globals.py")) as source:
            program = source.read()
        self.assertSameAsPython(["-", "z"], input=program)

    def test_directory_and_zip_with_main_run_like_python(self) -> None:
        scratch = self.scratch_dir()
        app = os.path.join(scratch, "app")
        os.mkdir(app)
        shutil.copy(target("cli_globals.py"), os.path.join(app, "__main__.py"))
        archive = os.path.join(scratch, "app.zip")
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.write(target("cli_globals.py"), "__main__.py")
        for path in (app, archive, scratch):
            with self.subTest(path=path):
                self.assertSameAsPython([path, "q"], cwd=scratch)

    def test_source_encoding_declaration_is_honoured(self) -> None:
        script = os.path.join(self.scratch_dir(), "cli_latin1.py")
        with open(script, "wb") as out:
            out.write(b"# -*- coding: latin-1 -*-\nprint(ascii('caf\xe9'))\n")
        plain = self.assertSameAsPython([script])
        self.assertEqual(plain.stdout, "'caf\\xe9'\n")

    def test_byte_order_marks_and_bad_coding_cookies_are_handled_like_python(self) -> None:
        script = os.path.join(self.scratch_dir(), "cli_bom.py")
        for text in (b"\xef\xbb\xbfprint(ascii('caf\xc3\xa9'))\n",
                     b"\xef\xbb\xbf# coding: utf-8\nprint(ascii('caf\xc3\xa9'))\n",
                     b"\xef\xbb\xbf# coding: latin-1\nprint(1)\n",
                     b"# coding: no-such-codec\nprint(1)\n"):
            with self.subTest(text=text):
                with open(script, "wb") as out:
                    out.write(text)
                self.assertSameAsPython([script])

    def test_compiled_script_runs_like_python(self) -> None:
        pyc = os.path.join(self.scratch_dir(), "cli_compiled.pyc")
        py_compile.compile(target("cli_exit.py"), cfile=pyc, doraise=True)
        plain = self.assertSameAsPython([pyc, "int", "5"])
        self.assertEqual(plain.returncode, 5)

    def test_probes_are_armed_before_program_runs(self) -> None:
        plain, ours = self.run_both([target("cli_armed.py")])
        self.assertEqual(plain.stdout, "libpyusdt loaded False\n")
        self.assertEqual(outcome(ours), (0, "libpyusdt loaded True\n", ""))

    # --- How it ends --------------------------------------------------------

    @unittest.skipIf(FREE_THREADED, "free-threaded builds keep the launcher's frames "
                     "below the program: test_free_threaded_program_sees_the_launcher")
    def test_program_sees_no_frames_below_its_own_as_under_python(self) -> None:
        with open(target("cli_stack.py")) as file:
            source = file.read()
        for args, stdin in ((["cli_stack.py"], None), (["-m", "cli_stack"], None),
                            (["-c", source], None), (["-"], source)):
            with self.subTest(how=args[0]):
                self.assertSameAsPython(args, input=stdin)

    @unittest.skipUnless(FREE_THREADED, "builds with the GIL hide the launcher's frames")
    def test_free_threaded_program_sees_the_launcher(self) -> None:
        # N.B. the free-threaded GC walks each thread's frame chain: pyusdt
        # leaves it whole there (src/runner.c), and says so in its docs.
        ours = run_python(PYUSDT + ["cli_stack.py"], cwd=TARGETS)
        self.assertEqual(ours.returncode, 0, ours.stderr)
        self.assertIn("pyusdt/_cli.py", ours.stdout)
        self.assertRegex(ours.stdout, r"f_back \('[^']*pyusdt/_cli\.py', ")

    def test_uncaught_exception_traceback_matches_python(self) -> None:
        code = "def f():\n    raise ValueError('twenty-three')\nf()\n"
        for args in (["cli_raise.py"], ["-m", "cli_raise"], ["-c", code]):
            with self.subTest(args=args):
                plain = self.assertSameAsPython(args)
                self.assertEqual(plain.returncode, 1)
                self.assertIn("Traceback (most recent call last):", plain.stderr)

    def test_syntax_error_matches_python(self) -> None:
        scratch = self.scratch_dir()
        script = os.path.join(scratch, "cli_bad.py")
        with open(script, "w") as out:
            out.write("print('never')\nx = (1,\n")
        for args in ([script], ["-m", "cli_bad"], ["-c", "x = (1,"]):
            with self.subTest(args=args):
                plain = self.assertSameAsPython(args, cwd=scratch)
                self.assertIn("SyntaxError", plain.stderr)

    def test_null_byte_in_source_error_matches_python(self) -> None:
        script = os.path.join(self.scratch_dir(), "cli_null.py")
        source = "x = 1\nprint('never')\0 + 2\n"
        with open(script, "w") as out:
            out.write(source)
        for args, stdin in (([script], None), (["-"], source)):
            with self.subTest(args=args):
                plain = self.assertSameAsPython(args, input=stdin)
                self.assertIn("line 2", plain.stderr)
                self.assertIn("SyntaxError: source code cannot contain null bytes",
                              plain.stderr)

    def test_undecodable_command_error_matches_python(self) -> None:
        command = os.fsdecode(b"print('a\xff')")
        plain = self.assertSameAsPython(["-c", command])
        self.assertIn("Unable to decode the command", plain.stderr)

    def test_custom_excepthook_sees_only_program_traceback(self) -> None:
        plain = self.assertSameAsPython(["cli_excepthook.py"])
        self.assertIn("tb is sys.last_traceback True", plain.stdout)
        self.assertNotIn("pyusdt", plain.stdout)

    def test_keyboard_interrupt_exit_status_matches_python(self) -> None:
        for args in (["cli_interrupt.py"], ["-m", "cli_interrupt"],
                     ["-c", "raise KeyboardInterrupt"]):
            with self.subTest(args=args):
                plain = self.assertSameAsPython(args)
                self.assertEqual(plain.returncode, -signal.SIGINT)

    def test_recursion_error_comes_at_pythons_depth(self) -> None:
        with open(target("cli_recursion.py")) as source:
            program = source.read()
        for args in (["cli_recursion.py"], ["-m", "cli_recursion"], ["-c", program]):
            with self.subTest(args=args[:1]):
                plain = self.assertSameAsPython(args)
                self.assertEqual(plain.stdout.count("RecursionError"), 2, plain.stderr)

    def test_missing_script_error_matches_python(self) -> None:
        for script in ("cli_missing.py", "./cli_missing.py", "../targets/cli_missing.py"):
            with self.subTest(script=script):
                plain = self.assertSameAsPython([script, "arg"])
                self.assertEqual(plain.returncode, 2)
                self.assertIn("can't open file", plain.stderr)

    def test_directory_without_main_error_matches_python(self) -> None:
        plain = self.assertSameAsPython([self.scratch_dir()])
        self.assertIn("can't find '__main__' module", plain.stderr)

    def test_exit_codes_match_python(self) -> None:
        for how in (["int", "0"], ["int", "3"], ["int", "300"], ["str", "bye"],
                    ["none"], ["end"]):
            with self.subTest(how=how):
                self.assertSameAsPython(["cli_exit.py", *how])
                self.assertSameAsPython(["-m", "cli_exit", *how])

    def test_stdin_passes_through(self) -> None:
        text = "first line\nsecond, with no newline"
        plain = self.assertSameAsPython(["cli_stdin.py"], input=text)
        self.assertIn("FIRST LINE", plain.stdout)

    # --- pyusdt's own options ---------------------------------------------

    def test_wait_for_tracer_times_out_and_runs_program(self) -> None:
        plain = run_python(["cli_exit.py", "int", "3"], cwd=TARGETS)
        start = time.monotonic()
        ours = run_python(PYUSDT + ["--wait-for-tracer=0.3", "cli_exit.py", "int", "3"],
                          cwd=TARGETS)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.3)
        notice = "pyusdt: no tracer attached after 0.3 s; running cli_exit.py anyway\n"
        self.assertEqual(outcome(ours),
                         (plain.returncode, plain.stdout, notice + plain.stderr))

    def test_help_and_version(self) -> None:
        for flag in ("-h", "--help"):
            with self.subTest(flag=flag):
                proc = run_python(PYUSDT + [flag, "--bogus"])
                self.assertEqual((proc.returncode, proc.stderr), (0, ""))
                for word in ("usage: python -m pyusdt", "--wait-for-tracer[=SECONDS]",
                             "--version", "-m module", "-c code", "script.py",
                             "PYUSDT_CHECK_MSEC", "default 100", "PYUSDT_VERBOSE=1"):
                    self.assertIn(word, proc.stdout)
        proc = run_python(PYUSDT + ["--version"])
        self.assertEqual(outcome(proc), (0, "pyusdt %s\n" % pyusdt.__version__, ""))

    def test_bad_option_is_usage_error(self) -> None:
        for args in ([], ["-z", "cli_exit.py"], ["--wait-for-tracer=0", "cli_exit.py"],
                     ["--wait-for-tracer=-1", "cli_exit.py"],
                     ["--wait-for-tracer=soon", "cli_exit.py"],
                     ["--wait-for-tracer=nan", "cli_exit.py"], ["-m"], ["-c"], ["--"]):
            with self.subTest(args=args):
                proc = run_python(PYUSDT + args, cwd=TARGETS)
                self.assertEqual((proc.returncode, proc.stdout), (2, ""))
                lines = proc.stderr.splitlines()
                self.assertEqual(len(lines), 3, proc.stderr)
                self.assertTrue(lines[0].startswith("pyusdt: "), proc.stderr)
                self.assertTrue(lines[1].startswith("usage: python -m pyusdt"))

    def test_double_dash_ends_options(self) -> None:
        plain = run_python(["--", "cli_globals.py", "-h"], cwd=TARGETS)
        ours = run_python(PYUSDT + ["--", "cli_globals.py", "-h"], cwd=TARGETS)
        self.assertEqual(outcome(ours), outcome(plain))


class LibraryMissing(unittest.TestCase):
    """When the library cannot load, python -m pyusdt says why in one
    sentence (not runpy's traceback) and exits 1; import pyusdt raises
    ImportError with the same reason."""

    def without_library(self) -> str:
        """A copy of the package with no library beside it or in a build/."""
        root = tempfile.mkdtemp(prefix="pyusdt-nolib-")
        self.addCleanup(shutil.rmtree, root)
        shutil.copytree(os.path.dirname(pyusdt.__file__), os.path.join(root, "pyusdt"),
                        ignore=shutil.ignore_patterns("*.so", "__pycache__"))
        return root

    def test_no_build_for_this_python_is_one_sentence(self) -> None:
        root = self.without_library()
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYUSDT_LIBRARY", "PYTHONPATH")}
        proc = subprocess.run([sys.executable, *PYUSDT, "-c", "print('ran')"], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=60)
        self.assertEqual((proc.returncode, proc.stdout), (1, ""), proc.stderr)
        self.assertRegex(proc.stderr, r"^python -m pyusdt: libpyusdt\.so not found for "
                                      r"Python 3\.\d+t? \(looked in [^\n]*\); run 'make "
                                      r"lib PYTHON=[^\n]*\n$")
        imported = subprocess.run([sys.executable, "-c", "import pyusdt"], cwd=root,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=60)
        self.assertEqual(imported.returncode, 1)
        self.assertIn("ImportError: pyusdt: libpyusdt.so not found", imported.stderr)

    @unittest.skipUnless(os.path.exists("/usr/bin/python3.11"),
                         "no /usr/bin/python3.11 (Debian 12's python3) to run")
    def test_python_older_than_3_12_is_told_so(self) -> None:
        proc = subprocess.run(["/usr/bin/python3.11", *PYUSDT, "-c", "print('ran')"],
                              cwd=self.without_library(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr),
                         (1, "", "python -m pyusdt: needs CPython 3.12 or newer; "
                                 "/usr/bin/python3.11 is cpython 3.11\n"))


if __name__ == "__main__":
    unittest.main()
