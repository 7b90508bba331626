"""The e2e harness itself: the bpftrace programs read each probe's arguments
where pyusdt declares them, the output parser keeps only the traced
process's events, the stream comparison and the pairing check catch what
they are meant to catch, and the recorder renders exceptions by the rules
without running the program's code.  (A harness that cannot fail proves
nothing.)"""

from __future__ import annotations

import unittest

import pyusdt
from tests import recorder
from tests.e2e import bpf, oracle
from tests.e2e.bpf import Event

F = "/t.py"


def ev(probe, function, code_id, tid=1, line=1, offset=0, value=None):
    return Event(probe, tid, function, F, line, offset, value, code_id)


class ProgramLayout(unittest.TestCase):
    def test_every_probe_argument_is_read_where_pyusdt_declares_it(self):
        declared = {name: args.split(", ") for name, _, args in pyusdt.PROBES}
        self.assertEqual(set(bpf.LAYOUT) | set(bpf.AGGREGATED), set(declared))
        for name, args in bpf.AGGREGATED.items():
            self.assertEqual(tuple(declared[name]), args, name)
        for name, layout in bpf.LAYOUT.items():
            args = declared[name]
            where = {arg: "arg%d" % i for i, arg in enumerate(args)}
            if layout.code:
                self.assertEqual(args[:2], ["function", "file"], name)
                self.assertEqual(layout.ints[0], where["line"], name)
                self.assertEqual(layout.code_id, where["code_id"], name)
                self.assertEqual(layout.code_id, "arg%d" % (len(args) - 1), name)
                if "offset" in where:
                    self.assertEqual(layout.ints[1], where["offset"], name)
                values = [a for a in args if a in ("retval", "yieldval", "callable",
                                                   "exception")]
                self.assertEqual(layout.value, where[values[0]] if values else None, name)
            elif name in ("MARK", "AUDIT"):
                self.assertEqual(len(args), 2, name)
                self.assertEqual((layout.ints, layout.value), ((), "arg1"), name)
            elif name.startswith("IMPORT_"):
                self.assertEqual(layout.value, where["module"], name)
                self.assertEqual(layout.ints, tuple(where[a] for a in args[1:]), name)
            else:
                self.assertEqual(layout.ints, tuple("arg%d" % i for i in range(len(args))),
                                 name)

    def test_no_printf_carries_more_than_two_strings(self):
        program = bpf.probe_program(bpf.ALL_PROBES, file_filter=F)
        for statement in program.split("printf(")[1:]:
            self.assertLessEqual(statement.split(");")[0].count("str("), 2, statement)


class ParseEvents(unittest.TestCase):
    OUTPUT = [
        "Attaching 13 probes...",
        "E|10|11|500|PY_RETURN|f|/t.py|3|8|77",
        "E|99|99|400|PY_START|f|/t.py|1|0|5",        # another process
        "E|10|10|300|GC_DONE|2|7|0",
        "E|10|12|600|MARK|request",
        "V|10|12|600|id=3",
        "E|10|11|200|LINE|f|/t.py|2|77",
        "V|10|11|500|first",
        "second",
        "",
        "",
    ]

    def test_events_of_the_traced_pid_only_in_time_order(self):
        self.assertEqual(bpf.parse_events(self.OUTPUT, pid=10), [
            Event("LINE", 11, "f", F, 2, None, None, 77),
            Event("GC_DONE", 10, None, None, None, None, None, None, (2, 7, 0)),
            Event("PY_RETURN", 11, "f", F, 3, 8, "first\nsecond", 77),
            Event("MARK", 12, "request", None, None, None, "id=3")])
        self.assertEqual(len(bpf.parse_events(self.OUTPUT)), 5)

    def test_lost_events_are_noticed(self):
        self.assertEqual(bpf.lost_events(["E|1", "Lost 12 events"], ""), ["Lost 12 events"])


class Comparison(unittest.TestCase):
    STREAM = [ev("PY_START", "main", 100), ev("PY_START", "f", 200, tid=2),
              ev("PY_START", "g", 300), ev("PY_RETURN", "f", 200, tid=2),
              ev("PY_RETURN", "g", 300), ev("PY_RETURN", "main", 100)]

    def test_tids_thread_order_and_id_values_do_not_matter(self):
        other = [e._replace(tid={1: 7, 2: 5}[e.tid], code_id=e.code_id + 1)
                 for e in self.STREAM[1:2] + self.STREAM[3:4] + self.STREAM[:1]
                 + self.STREAM[2:3] + self.STREAM[4:]]
        self.assertIsNone(oracle.difference(self.STREAM, other))

    def test_one_id_for_two_code_objects_is_a_difference(self):
        merged = [e._replace(code_id=100) if e.function == "g" else e for e in self.STREAM]
        self.assertIsNotNone(oracle.difference(self.STREAM, merged))

    def test_two_ids_for_one_code_object_is_a_difference(self):
        split = list(self.STREAM)
        split[-1] = split[-1]._replace(code_id=101)
        self.assertIsNotNone(oracle.difference(self.STREAM, split))

    def test_a_changed_or_missing_event_is_a_difference(self):
        self.assertIn("+PY_RETURN | main | /t.py | 9",
                      oracle.difference(self.STREAM, self.STREAM[:-1]
                                        + [self.STREAM[-1]._replace(line=9)]))
        self.assertIsNotNone(oracle.difference(self.STREAM, self.STREAM[:-1]))


class Pairing(unittest.TestCase):
    def test_nested_frames_and_generator_suspensions_pair(self):
        events = [ev("PY_START", "main", 1), ev("PY_START", "gen", 2),
                  ev("PY_YIELD", "gen", 2), ev("CALL", "main", 1),
                  ev("PY_RESUME", "gen", 2), ev("PY_YIELD", "gen", 2),
                  ev("PY_THROW", "gen", 2), ev("PY_UNWIND", "gen", 2),
                  ev("PY_RETURN", "main", 1)]
        self.assertEqual(oracle.pairing_errors(events), [])

    def test_unclosed_entry_stray_exit_and_crossed_frames_are_reported(self):
        self.assertEqual(len(oracle.pairing_errors([ev("PY_START", "f", 1)])), 1)
        self.assertEqual(len(oracle.pairing_errors([ev("PY_RETURN", "f", 1)])), 1)
        crossed = [ev("PY_START", "f", 1), ev("PY_START", "g", 2),
                   ev("PY_RETURN", "f", 1), ev("PY_RETURN", "g", 2)]
        self.assertEqual(len(oracle.pairing_errors(crossed)), 2)
        other_thread = [ev("PY_START", "f", 1), ev("PY_RETURN", "f", 1, tid=2)]
        self.assertEqual(len(oracle.pairing_errors(other_thread)), 2)


class RecorderRendering(unittest.TestCase):
    def test_exception_is_type_name_and_message_only_for_one_exact_str(self):
        class Text(str):
            pass

        class Local(Exception):
            pass
        cases = [
            (ValueError("bad"), "ValueError: bad"),
            (KeyError("k"), "KeyError: k"),
            (OSError(2, "gone"), "FileNotFoundError"),
            (ValueError(Text("sub")), "ValueError"),
            (ValueError(7), "ValueError"),
            (ValueError(), "ValueError"),
            (Local("x"), Local.__qualname__ + ": x"),
            (ValueError("\u00e9" * 100), "ValueError: " + "\u00e9" * 57 + "..."),
            (ValueError("lone \udcff"), "ValueError"),
        ]
        for exc, expected in cases:
            self.assertEqual(recorder.render_exception(exc), expected)

    def test_exception_rendering_runs_no_code_of_the_program(self):
        class Sneaky(Exception):
            def __str__(self):
                raise AssertionError("__str__ called")

            @property
            def args(self):
                raise AssertionError("args property called")
        self.assertEqual(recorder.render_exception(Sneaky("m")), "Sneaky: m".replace(
            "Sneaky", Sneaky.__qualname__))

    def test_placeholder_uses_the_c_level_type_name(self):
        import functools
        self.assertEqual(recorder.render_value(functools.partial(len)),
                         "<functools.partial object>")
        self.assertEqual(recorder.render_value(self), "<RecorderRendering object>")


if __name__ == "__main__":
    unittest.main()
