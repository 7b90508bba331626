"""pytimeline end to end: ``python -m pyusdt.trace pytimeline`` with real
bpftrace on the corpus programs writes files that pass the format checkers
(tests/viewer_formats.py), whose Python spans are, per thread, exactly the
entry/exit pairs the independent recorder (tests/recorder.py) sees in a
separate run, and whose system calls and off-CPU intervals sit inside the
function that caused them.  --max-events and --filter as docs/timeline.md
says."""

from __future__ import annotations

import json
import os
import tempfile
import unittest
from collections import Counter

from tests import support, viewer_formats
from tests.e2e import bpf, oracle, toolrun

FRAME_PROBES = oracle.ENTRIES + oracle.EXITS
ENTRY_NAMES = {"PY_START": "start", "PY_RESUME": "resume", "PY_THROW": "throw"}
EXIT_NAMES = {"PY_RETURN": "return", "PY_YIELD": "yield", "PY_UNWIND": "unwind"}
SKIP = toolrun.skip_reason(tracepoints=True)


def run_timeline(script: str, *options: str) -> tuple[toolrun.Run, dict]:
    """pytimeline on SCRIPT (tests/targets), with OPTIONS; the run and the
    file it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        run = toolrun.run_tool("pytimeline", [support.target(script)],
                               ["-o", path, *options])
        try:
            with open(path) as file:
                return run, json.load(file)
        except (OSError, ValueError) as exc:
            raise AssertionError("no timeline file (%s)\n%s" % (exc, run.describe()))


def recorder_spans(events: list[bpf.Event], file: str) -> list[list[tuple]]:
    """The recorder's entry/exit pairs of FILE's code, per thread, in order
    of entry: (depth among FILE's spans, function, entry, exit)."""
    threads = []
    for stream in oracle.by_thread(events).values():
        spans: list[list] = []
        stack: list[list] = []
        for event in stream:
            if event.probe in ENTRY_NAMES:
                mine = event.file == file
                depth = sum(1 for span in stack if span[4])
                span = [depth, event.function, ENTRY_NAMES[event.probe], "", mine]
                stack.append(span)
                if mine:
                    spans.append(span)
            elif event.probe in EXIT_NAMES and stack:
                stack.pop()[3] = EXIT_NAMES[event.probe]
        if spans:
            threads.append([tuple(span[:4]) for span in spans])
    return sorted(threads)


def chrome_spans(data: dict, file: str) -> list[list[tuple]]:
    """The same from a Chrome trace: its Python complete events of FILE."""
    events = data["traceEvents"]
    nested = viewer_formats.nest_chrome(events)
    threads: dict[int, list[tuple]] = {}
    def mine(index: int) -> bool:
        return events[index]["cat"] == "python" and events[index]["args"]["file"] == file

    for index in sorted(nested, key=lambda i: (events[i]["ts"], -events[i]["dur"], i)):
        if not mine(index):
            continue
        event = events[index]
        depth = sum(1 for ancestor in ancestors(nested, index) if mine(ancestor))
        threads.setdefault(event["tid"], []).append(
            (depth, event["name"], event["args"]["entry"], event["args"]["exit"]))
    return sorted(threads.values())


def speedscope_spans(data: dict, file: str) -> list[list[tuple]]:
    """The same from a speedscope file (which has no entry or exit kinds:
    those are left ""), from each profile's open and close events."""
    frames = data["shared"]["frames"]
    threads = []
    for profile in data["profiles"]:
        spans, stack = [], []
        for event in profile["events"]:
            frame = frames[event["frame"]]
            if event["type"] == "O":
                if frame.get("file") == file:
                    spans.append((sum(1 for f in stack if f.get("file") == file),
                                  frame["name"], "", ""))
                stack.append(frame)
            else:
                stack.pop()
        if spans:
            threads.append(spans)
    return sorted(threads)


def ancestors(nested: dict[int, int | None], index: int) -> list[int]:
    """The complete events containing event INDEX, innermost first."""
    found = []
    parent = nested[index]
    while parent is not None:
        found.append(parent)
        parent = nested[parent]
    return found


@unittest.skipIf(SKIP, SKIP)
class CorpusTimeline:
    """Mixed into one TestCase per corpus program: traced once into a
    timeline (setUpClass), recorded once."""

    NAME = ""
    FORMAT = "chrome"

    @classmethod
    def setUpClass(cls) -> None:
        cls.script = support.target("corpus_%s.py" % cls.NAME)
        cls.traced, cls.data = run_timeline("corpus_%s.py" % cls.NAME, "--format", cls.FORMAT)
        cls.recording = bpf.record_run([cls.script], probes=FRAME_PROBES)

    def spans(self) -> list[list[tuple]]:
        if self.FORMAT == "chrome":
            return chrome_spans(self.data, self.script)
        return speedscope_spans(self.data, self.script)

    def test_file_passes_the_format_checker(self) -> None:
        check = (viewer_formats.chrome_errors if self.FORMAT == "chrome"
                 else viewer_formats.speedscope_errors)
        self.assertEqual(check(self.data)[:10], [], self.traced.describe())

    def test_program_exits_as_recorded(self) -> None:
        self.assertEqual((self.traced.returncode, self.traced.stdout),
                         (self.recording.returncode, self.recording.stdout),
                         self.traced.describe())

    def test_spans_are_the_recorders_entry_exit_pairs_per_thread(self) -> None:
        expected = recorder_spans(self.recording.events, self.script)
        if self.FORMAT != "chrome":
            expected = [[(depth, name, "", "") for depth, name, _, _ in thread]
                        for thread in expected]
        self.assertTrue(expected, "the recorder saw nothing")
        self.assertEqual(self.spans(), expected, self.traced.describe())
        self.assertIn("(0 events lost)", self.traced.stderr)


class ThreadsTimeline(CorpusTimeline, unittest.TestCase):
    NAME = "threads"


class GeneratorsTimeline(CorpusTimeline, unittest.TestCase):
    NAME = "generators"


class AsyncTimeline(CorpusTimeline, unittest.TestCase):
    NAME = "async"


class ExceptionsTimeline(CorpusTimeline, unittest.TestCase):
    NAME = "exceptions"


class EscapeTimeline(CorpusTimeline, unittest.TestCase):
    NAME = "escape"


class GeneratorsSpeedscope(CorpusTimeline, unittest.TestCase):
    NAME = "generators"
    FORMAT = "speedscope"


def python_parent(events: list[dict], nested: dict[int, int | None],
                  index: int) -> str | None:
    """The name of the innermost Python span around event INDEX."""
    return next((events[i]["name"] for i in ancestors(nested, index)
                 if events[i]["cat"] == "python"), None)


@unittest.skipIf(SKIP, SKIP)
class KernelIntervalsTest(unittest.TestCase):
    """timeline_work.py: 3 sleeper() and 3 writer() calls on each of two
    threads."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.traced, cls.data = run_timeline("timeline_work.py")
        cls.events = cls.data["traceEvents"]
        cls.nested = viewer_formats.nest_chrome(cls.events)

    def of(self, category: str) -> list[int]:
        return [i for i in self.nested if self.events[i]["cat"] == category]

    def test_trace_is_valid_and_the_program_unchanged(self) -> None:
        self.assertEqual(viewer_formats.chrome_errors(self.data)[:10], [])
        self.assertEqual((self.traced.returncode, self.traced.stdout), (0, "done\n"),
                         self.traced.describe())

    def test_each_write_sits_in_the_writer_that_made_it(self) -> None:
        writes = Counter(python_parent(self.events, self.nested, i) for i in self.of("syscall")
                         if self.events[i]["name"] == "write")
        self.assertEqual(writes["writer"], 6, "%s\n%s" % (writes, self.traced.describe()))
        writers = Counter(self.events[i]["tid"] for i in self.of("python")
                          if self.events[i]["name"] == "writer")
        self.assertEqual(sorted(writers.values()), [3, 3], self.traced.describe())

    def test_each_sleep_is_off_cpu_sleeping_inside_sleeper(self) -> None:
        sleepers = [i for i in self.of("python") if self.events[i]["name"] == "sleeper"]
        self.assertEqual(len(sleepers), 6, self.traced.describe())
        for index in sleepers:
            inside = [i for i in self.nested if index in ancestors(self.nested, i)]
            kinds = {(self.events[i]["cat"], self.events[i]["args"].get("state"))
                     for i in inside}
            self.assertIn(("sched", "S"), kinds, self.events[index])
            self.assertTrue(any(self.events[i]["cat"] == "syscall" for i in inside))
        for index in self.of("sched") + self.of("syscall"):
            self.assertIsNotNone(python_parent(self.events, self.nested, index), self.events[index])

    def test_durations_are_non_negative_and_children_inside_parents(self) -> None:
        for index, parent_index in self.nested.items():
            event = self.events[index]
            self.assertGreaterEqual(event["dur"], 0, event)
            if parent_index is not None:
                parent = self.events[parent_index]
                self.assertLessEqual(parent["ts"], event["ts"])
                self.assertLessEqual(round((event["ts"] + event["dur"]) * 1000),
                                     round((parent["ts"] + parent["dur"]) * 1000))

    def test_marks_and_thread_names_are_in_the_metadata(self) -> None:
        marks = [(e["name"], e["args"]) for e in self.events if e["ph"] == "i"]
        self.assertEqual(marks, [("MARK phase", {"detail": "begin"})])
        names = [e["args"]["name"] for e in self.events
                 if e["ph"] == "M" and e["name"] == "thread_name"]
        self.assertEqual(len(names), 2, names)
        self.assertEqual(sum("main" in name for name in names), 1, names)


@unittest.skipIf(SKIP, SKIP)
class BoundsTest(unittest.TestCase):

    def test_max_events_truncates_with_a_marker_and_a_line_on_stderr(self) -> None:
        run, data = run_timeline("timeline_work.py", "--max-events", "40")
        self.assertEqual(viewer_formats.chrome_errors(data)[:10], [])
        self.assertEqual((run.returncode, run.stdout), (0, "done\n"), run.describe())
        self.assertEqual(run.stderr.count("--max-events 40 reached"), 1, run.describe())
        self.assertTrue(data["otherData"]["truncated"])
        truncated = [e for e in data["traceEvents"]
                     if e["ph"] == "i" and e["name"].startswith("truncated")]
        self.assertEqual(len(truncated), 1, run.describe())
        recorded = [e for e in data["traceEvents"] if e["ph"] in "Xi" and e is not truncated[0]]
        self.assertLessEqual(len(recorded), 40)
        self.assertTrue(recorded)
        end = truncated[0]["ts"]
        self.assertTrue(all(e["ts"] + e.get("dur", 0) <= end + 0.001 for e in recorded))

    def test_duration_stops_tracing_while_the_command_runs_on(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "trace.json")
            command = toolrun.launcher("pytimeline", ["-o", path, "--duration", "1"]) + [
                "--", support.PYTHON, support.target("tool_forever.py")]
            running = toolrun.Background(command, stdin=True)
            try:
                # The file is written before the summary line.
                running.wait_for(lambda r: "pytimeline:" in "".join(r.err),
                                 "the summary of a trace stopped by --duration", 120)
                with open(path) as file:
                    data = json.load(file)
                ticks = sum(1 for e in data["traceEvents"] if e.get("name") == "tick")
                running.wait_for(lambda r: "".join(r.out).count("tick") > ticks + 2,
                                 "the command ticking on untraced", 60)
                running.proc.stdin.close()
                run = running.finish()
            finally:
                running.kill()
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(viewer_formats.chrome_errors(data)[:10], [])
        self.assertGreater(ticks, 0, run.describe())

    def test_pid_trace_of_a_running_program_drops_exits_it_never_saw_enter(self) -> None:
        target = toolrun.Background([support.PYTHON, "-m", "pyusdt",
                                     support.target("tool_forever.py")], stdin=True)
        try:
            target.wait_for(lambda t: t.out, "the target's first tick")
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "trace.json")
                run = toolrun.Background(toolrun.launcher(
                    "pytimeline", ["-o", path, "--duration", "1", "-p", str(target.proc.pid)]))
                try:
                    run = run.finish(toolrun.TIMEOUT)
                finally:
                    run.kill() if isinstance(run, toolrun.Background) else None
                with open(path) as file:
                    data = json.load(file)
            self.assertIsNone(target.proc.poll(), "the traced process was stopped")
        finally:
            target.proc.stdin.close()
            target.finish()
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(viewer_formats.chrome_errors(data)[:10], [])
        spans = [e for e in data["traceEvents"] if e.get("cat") == "python"]
        self.assertTrue(spans, run.describe())
        # main() was entered before the attach: its ticks are outermost,
        # each entered and left within the trace (or cut by its end).
        self.assertEqual({e["name"] for e in spans} - {"tick"}, set(), run.describe())
        self.assertEqual({e["args"]["exit"] for e in spans[:-1]}, {"return"})

    def test_filter_keeps_matching_functions_and_their_kernel_intervals(self) -> None:
        run, data = run_timeline("timeline_work.py", "--filter", "sleeper",
                                 "--filter", "timeline_work.writer")
        self.assertEqual(viewer_formats.chrome_errors(data)[:10], [])
        events = data["traceEvents"]
        names = Counter(e["name"] for e in events if e.get("cat") == "python")
        self.assertEqual(names, {"sleeper": 6, "writer": 6}, run.describe())
        nested = viewer_formats.nest_chrome(events)
        for index, parent in nested.items():
            if events[index]["cat"] != "python":
                self.assertIsNotNone(parent, events[index])
                self.assertIn(python_parent(events, nested, index), ("sleeper", "writer"))


if __name__ == "__main__":
    unittest.main()
