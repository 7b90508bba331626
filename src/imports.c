/* imports.c - the import probes, fed by events local to importlib's _find_and_load. */
#include "imports.h"

#include <stdio.h>

#include "dialect.h"
#include "render.h"

PyObject *pyusdt_imports_watched;

/* Process-wide like importlib.  Set once under pyusdt_sync's lock. */
static struct {
    PyObject *code;   /* owned: _find_and_load.__code__ */
    PyObject *key;    /* owned: interned "name", its argument */
    int looked;
} imp;

/* _frozen_importlib._find_and_load.__code__ (new reference), or NULL
 * without an exception set.  N.B. nothing is imported: the module is
 * the one CPython's import machinery uses, always in sys.modules. */
static PyObject *
find_code(void)
{
    PyObject *code = NULL;
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    PyObject *name = PyUnicode_FromString("_frozen_importlib");   /* owned */
    PyObject *module = name ? PyImport_GetModule(name) : NULL;    /* owned */
    PyObject *func = module                                       /* owned */
        ? PyObject_GetAttrString(module, "_find_and_load") : NULL;
    if (func != NULL && PyFunction_Check(func)) {
        code = Py_NewRef(PyFunction_GetCode(func));   /* borrowed, so ref */
    }
    PyErr_Clear();
    Py_XDECREF(func);
    Py_XDECREF(module);
    Py_XDECREF(name);
    PyErr_SetRaisedException(pending);   /* steals pending */
    return code;
}

PyObject *
pyusdt_imports_code(void)
{
    if (!imp.looked) {
        imp.looked = 1;
        imp.key = PyUnicode_InternFromString("name");
        imp.code = imp.key ? find_code() : NULL;
        PyErr_Clear();
        if (imp.code == NULL) {
            fprintf(stderr, "pyusdt: importlib's _find_and_load not found: "
                    "the import probes stay silent\n");
        }
    }
    return imp.code;
}

void
pyusdt_imports_watch(int on)
{
    __atomic_store_n(&pyusdt_imports_watched, on ? imp.code : NULL,
                     __ATOMIC_RELAXED);
}

/* The module name the current _find_and_load frame is importing (new
 * reference), or NULL.  Runs no Python code: the frame's own variable. */
static PyObject *
current_name(void)
{
    PyFrameObject *frame = PyEval_GetFrame();   /* borrowed */
    if (frame == NULL) {
        return NULL;
    }
    PyObject *name = PyFrame_GetVar(frame, imp.key);   /* owned */
    if (name == NULL) {
        PyErr_Clear();
    }
    return name;
}

/* Fires the start (DONE 0) or done probes of the import the current frame
 * performs. */
static void
fire(int done, int found)
{
    int pyusdt = done ? PYUSDT_ACTIVE(IMPORT_DONE)
                      : PYUSDT_ACTIVE(IMPORT_START);
    int python = done ? PYUSDT_DIALECT_ACTIVE(import__find__load__done)
                      : PYUSDT_DIALECT_ACTIVE(import__find__load__start);
    if (!pyusdt && !python) {
        return;
    }
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    PyObject *name = current_name();                 /* owned */
    const char *module = name ? pyusdt_utf8(name, PYUSDT_PLACEHOLDER)
                              : PYUSDT_PLACEHOLDER;
    if (done && pyusdt) {
        DTRACE_PROBE2(pyusdt, IMPORT_DONE, module, found);
    }
    if (done && python) {
        DTRACE_PROBE2(python, import__find__load__done, module, found);
    }
    if (!done && pyusdt) {
        DTRACE_PROBE1(pyusdt, IMPORT_START, module);
    }
    if (!done && python) {
        DTRACE_PROBE1(python, import__find__load__start, module);
    }
    Py_XDECREF(name);
    PyErr_SetRaisedException(pending);   /* steals pending */
}

void
pyusdt_imports_start(void)
{
    fire(0, 0);
}

void
pyusdt_imports_done(int found)
{
    fire(1, found);
}
