/*
 * gcwatch.h - the GC_START and GC_DONE probes, fed by a gc.callbacks entry
 * that exists only while one of them is attached.
 *
 * All functions need the GIL.
 */
#ifndef PYUSDT_GCWATCH_H
#define PYUSDT_GCWATCH_H

#include <Python.h>

#include "probes.h"

/* When WANT holds a GC probe, looks up gc.callbacks and builds the
 * callback, once per process (nothing is done at import: a process never
 * traced never imports gc).  N.B. called before pyusdt_sync's lock is
 * taken, never under it: importing runs Python code, whose eval breaker
 * may run pyusdt's own pending call, which takes that lock.  Leaves a
 * pending exception as it was. */
void pyusdt_gcwatch_prepare(pyusdt_probeset want);

/* Installs the callback when WANT holds a GC probe (once
 * pyusdt_gcwatch_prepare() built it), removes it otherwise.
 * 0, or -1 (reported on stderr; no exception left set). */
int pyusdt_gcwatch_apply(pyusdt_probeset want);

/* Whether the callback is installed. */
int pyusdt_gcwatch_installed(void);

#endif /* PYUSDT_GCWATCH_H */
