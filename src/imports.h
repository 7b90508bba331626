/*
 * imports.h - IMPORT_START/IMPORT_DONE and python's import__find__load__*
 * markers, fed by sys.monitoring events local to importlib's
 * _find_and_load, the function CPython's import machinery calls (and its
 * own markers surround) for a module not yet in sys.modules.
 *
 * N.B. nothing the program can see changes: no import hook, no entry in
 * sys.meta_path, no wrapper around importlib.  The events are local to one
 * code object (PY_START and PY_RETURN), plus PY_UNWIND (not a local event)
 * for the imports that fail; the module name is read from the frame's
 * `name` variable.  An import through importlib.import_module() reaches
 * _find_and_load too, and is reported as well.
 *
 * All functions need the GIL.
 */
#ifndef PYUSDT_IMPORTS_H
#define PYUSDT_IMPORTS_H

#include <Python.h>

#include "probes.h"

#define PYUSDT_IMPORT_PROBES \
    (PYUSDT_BIT(IMPORT_START) | PYUSDT_BIT(IMPORT_DONE))

/* The code object watched while an import probe is served, else NULL;
 * read atomically by the monitoring callbacks. */
extern PyObject *pyusdt_imports_watched;

/* _find_and_load's code object (borrowed), looked up at the first call;
 * NULL if it cannot be found (then the import probes stay silent). */
PyObject *pyusdt_imports_code(void);

/* Starts (ON) or stops reporting the watched code's events. */
void pyusdt_imports_watch(int on);

/* Whether CODE is the watched code: the callbacks' test. */
static inline int
pyusdt_imports_is_watched(PyObject *code)
{
    return __builtin_expect(
        code == __atomic_load_n(&pyusdt_imports_watched, __ATOMIC_RELAXED), 0);
}

/* Fires the start probes for the import the current frame performs. */
void pyusdt_imports_start(void);

/* Fires the done probes; FOUND is 1 when it returned a module. */
void pyusdt_imports_done(int found);

#endif /* PYUSDT_IMPORTS_H */
