/*
 * callstats.h - the CALL_STATS probe: call statistics counted in the
 * process, with no probe fired per call.
 *
 * While a consumer is attached to CALL_STATS, pyusdt takes a sys.monitoring
 * tool id of its own (the first free of 5, 4, 3) and counts, per code
 * object and thread: calls (PY_START), inclusive time (from each start or
 * resumption to the next return, yield or unwind) and exclusive time
 * (inclusive less that of the functions it called).  A generator or
 * coroutine is timed while it runs, not while it is suspended.  Once per
 * poll interval the poller fires, once per function and thread with
 * activity in the interval, CALL_STATS then CALL_TIMES with that
 * interval's figures:
 *
 *   CALL_STATS  function, file, line, code_id, tid, calls
 *   CALL_TIMES  code_id, tid, inclusive_ns, exclusive_ns, completed
 *
 * completed counts the calls that ended (returned or unwound) in the
 * interval: a call still running has started and added no time, so an
 * average divides by it, not by calls.
 *
 * (two probes: bpftrace reads at most six arguments; tid is the counted
 * thread's kernel id, as the probes fire in the poller thread).  Either
 * probe attached starts the counting.  At exit the figures counted since the last report are
 * reported too.  Times are CLOCK_MONOTONIC nanoseconds, the clock
 * bpftrace's nsecs reads, read through the vDSO (no system call).
 *
 * Nothing is counted, and no event is enabled, while CALL_STATS is not
 * attached; each attachment starts from zero.
 *
 * The hot path allocates nothing and looks nothing up: a code object's
 * index is kept in a co_extra slot of its own, each thread counts into its
 * own array, and the reporting thread reads each figure under a per-entry
 * sequence count, so the counting threads take no lock.
 */
#ifndef PYUSDT_CALLSTATS_H
#define PYUSDT_CALLSTATS_H

#include <Python.h>

#include "probes.h"

/* The probes that turn counting on. */
#define PYUSDT_CALLSTATS_SET (PYUSDT_BIT(CALL_STATS) | PYUSDT_BIT(CALL_TIMES))

/* Starts counting when WANT holds CALL_STATS or CALL_TIMES, stops
 * otherwise.  GIL held,
 * serialised by the caller (pyusdt_sync).  0, or -1 when it could not be
 * done now (reported on stderr; no exception left set). */
int pyusdt_callstats_apply(pyusdt_probeset want);

/* Whether counting is on. */
int pyusdt_callstats_counting(void);

/* Fires CALL_STATS and CALL_TIMES for what was counted since the last report.  Any
 * thread, with or without the GIL (the poller calls it every interval). */
void pyusdt_callstats_report(void);

/* In a child after fork(): the locks are made afresh, and the tables of
 * the threads that were not forked are dropped at the next report. */
void pyusdt_callstats_after_fork(void);

#endif /* PYUSDT_CALLSTATS_H */
