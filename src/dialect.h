/*
 * dialect.h - provider "python": CPython's own USDT markers, spoken by
 * pyusdt so that tools written for them (bcc's pythoncalls, pythonflow,
 * pythonstat and ugc; SystemTap's python scripts; the CPython HOWTO's
 * examples) work on any CPython >= 3.12.
 *
 * Each python probe is fed by the source of one or more pyusdt probes:
 *
 *   function__entry   PY_START, PY_RESUME, PY_THROW (every entry into a
 *                     frame, a generator's resumption included, as CPython
 *                     <= 3.10 fired it: entries and returns stay paired)
 *   function__return  PY_RETURN, PY_YIELD, PY_UNWIND
 *   line              LINE
 *   gc__start         GC_START
 *   gc__done          GC_DONE (collected + uncollectable, as CPython does)
 *   import__find__load__start, import__find__load__done
 *                     IMPORT_START, IMPORT_DONE
 *   audit             AUDIT (arg1 is the args tuple's address, as CPython
 *                     passes it)
 *
 * An interpreter built --with-dtrace fires some of these markers itself.
 * The first time a python probe is attached, the interpreter's ELF file is
 * searched for its own "python" markers; those pyusdt leaves unfed, so
 * that a tracer attached to every "python" marker of the process (bcc by
 * pid) sees each event once.
 */
#ifndef PYUSDT_DIALECT_H
#define PYUSDT_DIALECT_H

#include "probes.h"

/* The python probes the running interpreter has markers of its own for,
 * once looked for (0 before); written once, read atomically. */
extern pyusdt_probeset pyusdt_dialect_native_set;

/* True while python probe NAME is attached and pyusdt feeds it. */
#define PYUSDT_DIALECT_ACTIVE(name)                                         \
    (PYUSDT_PYTHON_ATTACHED(name)                                           \
     && !(__atomic_load_n(&pyusdt_dialect_native_set, __ATOMIC_RELAXED)     \
          & PYUSDT_BIT(name)))

/* The pyusdt probes whose sources must run to serve ATTACHED: its pyusdt
 * probes, and the sources of its python probes that pyusdt feeds.  The
 * first call with a python probe looks for the interpreter's own markers
 * (reads its ELF file once).  GIL held. */
pyusdt_probeset pyusdt_dialect_sources(pyusdt_probeset attached);

/* The python probes the interpreter fires itself, or 0 when not looked
 * for yet. */
pyusdt_probeset pyusdt_dialect_native(void);

/* Whether the interpreter's markers have been looked for. */
int pyusdt_dialect_checked(void);

#endif /* PYUSDT_DIALECT_H */
