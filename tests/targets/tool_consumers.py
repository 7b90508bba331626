"""Target for other consumers (perf, bcc): once a tracer has attached to any
probe, prints which are attached, then fires MARK 9 times ("begin", 7
requests, "end") and, between the first and last, collects generations 0,
1, 2, 2 and 2, with automatic collection off.  With --wait, waits for a
line on stdin before and after."""
import gc
import sys
import time

import pyusdt

gc.disable()


def main():
    deadline = time.monotonic() + 60
    while not pyusdt.status().attached and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)   # a tracer attaches its probes one after another
    print("attached=" + ",".join(pyusdt.status().attached), flush=True)
    if "--wait" in sys.argv:
        sys.stdin.readline()
    pyusdt.mark("begin")
    for request in range(7):
        pyusdt.mark("request", "id=%d" % request)
    for generation in (0, 1, 2, 2, 2):
        gc.collect(generation)
    pyusdt.mark("end")
    print("done", flush=True)


main()
