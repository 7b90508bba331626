"""The extension's Python API when no tracer is attached."""

from __future__ import annotations

import os
import re
import sys
import threading
import unittest

import pyusdt
from tests import support

#: The documents whose probe tables must match pyusdt.PROBES: README's
#: summary and the full reference.
PROBE_TABLES = [os.path.join(support.REPO, *path)
                for path in (("README.md",), ("docs", "probes.md"))]


class Untraced(support.NoToolLeftBehind):
    def test_nothing_is_enabled_and_no_tool_id_is_held_without_a_tracer(self):
        status = pyusdt.status()
        self.assertEqual(status.attached, ())
        self.assertEqual(status.enabled, ())
        self.assertIsNone(status.tool_id)
        for tool in support.TOOL_IDS:
            self.assertNotEqual(sys.monitoring.get_tool(tool), "pyusdt")

    def test_poll_interval_defaults_to_100_ms(self):
        self.assertEqual(pyusdt.status().check_msec, 100)

    def test_library_path_is_the_absolute_path_of_the_loaded_extension(self):
        path = pyusdt.library_path()
        self.assertTrue(os.path.isabs(path))
        self.assertTrue(os.path.samefile(path, support.LIB))
        with open("/proc/self/maps") as maps:
            self.assertIn(path, maps.read())

    def test_poller_thread_is_invisible_to_threading(self):
        self.assertEqual([t for t in threading.enumerate()
                          if t is not threading.main_thread()], [])
        self.assertGreaterEqual(len(os.listdir("/proc/self/task")), 2)

    def test_probe_table_lists_every_probe_with_its_monitoring_event(self):
        names = [row[0] for row in pyusdt.PROBES]
        self.assertEqual(names, ["PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD",
                                 "CALL", "LINE", "PY_UNWIND", "PY_THROW", "RAISE",
                                 "EXCEPTION_HANDLED", "GC_START", "GC_DONE", "MARK",
                                 "AUDIT", "IMPORT_START", "IMPORT_DONE",
                                 "CALL_STATS", "CALL_TIMES"])
        for name, event, _args in pyusdt.PROBES:
            expected = getattr(sys.monitoring.events, name, 0)
            self.assertEqual(event, expected, name)

    def test_code_id_is_the_last_argument_of_every_code_probe(self):
        for name, event, args in pyusdt.PROBES:
            if event:
                self.assertEqual(args.split(", ")[-1], "code_id", name)

    def test_readme_and_docs_probe_tables_match_the_extension(self):
        for path in PROBE_TABLES:
            doc = os.path.relpath(path, support.REPO)
            with open(path) as file:
                text = file.read()
            for name, _event, args in pyusdt.PROBES:
                row = re.search(r"^\| `%s` \| ([^|]+) \|" % name, text, re.M)
                self.assertIsNotNone(row, "%s has no row for %s" % (doc, name))
                documented = [a.strip().strip("`") for a in row.group(1).split(",")]
                self.assertEqual(documented, [a.strip() for a in args.split(",")],
                                 "%s: %s" % (doc, name))

    def test_python_provider_table_has_cpythons_marker_names_and_arguments(self):
        # As CPython's "Instrumenting CPython with DTrace and SystemTap"
        # documents its markers.
        self.assertEqual(dict(pyusdt.PYTHON_PROBES), {
            "function__entry": "filename, funcname, lineno",
            "function__return": "filename, funcname, lineno",
            "line": "filename, funcname, lineno",
            "gc__start": "generation",
            "gc__done": "collected",
            "import__find__load__start": "modulename",
            "import__find__load__done": "modulename, found",
            "audit": "event, args",
        })

    def test_dialect_doc_lists_every_python_probe(self):
        with open(os.path.join(support.REPO, "docs", "cpython-dialect.md")) as file:
            text = file.read()
        for name, args in pyusdt.PYTHON_PROBES:
            row = re.search(r"^\| `%s` \| ([^|]+) \|" % name, text, re.M)
            self.assertIsNotNone(row, "docs/cpython-dialect.md has no row for %s" % name)
            documented = [a.strip().strip("`") for a in row.group(1).split(",")]
            self.assertEqual(documented, [a.strip() for a in args.split(",")], name)

    def test_nothing_looks_at_the_interpreter_before_a_python_probe_attaches(self):
        status = pyusdt.status()
        self.assertIsNone(status.native)
        self.assertFalse(status.audit_hook)

    def test_version_is_a_string(self):
        self.assertRegex(pyusdt.__version__, r"^\d+\.\d+\.\d+")


class RunSource(unittest.TestCase):
    """_run_source_at_bottom(), which python -m pyusdt runs programs with."""

    run_source = staticmethod(pyusdt._lib._run_source_at_bottom)

    def test_file_bytes_honour_their_coding_cookie(self):
        namespace = {}
        self.run_source(b"# coding: latin-1\nx = '\xe9'\n", "f.py", namespace)
        self.assertEqual(namespace["x"], "\u00e9")

    def test_a_str_runs_as_the_command_string_without_the_callers_future_flags(self):
        namespace = {}
        # This module has "from __future__ import annotations"; the program
        # must not: its annotations are evaluated.
        self.run_source("def f(a: int): pass\nn = f.__code__.co_filename\n", "ignored", namespace)
        self.assertEqual(namespace["f"].__annotations__, {"a": int})
        self.assertEqual(namespace["n"], "<string>")

    def test_errors_propagate_and_bad_arguments_are_refused(self):
        with self.assertRaises(SyntaxError) as caught:
            self.run_source(b"x = (\n", "bad.py", {})
        self.assertEqual(caught.exception.filename, "bad.py")
        with self.assertRaises(ZeroDivisionError):
            self.run_source(b"1 / 0\n", "zero.py", {})
        for args in ((b"", "f.py", None), (1, "f.py", {}), (b"", None, {}), (b"",)):
            with self.subTest(args=args), self.assertRaises(TypeError):
                self.run_source(*args)


if __name__ == "__main__":
    unittest.main()
