/* monitor.c - the sys.monitoring tool: tool id, callbacks, enabled events. */
#include "monitor.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "codeinfo.h"
#include "dialect.h"
#include "imports.h"
#include "render.h"

/* Process-wide because sys.monitoring is: one tool id, one set of events.
 * Written only by pyusdt_monitor_apply(), whose callers serialise it
 * (pyusdt_sync's lock); the fields read elsewhere (enabled, tool_id) are
 * written and read atomically, for free-threaded builds. */
static struct {
    /* sys.monitoring functions (enum pyusdt_monitoring_fn), owned; looked
     * up once at init so that enabling never imports anything, nor calls
     * what the program put in their place since. */
    PyObject *fns[PYUSDT_NMONITORING_FNS];
    PyObject *disable;            /* owned: sys.monitoring.DISABLE */
    PyObject *callbacks[PYUSDT_NPROBES];   /* owned callback objects */
    /* Each monitoring probe's event bit in the running interpreter, 0 when
     * it has no such event; read once at init, constant after. */
    unsigned int events[PYUSDT_NPROBES];
    pyusdt_probeset unavailable;  /* monitoring probes with no event */
    pyusdt_probeset refused;      /* unavailable probes already reported */
    int tool_id;                  /* -1 while none is held */
    pyusdt_probeset registered;   /* probes whose callback is registered */
    pyusdt_probeset enabled;      /* probes whose event is enabled */
    pyusdt_probeset local;        /* events enabled on imports' code only */
    int warned_no_tool;
    int warned_update;            /* a failed update was reported */
} mon = {.tool_id = -1};

/* ---- callbacks ---------------------------------------------------------
 * Called by sys.monitoring with the fast calling convention.  Each checks
 * its probe's semaphore before doing anything else (the event may still be
 * enabled for a moment after a tracer detaches), builds only what its probe
 * needs, and returns None, or DISABLE for pyusdt's own code where the
 * event allows it: never NULL.  The same callbacks feed provider python's
 * function__entry, function__return and line (dialect.h), and the import
 * probes from importlib's own code (imports.h). */

/* Where an event happened. */
struct site {
    PyCodeObject *code;              /* borrowed from the arguments */
    struct pyusdt_codeinfo *info;    /* borrowed from the code object */
    int offset;
};

/* Fills SITE from a callback's (code, offset, ...) arguments, counted by
 * NARGSF as vectorcall passes it.  0, 1 when the code is pyusdt's own, -1
 * when the arguments are not what sys.monitoring passes. */
static inline int
site_from_args(PyObject *const *args, size_t nargsf, Py_ssize_t need,
               struct site *site)
{
    if (PyVectorcall_NARGS(nargsf) < need || !PyCode_Check(args[0])) {
        return -1;
    }
    site->code = (PyCodeObject *)args[0];
    site->info = pyusdt_codeinfo(site->code);
    if (pyusdt_codeinfo_hidden(site->info)) {
        return 1;
    }
    site->offset = pyusdt_int_arg(args[1]);
    return 0;
}

static inline int
site_line(struct site *s)
{
    return pyusdt_codeinfo_line(s->info, s->code, s->offset);
}

/* Fires python:function__entry and python:function__return for SITE,
 * at LINE, when pyusdt feeds them. */
static inline void
dialect_entry(struct site *s, int line)
{
    if (PYUSDT_DIALECT_ACTIVE(function__entry)) {
        DTRACE_PROBE3(python, function__entry, s->info->fixed_file,
                      s->info->fixed_name, line);
    }
}

static inline void
dialect_return(struct site *s)
{
    if (PYUSDT_DIALECT_ACTIVE(function__return)) {
        DTRACE_PROBE3(python, function__return, s->info->fixed_file,
                      s->info->fixed_name, site_line(s));
    }
}

/* What a callback of a local event returns: DISABLE stops sys.monitoring
 * from calling again for pyusdt's own code at that location. */
static inline PyObject *
local_result(int site_rc)
{
    if (site_rc == 1 && mon.disable != NULL) {
        return Py_NewRef(mon.disable);
    }
    Py_RETURN_NONE;
}

static PyObject *
on_PY_START(PyObject *Py_UNUSED(self), PyObject *const *args, size_t nargsf,
            PyObject *Py_UNUSED(kwnames))
{
    struct site s;
    int rc = -1;
    if ((PYUSDT_ACTIVE(PY_START) || PYUSDT_DIALECT_ACTIVE(function__entry))
        && (rc = site_from_args(args, nargsf, 2, &s)) == 0) {
        DTRACE_PROBE5(pyusdt, PY_START, s.info->function, s.info->file,
                      s.info->firstline, s.offset, s.info->code_id);
        dialect_entry(&s, s.info->firstline);
    }
    if (PyVectorcall_NARGS(nargsf) > 0
        && pyusdt_imports_is_watched(args[0])) {
        pyusdt_imports_start();
    }
    return local_result(rc);
}

static PyObject *
on_PY_RESUME(PyObject *Py_UNUSED(self), PyObject *const *args, size_t nargsf,
             PyObject *Py_UNUSED(kwnames))
{
    struct site s;
    int rc = -1;
    if ((PYUSDT_ACTIVE(PY_RESUME) || PYUSDT_DIALECT_ACTIVE(function__entry))
        && (rc = site_from_args(args, nargsf, 2, &s)) == 0) {
        DTRACE_PROBE5(pyusdt, PY_RESUME, s.info->function, s.info->file,
                      site_line(&s), s.offset, s.info->code_id);
        dialect_entry(&s, site_line(&s));
    }
    return local_result(rc);
}

static PyObject *
on_PY_RETURN(PyObject *Py_UNUSED(self), PyObject *const *args, size_t nargsf,
             PyObject *Py_UNUSED(kwnames))
{
    struct site s;
    int rc = -1;
    if (PYUSDT_ACTIVE(PY_RETURN)
        && (rc = site_from_args(args, nargsf, 3, &s)) == 0) {
        char buf[PYUSDT_VALUE_BUFSIZE];
        const char *value = pyusdt_render_value(args[2], buf);
        DTRACE_PROBE6(pyusdt, PY_RETURN, s.info->function, s.info->file,
                      site_line(&s), s.offset, value, s.info->code_id);
    }
    if (PYUSDT_DIALECT_ACTIVE(function__return)
        && (rc = site_from_args(args, nargsf, 3, &s)) == 0) {
        dialect_return(&s);
    }
    if (PyVectorcall_NARGS(nargsf) > 0
        && pyusdt_imports_is_watched(args[0])) {
        pyusdt_imports_done(1);
    }
    return local_result(rc);
}

static PyObject *
on_PY_YIELD(PyObject *Py_UNUSED(self), PyObject *const *args, size_t nargsf,
            PyObject *Py_UNUSED(kwnames))
{
    struct site s;
    int rc = -1;
    if (PYUSDT_ACTIVE(PY_YIELD)
        && (rc = site_from_args(args, nargsf, 3, &s)) == 0) {
        char buf[PYUSDT_VALUE_BUFSIZE];
        const char *value = pyusdt_render_value(args[2], buf);
        DTRACE_PROBE6(pyusdt, PY_YIELD, s.info->function, s.info->file,
                      site_line(&s), s.offset, value, s.info->code_id);
    }
    if (PYUSDT_DIALECT_ACTIVE(function__return)
        && (rc = site_from_args(args, nargsf, 3, &s)) == 0) {
        dialect_return(&s);
    }
    return local_result(rc);
}

static PyObject *
on_CALL(PyObject *Py_UNUSED(self), PyObject *const *args, size_t nargsf,
        PyObject *Py_UNUSED(kwnames))
{
    struct site s;
    int rc = -1;
    if (PYUSDT_ACTIVE(CALL)
        && (rc = site_from_args(args, nargsf, 3, &s)) == 0) {
        char callable[PYUSDT_VALUE_BUFSIZE];
        pyusdt_render_callable(args[2], callable);
        DTRACE_PROBE6(pyusdt, CALL, s.info->function, s.info->file,
                      site_line(&s), s.offset, callable, s.info->code_id);
    }
    return local_result(rc);
}

static PyObject *
on_LINE(PyObject *Py_UNUSED(self), PyObject *const *args, size_t nargsf,
        PyObject *Py_UNUSED(kwnames))
{
    struct site s;
    int rc = -1;
    /* N.B. LINE passes the line number where others pass the offset. */
    if ((PYUSDT_ACTIVE(LINE) || PYUSDT_DIALECT_ACTIVE(line))
        && (rc = site_from_args(args, nargsf, 2, &s)) == 0) {
        DTRACE_PROBE4(pyusdt, LINE, s.info->function, s.info->file, s.offset,
                      s.info->code_id);
        if (PYUSDT_DIALECT_ACTIVE(line)) {
            DTRACE_PROBE3(python, line, s.info->fixed_file,
                          s.info->fixed_name, s.offset);
        }
    }
    return local_result(rc);
}

/* PY_UNWIND, PY_THROW, RAISE and EXCEPTION_HANDLED: (code, offset,
 * exception).  sys.monitoring refuses DISABLE from these.  DIALECT is
 * what else the event feeds, given the site S, when DIALECT_ACTIVE; AFTER
 * runs last. */
#define EXCEPTION_CALLBACK(name, dialect_active, dialect, after)           \
    static PyObject *                                                       \
    on_##name(PyObject *Py_UNUSED(self), PyObject *const *args,             \
              size_t nargsf, PyObject *Py_UNUSED(kwnames))                  \
    {                                                                       \
        struct site s;                                                      \
        if (PYUSDT_ACTIVE(name)                                             \
            && site_from_args(args, nargsf, 3, &s) == 0) {                  \
            char exc[PYUSDT_VALUE_BUFSIZE];                                 \
            pyusdt_render_exception(args[2], exc);                          \
            DTRACE_PROBE6(pyusdt, name, s.info->function, s.info->file,     \
                          site_line(&s), s.offset, exc, s.info->code_id);   \
        }                                                                   \
        if ((dialect_active) && site_from_args(args, nargsf, 3, &s) == 0) { \
            dialect;                                                        \
        }                                                                   \
        after;                                                              \
        Py_RETURN_NONE;                                                     \
    }
EXCEPTION_CALLBACK(PY_UNWIND, PYUSDT_DIALECT_ACTIVE(function__return),
                   dialect_return(&s),
                   if (PyVectorcall_NARGS(nargsf) > 0
                       && pyusdt_imports_is_watched(args[0])) {
                       pyusdt_imports_done(0);
                   })
EXCEPTION_CALLBACK(PY_THROW, PYUSDT_DIALECT_ACTIVE(function__entry),
                   dialect_entry(&s, site_line(&s)), (void)0)
EXCEPTION_CALLBACK(RAISE, 0, (void)0, (void)0)
EXCEPTION_CALLBACK(EXCEPTION_HANDLED, 0, (void)0, (void)0)
#undef EXCEPTION_CALLBACK

/* ---- the callback objects ----------------------------------------------
 * Each callback is a tiny object that sys.monitoring calls through its own
 * vectorcall slot.  N.B. not a builtin function: calling one of those
 * counts a C recursion level (PyCFunction's vectorcall enters the
 * recursion check), so at the limit CPython would raise RecursionError in
 * the call of pyusdt's callback instead of in the program's own code, one
 * level earlier and with another message.  The direct slot skips that
 * check, and the wrapper's cost. */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    const char *probe;    /* static */
} callback_object;

static PyObject *
callback_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<pyusdt callback for %s>",
                                ((callback_object *)self)->probe);
}

static PyTypeObject callback_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyusdt.callback",
    .tp_basicsize = sizeof(callback_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(callback_object, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = callback_repr,
    .tp_doc = "pyusdt's sys.monitoring callback for one probe.",
};

/* One callback per monitoring probe, in PYUSDT_PROBE_LIST order (the
 * monitoring probes come first). */
static const struct {
    const char *probe;
    vectorcallfunc func;
} callback_defs[] = {
#define PYUSDT_X(provider, name, args) {#name, on_##name},
    PYUSDT_MONITORING_PROBES(PYUSDT_X)
#undef PYUSDT_X
};

#define NCALLBACKS ((int)(sizeof(callback_defs) / sizeof(callback_defs[0])))

PyObject *
pyusdt_monitor_callback_new(const char *probe, vectorcallfunc func)
{
    if (PyType_Ready(&callback_type) < 0) {
        return NULL;
    }
    callback_object *cb = PyObject_New(callback_object, &callback_type);
    if (cb == NULL) {
        return NULL;
    }
    cb->vectorcall = func;
    cb->probe = probe;
    return (PyObject *)cb;
}

/* A new callback object for callback_defs[I], or NULL with an exception. */
static PyObject *
new_callback(int i)
{
    return pyusdt_monitor_callback_new(callback_defs[i].probe,
                                       callback_defs[i].func);
}

/* ---- enabling ---------------------------------------------------------- */

/* Fills mon.events from MONITORING.events: each monitoring probe's event
 * bit as the running interpreter numbers it.  A probe whose event this
 * version lacks gets 0 and is marked unavailable.  0, or -1 with an
 * exception set. */
static int
read_events(PyObject *monitoring)
{
    PyObject *events = PyObject_GetAttrString(monitoring, "events"); /* owned */
    if (events == NULL) {
        return -1;
    }
    for (int i = 0; i < NCALLBACKS; i++) {
        PyObject *bit = PyObject_GetAttrString(events,   /* owned */
                                               callback_defs[i].probe);
        if (bit == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                Py_DECREF(events);
                return -1;
            }
            PyErr_Clear();
        }
        unsigned long value = bit && PyLong_CheckExact(bit)
                              ? PyLong_AsUnsignedLong(bit) : 0;
        Py_XDECREF(bit);
        if (value == (unsigned long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            value = 0;
        }
        /* N.B. exactly one bit, or the event is not one pyusdt knows. */
        if (value == 0 || value > 0x80000000ul || (value & (value - 1))) {
            value = 0;
            mon.unavailable |= 1u << i;
        }
        mon.events[i] = (unsigned int)value;
    }
    Py_DECREF(events);
    return 0;
}

unsigned int
pyusdt_monitor_event(int probe)
{
    return probe >= 0 && probe < NCALLBACKS ? mon.events[probe] : 0;
}

pyusdt_probeset
pyusdt_monitor_unavailable(void)
{
    return mon.unavailable;
}

/* The sys.monitoring event mask that serves the probes in SET. */
static unsigned int
events_of(pyusdt_probeset set)
{
    unsigned int events = 0;
    for (int i = 0; i < NCALLBACKS; i++) {
        if (set & (1u << i)) {
            events |= mon.events[i];
        }
    }
    return events;
}

/* Says once per probe on stderr that a tracer attached to a probe the
 * running interpreter cannot feed. */
static void
refuse_unavailable(pyusdt_probeset want)
{
    pyusdt_probeset fresh = want & mon.unavailable & ~mon.refused;
    for (int i = 0; i < NCALLBACKS; i++) {
        if (fresh & (1u << i)) {
            fprintf(stderr, "pyusdt: probe %s stays silent: Python %d.%d "
                    "has no sys.monitoring event %s\n",
                    callback_defs[i].probe, (int)(Py_Version >> 24),
                    (int)((Py_Version >> 16) & 0xff), callback_defs[i].probe);
        }
    }
    mon.refused |= fresh;
}

int
pyusdt_monitor_init(void)
{
    PyObject *monitoring = NULL;   /* owned */
    PyObject *sys = PyImport_ImportModule("sys");   /* owned */
    if (sys == NULL) {
        goto error;
    }
    monitoring = PyObject_GetAttrString(sys, "monitoring");
    if (monitoring == NULL) {
        goto error;
    }
    static const char *const fn_names[PYUSDT_NMONITORING_FNS] = {
        [PYUSDT_USE_TOOL_ID] = "use_tool_id",
        [PYUSDT_FREE_TOOL_ID] = "free_tool_id",
        [PYUSDT_GET_TOOL] = "get_tool",
        [PYUSDT_REGISTER_CALLBACK] = "register_callback",
        [PYUSDT_SET_EVENTS] = "set_events",
        [PYUSDT_SET_LOCAL_EVENTS] = "set_local_events",
    };
    for (int i = 0; i < PYUSDT_NMONITORING_FNS; i++) {
        mon.fns[i] = PyObject_GetAttrString(monitoring, fn_names[i]);
        if (mon.fns[i] == NULL) {
            goto error;
        }
    }
    mon.disable = PyObject_GetAttrString(monitoring, "DISABLE");
    if (mon.disable == NULL || read_events(monitoring) < 0) {
        goto error;
    }
    if (PyType_Ready(&callback_type) < 0) {
        goto error;
    }
    for (int i = 0; i < NCALLBACKS; i++) {
        mon.callbacks[i] = new_callback(i);
        if (mon.callbacks[i] == NULL) {
            goto error;
        }
    }
    Py_DECREF(monitoring);
    Py_DECREF(sys);
    return 0;
error:
    Py_XDECREF(monitoring);
    Py_XDECREF(sys);
    return -1;
}

int
pyusdt_monitoring_call(enum pyusdt_monitoring_fn fn, const char *format, ...)
{
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);   /* owned */
    va_end(va);
    if (args == NULL) {
        return -1;
    }
    PyObject *result = PyObject_CallObject(mon.fns[fn], args);   /* owned */
    Py_DECREF(args);
    if (result == NULL) {
        return -1;
    }
    int is_none = result == Py_None;
    Py_DECREF(result);
    return is_none;
}

PyObject *
pyusdt_monitor_disable(void)
{
    return mon.disable;
}

/* Takes the first free id of PYUSDT_TOOL_IDS.  0, or -1 (none free). */
static int
acquire_tool_id(void)
{
    static const int candidates[] = PYUSDT_TOOL_IDS;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        int is_free = pyusdt_monitoring_call(PYUSDT_GET_TOOL, "(i)", candidates[i]);
        if (is_free < 0) {
            pyusdt_report_failure("sys.monitoring.get_tool");
            continue;
        }
        if (!is_free) {
            continue;
        }
        if (pyusdt_monitoring_call(PYUSDT_USE_TOOL_ID, "(is)", candidates[i],
                                   PYUSDT_TOOL_NAME) < 0) {
            /* Taken between the two calls: try the next one. */
            PyErr_Clear();
            continue;
        }
        __atomic_store_n(&mon.tool_id, candidates[i], __ATOMIC_RELAXED);
        mon.warned_no_tool = 0;
        return 0;
    }
    if (!mon.warned_no_tool) {
        fprintf(stderr, "pyusdt: no free sys.monitoring tool id (3, 4 and 5 "
                        "are in use); probes stay silent until one is "
                        "freed\n");
        mon.warned_no_tool = 1;
    }
    return -1;
}

static int
set_callback(int probe, PyObject *callback)
{
    return pyusdt_monitoring_call(PYUSDT_REGISTER_CALLBACK, "(iIO)", mon.tool_id,
                                  mon.events[probe], callback);
}

/* The import probes' events: PY_START and PY_RETURN local to importlib's
 * _find_and_load, PY_UNWIND (never local) everywhere. */
#define IMPORT_LOCAL_SET (PYUSDT_BIT(PY_START) | PYUSDT_BIT(PY_RETURN))
#define IMPORT_GLOBAL_SET PYUSDT_BIT(PY_UNWIND)

/* Sets the local events on importlib's code to those of LOCAL.  0, or -1
 * with an exception set. */
static int
apply_local(pyusdt_probeset local)
{
    if (local == mon.local) {
        return 0;
    }
    PyObject *code = pyusdt_imports_code();   /* borrowed */
    if (code == NULL) {
        return 0;
    }
    if (local == 0) {
        pyusdt_imports_watch(0);
    }
    if (pyusdt_monitoring_call(PYUSDT_SET_LOCAL_EVENTS, "(iOI)", mon.tool_id, code,
                               events_of(local)) < 0) {
        return -1;
    }
    mon.local = local;
    if (local != 0) {
        pyusdt_imports_watch(1);
    }
    return 0;
}

int
pyusdt_monitor_apply(pyusdt_probeset want)
{
    int imports = (want & PYUSDT_IMPORT_PROBES) && pyusdt_imports_code();
    pyusdt_probeset local = imports ? IMPORT_LOCAL_SET : 0;
    want &= PYUSDT_MONITORING_SET;
    refuse_unavailable(want);
    want |= imports ? IMPORT_GLOBAL_SET : 0;
    want &= ~mon.unavailable;
    if (want == mon.enabled && local == mon.local
        && (want != 0 || local != 0 || mon.tool_id < 0)) {
        return 0;
    }
    if (mon.tool_id < 0 && acquire_tool_id() < 0) {
        return -1;
    }
    for (int i = 0; i < NCALLBACKS; i++) {
        if (((want | local) & ~mon.registered) & (1u << i)) {
            if (set_callback(i, mon.callbacks[i]) < 0) {
                goto error;
            }
            mon.registered |= 1u << i;
        }
    }
    if (pyusdt_monitoring_call(PYUSDT_SET_EVENTS, "(iI)", mon.tool_id,
                               events_of(want)) < 0) {
        goto error;
    }
    __atomic_store_n(&mon.enabled, want, __ATOMIC_RELAXED);
    if (apply_local(local) < 0) {
        goto error;
    }
    for (int i = 0; i < NCALLBACKS; i++) {
        if ((mon.registered & ~(want | local)) & (1u << i)) {
            if (set_callback(i, Py_None) < 0) {
                goto error;
            }
            mon.registered &= ~(1u << i);
        }
    }
    if (want == 0 && local == 0) {
        if (pyusdt_monitoring_call(PYUSDT_FREE_TOOL_ID, "(i)", mon.tool_id) < 0) {
            goto error;
        }
        __atomic_store_n(&mon.tool_id, -1, __ATOMIC_RELAXED);
    }
    mon.warned_update = 0;
    return 0;
error:
    /* N.B. the poller tries again each interval: said once, until an
     * update succeeds (an audit hook of the program's that refuses
     * sys.monitoring would otherwise fill its stderr). */
    if (!mon.warned_update) {
        pyusdt_report_failure("sys.monitoring update");
        mon.warned_update = 1;
    }
    PyErr_Clear();
    return -1;
}

pyusdt_probeset
pyusdt_monitor_enabled(void)
{
    return __atomic_load_n(&mon.enabled, __ATOMIC_RELAXED);
}

int
pyusdt_monitor_tool_id(void)
{
    return __atomic_load_n(&mon.tool_id, __ATOMIC_RELAXED);
}
