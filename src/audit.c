/* audit.c - AUDIT and python:audit from a PEP 578 audit hook, installed at first attach. */
#include "audit.h"

#include <stdio.h>

#include "dialect.h"
#include "render.h"

/* Process-wide like the audit hooks themselves, which are per runtime.
 * Changed once, under pyusdt_sync's lock; read atomically. */
static int installed;

static void
fire(const char *event, PyObject *args)
{
    if (PYUSDT_ACTIVE(AUDIT)) {
        char text[PYUSDT_VALUE_BUFSIZE];
        pyusdt_render_args(args, text);
        DTRACE_PROBE2(pyusdt, AUDIT, event, text);
    }
    if (PYUSDT_DIALECT_ACTIVE(audit)) {
        /* As CPython passes it: the tuple's address. */
        DTRACE_PROBE2(python, audit, event, (void *)args);
    }
}

/* Called by CPython for every audit event, on the thread that raised it.
 * Never fails the event: returns 0 always.  N.B. the unattached path is
 * this one test. */
static int
on_audit(const char *event, PyObject *args, void *Py_UNUSED(data))
{
    if (__builtin_expect((pyusdt_AUDIT_semaphore | python_audit_semaphore)
                         != 0, 0)) {
        PyObject *pending = PyErr_GetRaisedException();   /* owned */
        fire(event, args);
        PyErr_SetRaisedException(pending);   /* steals pending */
    }
    return 0;
}

/* Adds the hook without telling the program's hooks: PySys_AddAuditHook
 * raises "sys.addaudithook" only when the calling thread has a thread
 * state.  N.B. on 3.12 swapping the thread state out keeps the GIL, so no
 * other thread walks the hook list meanwhile; from 3.13 the swap releases
 * it, and the list is appended to under its own mutex, the entry complete
 * before it is linked. */
static int
add_hook_quietly(void)
{
    PyThreadState *mine = PyThreadState_Swap(NULL);
    int rc = PySys_AddAuditHook(on_audit, NULL);
    PyThreadState_Swap(mine);
    return rc;
}

int
pyusdt_audit_apply(pyusdt_probeset want)
{
    if (!(want & PYUSDT_BIT(AUDIT)) || pyusdt_audit_installed()) {
        return 0;
    }
    if (add_hook_quietly() < 0) {
        PyErr_Clear();
        fprintf(stderr, "pyusdt: could not add the audit hook\n");
        return -1;
    }
    __atomic_store_n(&installed, 1, __ATOMIC_RELAXED);
    return 0;
}

int
pyusdt_audit_installed(void)
{
    return __atomic_load_n(&installed, __ATOMIC_RELAXED);
}
