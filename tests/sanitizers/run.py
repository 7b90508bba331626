"""Runs pyusdt's tests against a sanitizer build of libpyusdt.so and fails
on any sanitizer report.

Usage: python tests/sanitizers/run.py {asan,valgrind} LIBRARY [--suite NAME ...]
                                      [-k PATTERN ...]

asan      LIBRARY was built with -fsanitize=address,undefined by --cc (make
          asan).  This runner re-executes itself with the sanitizer runtimes
          preloaded, so that it and every Python it starts can load the
          library; ASan and UBSan write their reports to log files, not to
          the programs' stderr (N.B. with gcc's separate libubsan, UBSan's
          go to stderr, where a test comparing output sees them).  Leak
          detection is off: CPython itself does not free everything at
          exit.  PYTHONMALLOC=malloc gives every Python object ASan's red
          zones.
valgrind  every Python process the tests start runs under valgrind
          (memcheck, PYTHONMALLOC=malloc, suppressions for CPython's own
          noise in tests/sanitizers/valgrind-python.supp), and so do the
          in-process unit tests, in a runner of their own.  N.B. not the
          e2e tests: valgrind runs a program's code by translating it, and
          executes the int3 that a uprobe puts on each attached probe site
          as a trap that kills the program.  And of the integration tests,
          only VALGRIND_SELECTION unless -k says otherwise.

Both point the tests at LIBRARY through PYUSDT_LIBRARY and keep bpftrace
and other tools out of the sanitizer.  The run fails if any test fails or
any report was written; the reports are printed.  The last line is
"N passed, N failed, N skipped, N reports".
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SUPPRESSIONS = os.path.join(HERE, "valgrind-python.supp")
#: Valgrind wraps each error it reports in these (its other messages, such
#: as warnings about large allocations, are not errors).
ERROR_BEGIN, ERROR_END = "PYUSDT-VALGRIND-ERROR-BEGIN", "PYUSDT-VALGRIND-ERROR-END"

#: Suites run by default, and test modules left out: the packaging tests
#: build and install their own libpyusdt.so with pip, so they would not
#: exercise the sanitizer build at all.
SUITES = ("unit", "integration", "e2e")
DEFAULT_SUITES = {"asan": SUITES, "valgrind": ("unit", "integration")}
SKIP_MODULES = ("test_packaging", "test_installed")
#: Left out of the ASan run: clang 14's ASan allocator (Debian 12's) is not
#: fork-safe, so a child forked while another thread holds its lock hangs
#: in its first malloc (seen: 2 runs in 12 of 16 threads forking at once,
#: the child stuck in ASan's malloc; with PYTHONMALLOC=malloc CPython's own
#: allocations go there too).  glibc's malloc, in every real build, is.
ASAN_SKIP = ("test_threads_forking_at_once_neither_deadlock_nor_crash",)
#: What valgrind runs unless told otherwise (-k): every Python process
#: under valgrind costs seconds to start and runs some fifty times slower,
#: and busy threads handing the GIL to one another crawl under its one big
#: lock (a thread signalling a busy main thread fifty times took over
#: twenty minutes), so the whole integration suite would take hours.  These cover
#: every probe and renderer (hostile values, all probes attached), other
#: tools, fork, signals, imports at odd moments, configuration, and the
#: unit tests.
VALGRIND_SELECTION = (
    "tests.integration.test_reliability_hostile.HostileValues.test_program_output",
    "tests.integration.test_reliability_tools.OtherTools.test_cprofile_counts",
    "tests.integration.test_reliability_tools.OtherTools.test_coverage",
    "tests.integration.test_reliability_tools.OtherTools.test_debugger",
    "tests.integration.test_reliability_tools.OtherTools.test_setprofile",
    "tests.integration.test_reliability_tools.NoFreeToolId",
    "tests.integration.test_reliability_processes.ChildProcesses.test_fork_child",
    "tests.integration.test_reliability_lifecycle.ImportAtAwkwardMoments",
    "tests.integration.test_reliability_lifecycle.SignalsWhileTraced.test_sigint_raises",
    "tests.integration.test_reliability_config.LoadedAgain",
    "tests.integration.test_config.",
)
#: How much slower than normal runs may be before a test counts as hung.
TIMEOUT_SCALE = {"asan": "3", "valgrind": "20"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("asan", "valgrind"))
    parser.add_argument("library", help="the sanitizer build of libpyusdt.so")
    parser.add_argument("--suite", action="append", choices=SUITES,
                        help="a suite to run (repeatable; default: all)")
    parser.add_argument("-k", dest="patterns", action="append", default=None,
                        help="only tests whose name contains this (repeatable; "
                        "valgrind's default is VALGRIND_SELECTION)")
    parser.add_argument("--cc", default="cc", help="the compiler that built LIBRARY")
    parser.add_argument("--log-dir", help="(internal) where reports are written")
    return parser.parse_args(argv)


def sanitizer_runtimes(library: str, cc: str) -> list[str]:
    """The sanitizer runtimes LIBRARY links against, ASan's first (it must
    come first in the process): gcc's libasan and libubsan, or clang's
    libclang_rt.asan (which holds UBSan too, and which ldd does not find
    by itself: CC knows where it is)."""
    out = subprocess.run(["ldd", library], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and "san" in parts[0]:
            path = parts[2]
            if path == "not":    # "=> not found"
                path = subprocess.run([cc, "-print-file-name=" + parts[0]],
                                      stdout=subprocess.PIPE, text=True).stdout.strip()
            found.append(path)
    found.sort(key=lambda path: "asan" not in os.path.basename(path))
    if not found or not all(os.path.isabs(path) and os.path.exists(path) for path in found):
        sys.exit("run.py: cannot find the sanitizer runtimes of %s (%s); build it with "
                 "make asan" % (library, found))
    return found


def write_script(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as out:
        out.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def bpftrace_outside(directory: str) -> str:
    """A bpftrace that runs without the sanitizer runtimes preloaded."""
    real = shutil.which(os.environ.get("BPFTRACE", "bpftrace")) or "bpftrace"
    return write_script(directory, "bpftrace",
                        "#!/bin/sh\nunset LD_PRELOAD\nexec %s \"$@\"\n" % real)


def asan_environment(args: argparse.Namespace, log_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(sanitizer_runtimes(args.library, args.cc))
    env["ASAN_OPTIONS"] = ":".join((
        "detect_leaks=0",
        "log_path=%s/asan" % log_dir,
        # N.B. no symbolizer process: one left behind by a dying program
        # keeps its pipes open, and the test waiting on them hangs.  Frames
        # in libpyusdt are symbolized when the report is printed.
        "symbolize=0",
    ))
    env["UBSAN_OPTIONS"] = ":".join((
        "print_stacktrace=1",
        "halt_on_error=1",
        "log_path=%s/ubsan" % log_dir,
        "symbolize=0",
    ))
    env["PYTHONMALLOC"] = "malloc"
    env["BPFTRACE"] = bpftrace_outside(log_dir)
    return env


def valgrind_python(log_dir: str) -> str:
    """A python that runs the real one under valgrind, reports going to
    LOG_DIR/valgrind.PID."""
    options = [
        "--tool=memcheck",
        "--quiet",
        "--error-exitcode=0",         # errors are counted from the logs
        "--leak-check=no",            # CPython does not free everything
        "--track-origins=no",
        "--num-callers=30",
        "--suppressions=%s" % SUPPRESSIONS,
        "--log-file=%s/valgrind.%%p" % log_dir,
        "--error-markers=%s,%s" % (ERROR_BEGIN, ERROR_END),
        "--trace-children=no",
    ]
    return write_script(log_dir, "python",
                        "#!/bin/sh\nPYTHONMALLOC=malloc exec valgrind %s %s \"$@\"\n"
                        % (" ".join(options), sys.executable))


def reports(log_dir: str) -> list[tuple[str, str]]:
    """(file, text) of every report written: each ASan or UBSan log, each
    error in a valgrind log."""
    found = []
    for path in sorted(glob.glob(os.path.join(log_dir, "asan.*"))
                       + glob.glob(os.path.join(log_dir, "ubsan.*"))):
        with open(path, errors="replace") as log:
            text = log.read()
        if text.strip():
            found.append((os.path.basename(path), text))
    for path in sorted(glob.glob(os.path.join(log_dir, "valgrind.*"))):
        with open(path, errors="replace") as log:
            text = log.read()
        for error in text.split(ERROR_BEGIN)[1:]:
            found.append((os.path.basename(path), error.split(ERROR_END)[0]))
    return found


FRAME = re.compile(r"\((/[^()+]+)\+(0x[0-9a-f]+)\)")


def symbolized(report: str, library: str) -> str:
    """REPORT with its frames in LIBRARY ("(PATH+0xOFFSET)") followed by
    the function, file and line addr2line finds for them."""
    def name(match: re.Match) -> str:
        path, offset = match.groups()
        if os.path.basename(path) != os.path.basename(library):
            return match.group(0)
        # N.B. the same bytes as PATH, which may have been a temporary copy.
        where = subprocess.run(["addr2line", "-f", "-i", "-C", "-p", "-e", library, offset],
                               stdout=subprocess.PIPE, text=True).stdout.strip()
        return "%s %s" % (match.group(0), where.replace("\n", " / "))
    return FRAME.sub(name, report)


def run_tests(args: argparse.Namespace, suites: list[str]) -> unittest.TestResult:
    loader = unittest.TestLoader()
    patterns = args.patterns
    if patterns is None and args.mode == "valgrind":
        patterns = VALGRIND_SELECTION
    if patterns:
        loader.testNamePatterns = ["*%s*" % p for p in patterns]
    suite = unittest.TestSuite()
    for name in suites:
        found = loader.discover(os.path.join(REPO, "tests", name), pattern="test_*.py",
                                top_level_dir=REPO)
        for test in iterate(found):
            if test.__class__.__module__.rsplit(".", 1)[-1] in SKIP_MODULES:
                continue
            if args.mode == "asan" and test._testMethodName in ASAN_SKIP:
                continue
            suite.addTest(test)
    print("Python %s, %s build %s: %d tests"
          % (sys.version.split()[0], args.mode, args.library, suite.countTestCases()),
          flush=True)
    return unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)


def iterate(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from iterate(test)
        else:
            yield test


def add(counts: dict, more: dict) -> None:
    for key in counts:
        counts[key] += more[key]


def unit_tests_under_valgrind(python: str, args: argparse.Namespace) -> dict:
    """Runs tests/runner.py's unit tests with PYTHON (valgrind's); their
    counts."""
    patterns = ["-k", "tests.unit."]
    if args.patterns:
        print("run.py: -k applies to the integration tests only under valgrind",
              flush=True)
    with tempfile.NamedTemporaryFile("r", suffix=".json") as summary:
        run = subprocess.run([python, os.path.join(REPO, "tests", "runner.py"),
                              "--summary", summary.name, *patterns], cwd=REPO)
        try:
            return json.load(summary)
        except ValueError:
            return {"passed": 0, "failed": 1, "skipped": 0}   # the runner died
        finally:
            if run.returncode not in (0, 1):
                print("run.py: the unit test runner ended with status %d"
                      % run.returncode, flush=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.library = os.path.abspath(args.library)
    if not os.path.exists(args.library):
        sys.exit("run.py: %s does not exist (make %s builds it)" % (args.library, args.mode))
    if args.log_dir is None:
        # First pass: make the log directory and, for asan, re-execute with
        # the runtimes preloaded (they must be there before anything loads).
        log_dir = tempfile.mkdtemp(prefix="pyusdt-%s-" % args.mode)
        try:
            env = dict(os.environ)
            if args.mode == "asan":
                env = asan_environment(args, log_dir)
            child = subprocess.run([sys.executable, os.path.abspath(__file__), *argv,
                                    "--log-dir", log_dir], env=env)
            found = reports(log_dir)
            for name, text in found:
                print("=== %s report %s ===\n%s" % (args.mode, name,
                                                     symbolized(text, args.library)))
            try:
                with open(os.path.join(log_dir, "summary.json")) as summary:
                    counts = json.load(summary)
            except (OSError, ValueError):
                counts = {"passed": 0, "failed": 1, "skipped": 0}   # the run died
            print("%d passed, %d failed, %d skipped, %d reports"
                  % (counts["passed"], counts["failed"], counts["skipped"], len(found)),
                  flush=True)
            return 1 if found or counts["failed"] or child.returncode else 0
        finally:
            shutil.rmtree(log_dir, ignore_errors=True)
    sys.path.insert(0, REPO)
    os.environ["PYUSDT_LIBRARY"] = os.path.relpath(args.library, REPO)
    os.environ["PYUSDT_TEST_TIMEOUT_SCALE"] = TIMEOUT_SCALE[args.mode]
    # N.B. imported only now: it reads both variables at import.
    from tests import support
    support.restore_sigint()
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    suites = list(args.suite or DEFAULT_SUITES[args.mode])
    if args.mode == "valgrind":
        # Every Python the tests start runs under valgrind; this one does not.
        support.PYTHON = valgrind_python(args.log_dir)
        if "unit" in suites:
            # The unit tests run in their runner's own process: one under
            # valgrind.
            add(counts, unit_tests_under_valgrind(support.PYTHON, args))
            suites.remove("unit")
    if suites:
        result = run_tests(args, suites)
        # N.B. a test with failing subtests appears once per subtest.
        failed = len({test.id() for test, _ in result.failures + result.errors}
                     | {test.id() for test in result.unexpectedSuccesses})
        skipped = len(result.skipped)
        add(counts, {"passed": result.testsRun - failed - skipped, "failed": failed,
                     "skipped": skipped})
    passed, failed, skipped = counts["passed"], counts["failed"], counts["skipped"]
    with open(os.path.join(args.log_dir, "summary.json"), "w") as summary:
        json.dump({"passed": passed, "failed": failed, "skipped": skipped}, summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
