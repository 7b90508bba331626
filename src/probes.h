/*
 * probes.h - the one place that defines pyusdt's USDT probes.
 *
 * Every probe lives in provider "pyusdt", or in provider "python" (CPython's
 * own marker names and arguments, see dialect.h), and has its own semaphore, a
 * 16-bit counter that USDT consumers (bpftrace, bcc, perf, SystemTap, or
 * the kernel itself through uprobe ref_ctr_offset) increment while they are
 * attached.  pyusdt reads the semaphores to decide which sys.monitoring
 * events to enable, and a probe site does no work unless its semaphore is
 * non-zero.
 *
 * The probe list is written once, in PYUSDT_PROBE_LIST, and everything else
 * (semaphore definitions, masks, callback registration, the PROBES table
 * exported to Python and checked against README) is derived from it.
 *
 *   X(PROVIDER, NAME, ARGS)
 *     PROVIDER  pyusdt, or python for CPython's dialect
 *     NAME      probe name; for monitoring probes also the event it reports
 *     ARGS      the probe's arguments, as documented in docs/probes.md
 */
#ifndef PYUSDT_PROBES_H
#define PYUSDT_PROBES_H

/* N.B. sdt.h only records a semaphore address in the ELF note when this is
 * defined before it is included. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* N.B. each probe site stays sdt.h's 1-byte nop.  Linux 6.18 turns a
 * uprobe on a 5-byte nop into a call to a per-process trampoline, a fifth
 * cheaper per traced event, but a fork()ed child does not inherit the
 * trampoline and dies of SIGSEGV at its first probe (seen on 6.18.44):
 * never worth it.  tests/e2e/test_reliability_processes.py keeps it so. */

/* Probes fed by the sys.monitoring event of the same name.  N.B. the
 * event's bit is not written here: CPython renumbers events between
 * versions (3.14 moved every bit from STOP_ITERATION up by one), so
 * monitor.c reads each one from sys.monitoring.events.NAME of the running
 * interpreter.  The trailing code_id is the integer pyusdt gives the code
 * object (see codeinfo.h). */
#define PYUSDT_MONITORING_PROBES(X)                                         \
    X(pyusdt, PY_START, "function, file, line, offset, code_id")            \
    X(pyusdt, PY_RESUME, "function, file, line, offset, code_id")           \
    X(pyusdt, PY_RETURN, "function, file, line, offset, retval, code_id")   \
    X(pyusdt, PY_YIELD, "function, file, line, offset, yieldval, code_id")  \
    X(pyusdt, CALL, "function, file, line, offset, callable, code_id")      \
    X(pyusdt, LINE, "function, file, line, code_id")                        \
    X(pyusdt, PY_UNWIND,                                                    \
      "function, file, line, offset, exception, code_id")                   \
    X(pyusdt, PY_THROW, "function, file, line, offset, exception, code_id") \
    X(pyusdt, RAISE, "function, file, line, offset, exception, code_id")    \
    X(pyusdt, EXCEPTION_HANDLED,                                            \
      "function, file, line, offset, exception, code_id")

/* Probes fed by something else: gc.callbacks, pyusdt.mark(), the audit
 * hook (audit.c), importlib's _find_and_load (imports.c), and the poller's
 * interval report of the call statistics (callstats.h: two probes, as
 * bpftrace reads at most six arguments of a probe on x86-64). */
#define PYUSDT_OTHER_PROBES(X)                                              \
    X(pyusdt, GC_START, "generation")                                       \
    X(pyusdt, GC_DONE, "generation, collected, uncollectable")              \
    X(pyusdt, MARK, "name, detail")                                         \
    X(pyusdt, AUDIT, "event, args")                                         \
    X(pyusdt, IMPORT_START, "module")                                       \
    X(pyusdt, IMPORT_DONE, "module, found")                                 \
    X(pyusdt, CALL_STATS, "function, file, line, code_id, tid, calls")      \
    X(pyusdt, CALL_TIMES, "code_id, tid, inclusive_ns, exclusive_ns, completed")

/* CPython's own markers (provider "python"), named and shaped as its
 * "Instrumenting CPython with DTrace and SystemTap" HOWTO documents them,
 * fed from the same sources as the pyusdt probes (dialect.h says which). */
#define PYUSDT_PYTHON_PROBES(X)                                             \
    X(python, function__entry, "filename, funcname, lineno")                \
    X(python, function__return, "filename, funcname, lineno")               \
    X(python, line, "filename, funcname, lineno")                           \
    X(python, gc__start, "generation")                                      \
    X(python, gc__done, "collected")                                        \
    X(python, import__find__load__start, "modulename")                      \
    X(python, import__find__load__done, "modulename, found")                \
    X(python, audit, "event, args")

#define PYUSDT_PROBE_LIST(X) \
    PYUSDT_MONITORING_PROBES(X) PYUSDT_OTHER_PROBES(X) PYUSDT_PYTHON_PROBES(X)

enum pyusdt_probe {
#define PYUSDT_X(provider, name, args) PYUSDT_##name,
    PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X
    PYUSDT_NPROBES
};

/* A set of probes, bit i standing for enum pyusdt_probe i. */
typedef unsigned int pyusdt_probeset;

#define PYUSDT_ALL_PROBES ((pyusdt_probeset)((1u << PYUSDT_NPROBES) - 1))
#define PYUSDT_BIT(name) ((pyusdt_probeset)1u << PYUSDT_##name)

/* The probes served by sys.monitoring events. */
#define PYUSDT_OR_BIT_(provider, name, args) | PYUSDT_BIT(name)
#define PYUSDT_MONITORING_SET \
    ((pyusdt_probeset)0 PYUSDT_MONITORING_PROBES(PYUSDT_OR_BIT_))

/* The probes of provider "python". */
#define PYUSDT_PYTHON_SET \
    ((pyusdt_probeset)0 PYUSDT_PYTHON_PROBES(PYUSDT_OR_BIT_))

/* The semaphores, defined in probes.c.  N.B. the name pattern
 * <PROVIDER>_<NAME>_semaphore is fixed by sdt.h, which refers to it from
 * the probe note. */
#define PYUSDT_X(provider, name, args) \
    extern volatile unsigned short provider##_##name##_semaphore;
PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X

/* True while some consumer is attached to probe NAME of provider pyusdt. */
#define PYUSDT_ACTIVE(name) \
    __builtin_expect(pyusdt_##name##_semaphore != 0, 0)

/* The same for probe NAME of provider python.  N.B. whether pyusdt feeds
 * it at all is dialect.h's business (PYUSDT_DIALECT_ACTIVE). */
#define PYUSDT_PYTHON_ATTACHED(name) \
    __builtin_expect(python_##name##_semaphore != 0, 0)

/* Static facts about one probe, for code that iterates over all of them. */
struct pyusdt_probe_info {
    const char *provider;
    const char *name;
    const char *args;
};

extern const struct pyusdt_probe_info pyusdt_probe_info[PYUSDT_NPROBES];

/* The probes whose semaphores are currently non-zero.  Safe from any
 * thread, with or without the GIL. */
pyusdt_probeset pyusdt_probes_attached(void);

/* Parses a comma-separated list of probe names (or "all", every probe of
 * provider pyusdt) into *SET.
 * 0, or -1 when a name is unknown (*SET then holds the known ones). */
int pyusdt_probes_parse(const char *list, pyusdt_probeset *set);

/* Raises the semaphores of SET by one, as an attaching consumer would:
 * PYUSDT_FORCE, a testing and benchmarking switch. */
void pyusdt_probes_force(pyusdt_probeset set);

/* Lowers the semaphores of SET by one, as a detaching consumer would. */
void pyusdt_probes_unforce(pyusdt_probeset set);

/* Writes the names in SET, comma-separated, into BUF ("none" if empty). */
void pyusdt_probes_format(pyusdt_probeset set, char *buf, size_t size);

#endif /* PYUSDT_PROBES_H */
