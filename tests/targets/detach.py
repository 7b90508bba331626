"""Target: calls tick() until a tracer has attached and then detached again,
and reports what pyusdt and sys.monitoring say afterwards."""
import sys
import time

import pyusdt


def tick():
    return 1


deadline = time.monotonic() + 60
seen_attached = False
while time.monotonic() < deadline:
    tick()
    status = pyusdt.status()
    if status.enabled:
        seen_attached = True
    elif seen_attached:
        break
    time.sleep(0.005)
events = [sys.monitoring.get_events(tool) for tool in (3, 4, 5)]
print("seen_attached=%s enabled=%s tool=%s events=%s owners=%s"
      % (seen_attached, ",".join(status.enabled), status.tool_id, events,
         [sys.monitoring.get_tool(tool) for tool in (3, 4, 5)]))
