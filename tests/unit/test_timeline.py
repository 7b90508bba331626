"""pytimeline's recording (pyusdt_tracer/timeline.py) and its files
(pyusdt_tracer/formats.py), fed lines as tools/pytimeline.bt prints them,
and the format checkers (tests/viewer_formats.py) the e2e tests rely on."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import tempfile
import unittest

from pyusdt_tracer import formats, timeline
from tests import support, viewer_formats

CODES = ["C 1 1 <module>\t/app/main.py", "C 2 10 handle\t/app/main.py",
         "C 3 20 numbers\t/app/gen.py", "C 4 30 helper\t/lib/util.py"]


def record(lines: list[str], max_events: int = 0) -> timeline.Recording:
    recording = timeline.Recording(max_events)
    for line in ["T 100 100 python3"] + CODES + lines:
        recording.feed(line)
    return recording


def shape(trace: timeline.Trace) -> list[tuple]:
    return [(span.tid, span.depth, span.kind, span.name, span.start, span.end, span.exit)
            for span in trace.spans]


class RecordingTest(unittest.TestCase):

    def test_entries_and_exits_pair_per_thread_in_time_order_not_arrival(self) -> None:
        # Two CPUs' buffers: the second half of the thread's events first.
        trace = record(["> 150 100 r 3", "< 160 100 y 3", "< 200 100 r 1",
                        "> 100 100 s 1", "> 110 100 s 3", "< 120 100 y 3"]).build()
        self.assertEqual(shape(trace), [
            (100, 0, "python", "<module>", 100, 200, "return"),
            (100, 1, "python", "numbers", 110, 120, "yield"),
            (100, 1, "python", "numbers", 150, 160, "yield")])
        self.assertEqual([span.entry for span in trace.spans], ["start", "start", "resume"])
        self.assertEqual(trace.threads, {100: "python3"})

    def test_kernel_intervals_nest_in_the_span_they_began_in(self) -> None:
        trace = record(["> 100 100 s 1", "> 110 100 s 2", "S 100 120 180 230",
                        "O 100 125 170 1", "< 190 100 r 2", "O 100 195 196 0",
                        "G 100 197 198 2 5 0", "< 200 100 r 1"]).build()
        self.assertEqual(shape(trace), [
            (100, 0, "python", "<module>", 100, 200, "return"),
            (100, 1, "python", "handle", 110, 190, "return"),
            (100, 2, "syscall", "clock_nanosleep", 120, 180, ""),
            (100, 3, "offcpu", "off-CPU: sleeping (S)", 125, 170, ""),
            (100, 1, "offcpu", "off-CPU: preempted (R)", 195, 196, ""),
            (100, 1, "gc", "gc: generation 2", 197, 198, "")])
        parents = [trace.spans[span.parent].name if span.parent >= 0 else None
                   for span in trace.spans]
        self.assertEqual(parents, [None, "<module>", "handle", "clock_nanosleep",
                                   "<module>", "<module>"])

    def test_spans_open_at_the_end_close_there_unfinished(self) -> None:
        trace = record(["> 100 100 s 1", "> 110 100 s 2", "< 150 100 r 2",
                        "< 90 101 r 4"]).build()
        self.assertEqual(shape(trace)[0], (100, 0, "python", "<module>", 100, 150, ""))
        self.assertEqual(trace.unmatched, 1)

    def test_only_events_while_every_probe_was_attached_are_kept(self) -> None:
        # Before BEGIN and after the interrupt, bpftrace attaches and
        # detaches probes one at a time: the exit of 2 (at 60) and the
        # entries after 300 have no pairs.
        recording = record(["> 50 100 s 2", "< 60 100 r 2", "B 80", "> 100 100 s 1",
                            "> 110 100 s 2", "< 120 100 r 2", "> 310 100 s 2",
                            "> 320 100 s 2", "E 400"])
        renderer = timeline.Timeline(argparse.Namespace(), io.StringIO())
        renderer.recording = recording
        renderer.interrupted(300)
        self.assertEqual(shape(recording.build()), [
            (100, 0, "python", "<module>", 100, 300, ""),
            (100, 1, "python", "handle", 110, 120, "return")])

    def test_max_events_cuts_at_the_earliest_event_refused(self) -> None:
        full = []
        recording = timeline.Recording(4, lambda: full.append(True))
        for line in ["T 100 100 python3"] + CODES + [
                "> 100 100 s 1", "> 110 100 s 2", "< 120 100 r 2", "> 150 100 s 2",
                "< 160 100 r 2", "> 130 100 s 4", "< 140 100 r 4", "< 200 100 r 1"]:
            recording.feed(line)
        trace = recording.build()
        self.assertEqual(full, [True])
        self.assertTrue(trace.truncated)
        self.assertEqual(trace.end, 130)
        # Everything before 130 is there, the span open then ends there.
        self.assertEqual(shape(trace), [
            (100, 0, "python", "<module>", 100, 130, ""),
            (100, 1, "python", "handle", 110, 120, "return")])
        data = formats.chrome(trace)
        self.assertEqual(viewer_formats.chrome_errors(data), [])
        self.assertTrue(data["otherData"]["truncated"])
        self.assertIn("truncated", [event["name"].split(":")[0]
                                    for event in data["traceEvents"] if event["ph"] == "i"])
        self.assertIn("[truncated at 4 events]", formats.speedscope(trace)["name"])

    def test_lost_events_are_marked_in_both_formats(self) -> None:
        recording = record(["> 100 100 s 1", "< 200 100 r 1"])
        recording.lost = 17
        trace = recording.build()
        notes = [event["name"] for event in formats.chrome(trace)["traceEvents"]
                 if event["ph"] == "i" and event["s"] == "g"]
        self.assertEqual([note.split(":")[0] for note in notes], ["lost"])
        self.assertIn("17 events", notes[0])
        self.assertEqual(formats.chrome(trace)["otherData"]["lost_events"], 17)
        data = formats.speedscope(trace)
        self.assertIn("[17 events lost]", data["name"])
        self.assertIn("[17 events lost]", data["profiles"][0]["name"])

    def test_filter_keeps_matching_functions_and_what_ran_inside_them(self) -> None:
        recording = record(["> 100 100 s 1", "> 110 100 s 2", "> 115 100 s 4",
                            "S 100 116 118 1", "< 120 100 r 4", "< 130 100 r 2",
                            "S 100 140 150 0", "< 200 100 r 1"])
        trace = recording.build(("main.handle",))
        self.assertEqual(shape(trace), [
            (100, 0, "python", "handle", 110, 130, "return"),
            (100, 1, "syscall", "write", 116, 118, "")])
        self.assertEqual([span.name for span in recording.build(("help",)).spans],
                         ["helper", "write"])

    def test_task_states_read_the_low_bits_of_prev_state(self) -> None:
        self.assertEqual([timeline.task_state(state) for state in (0, 1, 2, 0x80, 0x402)],
                         ["R", "S", "D", "R", "D"])


class FormatTest(unittest.TestCase):
    LINES = ["> 100 100 s 1", "> 110 100 s 3", "< 120 100 y 3", "M 125 100 request\tid=7",
             "> 130 100 r 3", "O 100 131 140 1", "< 150 100 r 3", "T 100 101 worker",
             "> 105 101 s 2", "S 101 106 108 1", "< 109 101 u 2", "< 200 100 r 1"]

    def test_chrome_trace_passes_the_trace_event_format_checker(self) -> None:
        data = formats.chrome(record(self.LINES).build())
        self.assertEqual(viewer_formats.chrome_errors(json.loads(json.dumps(data))), [])
        names = {event["args"]["name"] for event in data["traceEvents"]
                 if event["ph"] == "M" and event["name"] == "thread_name"}
        self.assertEqual(names, {"python3 (main)", "worker"})
        marks = [event for event in data["traceEvents"] if event["ph"] == "i"]
        self.assertEqual([(m["name"], m["ts"], m["args"]) for m in marks],
                         [("MARK request", 0.025, {"detail": "id=7"})])
        exits = [e["args"]["exit"] for e in data["traceEvents"] if e.get("cat") == "python"]
        self.assertEqual(sorted(exits), ["return", "return", "unwind", "yield"])

    def test_speedscope_file_passes_the_schema_checker(self) -> None:
        data = formats.speedscope(record(self.LINES).build())
        self.assertEqual(viewer_formats.speedscope_errors(json.loads(json.dumps(data))), [])
        self.assertEqual([p["name"] for p in data["profiles"]],
                         ["python3 (tid 100, main)", "worker (tid 101)"])
        self.assertEqual(data["profiles"][0]["endValue"], 100)

    def test_checkers_refuse_broken_files(self) -> None:
        overlapping = {"traceEvents": [
            {"name": "a", "ph": "X", "ts": 0, "dur": 10, "pid": 1, "tid": 1},
            {"name": "b", "ph": "X", "ts": 5, "dur": 10, "pid": 1, "tid": 1},
            {"name": "c", "ph": "X", "ts": 5, "pid": 1, "tid": 1},
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {}},
            {"name": "d", "ph": "i", "s": "x", "ts": 1, "pid": 1, "tid": 1}]}
        self.assertEqual(len(viewer_formats.chrome_errors(overlapping)), 4)
        crossed = {"$schema": viewer_formats.SPEEDSCOPE_SCHEMA,
                   "shared": {"frames": [{"name": "a"}, {"name": "b"}]},
                   "profiles": [{"type": "evented", "name": "t", "unit": "nanoseconds",
                                 "startValue": 0, "endValue": 10, "events": [
                                     {"type": "O", "at": 0, "frame": 0},
                                     {"type": "O", "at": 1, "frame": 1},
                                     {"type": "C", "at": 2, "frame": 0},
                                     {"type": "C", "at": 1, "frame": 1}]}]}
        errors = viewer_formats.speedscope_errors(crossed)
        self.assertEqual(len(errors), 3, errors)

    def test_flame_writes_folded_stacks_as_speedscope(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folded = os.path.join(tmp, "app.folded")
            out = os.path.join(tmp, "app.speedscope.json")
            with open(folded, "w") as file:
                file.write("main;work;fib 1234\nmain;idle 66\n")
            run = subprocess.run([support.PYTHON, "-m", "pyusdt.flame", folded, "-o", out],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=support.env(), cwd=support.REPO, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            with open(out) as file:
                data = json.load(file)
        self.assertEqual(viewer_formats.speedscope_errors(data), [])
        profile = data["profiles"][0]
        names = [frame["name"] for frame in data["shared"]["frames"]]
        self.assertEqual([[names[i] for i in stack] for stack in profile["samples"]],
                         [["main", "work", "fib"], ["main", "idle"]])
        self.assertEqual((profile["weights"], profile["unit"]),
                         ([1234, 66], "microseconds"))


if __name__ == "__main__":
    unittest.main()
