/*
 * monitor.h - pyusdt's sys.monitoring (PEP 669) tool: its tool id, its
 * callbacks (which fire the USDT probes), and the event set it enables.
 *
 * All functions need the GIL (an attached thread state on free-threaded
 * builds); pyusdt_monitor_apply() must also be serialised by its caller.
 * The state is process-wide: sys.monitoring itself is per interpreter, and
 * pyusdt refuses to load in any interpreter but the main one.
 */
#ifndef PYUSDT_MONITOR_H
#define PYUSDT_MONITOR_H

#include <Python.h>

#include "probes.h"

/* Tool ids pyusdt may take, in order of preference.  Never DEBUGGER_ID (0),
 * COVERAGE_ID (1) or PROFILER_ID (2), which other tools rely on. */
#define PYUSDT_TOOL_IDS {3, 4, 5}
#define PYUSDT_TOOL_NAME "pyusdt"

/* Looks up sys.monitoring and builds the callback objects.  0, or -1 with an
 * exception set. */
int pyusdt_monitor_init(void);

/* Makes the enabled events exactly those serving the monitoring probes of
 * WANT (others are ignored): takes a tool id and
 * registers callbacks as needed; with WANT empty, unregisters everything and
 * releases the tool id.  Returns 0 when done, -1 when it could not be done
 * now (no free tool id, or sys.monitoring failed: already reported on
 * stderr); never leaves an exception set. */
int pyusdt_monitor_apply(pyusdt_probeset want);

/* Probe PROBE's sys.monitoring event bit in the running interpreter (read
 * from sys.monitoring.events at init), or 0: not a monitoring probe, or
 * an event this version lacks. */
unsigned int pyusdt_monitor_event(int probe);

/* The monitoring probes the running interpreter has no event for: never
 * enabled, and refused with a message on stderr when a tracer attaches. */
pyusdt_probeset pyusdt_monitor_unavailable(void);

/* The probes whose events are enabled now. */
pyusdt_probeset pyusdt_monitor_enabled(void);

/* A new sys.monitoring callback object (owned) that calls FUNC through its
 * own vectorcall slot (see monitor.c for why not a builtin function);
 * PROBE, static, names it in its repr.  NULL with an exception set. */
PyObject *pyusdt_monitor_callback_new(const char *probe, vectorcallfunc func);

/* sys.monitoring's functions that pyusdt calls, as they were at init. */
enum pyusdt_monitoring_fn {
    PYUSDT_USE_TOOL_ID,
    PYUSDT_FREE_TOOL_ID,
    PYUSDT_GET_TOOL,
    PYUSDT_REGISTER_CALLBACK,
    PYUSDT_SET_EVENTS,
    PYUSDT_SET_LOCAL_EVENTS,
    PYUSDT_NMONITORING_FNS
};

/* Calls FN with the arguments FORMAT (Py_BuildValue) builds.  N.B. the
 * function found at init, never sys.monitoring as it is now: a replacement
 * the program made since would run its own code in pyusdt's poller.  1
 * when FN returned None, 0 for any other result, -1 with an exception
 * set. */
int pyusdt_monitoring_call(enum pyusdt_monitoring_fn fn, const char *format, ...);

/* sys.monitoring.DISABLE (borrowed), as found at init. */
PyObject *pyusdt_monitor_disable(void);

/* The tool id held, or -1. */
int pyusdt_monitor_tool_id(void);

#endif /* PYUSDT_MONITOR_H */
