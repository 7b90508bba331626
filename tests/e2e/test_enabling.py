"""Tracer-driven enabling with real bpftrace: exactly the attached probes'
events are on, a tracer attached before start is served at import, and
detaching turns everything off and releases the tool id."""

from __future__ import annotations

import subprocess
import unittest

from tests import support
from tests.e2e import bpf

EVENT = {"PY_START": 1, "PY_RESUME": 2, "PY_RETURN": 4, "PY_YIELD": 8, "CALL": 16,
         "LINE": 32}


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class PerProbeEnabling(unittest.TestCase):
    def check_enabled(self, probes):
        target = support.target("enabling.py")
        # A private copy of pyusdt: tracers attached to the checkout's
        # library (other tests, other people's) cannot change what is attached.
        with bpf.private_pyusdt() as (root, lib):
            program = bpf.probe_program(probes, file_filter=target, lib=lib)
            trace = bpf.trace_system(program, [target], cwd=root, PYTHONPATH=root)
        names = ",".join(probes)
        mask = sum(EVENT[p] for p in probes)
        self.assertIn("attached=%s enabled=%s events=%d tool=3" % (names, names, mask),
                      trace.stdout, trace.describe())
        return trace

    def test_attaching_only_py_start_enables_only_py_start(self):
        trace = self.check_enabled(("PY_START",))
        self.assertIn("marker", [e.function for e in trace.events], trace.describe())

    def test_line_is_enabled_only_while_line_is_attached(self):
        self.check_enabled(("PY_START", "LINE"))
        self.check_enabled(("PY_RETURN",))

    def test_every_probe_maps_to_its_own_event(self):
        self.check_enabled(tuple(EVENT))


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class AttachBeforeStart(unittest.TestCase):
    def test_first_call_after_import_is_traced(self):
        target = support.target("first_call.py")
        program = bpf.probe_program(("PY_START", "PY_RETURN"), file_filter=target)
        trace = bpf.trace_system(program, [target], launcher=False)
        calls = [(e.probe, e.function) for e in trace.events]
        self.assertIn(("PY_START", "first_call_after_import"), calls, trace.describe())
        self.assertIn(("PY_RETURN", "first_call_after_import"), calls, trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class Detach(unittest.TestCase):
    def test_detaching_disables_events_and_releases_tool_id(self):
        target = support.target("detach.py")
        # exit() after the first event: bpftrace detaches while the program runs.
        with bpf.private_pyusdt() as (root, lib):
            program = bpf.probe_program(("PY_START",), predicate='str(arg0) == "tick"',
                                        action="exit();", lib=lib)
            trace = bpf.trace_pid(program, [target], lib=lib, cwd=root, PYTHONPATH=root,
                                  PYUSDT_CHECK_MSEC="10", PYUSDT_VERBOSE="1")
        self.assertIn("tick", [e.function for e in trace.events], trace.describe())
        self.assertEqual(trace.stdout.strip(),
                         "seen_attached=True enabled= tool=None events=[0, 0, 0] "
                         "owners=[None, None, None]", trace.describe())
        lines = trace.stderr.splitlines()
        self.assertEqual(lines, [
            "pyusdt: attached: PY_START; events enabled with sys.monitoring tool id 3",
            "pyusdt: all probes detached; events disabled, tool id released"],
            trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class ReplacedRuntime(unittest.TestCase):
    def test_attach_and_detach_never_call_what_the_program_replaced(self):
        # sys.monitoring and builtins.__import__ replaced after start:
        # enabling CALL_STATS (its own tool id) and the GC probes (gc's
        # callbacks list) then detaching must use what pyusdt found at
        # start, not run the program's stand-ins in the poller.
        target = support.target("replaced_runtime.py")
        with bpf.private_pyusdt() as (root, lib):
            # Detaches once both have fired, whichever fires first.
            program = bpf.probe_program(("GC_START",), lib=lib,
                                        action="@gc = 1; if (@stats) { exit(); }") + (
                'usdt:%s:pyusdt:CALL_STATS /str(arg0) == "work"/ '
                '{ printf("S|%%d|%%s\\n", pid, str(arg0)); @stats = 1; '
                'if (@gc) { exit(); } }\n' % lib)
            trace = bpf.trace_pid(program, [target], lib=lib, cwd=root, PYTHONPATH=root,
                                  wait_for_tracer=False, PYUSDT_CHECK_MSEC="10")
        self.assertEqual((trace.returncode, trace.stderr), (0, ""), trace.describe())
        self.assertEqual(trace.stdout, "seen_attached=True\nseen=[]\n", trace.describe())
        self.assertIn("GC_START", [e.probe for e in trace.events], trace.describe())
        self.assertTrue(any(line.startswith("S|") for line in trace.bpftrace_output),
                        trace.describe())


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class NoFreeToolId(unittest.TestCase):
    def test_no_free_tool_id_is_reported_once_and_program_runs(self):
        code = ("import sys\n"
                "for tool in (3, 4, 5): sys.monitoring.use_tool_id(tool, 'hog')\n"
                "import pyusdt, time\n"
                "time.sleep(0.3)\n"
                "print('done', pyusdt.status().tool_id)\n")
        program = bpf.probe_program(("PY_START",), file_filter="<string>")
        trace = bpf.trace_system(program, ["-c", code], launcher=False,
                                 PYUSDT_CHECK_MSEC="10")
        self.assertEqual(trace.stdout, "done None\n", trace.describe())
        self.assertEqual(trace.returncode, 0)
        self.assertEqual(len(trace.stderr.splitlines()), 1, trace.describe())
        self.assertIn("no free sys.monitoring tool id", trace.stderr)


@unittest.skipIf(bpf.skip_reason(), bpf.skip_reason())
class SameBehaviour(unittest.TestCase):
    def test_traced_program_has_same_output_and_exit_status_as_untraced(self):
        target = support.target("exit_status.py")
        plain = subprocess.run([support.PYTHON, target, "a", "b"], input="hello\n",
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        program = bpf.probe_program(tuple(EVENT), file_filter=target)
        trace = bpf.trace_system(program, [target, "a", "b"], stdin="hello\n")
        self.assertEqual((trace.stdout, trace.stderr, trace.returncode),
                         (plain.stdout, plain.stderr, plain.returncode), trace.describe())
        self.assertIn("shout", [e.function for e in trace.events], trace.describe())


if __name__ == "__main__":
    unittest.main()
