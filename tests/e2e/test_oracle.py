"""Exact traces: for every corpus program, the events bpftrace receives with
every probe attached are the events the independent recorder
(tests/recorder.py) sees in a separate run: per thread, in order, with the
same function, file, line, offset, rendered value and (structurally) code
id.  The same traces obey README's pairing rule."""

from __future__ import annotations

import subprocess
import unittest
from collections import Counter

from tests import support
from tests.e2e import bpf, oracle


class Corpus:
    """The tests every corpus program gets, mixed into one TestCase per
    program: the program is traced once with every probe attached (in
    setUpClass), recorded once, and run once untraced."""

    NAME = ""
    #: (probe, function) -> how many times it must fire: counts the program
    #: makes checkable, so that the recorder and pyusdt cannot agree on a
    #: wrong stream.
    COUNTS: dict[tuple[str, str], int] = {}
    STATUS = 0

    @classmethod
    def setUpClass(cls):
        cls.script = support.target("corpus_%s.py" % cls.NAME)
        program = bpf.probe_program(bpf.ALL_PROBES, file_filter=cls.script)
        cls.trace = bpf.trace_system(program, [cls.script])
        cls.events = cls.of_script(cls.trace.events)
        cls.recording = bpf.record_run([cls.script])
        cls.expected = cls.of_script(cls.recording.events)
        cls.plain = subprocess.run([support.PYTHON, cls.script], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=support.env(),
                                   timeout=120)

    @classmethod
    def of_script(cls, events):
        return [event for event in events if event.file == cls.script]

    def test_program_behaves_as_untraced(self):
        self.assertEqual((self.trace.stdout, self.trace.stderr, self.trace.returncode),
                         (self.plain.stdout, self.plain.stderr, self.plain.returncode),
                         self.trace.describe())
        self.assertEqual(self.plain.returncode, self.STATUS, self.plain.stderr)

    def test_recorder_saw_the_same_program_run(self):
        self.assertEqual((self.recording.stdout, self.recording.returncode),
                         (self.plain.stdout, self.plain.returncode), self.recording.stderr)

    def test_event_stream_matches_independent_recorder(self):
        self.assertTrue(self.expected, "the recorder saw nothing")
        diff = oracle.difference(self.expected, self.events)
        self.assertIsNone(diff, "%s\n%s" % (diff, self.trace.describe()))

    def test_every_entry_is_matched_by_one_exit_properly_nested(self):
        self.assertTrue(any(e.probe in oracle.ENTRIES for e in self.events),
                        self.trace.describe())
        errors = oracle.pairing_errors(self.events)
        self.assertEqual(errors, [], self.trace.describe())

    @staticmethod
    def code_ids_by_name(events) -> dict[tuple, set[int]]:
        """(function, file, first line) -> the code ids PY_START reported
        for it: one per code object of that name (two lambdas on one line
        share a name, not a code object)."""
        ids: dict[tuple, set[int]] = {}
        for event in events:
            if event.probe == "PY_START":
                ids.setdefault((event.function, event.file, event.line),
                               set()).add(event.code_id)
        return ids

    def test_code_id_is_nonzero_and_one_per_code_object(self):
        self.assertNotIn(0, {event.code_id for event in self.events}, self.trace.describe())
        seen = self.code_ids_by_name(self.events)
        expected = self.code_ids_by_name(self.expected)
        self.assertTrue(expected, "the recorder saw no PY_START")
        self.assertEqual({key: len(ids) for key, ids in seen.items()},
                         {key: len(ids) for key, ids in expected.items()},
                         self.trace.describe())
        every = [i for ids in seen.values() for i in ids]
        self.assertEqual(len(every), len(set(every)),
                         "one code id for different code objects: %s" % seen)

    def test_known_counts(self):
        seen = Counter((e.probe, e.function) for e in self.events)
        for key, count in self.COUNTS.items():
            self.assertEqual(seen[key], count, "%s %s" % (key, self.trace.describe()))


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class FunctionsCorpus(Corpus, unittest.TestCase):
    NAME = "functions"
    COUNTS = {
        ("PY_START", "square"): 23 + 5 + 5 + 3,     # main, comprehensions
        ("PY_START", "fib"): 109,
        ("PY_RETURN", "fib"): 109,
        ("PY_START", "Shape.area"): 7,
        ("PY_START", "Triangle.area"): 2,
        ("PY_START", "Shape.named"): 5,
        ("PY_START", "Shape.describe"): 7,
        ("PY_START", "Shape.double"): 7,
        ("PY_START", "counter.<locals>.bump"): 8,
        ("PY_START", "main.<locals>.<lambda>"): 5,
        ("PY_START", "traced.<locals>.wrapper"): 12,
        ("PY_START", "cube"): 11,
        ("PY_START", "made"): 3,
        ("PY_START", "<module>"): 1 + 3,                # the program; 3 compiled
        ("PY_START", "comprehensions.<locals>.<genexpr>"): 1,
        ("PY_RETURN", "comprehensions.<locals>.<genexpr>"): 1,
        ("PY_YIELD", "comprehensions.<locals>.<genexpr>"): 5,
        ("PY_RESUME", "comprehensions.<locals>.<genexpr>"): 5,
    }

    def test_two_lambdas_on_one_line_have_different_code_ids(self):
        lambdas = {e.code_id for e in self.events
                   if e.probe == "PY_START" and e.function == "main.<locals>.<lambda>"}
        self.assertEqual(len(lambdas), 2, self.trace.describe())

    def test_code_compiled_again_gets_a_new_code_id_each_time(self):
        made = [e.code_id for e in self.events
                if e.probe == "PY_START" and e.function == "made"]
        self.assertEqual(len(made), 3, self.trace.describe())
        self.assertEqual(len(set(made)), 3, self.trace.describe())

    def test_call_of_decorated_function_names_the_wrapped_function(self):
        callables = Counter(e.value for e in self.events
                            if e.probe == "CALL" and e.function == "main")
        self.assertEqual(callables["cube"], 11, self.trace.describe())
        self.assertEqual(callables["Shape.named"], 5)
        self.assertEqual(callables["Shape.describe"], 7)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class GeneratorsCorpus(Corpus, unittest.TestCase):
    NAME = "generators"
    COUNTS = {
        ("PY_START", "countdown"): 2,
        ("PY_YIELD", "countdown"): 8,
        ("PY_RETURN", "countdown"): 2,
        ("PY_RESUME", "accumulator"): 8,
        ("PY_THROW", "resilient"): 3 + 1,      # 3 throws; GeneratorExit as main ends
        ("PY_THROW", "fragile"): 2,
        ("PY_UNWIND", "fragile"): 2,
        ("PY_THROW", "guarded"): 1,
        ("PY_UNWIND", "guarded"): 1,
        ("PY_THROW", "tolerant_inner"): 1,
        ("PY_START", "inner"): 2,
    }

    def test_throw_reports_the_exception_thrown_in(self):
        thrown = [(e.function, e.value) for e in self.events if e.probe == "PY_THROW"]
        self.assertEqual(thrown[:5], [("resilient", "ValueError: again")] * 3 + [
            ("fragile", "RuntimeError: not handled"), ("fragile", "IndexError: before start")],
            self.trace.describe())
        self.assertIn(("guarded", "GeneratorExit"), thrown)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AsyncCorpus(Corpus, unittest.TestCase):
    NAME = "async"
    COUNTS = {
        ("PY_START", "leaf"): 12,
        ("PY_START", "middle"): 6,
        ("PY_RETURN", "middle"): 6,
        ("PY_YIELD", "ticker"): 7 + 7,         # each await suspends, each yield yields
        ("PY_START", "Session.__aenter__"): 1,
        ("PY_START", "Session.__aexit__"): 1,
        ("PY_UNWIND", "failing"): 1,
        ("PY_THROW", "sleeper"): 1,
    }

    def test_cancellation_is_thrown_into_the_sleeping_coroutine(self):
        (throw,) = [e for e in self.events if e.probe == "PY_THROW"
                    and e.function == "sleeper"]
        self.assertEqual(throw.value, "CancelledError", self.trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ExceptionsCorpus(Corpus, unittest.TestCase):
    NAME = "exceptions"
    COUNTS = {
        ("PY_UNWIND", "level3"): 11 + 3,    # catch() kinds; reraise, Resource, managed
        ("EXCEPTION_HANDLED", "catch"): 11,
    }

    def test_exception_renders_type_and_only_plain_utf8_str_message(self):
        raised = [e.value for e in self.events
                  if e.probe == "RAISE" and e.function == "level3"]
        self.assertEqual(raised[:11], [
            "ValueError: bad value: 7", "KeyError: missing", "FileNotFoundError",
            "Outer.NestedError: nested", "AppError",
            "AppError: " + "x" * (127 - len("AppError: ")) + "...",
            "AppError: first line\nsecond line", "AppError", "Loud: not shown",
            "level3.<locals>.LocalError", "ValueError: bad value: 7"],
            self.trace.describe())

    def test_tracing_never_calls_the_exceptions_str(self):
        self.assertTrue(self.trace.stdout.rstrip().endswith(" 0"), self.trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class EscapeCorpus(Corpus, unittest.TestCase):
    NAME = "escape"
    STATUS = 1
    COUNTS = {
        ("PY_START", "validate"): 6,
        ("PY_RETURN", "validate"): 5,
        ("PY_UNWIND", "validate"): 1,
        ("PY_UNWIND", "parse"): 1,
        ("PY_UNWIND", "main"): 1,
        ("PY_UNWIND", "<module>"): 1,
    }

    def test_escaping_exception_unwinds_every_frame_to_module(self):
        unwound = [(e.function, e.value) for e in self.events if e.probe == "PY_UNWIND"]
        message = "ValueError: bad record: 'broken'"
        self.assertEqual(unwound, [(name, message) for name in
                                   ("validate", "parse", "main", "<module>")],
                         self.trace.describe())
        self.assertTrue(self.trace.stderr.endswith(message + "\n"), self.trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ThreadsCorpus(Corpus, unittest.TestCase):
    NAME = "threads"
    COUNTS = {
        ("PY_START", "work"): 7,
        ("PY_START", "Worker.run"): 3,
        ("PY_START", "doomed"): 1,
        ("PY_UNWIND", "doomed"): 1,
        ("PY_START", "collatz"): 7 * 3 + 1,
    }

    def test_each_thread_reports_its_own_events(self):
        threads = oracle.by_thread(self.events)
        self.assertEqual(len(threads), 1 + 3 + 4 + 1, self.trace.describe())
        self.assertIn(self.trace.pid, threads)   # the main thread
        for tid, stream in threads.items():
            if tid != self.trace.pid:
                self.assertEqual(stream[0].probe, "PY_START", self.trace.describe())
                self.assertIn(stream[0].function, ("work", "Worker.run", "doomed"))


if __name__ == "__main__":
    unittest.main()
