/* module.c - the libpyusdt extension module: init, and the Python-facing functions. */
#include <Python.h>

#include <pthread.h>
#include <string.h>

#include "audit.h"
#include "callstats.h"
#include "codeinfo.h"
#include "compat.h"
#include "dialect.h"
#include "gcwatch.h"
#include "monitor.h"
#include "poller.h"
#include "probes.h"
#include "render.h"
#include "runner.h"

/* Process-wide: the poller, the hooks and the sys.monitoring tool exist
 * once per process however many times the module is executed (re-import
 * after deletion from sys.modules, importlib.reload). */
static int process_initialized;

static PyObject *
probeset_names(pyusdt_probeset set)
{
    PyObject *names = PyTuple_New(__builtin_popcount(set));   /* owned */
    if (names == NULL) {
        return NULL;
    }
    Py_ssize_t at = 0;
    for (int i = 0; i < PYUSDT_NPROBES; i++) {
        if (set & (1u << i)) {
            PyObject *name = PyUnicode_FromString(pyusdt_probe_info[i].name);
            if (name == NULL) {
                Py_DECREF(names);
                return NULL;
            }
            PyTuple_SET_ITEM(names, at++, name);   /* steals name */
        }
    }
    return names;
}

PyDoc_STRVAR(status_doc,
"status() -> dict\n\n"
"What pyusdt is doing now: 'attached' (probes a tracer is attached to),\n"
"'enabled' (probes whose sys.monitoring events are on), 'tool_id' (the\n"
"sys.monitoring tool id held, or None), 'check_msec' (poll interval),\n"
"'forced' (probes PYUSDT_FORCE attached), 'gc_callback' (whether the\n"
"GC probes' gc.callbacks entry is installed), 'unavailable' (probes\n"
"whose sys.monitoring event the running Python lacks), 'audit_hook'\n"
"(whether the audit probes' hook is installed: once in, for good) and\n"
"'native' (the python-provider probes the interpreter fires itself and\n"
"pyusdt leaves unfed; None until a python probe is first attached).");

static PyObject *
status(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    PyObject *attached = probeset_names(pyusdt_probes_attached());
    PyObject *enabled = probeset_names(
        pyusdt_monitor_enabled()
        | (pyusdt_callstats_counting()
           ? pyusdt_probes_attached() & PYUSDT_CALLSTATS_SET : 0));
    PyObject *forced = probeset_names(pyusdt_forced());   /* owned */
    PyObject *unavailable = probeset_names(pyusdt_monitor_unavailable());
    PyObject *native = pyusdt_dialect_checked()                  /* owned */
        ? probeset_names(pyusdt_dialect_native()) : Py_NewRef(Py_None);
    int tool_id = pyusdt_monitor_tool_id();
    PyObject *result = NULL;   /* owned */
    if (attached != NULL && enabled != NULL && forced != NULL
        && unavailable != NULL && native != NULL) {
        result = Py_BuildValue("{sOsOsNsisOsOsOsOsO}", "attached", attached,
                               "enabled", enabled, "tool_id",
                               tool_id < 0 ? Py_NewRef(Py_None)
                                           : PyLong_FromLong(tool_id),
                               "check_msec", pyusdt_check_msec(),
                               "forced", forced,
                               "gc_callback",
                               pyusdt_gcwatch_installed() ? Py_True
                                                          : Py_False,
                               "unavailable", unavailable,
                               "audit_hook",
                               pyusdt_audit_installed() ? Py_True : Py_False,
                               "native", native);
    }
    Py_XDECREF(native);
    Py_XDECREF(unavailable);
    Py_XDECREF(attached);
    Py_XDECREF(enabled);
    Py_XDECREF(forced);
    return result;
}

PyDoc_STRVAR(sync_doc,
"_sync() -> tuple\n\n"
"Reads the semaphores and applies them now, without waiting for the\n"
"poller.  Returns the names of the attached probes.");

static PyObject *
sync_now(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return probeset_names(pyusdt_sync());
}

PyDoc_STRVAR(poll_period_doc,
"_poll_period_us() -> int\n\n"
"How often the poller reads the semaphores, in microseconds: the poll\n"
"interval, less the GIL switch interval (at most half) on 3.12, where\n"
"taking the GIL from a busy thread waits that long.");

static PyObject *
release_forced(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    pyusdt_release_forced();
    return probeset_names(pyusdt_sync());
}

static PyObject *
poll_period(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLongLong(pyusdt_poll_period_us());
}

PyDoc_STRVAR(wait_doc,
"_wait_for_tracer(timeout, settle) -> tuple\n\n"
"Waits up to TIMEOUT seconds until some probe is attached and the set of\n"
"attached probes has not changed for SETTLE seconds, then applies it.\n"
"Returns the names of the attached probes (empty on timeout).  Runs no\n"
"Python code while waiting, so the wait itself produces no events.");

static PyObject *
wait_for_tracer(PyObject *Py_UNUSED(module), PyObject *const *args,
                Py_ssize_t nargs)
{
    double timeout, settle;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "_wait_for_tracer() takes 2 "
                     "arguments (%zd given)", nargs);
        return NULL;
    }
    timeout = PyFloat_AsDouble(args[0]);
    if (timeout == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    settle = PyFloat_AsDouble(args[1]);
    if (settle == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    /* N.B. written so that NaN fails too. */
    if (!(timeout >= 0 && timeout <= 1e9) || !(settle >= 0 && settle <= 1e9)) {
        PyErr_SetString(PyExc_ValueError,
                        "timeout and settle must be seconds from 0 to 1e9");
        return NULL;
    }
    long long found = pyusdt_wait_attached((long long)(timeout * 1000),
                                           (long long)(settle * 1000));
    if (found < 0) {
        return NULL;
    }
    return probeset_names((pyusdt_probeset)found);
}

PyDoc_STRVAR(mark_doc,
"mark(name, detail='')\n\n"
"Fires the MARK probe with NAME and DETAIL (both str) when a tracer is\n"
"attached to it; otherwise returns at once.  Use it for the program's own\n"
"markers: request start and end, phase changes.");

static PyObject *
mark(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs,
     PyObject *kwnames)
{
    PyObject *name = NULL, *detail = NULL;   /* borrowed */
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw > 2 || nargs + nkw < 1) {
        PyErr_Format(PyExc_TypeError, "mark() takes 1 or 2 arguments "
                     "(%zd given)", nargs + nkw);
        return NULL;
    }
    name = nargs > 0 ? args[0] : NULL;
    detail = nargs > 1 ? args[1] : NULL;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        PyObject **slot = NULL;
        if (PyUnicode_CompareWithASCIIString(key, "name") == 0) {
            slot = &name;
        }
        else if (PyUnicode_CompareWithASCIIString(key, "detail") == 0) {
            slot = &detail;
        }
        if (slot == NULL || *slot != NULL) {
            PyErr_Format(PyExc_TypeError, "mark() got %s argument '%U'",
                         slot ? "multiple values for" : "an unexpected keyword",
                         key);
            return NULL;
        }
        *slot = args[nargs + i];
    }
    if (name == NULL) {
        PyErr_SetString(PyExc_TypeError, "mark() missing argument 'name'");
        return NULL;
    }
    if (!PyUnicode_Check(name) || (detail != NULL && !PyUnicode_Check(detail))) {
        PyErr_Format(PyExc_TypeError, "mark() takes str arguments, not %s",
                     Py_TYPE(PyUnicode_Check(name) ? detail : name)->tp_name);
        return NULL;
    }
    if (PYUSDT_ACTIVE(MARK)) {
        const char *name_utf8 = pyusdt_utf8(name, PYUSDT_PLACEHOLDER);
        const char *detail_utf8 = detail ? pyusdt_utf8(detail,
                                                       PYUSDT_PLACEHOLDER)
                                         : "";
        DTRACE_PROBE2(pyusdt, MARK, name_utf8, detail_utf8);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(marking_doc,
"marking() -> bool\n\n"
"Whether a tracer is attached to MARK: lets a caller skip building an\n"
"expensive detail string.");

static PyObject *
marking(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(PYUSDT_ACTIVE(MARK));
}

static PyObject *
hide_code(PyObject *Py_UNUSED(module), PyObject *code)
{
    if (!PyCode_Check(code)) {
        PyErr_Format(PyExc_TypeError, "_hide_code() takes a code object, "
                     "not %s", Py_TYPE(code)->tp_name);
        return NULL;
    }
    pyusdt_codeinfo_hide_code((PyCodeObject *)code);
    Py_RETURN_NONE;
}

static PyObject *
call_at_bottom(PyObject *Py_UNUSED(module), PyObject *args)
{
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "_call_at_bottom() needs a function to call");
        return NULL;
    }
    PyObject *rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (rest == NULL) {   /* owned */
        return NULL;
    }
    PyObject *result = pyusdt_call_at_bottom(PyTuple_GET_ITEM(args, 0), rest);
    Py_DECREF(rest);
    return result;
}

static PyObject *
exec_at_bottom(PyObject *Py_UNUSED(module), PyObject *const *args,
               Py_ssize_t nargs)
{
    if (nargs != 2 || !PyCode_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "_exec_at_bottom() takes a code object and a dict");
        return NULL;
    }
    return pyusdt_exec_at_bottom(args[0], args[1]);
}

static PyObject *
run_source_at_bottom(PyObject *Py_UNUSED(module), PyObject *const *args,
                     Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "_run_source_at_bottom() takes a source, a filename and a dict");
        return NULL;
    }
    return pyusdt_run_source_at_bottom(args[0], args[1], args[2]);
}

static PyObject *
shutdown(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    pyusdt_poller_close();
    Py_RETURN_NONE;
}

static PyObject *
before_fork(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    /* N.B. stopping the thread keeps fork() from seeing a multi-threaded
     * process (and warning about it), and keeps its lock out of the child. */
    pyusdt_poller_stop();
    Py_RETURN_NONE;
}

static PyObject *
after_fork(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (pyusdt_poller_start() < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* In the child, inside fork() itself, before any Python code runs there:
 * the locks another thread held at the fork are free again, the counts
 * are the parent's, and the poller's thread is known to be gone.  N.B.
 * os.register_at_fork's child hooks are too late for the locks (the
 * stdlib's own, threading's first, are Python functions whose events
 * would take them), and never run at all after a fork() that bypasses
 * os.fork() (a C extension's, ctypes'): that child's exit would join a
 * thread it does not have. */
static void
reset_after_fork_child(void)
{
    pyusdt_codeinfo_after_fork();
    pyusdt_callstats_after_fork();
    pyusdt_poller_forget();
}

/* The renderers, exposed so that tests can check them value by value. */
static PyObject *
render_value(PyObject *Py_UNUSED(module), PyObject *value)
{
    char buf[PYUSDT_VALUE_BUFSIZE];
    const char *text = pyusdt_render_value(value, buf);
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
}

static PyObject *
render_callable(PyObject *Py_UNUSED(module), PyObject *callable)
{
    char buf[PYUSDT_VALUE_BUFSIZE];
    pyusdt_render_callable(callable, buf);
    return PyUnicode_DecodeUTF8(buf, (Py_ssize_t)strlen(buf), "replace");
}

static PyObject *
render_args(PyObject *Py_UNUSED(module), PyObject *args)
{
    char buf[PYUSDT_VALUE_BUFSIZE];
    pyusdt_render_args(args, buf);
    return PyUnicode_DecodeUTF8(buf, (Py_ssize_t)strlen(buf), "replace");
}

static PyMethodDef module_methods[] = {
    {"status", status, METH_NOARGS, status_doc},
    {"mark", (PyCFunction)(void (*)(void))mark,
     METH_FASTCALL | METH_KEYWORDS, mark_doc},
    {"marking", marking, METH_NOARGS, marking_doc},
    {"_sync", sync_now, METH_NOARGS, sync_doc},
    {"_release_forced", release_forced, METH_NOARGS,
     "_release_forced() -> tuple\n\nLowers the semaphores PYUSDT_FORCE raised, "
     "as a tracer detaching\nwould, and applies it; returns the attached "
     "probes' names."},
    {"_poll_period_us", poll_period, METH_NOARGS, poll_period_doc},
    {"_hide_code", hide_code, METH_O,
     "_hide_code(code)\n\nNever report events of CODE (the frames that "
     "launched python -m pyusdt)."},
    {"_wait_for_tracer", (PyCFunction)(void (*)(void))wait_for_tracer,
     METH_FASTCALL, wait_doc},
    {"_render_value", render_value, METH_O,
     "The text a PY_RETURN/PY_YIELD probe would carry for this value."},
    {"_render_callable", render_callable, METH_O,
     "The text a CALL probe would carry for this callable."},
    {"_render_args", render_args, METH_O,
     "The text an AUDIT probe would carry for these event arguments."},
    {"_call_at_bottom", call_at_bottom, METH_VARARGS,
     "_call_at_bottom(func, *args)\n\nCalls FUNC(*ARGS) with the caller's "
     "frames not counted\nagainst the recursion limit (the runner's frames "
     "below a program)."},
    {"_exec_at_bottom", (PyCFunction)(void (*)(void))exec_at_bottom,
     METH_FASTCALL,
     "_exec_at_bottom(code, globals)\n\nRuns CODE in GLOBALS as python runs "
     "a script, the caller's\nframes not counted against the recursion "
     "limits."},
    {"_run_source_at_bottom", (PyCFunction)(void (*)(void))run_source_at_bottom,
     METH_FASTCALL,
     "_run_source_at_bottom(source, filename, globals)\n\nRuns a program "
     "in GLOBALS as python runs it, the caller's frames\nnot counted against "
     "the recursion limits: SOURCE bytes as the\ncontents of the file "
     "FILENAME, a str as -c's command."},
    {"_shutdown", shutdown, METH_NOARGS,
     "Stops the poller thread (run at exit)."},
    {"_before_fork", before_fork, METH_NOARGS, NULL},
    {"_after_fork_parent", after_fork, METH_NOARGS, NULL},
    {"_after_fork_child", after_fork, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* Whether this library was built for a free-threaded interpreter. */
#ifdef Py_GIL_DISABLED
#  define BUILT_FREE_THREADED 1
#else
#  define BUILT_FREE_THREADED 0
#endif

/* An extension built for one CPython minor version or ABI must not run in
 * another: the C API layout it was compiled against differs (a
 * free-threaded object header is another shape altogether).  N.B. called
 * from PyInit, before anything reads an object's fields: only functions
 * and the Py_Version constant, which every ABI exports alike. */
static int
check_build(void)
{
    int major = (int)(Py_Version >> 24), minor = (int)((Py_Version >> 16) & 0xff);
    if ((Py_Version >> 16) != (PY_VERSION_HEX >> 16)) {
        PyErr_Format(PyExc_ImportError,
                     "libpyusdt was built for Python %d.%d but is loaded by "
                     "Python %d.%d; rebuild it with "
                     "'make PYTHON=/path/to/python3.%d'",
                     PY_MAJOR_VERSION, PY_MINOR_VERSION, major, minor, minor);
        return -1;
    }
    /* N.B. PyUnicode_AsUTF8 checks the type itself; PyUnicode_Check would
     * read the header. */
    PyObject *abiflags = PySys_GetObject("abiflags");   /* borrowed */
    const char *flags = abiflags ? PyUnicode_AsUTF8(abiflags) : NULL;
    if (flags == NULL) {
        PyErr_Clear();
        return 0;   /* no abiflags (not POSIX): nothing to compare */
    }
    int running_free_threaded = strchr(flags, 't') != NULL;
    if (running_free_threaded != BUILT_FREE_THREADED) {
        PyErr_Format(PyExc_ImportError,
                     "libpyusdt was built for %s Python %d.%d but is loaded "
                     "by %s Python %d.%d; rebuild it with "
                     "'make PYTHON=/path/to/python3.%d%s'",
                     BUILT_FREE_THREADED ? "free-threaded" : "GIL-enabled",
                     PY_MAJOR_VERSION, PY_MINOR_VERSION,
                     running_free_threaded ? "free-threaded" : "GIL-enabled",
                     major, minor, minor, running_free_threaded ? "t" : "");
        return -1;
    }
    return 0;
}

/* Calls MODULE_NAME.FUNC_NAME(*ARGS, **KWARGS).  0, or -1 with an
 * exception set. */
static int
call_stdlib(const char *module_name, const char *func_name, PyObject *args,
            PyObject *kwargs)
{
    PyObject *module = PyImport_ImportModule(module_name);   /* owned */
    if (module == NULL) {
        return -1;
    }
    PyObject *func = PyObject_GetAttrString(module, func_name);   /* owned */
    Py_DECREF(module);
    if (func == NULL) {
        return -1;
    }
    PyObject *result = PyObject_Call(func, args, kwargs);   /* owned */
    Py_DECREF(func);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* Stops the poller at exit (before finalization, while the GIL can still be
 * taken) and around fork(). */
static int
register_hooks(PyObject *module)
{
    int rc = -1;
    PyObject *args = NULL, *kwargs = NULL;   /* owned */
    PyObject *shutdown_fn = PyObject_GetAttrString(module, "_shutdown");
    PyObject *before = PyObject_GetAttrString(module, "_before_fork");
    PyObject *parent = PyObject_GetAttrString(module, "_after_fork_parent");
    PyObject *child = PyObject_GetAttrString(module, "_after_fork_child");
    if (!shutdown_fn || !before || !parent || !child) {
        goto done;
    }
    args = PyTuple_Pack(1, shutdown_fn);
    if (args == NULL || call_stdlib("atexit", "register", args, NULL) < 0) {
        goto done;
    }
    Py_SETREF(args, PyTuple_New(0));
    kwargs = Py_BuildValue("{sOsOsO}", "before", before, "after_in_parent",
                           parent, "after_in_child", child);
    if (args == NULL || kwargs == NULL
        || call_stdlib("os", "register_at_fork", args, kwargs) < 0) {
        goto done;
    }
    /* N.B. once per process: a handler cannot be removed, and the library
     * is never unloaded. */
    static int at_fork_added;
    if (!at_fork_added) {
        int err = pthread_atfork(NULL, NULL, reset_after_fork_child);
        if (err != 0) {
            PyErr_Format(PyExc_OSError, "pyusdt: pthread_atfork: %s", strerror(err));
            goto done;
        }
        at_fork_added = 1;
    }
    rc = 0;
done:
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(shutdown_fn);
    Py_XDECREF(before);
    Py_XDECREF(parent);
    Py_XDECREF(child);
    return rc;
}

/* pyusdt's own Python code (the python -m pyusdt runner) is not the
 * program: its events are not reported.  The package is being imported
 * when this runs, so sys.modules already holds it, with its __file__. */
static void
hide_own_code(void)
{
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    PyObject *name = PyUnicode_FromString("pyusdt");  /* owned */
    PyObject *package = name ? PyImport_GetModule(name) : NULL;   /* owned */
    PyObject *file = package                                      /* owned */
        ? PyObject_GetAttrString(package, "__file__") : NULL;
    const char *path = file && PyUnicode_Check(file)
                       ? PyUnicode_AsUTF8(file) : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (slash != NULL) {
        size_t len = (size_t)(slash - path) + 1;
        char *prefix = PyMem_RawMalloc(len + 1);
        if (prefix != NULL) {
            memcpy(prefix, path, len);
            prefix[len] = '\0';
            pyusdt_codeinfo_hide(prefix);
            PyMem_RawFree(prefix);
        }
    }
    PyErr_Clear();
    Py_XDECREF(file);
    Py_XDECREF(package);
    Py_XDECREF(name);
    PyErr_SetRaisedException(pending);   /* steals pending */
}

static int
init_process(PyObject *module)
{
    pyusdt_config_load();
    hide_own_code();
    if (pyusdt_codeinfo_init() < 0 || pyusdt_monitor_init() < 0
        || register_hooks(module) < 0
        || pyusdt_poller_start() < 0) {
        return -1;
    }
    /* A tracer that attached before the program started is served now,
     * so the very next function call is traced. */
    pyusdt_sync();
    process_initialized = 1;
    return 0;
}

/* The probes of PROVIDER: (name, event bit, args) rows for pyusdt's,
 * (name, args) for python's. */
static PyObject *
probe_table(const char *provider)
{
    int pyusdt = strcmp(provider, "pyusdt") == 0;
    PyObject *table = PyList_New(0);   /* owned */
    if (table == NULL) {
        return NULL;
    }
    for (int i = 0; i < PYUSDT_NPROBES; i++) {
        if (strcmp(pyusdt_probe_info[i].provider, provider) != 0) {
            continue;
        }
        PyObject *row = pyusdt   /* owned */
            ? Py_BuildValue("(sIs)", pyusdt_probe_info[i].name,
                            pyusdt_monitor_event(i), pyusdt_probe_info[i].args)
            : Py_BuildValue("(ss)", pyusdt_probe_info[i].name,
                            pyusdt_probe_info[i].args);
        if (row == NULL || PyList_Append(table, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(table);
            return NULL;
        }
        Py_DECREF(row);
    }
    Py_SETREF(table, PyList_AsTuple(table));
    return table;
}

static int
add_table(PyObject *module, const char *name, const char *provider)
{
    PyObject *table = probe_table(provider);   /* owned */
    int rc = table ? PyModule_AddObjectRef(module, name, table) : -1;
    Py_XDECREF(table);
    return rc;
}

static int
module_exec(PyObject *module)
{
    /* N.B. Py_mod_multiple_interpreters only keeps pyusdt out of isolated
     * subinterpreters; a legacy one (Py_NewInterpreter) would get a module
     * whose probes could never fire there. */
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError,
                        "pyusdt works in the main interpreter only: "
                        "sys.monitoring and the probe semaphores serve one "
                        "interpreter per process");
        return -1;
    }
    if (!process_initialized && init_process(module) < 0) {
        return -1;
    }
    if (add_table(module, "PROBES", "pyusdt") < 0) {
        return -1;
    }
    return add_table(module, "PYTHON_PROBES", "python");
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    /* sys.monitoring state and the semaphores are per process; one
     * interpreter owns them. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#ifdef Py_mod_gil
    /* Safe without the GIL (free-threaded builds, 3.13+): the code records
     * are created under a lock and published atomically (codeinfo.c), the
     * enabled set is changed under pyusdt_sync's lock (poller.c), and
     * nothing else is shared but constants set at init. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "libpyusdt",
    .m_doc = "USDT probes (provider 'pyusdt') fired from sys.monitoring.",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit_libpyusdt(void)
{
    if (check_build() < 0) {
        return NULL;
    }
    return PyModuleDef_Init(&module_def);
}
