"""200 attach/detach cycles of different probe sets (bpftrace -p) while
reliability_storm.py works: after each attach pyusdt enables exactly the
attached probes and each delivers events, after each detach everything is
off and the tool id released; the workload's results stay right, and its
memory stays flat."""

from __future__ import annotations

import unittest

from tests import support
from tests.e2e import reliability_harness as harness
from tests.stress.support import Private, size

STORM = support.target("reliability_storm.py")
CYCLES = 200
WARMUP = 10
#: Growth allowed from the end of the warm-up to the end: well below one
#: Python object per cycle, well above the workload's own noise (a few).
MAX_BLOCKS_GROWTH = 100
MAX_RSS_GROWTH_KB = 4096


class AttachDetachStorm(Private):
    def test_200_attach_detach_cycles_follow_the_attached_set_with_flat_memory(self):
        storm = harness.Storm(self.root, self.lib, STORM, size(CYCLES), warmup=WARMUP)
        try:
            result = storm.run()
        except AssertionError as exc:
            raise AssertionError("%s\n%s" % (exc, "\n".join(storm.log[-20:]))) from None
        print("  %s; memory after warm-up and at the end: %s; bpftrace's exit took "
              "%.1f s at most" % (result, storm.memory, max(storm.stops)), flush=True)
        self.assertEqual(result["wrong"], 0, result)
        self.assertGreater(result["steps"], 0)
        warm, end = storm.memory
        self.assertLess(end["blocks"] - warm["blocks"], MAX_BLOCKS_GROWTH, storm.memory)
        self.assertLess(end["rss_kb"] - warm["rss_kb"], MAX_RSS_GROWTH_KB, storm.memory)


if __name__ == "__main__":
    unittest.main()
