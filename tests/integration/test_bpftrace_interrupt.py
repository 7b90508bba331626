"""pyusdt_tracer.session.interrupt(), against stand-ins for bpftrace 0.17: one
that misses its first SIGINT (sets its flag, polls on), and one that prints
a slow report after its main loop, when SIGINT would kill it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import unittest

from pyusdt_tracer import session

# Like bpftrace: a SIGINT handler that only counts, an epoll_wait() loop,
# then the default SIGINT action back while it prints its report.
STAND_IN = textwrap.dedent("""\
    import select, signal, sys, time
    got = 0
    def note(signum, frame):
        global got
        got += 1
    signal.signal(signal.SIGINT, note)
    print("ready", flush=True)
    poller = select.epoll()
    while got < int(sys.argv[1]):
        poller.poll(0.1)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    time.sleep(float(sys.argv[2]))
    print("report after %d SIGINT" % got, flush=True)
    """)


def stand_in(needed: int, report_seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN, str(needed), str(report_seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return proc


class Interrupt(unittest.TestCase):
    def stand_in(self, needed: int, report_seconds: float) -> subprocess.Popen:
        proc = stand_in(needed, report_seconds)
        self.addCleanup(proc.stdout.close)
        return proc

    def test_a_missed_sigint_is_sent_again_and_the_report_comes(self):
        proc = self.stand_in(needed=2, report_seconds=0)
        self.assertTrue(session.interrupt(proc, 30))
        self.assertEqual((proc.returncode, proc.stdout.read()), (0, "report after 2 SIGINT\n"))

    def test_no_sigint_reaches_a_report_slower_than_the_retry(self):
        proc = self.stand_in(needed=1, report_seconds=2.5 * session.RETRY_SECONDS)
        self.assertTrue(session.interrupt(proc, 30))
        self.assertEqual((proc.returncode, proc.stdout.read()), (0, "report after 1 SIGINT\n"))

    def test_gives_up_after_its_timeout(self):
        proc = self.stand_in(needed=1000, report_seconds=0)
        try:
            self.assertFalse(session.interrupt(proc, 0.5))
            self.assertIsNone(proc.poll())
        finally:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    unittest.main()
