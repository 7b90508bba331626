"""Target: reports which sys.monitoring events pyusdt enabled, then calls a
function so that the tracer sees it ran."""
import sys

import pyusdt


def marker():
    return "marker"


status = pyusdt.status()
events = sys.monitoring.get_events(status.tool_id) if status.tool_id is not None else 0
print("attached=%s enabled=%s events=%d tool=%s"
      % (",".join(status.attached), ",".join(status.enabled), events, status.tool_id))
marker()
