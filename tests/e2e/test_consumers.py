"""pyusdt's probes beyond bpftrace, with what Debian packages: perf
(linux-perf) lists them as SDT events and records them, the kernel raising
their semaphores; bcc (bpfcc-tools) lists them with their semaphores and
raises a semaphore in a process by pid.

Each test traces a private copy of the library (bpf.private_pyusdt), so that
no other process on the machine is touched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest

import pyusdt
from pyusdt_tracer import session
from tests import support
from tests.e2e import bpf, toolrun

PROBES = [name for name, _, _ in pyusdt.PROBES]
TARGET = support.target("tool_consumers.py")
PERF = shutil.which("perf")
TPLIST = shutil.which("tplist-bpfcc") or shutil.which("tplist")
TRACE = shutil.which("trace-bpfcc")
STAP = shutil.which("stap")
SYSTEM_PYTHON = "/usr/bin/python3"


def perf_reason() -> str | None:
    if PERF is None:
        return "perf is not installed (apt-get install linux-perf)"
    return toolrun.skip_reason(tracepoints=True)


def bcc_python_reason() -> str | None:
    """Why the system python's bcc module cannot be used, or None."""
    if not os.path.exists(SYSTEM_PYTHON):
        return "no %s for bcc's Python module" % SYSTEM_PYTHON
    run = subprocess.run([SYSTEM_PYTHON, "-c", "import bcc"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        return "bcc's Python module is not installed (apt-get install bpfcc-tools)"
    return None


def start_target(root: str, *args: str) -> subprocess.Popen:
    """The consumers' target under python -m pyusdt, with the private copy
    of pyusdt in ROOT (run from ROOT: -m puts the current directory first
    on sys.path)."""
    return subprocess.Popen([support.PYTHON, "-m", "pyusdt", TARGET, *args], cwd=root,
                            env=support.env(PYTHONPATH=root), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@unittest.skipIf(perf_reason(), perf_reason())
class PerfTest(support.NoToolLeftBehind):
    """perf finds the probes in the library's SDT notes (after `perf
    buildid-cache --add`), and `perf probe` passes each semaphore's offset
    to the kernel (uprobe_events' "(0x...)" reference counter), which raises
    it in every process that maps the library while the event is on."""

    def setUp(self) -> None:
        context = bpf.private_pyusdt()
        self.root, self.library = context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)
        self.buildids = tempfile.mkdtemp(prefix="pyusdt-perf-")
        self.addCleanup(shutil.rmtree, self.buildids, True)
        self.added: list[str] = []
        self.addCleanup(self.delete_events)
        self.perf("buildid-cache", "--add", self.library)

    def perf(self, *args: str) -> subprocess.CompletedProcess:
        run = subprocess.run([PERF, "--buildid-dir", self.buildids, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=120, cwd=self.root, env=support.env(PYTHONPATH=self.root))
        self.assertEqual(run.returncode, 0, "perf %s:\n%s%s" % (" ".join(args), run.stdout,
                                                                run.stderr))
        return run

    def add_events(self, *probes: str) -> list[str]:
        """perf probe -a for PROBES of the private library; the names perf
        gave the new events (sdt_pyusdt:MARK, or MARK_1 if taken)."""
        args = ["probe", "-f", "-x", self.library]
        for probe in probes:
            args += ["-a", "sdt_pyusdt:" + probe]
        run = self.perf(*args)
        names = re.findall(r"^\s+(sdt_pyusdt:\w+)\s+\(on ", run.stdout + run.stderr, re.M)
        self.added += names
        self.assertEqual(len(names), len(probes), run.stdout + run.stderr)
        return names

    def delete_events(self) -> None:
        for name in self.added:
            subprocess.run([PERF, "probe", "-q", "-d", name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

    def test_perf_list_shows_every_probe_as_an_sdt_event(self) -> None:
        run = self.perf("list", "sdt_pyusdt:*")
        listed = set(re.findall(r"sdt_pyusdt:(\w+)", run.stdout))
        self.assertEqual(listed, set(PROBES), run.stdout)

    def test_perf_probe_hands_the_semaphore_to_the_kernel(self) -> None:
        (name,) = self.add_events("PY_START")
        group, event = name.split(":")
        with open(os.path.join(session.TRACEFS, "uprobe_events")) as file:
            lines = [line for line in file if line.startswith("p:%s/%s " % (group, event))]
        self.assertEqual(len(lines), 1, lines)
        # PATH:0xADDRESS(0xSEMAPHORE): a uprobe with a reference counter.
        self.assertRegex(lines[0], r" %s:0x[0-9a-f]+\(0x[0-9a-f]+\) " % re.escape(self.library))

    def test_perf_record_raises_semaphores_and_records_arguments(self) -> None:
        mark, gc_start = self.add_events("MARK", "GC_START")
        data = os.path.join(self.buildids, "perf.data")
        record = self.perf("record", "-q", "-o", data, "-e", mark, "-e", gc_start, "--",
                           support.PYTHON, "-m", "pyusdt", TARGET)
        self.assertIn("done", record.stdout, record.stderr)
        # pyusdt saw the semaphores perf had the kernel raise.
        attached = re.search(r"^attached=(.*)$", record.stdout, re.M).group(1).split(",")
        self.assertEqual(sorted(attached), ["GC_START", "MARK"])
        script = self.perf("script", "-i", data)
        events = re.findall(r" (sdt_pyusdt:\w+): \([0-9a-f]+\)(.*)$", script.stdout, re.M)
        marks = [i for i, (name, _) in enumerate(events) if name == mark]
        self.assertEqual(len(marks), 9, script.stdout[-3000:])
        between = events[marks[0] + 1:marks[-1]]
        generations = [int(re.search(r"arg1=(-?\d+)", args).group(1))
                       for name, args in between if name == gc_start]
        self.assertEqual(generations, [0, 1, 2, 2, 2], script.stdout[-3000:])


@unittest.skipIf(TPLIST is None, "bcc's tplist is not installed (apt-get install bpfcc-tools)")
class TplistTest(support.NoToolLeftBehind):
    """bcc's tplist reads the probes, their arguments and semaphores."""

    def test_lists_every_probe_with_its_semaphore(self) -> None:
        run = subprocess.run([TPLIST, "-l", support.LIB], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout)
        self.assertEqual(set(re.findall(r"pyusdt:(\w+)$", run.stdout, re.M)), set(PROBES))
        for probe, count in (("PY_START", 5), ("PY_RETURN", 6), ("LINE", 4), ("GC_DONE", 3)):
            with self.subTest(probe=probe):
                run = subprocess.run([TPLIST, "-v", "-l", support.LIB, "pyusdt:" + probe],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, timeout=60)
                self.assertRegex(run.stdout, r"pyusdt:%s \[sema 0x[0-9a-f]+\]" % probe)
                self.assertIn("%d argument(s)" % count, run.stdout)


@unittest.skipIf(STAP is None, "SystemTap is not installed (apt-get install systemtap)")
class StapListingTest(support.NoToolLeftBehind):
    """SystemTap reads the probes of both providers from the library's
    notes, with their argument counts (`stap -L`: no kernel module is built,
    so this works where SystemTap cannot trace, docs/consumers.md)."""

    def listing(self, provider: str) -> dict[str, int]:
        """{probe: argument count} of PROVIDER as stap -L lists them."""
        # N.B. without the sanitizer runtimes make asan preloads: stap is
        # not what is under test.
        run = subprocess.run([STAP, "-L", 'process("%s").provider("%s").mark("*")'
                              % (support.LIB, provider)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=support.outside_env(), timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout)
        return {match.group(1): len(re.findall(r"\$arg\d+:", match.group(2)))
                for match in re.finditer(r'\.mark\("(\w+)"\)(.*)$', run.stdout, re.M)}

    def test_lists_every_pyusdt_probe_with_its_arguments(self) -> None:
        self.assertEqual(self.listing("pyusdt"),
                         {name: len(args.split(", ")) for name, _, args in pyusdt.PROBES})

    def test_lists_the_python_providers_markers_as_the_howto_names_them(self) -> None:
        self.assertEqual(self.listing("python"),
                         {name: len(args.split(", ")) for name, args in pyusdt.PYTHON_PROBES})


@unittest.skipIf(bpf.skip_reason() or bcc_python_reason(),
                 bpf.skip_reason() or bcc_python_reason())
class BccTest(support.NoToolLeftBehind):
    """bcc raises a probe's semaphore by writing the process's memory
    (/proc/PID/mem), so it needs the pid; pyusdt then enables the probe."""

    ENABLE = textwrap.dedent("""\
        import sys
        from bcc import USDT
        usdt = USDT(pid=int(sys.argv[1]))
        usdt.enable_probe(probe="MARK", fn_name="on_mark")
        print("enabled", flush=True)
        sys.stdin.readline()
        """)

    def test_bcc_usdt_context_raises_the_semaphore_of_a_pid(self) -> None:
        with bpf.private_pyusdt() as (root, library):
            target = start_target(root, "--wait")
            # N.B. bcc reads the pid's probes once, at start: not before the
            # library is mapped (a slow start, under make asan, would lose).
            bpf.wait_for_library(target, lib=library)
            enabler = subprocess.Popen([SYSTEM_PYTHON, "-c", self.ENABLE, str(target.pid)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
            try:
                line = target.stdout.readline()
                self.assertEqual(line.strip(), "attached=MARK", target.stderr.read()
                                 if not line else line)
            finally:
                enabler.stdin.close()
                enabler.wait(30)
                target.stdin.close()
                target.wait(30)
        self.assertEqual(enabler.returncode, 0, enabler.stderr.read())

    @unittest.skipIf(TRACE is None, "bcc's trace is not installed (apt-get install "
                     "bpfcc-tools)")
    def test_bcc_trace_prints_marks_of_a_pid(self) -> None:
        """bcc raises the semaphore when it reads the pid's probes, seconds
        before its compiled program is attached: the target fires its marks
        only once trace has printed its header (its uprobes are in place)."""
        with bpf.private_pyusdt() as (root, library):
            target = start_target(root, "--wait")
            # N.B. trace reads the pid's probes once, at start: not before the
            # library is mapped ("Failed to enable USDT probe", seen under
            # make asan).
            bpf.wait_for_library(target, lib=library)
            # trace is a Python script: -u so that its lines reach us as printed,
            # without the sanitizer runtimes make asan preloads (bcc is not what
            # is under test).  trace copies a string argument as a fixed -Z bytes
            # (default 80), not up to its NUL: a string less than that from the
            # end of the memory mapped so far reads as "" (seen under make asan,
            # two marks in a row in 1 run of 6).  -Z 8 holds "request" and
            # stays inside each str object.
            trace = toolrun.Background([SYSTEM_PYTHON, "-u", TRACE, "-Z", "8",
                                        "-p", str(target.pid),
                                        'u:%s:MARK "%%s %%s", arg1, arg2' % library],
                                       env=support.outside_env())
            try:
                self.wait_for_header(trace)
                self.assertEqual(target.stdout.readline().strip(), "attached=MARK")
                target.stdin.write("\n")
                target.stdin.flush()
                self.assertEqual(target.stdout.readline().strip(), "done")
                target.stdin.close()
                self.assertEqual(target.wait(60), 0, target.stderr.read())
                trace.wait_for(lambda t: "request id=6" in "".join(t.out) and
                               re.search(r"MARK\s+end", "".join(t.out)),
                               "the last marks", timeout=60)
            finally:
                if target.poll() is None:
                    target.kill()
                target.wait(60)
                trace.kill()
            run = trace.finish()
        marks = re.findall(r"^\d+\s+\d+\s+\S+\s+MARK\s+(\S+) ?(.*)$", run.stdout, re.M)
        self.assertEqual(marks, [("begin", "")] + [("request", "id=%d" % i) for i in range(7)]
                         + [("end", "")], run.stdout[-3000:])

    def wait_for_header(self, trace: toolrun.Background) -> None:
        """Waits for trace's column header (printed once its program is
        attached), or skips, saying why, when bcc has no kernel headers to
        compile with."""
        header = re.compile(r"^PID\s+TID\s+COMM\s+FUNC", re.M)
        try:
            trace.wait_for(lambda t: header.search("".join(t.out)), "trace's header",
                           timeout=120)
        except AssertionError:
            said = "".join(trace.out + trace.err)
            if "kernel headers" in said or "Failed to compile BPF" in said:
                why = [line for line in said.splitlines() if "kernel headers" in line]
                self.skipTest("bcc cannot compile BPF programs here: %s"
                              % (why or said.strip().splitlines())[0][:160])
            raise


if __name__ == "__main__":
    unittest.main()
