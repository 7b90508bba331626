/* compat.h - PY_VERSION_HEX shims, each saying why it exists. */
#ifndef PYUSDT_COMPAT_H
#define PYUSDT_COMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x030C0000
#  error "pyusdt needs CPython 3.12 or newer (PEP 669 sys.monitoring)"
#endif

/* Whether the interpreter is finalizing.  Py_IsFinalizing() became public
 * in 3.13; 3.12 only has the private _Py_IsFinalizing(), with the same
 * meaning.  N.B. looked up at run time, not linked: a build loaded by the
 * wrong Python then gets as far as PyInit and its clear ImportError
 * (module.c) instead of an "undefined symbol" from the dynamic linker. */
#include <dlfcn.h>

static inline int
pyusdt_is_finalizing(void)
{
    static int (*is_finalizing)(void);   /* benign race: same value */
    if (is_finalizing == NULL) {
        void *found = dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
        if (found == NULL) {
            found = dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
        }
        if (found == NULL) {
            return 0;
        }
        *(void **)&is_finalizing = found;
    }
    return is_finalizing();
}

/* Py_AddPendingCall() from a thread other than the main one wakes the main
 * thread's eval loop from 3.13 on (gh-109846); on 3.12 the call waits for
 * the next GIL switch anyway, so the poller takes the GIL directly. */
#if PY_VERSION_HEX >= 0x030D0000
#  define PYUSDT_PENDING_CALLS_WAKE 1
#else
#  define PYUSDT_PENDING_CALLS_WAKE 0
#endif

/* The GIL switch interval in microseconds (sys.getswitchinterval()), read
 * without running Python code: CPython's own _PyEval_GetSwitchInterval(),
 * looked up at run time like Py_IsFinalizing() above.  GIL held.  0 when
 * the function is missing. */
static inline unsigned long
pyusdt_switch_interval_us(void)
{
    static unsigned long (*get_interval)(void);   /* benign race */
    if (get_interval == NULL) {
        void *found = dlsym(RTLD_DEFAULT, "_PyEval_GetSwitchInterval");
        if (found == NULL) {
            return 0;
        }
        *(void **)&get_interval = found;
    }
    return get_interval();
}

/* Reading a code object's co_extra slot through PyUnstable_Code_GetExtra()
 * costs a thread-state lookup (a TLS access from a shared library) on every
 * event.  CPython 3.12-3.14 lay the slots out as below (pycore_code.h,
 * _PyCodeObjectExtra, unchanged since 3.6); pyusdt only reads them there,
 * and writes through the API.  Other versions use the API. */
#if PY_VERSION_HEX < 0x030F0000
#  define PYUSDT_FAST_CO_EXTRA 1
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} pyusdt_code_extra;

static inline void *
pyusdt_code_extra_get(PyCodeObject *code, Py_ssize_t index)
{
    pyusdt_code_extra *extra = (pyusdt_code_extra *)code->co_extra;
    /* N.B. unsigned: an index of -1 (none reserved) finds nothing. */
    if (extra == NULL || (size_t)index >= (size_t)extra->ce_size) {
        return NULL;
    }
    return extra->ce_extras[index];
}
#endif

#endif /* PYUSDT_COMPAT_H */
