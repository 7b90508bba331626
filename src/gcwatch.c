/* gcwatch.c - GC_START/GC_DONE from a gc.callbacks entry, installed on demand. */
#include "gcwatch.h"

#include <stdio.h>

#include "dialect.h"
#include "render.h"

#define GC_PROBES (PYUSDT_BIT(GC_START) | PYUSDT_BIT(GC_DONE))
/* What makes prepare() build: the GC probes, or the python provider's,
 * which their callback feeds (dialect.h) and which pyusdt_sync() passes
 * here as attached, before dialect.c has mapped them to GC_PROBES. */
#define GC_FEEDS (GC_PROBES | PYUSDT_BIT(gc__start) | PYUSDT_BIT(gc__done))

/* Process-wide like gc itself.  Set at init, constant after, except
 * INSTALLED: changed by pyusdt_gcwatch_apply() (serialised by its caller,
 * pyusdt_sync) and read atomically by anyone.  The objects are made by
 * the first pyusdt_gcwatch_prepare() that wants a GC probe, and CALLBACK,
 * published last, says they are there. */
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

/* Builds what prepare() publishes; 0, or -1 with an exception set. */
static int
make_objects(void)
{
    /* N.B. not PyImport_ImportModule: it calls builtins.__import__, which
     * the program may have replaced (its code would run in the poller). */
    PyObject *gc = PyImport_ImportModuleLevel("gc", NULL, NULL, NULL, 0);   /* owned */
    if (gc == NULL) {
        return -1;
    }
    gcw.callbacks = PyObject_GetAttrString(gc, "callbacks");
    Py_DECREF(gc);
    gcw.key_generation = PyUnicode_InternFromString("generation");
    gcw.key_collected = PyUnicode_InternFromString("collected");
    gcw.key_uncollectable = PyUnicode_InternFromString("uncollectable");
    PyObject *callback = PyCFunction_New(&gc_def, NULL);   /* owned */
    if (!gcw.callbacks || !gcw.key_generation || !gcw.key_collected
        || !gcw.key_uncollectable || !callback) {
        Py_XDECREF(callback);
        Py_CLEAR(gcw.callbacks);
        Py_CLEAR(gcw.key_generation);
        Py_CLEAR(gcw.key_collected);
        Py_CLEAR(gcw.key_uncollectable);
        return -1;
    }
    /* Published last: a non-NULL callback means the rest is there. */
    __atomic_store_n(&gcw.callback, callback, __ATOMIC_RELEASE);
    return 0;
}

void
pyusdt_gcwatch_prepare(pyusdt_probeset want)
{
    static int busy;   /* one thread builds; atomic */
    if (!(want & GC_FEEDS)
        || __atomic_load_n(&gcw.callback, __ATOMIC_ACQUIRE) != NULL
        || __atomic_exchange_n(&busy, 1, __ATOMIC_ACQ_REL)) {
        return;
    }
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    if (__atomic_load_n(&gcw.callback, __ATOMIC_ACQUIRE) == NULL
        && make_objects() < 0) {
        PyErr_Clear();   /* apply() says so, and the poller tries again */
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
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
    PyObject *callback = __atomic_load_n(&gcw.callback, __ATOMIC_ACQUIRE);
    if (callback == NULL && !(want & GC_PROBES)) {
        return 0;   /* never installed */
    }
    if (callback == NULL) {
        return -1;   /* not built (yet): the poller tries again */
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
