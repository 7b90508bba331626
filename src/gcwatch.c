/* gcwatch.c - GC_START/GC_DONE from a gc.callbacks entry, installed on demand. */
#include "gcwatch.h"

#include <stdio.h>

#include "dialect.h"
#include "render.h"

#define GC_PROBES (PYUSDT_BIT(GC_START) | PYUSDT_BIT(GC_DONE))

/* Process-wide like gc itself.  Set at init, constant after, except
 * INSTALLED: changed by pyusdt_gcwatch_apply() (serialised by its caller,
 * pyusdt_sync) and read atomically by anyone. */
static struct {
    PyObject *callbacks;    /* owned: the gc.callbacks list */
    PyObject *callback;     /* owned: our builtin function */
    PyObject *key_generation, *key_collected, *key_uncollectable; /* owned */
    int installed;
} gcw;

/* INFO[KEY] as a C long, -1 when missing or not an int.  Runs no Python
 * code: INFO is the exact dict gc builds, KEY an interned exact str. */
static long
info_long(PyObject *info, PyObject *key)
{
    PyObject *value = PyDict_CheckExact(info)
                      ? PyDict_GetItemWithError(info, key) : NULL; /* borrowed */
    if (value == NULL || !PyLong_CheckExact(value)) {
        PyErr_Clear();
        return -1;
    }
    long result = PyLong_AsLong(value);
    if (result == -1 && PyErr_Occurred()) {
        PyErr_Clear();
    }
    return result;
}

/* gc calls this with (phase, info) around each collection. */
static PyObject *
on_gc(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        Py_RETURN_NONE;
    }
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    int start = PyUnicode_CompareWithASCIIString(args[0], "start") == 0;
    if (start && (PYUSDT_ACTIVE(GC_START)
                  || PYUSDT_DIALECT_ACTIVE(gc__start))) {
        long generation = info_long(args[1], gcw.key_generation);
        DTRACE_PROBE1(pyusdt, GC_START, generation);
        if (PYUSDT_DIALECT_ACTIVE(gc__start)) {
            DTRACE_PROBE1(python, gc__start, (int)generation);
        }
    }
    else if (!start && (PYUSDT_ACTIVE(GC_DONE)
                        || PYUSDT_DIALECT_ACTIVE(gc__done))) {
        long generation = info_long(args[1], gcw.key_generation);
        long collected = info_long(args[1], gcw.key_collected);
        long uncollectable = info_long(args[1], gcw.key_uncollectable);
        DTRACE_PROBE3(pyusdt, GC_DONE, generation, collected, uncollectable);
        if (PYUSDT_DIALECT_ACTIVE(gc__done)) {
            /* N.B. CPython's marker counts both, as gc returns them. */
            long found = collected < 0 || uncollectable < 0
                         ? -1 : collected + uncollectable;
            DTRACE_PROBE1(python, gc__done, found);
        }
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    Py_RETURN_NONE;
}

static PyMethodDef gc_def = {
    "pyusdt_gc", (PyCFunction)(void (*)(void))on_gc, METH_FASTCALL,
    "pyusdt's gc.callbacks entry for the GC_START and GC_DONE probes.",
};

int
pyusdt_gcwatch_init(void)
{
    if (gcw.callback != NULL) {
        return 0;
    }
    PyObject *gc = PyImport_ImportModule("gc");   /* owned */
    if (gc == NULL) {
        return -1;
    }
    gcw.callbacks = PyObject_GetAttrString(gc, "callbacks");
    Py_DECREF(gc);
    if (gcw.callbacks == NULL) {
        return -1;
    }
    gcw.key_generation = PyUnicode_InternFromString("generation");
    gcw.key_collected = PyUnicode_InternFromString("collected");
    gcw.key_uncollectable = PyUnicode_InternFromString("uncollectable");
    gcw.callback = PyCFunction_New(&gc_def, NULL);
    if (!gcw.key_generation || !gcw.key_collected || !gcw.key_uncollectable
        || !gcw.callback) {
        return -1;
    }
    return 0;
}

/* The index of our callback in gc.callbacks, or -1. */
static Py_ssize_t
find_callback(void)
{
    if (!PyList_Check(gcw.callbacks)) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(gcw.callbacks); i++) {
        if (PyList_GET_ITEM(gcw.callbacks, i) == gcw.callback) {
            return i;
        }
    }
    return -1;
}

int
pyusdt_gcwatch_apply(pyusdt_probeset want)
{
    if (gcw.callback == NULL) {
        return -1;
    }
    int rc = 0;
    Py_ssize_t at = find_callback();
    if ((want & GC_PROBES) && at < 0) {
        rc = PyList_Check(gcw.callbacks)
             ? PyList_Append(gcw.callbacks, gcw.callback) : -1;
    }
    else if (!(want & GC_PROBES) && at >= 0) {
        rc = PySequence_DelItem(gcw.callbacks, at);
    }
    if (rc < 0) {
        PyErr_Clear();
        fprintf(stderr, "pyusdt: could not update gc.callbacks\n");
        return -1;
    }
    __atomic_store_n(&gcw.installed, (want & GC_PROBES) != 0,
                     __ATOMIC_RELAXED);
    return 0;
}

int
pyusdt_gcwatch_installed(void)
{
    return __atomic_load_n(&gcw.installed, __ATOMIC_RELAXED);
}
