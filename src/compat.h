/* compat.h - PY_VERSION_HEX shims, each saying why it exists.
 *
 * Every use of CPython's private API or internal layout is here, marked
 * PRIVATE, and limited to the versions the test suite runs on (3.12, 3.13,
 * 3.14, 3.14t); newer versions take the public API.  The rest of pyusdt
 * uses the public and PyUnstable_ API only, but for two uses runner.c
 * explains where they are: it reads the recursion counters of the public
 * PyThreadState struct (python -m pyusdt starts a program at python's own
 * depth), and calls the Python-level linecache._register_code() as python
 * -c does (3.13: by file name, 3.14 and later: by code object; a failure
 * only costs tracebacks their -c source lines). */
#ifndef PYUSDT_COMPAT_H
#define PYUSDT_COMPAT_H

#include <Python.h>
#include <pthread.h>
#include <string.h>

#if PY_VERSION_HEX < 0x030C0000
#  error "pyusdt needs CPython 3.12 or newer (PEP 669 sys.monitoring)"
#endif

/* Whether the interpreter is finalizing.  Py_IsFinalizing() became public
 * in 3.13; 3.12 only has the PRIVATE _Py_IsFinalizing(), with the same
 * meaning.  N.B. looked up at run time, not linked: a build loaded by the
 * wrong Python then gets as far as PyInit and its clear ImportError
 * (module.c) instead of an "undefined symbol" from the dynamic linker. */
#include <dlfcn.h>

static inline int
pyusdt_is_finalizing(void)
{
    /* Cached atomically: every thread that looks finds the same value. */
    static void *cached;
    void *found = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (found == NULL) {
        found = dlsym(RTLD_DEFAULT, "Py_IsFinalizing");
        if (found == NULL) {
            found = dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
        }
        if (found == NULL) {
            return 0;
        }
        __atomic_store_n(&cached, found, __ATOMIC_RELAXED);
    }
    int (*is_finalizing)(void);
    *(void **)&is_finalizing = found;
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

#if !PYUSDT_PENDING_CALLS_WAKE
/* PRIVATE, 3.12 only.  The GIL switch interval in microseconds
 * (sys.getswitchinterval()), read without running Python code: CPython's
 * own _PyEval_GetSwitchInterval(), looked up at run time like
 * Py_IsFinalizing() above.  GIL held.  0 when the function is missing. */
static inline unsigned long
pyusdt_switch_interval_us(void)
{
    static void *cached;   /* atomically, as above */
    void *found = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (found == NULL) {
        found = dlsym(RTLD_DEFAULT, "_PyEval_GetSwitchInterval");
        if (found == NULL) {
            return 0;
        }
        __atomic_store_n(&cached, found, __ATOMIC_RELAXED);
    }
    unsigned long (*get_interval)(void);
    *(void **)&get_interval = found;
    return get_interval();
}
#endif

/* PRIVATE LAYOUT, tested versions only.  Reading a code object's co_extra
 * slot through PyUnstable_Code_GetExtra() costs a thread-state lookup (a
 * TLS access from a shared library) on every event.  CPython 3.12-3.14
 * (3.14t too) lay the slots out as below (Objects/codeobject.c,
 * _PyCodeObjectExtra, unchanged since 3.6); pyusdt only reads them there,
 * with the acquire loads 3.14t's GetExtra pairs with its release stores
 * (free-threaded SetExtra publishes a new buffer and frees the old one
 * only once every thread has passed a quiescent point), and writes
 * through the API.  Versions the test suite does not run on (3.15 and
 * later) use the API. */
#if PY_VERSION_HEX < 0x030F0000
#  define PYUSDT_FAST_CO_EXTRA 1
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} pyusdt_code_extra;

static inline void *
pyusdt_code_extra_get(PyCodeObject *code, Py_ssize_t index)
{
    pyusdt_code_extra *extra = (pyusdt_code_extra *)
        __atomic_load_n(&code->co_extra, __ATOMIC_ACQUIRE);
    /* N.B. unsigned: an index of -1 (none reserved) finds nothing. */
    if (extra == NULL || (size_t)index >= (size_t)extra->ce_size) {
        return NULL;
    }
    return __atomic_load_n(&extra->ce_extras[index], __ATOMIC_ACQUIRE);
}
#endif

/* A lock for the rare paths that free-threaded builds must serialise
 * (building a code record, applying the attached probes).  PyMutex
 * (public since 3.13) parks with the thread state detached, so a thread
 * waiting for it never holds up a stop-the-world pause, which
 * sys.monitoring.set_events() takes on free-threaded builds; a pthread
 * mutex would deadlock there.  3.12 has neither PyMutex nor a
 * free-threaded build: the GIL serialises, and the lock is nothing. */
#if PY_VERSION_HEX >= 0x030D0000
typedef PyMutex pyusdt_lock;

static inline void
pyusdt_lock_acquire(pyusdt_lock *lock)
{
    PyMutex_Lock(lock);
}

static inline void
pyusdt_lock_release(pyusdt_lock *lock)
{
    PyMutex_Unlock(lock);
}
#else
typedef struct {
    char unused;
} pyusdt_lock;

static inline void
pyusdt_lock_acquire(pyusdt_lock *lock)
{
    (void)lock;
}

static inline void
pyusdt_lock_release(pyusdt_lock *lock)
{
    (void)lock;
}
#endif

/* In a child after fork(): a lock another thread held at fork() stays
 * held for ever there; the thread that held it does not exist. */
static inline void
pyusdt_lock_reset(pyusdt_lock *lock)
{
    memset(lock, 0, sizeof(*lock));
}

/* A lock taken both by threads attached to the interpreter (while they
 * may wait for other things: a code object's critical section, in
 * PyUnstable_Code_SetExtra) and by threads with no thread state (the
 * poller reporting, a thread's exit).  On 3.13 and later a PyMutex, which
 * parks with the thread state detached when there is one: a pthread mutex
 * would let its waiter hold up a stop-the-world pause that its holder, parked
 * detached, waits to end.  3.12 has no such pause, and not every taker
 * holds the GIL: a pthread mutex. */
#if PY_VERSION_HEX >= 0x030D0000
typedef PyMutex pyusdt_mutex;
#define PYUSDT_MUTEX_INIT {0}

static inline void
pyusdt_mutex_lock(pyusdt_mutex *mutex)
{
    PyMutex_Lock(mutex);
}

static inline void
pyusdt_mutex_unlock(pyusdt_mutex *mutex)
{
    PyMutex_Unlock(mutex);
}

static inline void
pyusdt_mutex_reset(pyusdt_mutex *mutex)
{
    memset(mutex, 0, sizeof(*mutex));
}
#else
typedef pthread_mutex_t pyusdt_mutex;
#define PYUSDT_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER

static inline void
pyusdt_mutex_lock(pyusdt_mutex *mutex)
{
    pthread_mutex_lock(mutex);
}

static inline void
pyusdt_mutex_unlock(pyusdt_mutex *mutex)
{
    pthread_mutex_unlock(mutex);
}

static inline void
pyusdt_mutex_reset(pyusdt_mutex *mutex)
{
    pthread_mutex_init(mutex, NULL);
}
#endif

#endif /* PYUSDT_COMPAT_H */
