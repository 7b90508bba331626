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

/* Looks up gc.callbacks and builds the callback.  0, or -1 with an
 * exception set. */
int pyusdt_gcwatch_init(void);

/* Installs the callback when WANT holds a GC probe, removes it otherwise.
 * 0, or -1 (reported on stderr; no exception left set). */
int pyusdt_gcwatch_apply(pyusdt_probeset want);

/* Whether the callback is installed. */
int pyusdt_gcwatch_installed(void);

#endif /* PYUSDT_GCWATCH_H */
