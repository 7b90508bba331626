"""Target: replaces what pyusdt looked up at start (sys.monitoring) and
what an import calls (builtins.__import__) with recording stand-ins, then
works and collects garbage until a tracer has attached to CALL_STATS and
GC_START and detached again; prints what the stand-ins saw.  The program
itself touches neither after replacing them."""
import builtins
import gc
import sys
import threading
import time

import pyusdt

lib = pyusdt._lib
seen = []
real_monitoring = sys.monitoring
real_import = builtins.__import__


class MonitoringStandIn:
    def __getattr__(self, name):
        seen.append("sys.monitoring.%s in %s" % (name, threading.current_thread().name))
        return getattr(real_monitoring, name)


def import_stand_in(name, *args, **kwargs):
    seen.append("__import__(%r) in %s" % (name, threading.current_thread().name))
    return real_import(name, *args, **kwargs)


def work():
    return 1


sys.monitoring = MonitoringStandIn()
builtins.__import__ = import_stand_in
deadline = time.monotonic() + 60
seen_attached = False
while time.monotonic() < deadline:
    work()
    gc.collect(0)
    status = lib.status()
    if "CALL_STATS" in status["enabled"] and status["gc_callback"]:
        seen_attached = True
    elif seen_attached and not status["attached"]:
        break
    time.sleep(0.005)
sys.monitoring = real_monitoring
builtins.__import__ = real_import
print("seen_attached=%s" % seen_attached)
print("seen=%r" % seen)
