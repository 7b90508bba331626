/* poller.c - the semaphore-watching thread and the enable/disable decision. */
#include <Python.h>

#include "poller.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "callstats.h"
#include "compat.h"
#include "dialect.h"
#include "gcwatch.h"
#include "monitor.h"

/* Process-wide: there is one set of semaphores and one poller per process. */
static struct {
    int check_msec;
    int verbose;
    pyusdt_probeset forced;   /* PYUSDT_FORCE: semaphores raised by us */
    int pending;              /* a pending_sync() is queued; atomic */
    /* The attached set last applied by pyusdt_sync(), or ~0 to ask the
     * thread to try again (a failed apply).  Written under the GIL, read by
     * the thread without it, hence atomic. */
    unsigned int applied;
    /* Serialises pyusdt_sync(): the poller, a pending call and _sync()
     * may apply at once on free-threaded builds. */
    pyusdt_lock sync_lock;
    pthread_t thread;
    /* Changed by compare-and-swap: on free-threaded builds two threads may
     * start or stop the poller at once (forks, exit). */
    int state;
    int closed;             /* at exit: never started again; atomic */
    pid_t tid;              /* the thread's kernel id, set by itself */
    /* 3.12: the GIL switch interval (us) the poller reads early by; read
     * under the GIL, by the thread without it, hence atomic. */
    unsigned long early_us;
    pthread_mutex_t lock;   /* guards stop, with wake */
    pthread_cond_t wake;
    int stop;
} poller = {
    .check_msec = PYUSDT_CHECK_MSEC_DEFAULT,
    .applied = 0,
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

#define APPLY_AGAIN (~0u)

enum { STOPPED, STARTING, RUNNING, STOPPING };

/* The poller thread's name (comm: at most 15 bytes). */
#define POLLER_THREAD_NAME "pyusdt-poller"

/* The poller thread's timer slack, in ns (see poller_main). */
#define POLLER_TIMER_SLACK_NS 1000UL

/* PYUSDT_FORCE=NAME,... (or "all"): a switch for tests and benchmarks that
 * makes pyusdt behave exactly as if a tracer were attached to those probes,
 * by raising their semaphores as a consumer does. */
static void
load_force(void)
{
    const char *text = getenv("PYUSDT_FORCE");
    if (text == NULL || text[0] == '\0') {
        return;
    }
    pyusdt_probeset set;
    if (pyusdt_probes_parse(text, &set) < 0) {
        char known[512];
        pyusdt_probes_format(PYUSDT_ALL_PROBES, known, sizeof(known));
        fprintf(stderr, "pyusdt: PYUSDT_FORCE='%.80s' names an unknown "
                "probe; known: %s, or all\n", text, known);
    }
    pyusdt_probes_force(set);
    poller.forced = set;
}

pyusdt_probeset
pyusdt_forced(void)
{
    return poller.forced;
}

void
pyusdt_release_forced(void)
{
    pyusdt_probes_unforce(poller.forced);
    poller.forced = 0;
}

void
pyusdt_config_load(void)
{
    const char *text = getenv("PYUSDT_CHECK_MSEC");
    if (text != NULL) {
        char *end;
        errno = 0;
        long value = strtol(text, &end, 10);
        int digits_only = text[0] >= '0' && text[0] <= '9' && *end == '\0';
        if (digits_only && errno == 0 && value >= 1
            && value <= PYUSDT_CHECK_MSEC_MAX) {
            poller.check_msec = (int)value;
        }
        else {
            fprintf(stderr, "pyusdt: ignoring PYUSDT_CHECK_MSEC='%.40s': "
                    "expected a whole number of milliseconds from 1 to %d; "
                    "using %d\n", text, PYUSDT_CHECK_MSEC_MAX,
                    PYUSDT_CHECK_MSEC_DEFAULT);
        }
    }
    load_force();
    const char *verbose = getenv("PYUSDT_VERBOSE");
    poller.verbose = verbose != NULL && verbose[0] != '\0'
                     && strcmp(verbose, "0") != 0;
}

int
pyusdt_check_msec(void)
{
    return poller.check_msec;
}

static void
log_change(pyusdt_probeset now, int ok)
{
    char names[256];
    pyusdt_probes_format(now, names, sizeof(names));
    if (!ok) {
        fprintf(stderr, "pyusdt: attached: %s; could not enable events "
                "yet\n", names);
    }
    else if (now == 0) {
        fprintf(stderr, "pyusdt: all probes detached; events disabled, "
                "tool id released\n");
    }
    else if (pyusdt_monitor_tool_id() < 0) {
        fprintf(stderr, "pyusdt: attached: %s\n", names);
    }
    else {
        fprintf(stderr, "pyusdt: attached: %s; events enabled with "
                "sys.monitoring tool id %d\n", names,
                pyusdt_monitor_tool_id());
    }
}

/* Where the poller waits for the GIL with a busy main thread (3.12, see
 * sync_with_gil), it reads the semaphores one GIL switch interval early
 * (at most half the interval early), so that events are still enabled
 * within one interval of a tracer's attach.  GIL held. */
static void
note_switch_interval(void)
{
#if !PYUSDT_PENDING_CALLS_WAKE
    __atomic_store_n(&poller.early_us, pyusdt_switch_interval_us(),
                     __ATOMIC_RELAXED);
#endif
}

long long
pyusdt_poll_period_us(void)
{
    long long interval = (long long)poller.check_msec * 1000;
    long long early = (long long)__atomic_load_n(&poller.early_us,
                                                 __ATOMIC_RELAXED);
    if (early > interval / 2) {
        early = interval / 2;
    }
    return interval - early;
}

pyusdt_probeset
pyusdt_sync(void)
{
    pyusdt_gcwatch_prepare(pyusdt_probes_attached());
    pyusdt_lock_acquire(&poller.sync_lock);
    note_switch_interval();
    pyusdt_probeset want = pyusdt_probes_attached();
    /* The python probes are served by the pyusdt probes' sources. */
    pyusdt_probeset serve = pyusdt_dialect_sources(want);
    /* N.B. all are tried, whatever the first one does. */
    int monitoring_ok = pyusdt_monitor_apply(serve) == 0;
    int stats_ok = pyusdt_callstats_apply(serve) == 0;
    int gc_ok = pyusdt_gcwatch_apply(serve) == 0;
    int ok = (pyusdt_audit_apply(serve) == 0) && gc_ok && monitoring_ok && stats_ok;
    unsigned int previous = __atomic_exchange_n(
        &poller.applied, ok ? want : APPLY_AGAIN, __ATOMIC_RELAXED);
    if (poller.verbose && (previous != (ok ? want : APPLY_AGAIN))) {
        log_change(want, ok);
    }
    pyusdt_lock_release(&poller.sync_lock);
    return want;
}

static long long
monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* N.B. a consumer raises a semaphore when it registers its uprobe, a moment
 * before its BPF program is attached, and attaches its probes one by one:
 * waiting for the set to settle is what makes "nothing is missed" hold. */
long long
pyusdt_wait_attached(long long timeout_ms, long long settle_ms)
{
    const struct timespec step = {0, 5 * 1000000L};
    long long start = monotonic_ms();
    long long changed_at = start;
    long long widest_gap = 0;   /* between two changes of the set */
    pyusdt_probeset seen = pyusdt_probes_attached();
    for (;;) {
        long long now = monotonic_ms();
        /* A loaded machine slows the tracer down: wait for several times
         * the widest gap seen between its attaches, if that is longer. */
        long long quiet = settle_ms > 4 * widest_gap ? settle_ms
                                                     : 4 * widest_gap;
        if ((seen != 0 && now - changed_at >= quiet)
            || now - start >= timeout_ms) {
            break;
        }
        Py_BEGIN_ALLOW_THREADS
        nanosleep(&step, NULL);
        Py_END_ALLOW_THREADS
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
        pyusdt_probeset now_attached = pyusdt_probes_attached();
        if (now_attached != seen) {
            long long at = monotonic_ms();
            if (seen != 0 && at - changed_at > widest_gap) {
                widest_gap = at - changed_at;
            }
            seen = now_attached;
            changed_at = at;
        }
    }
    return pyusdt_sync();
}

/* Computes the absolute CLOCK_MONOTONIC time of the next poll. */
static void
next_deadline(struct timespec *when)
{
    clock_gettime(CLOCK_MONOTONIC, when);
    long long ns = when->tv_nsec + pyusdt_poll_period_us() * 1000LL;
    when->tv_sec += ns / 1000000000LL;
    when->tv_nsec = ns % 1000000000LL;
}

#if PYUSDT_PENDING_CALLS_WAKE
/* Runs in the main thread at its next bytecode boundary, queued by the
 * poller with Py_AddPendingCall(). */
static int
pending_sync(void *arg)
{
    (void)arg;
    __atomic_store_n(&poller.pending, 0, __ATOMIC_RELAXED);
    if (!pyusdt_is_finalizing()) {
        pyusdt_sync();
    }
    return 0;
}

static int
applied_is_current(void)
{
    return pyusdt_probes_attached()
           == __atomic_load_n(&poller.applied, __ATOMIC_RELAXED);
}
#endif

static void
sync_with_gil(void)
{
    /* N.B. checked before taking the GIL: a thread that asks for it during
     * finalization is parked or exited by CPython.  The atexit hook stops
     * this thread before finalization starts; this is a second guard. */
    if (pyusdt_is_finalizing()) {
        return;
    }
    /* A main thread busy running Python hands the GIL over only every
     * switch interval (5 ms); a pending call runs at its next bytecode
     * boundary instead.  A main thread blocked in a system call runs no
     * pending call, but then the GIL is free: wait for the pending call a
     * moment, then take the GIL.  pyusdt_sync() may run twice: harmless. */
#if PYUSDT_PENDING_CALLS_WAKE
    if (!__atomic_exchange_n(&poller.pending, 1, __ATOMIC_RELAXED)
        && Py_AddPendingCall(pending_sync, NULL) < 0) {
        __atomic_store_n(&poller.pending, 0, __ATOMIC_RELAXED);
    }
    const struct timespec step = {0, 100 * 1000L};
    for (int i = 0; i < 20 && !applied_is_current(); i++) {
        nanosleep(&step, NULL);
    }
    if (applied_is_current()) {
        return;
    }
#endif
    PyGILState_STATE gil = PyGILState_Ensure();
    if (!pyusdt_is_finalizing()) {
        pyusdt_sync();
    }
    PyGILState_Release(gil);
}

static void *
poller_main(void *arg)
{
    (void)arg;
    __atomic_store_n(&poller.tid, (pid_t)syscall(SYS_gettid),
                     __ATOMIC_RELEASE);
    /* Wake on time: Linux lets a sleeping thread oversleep by its timer
     * slack (50 us by default), twice per attach here (the poll, then the
     * wait for the GIL on 3.12).  The thread wakes once per interval, so
     * precision costs nothing.  Best effort. */
    prctl(PR_SET_TIMERSLACK, POLLER_TIMER_SLACK_NS, 0, 0, 0);
    pthread_mutex_lock(&poller.lock);
    while (!poller.stop) {
        unsigned int applied = __atomic_load_n(&poller.applied,
                                               __ATOMIC_RELAXED);
        if (pyusdt_probes_attached() != applied) {
            pthread_mutex_unlock(&poller.lock);
            sync_with_gil();
            pthread_mutex_lock(&poller.lock);
        }
        /* CALL_STATS: the interval's figures, read without the GIL. */
        pyusdt_callstats_report();
        struct timespec deadline;
        next_deadline(&deadline);
        while (!poller.stop
               && pthread_cond_timedwait(&poller.wake, &poller.lock,
                                         &deadline) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&poller.lock);
    return NULL;
}

/* Moves the poller's state from FROM to TO if it is FROM now. */
static int
change_state(int from, int to)
{
    return __atomic_compare_exchange_n(&poller.state, &from, to, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

int
pyusdt_poller_start(void)
{
    if (__atomic_load_n(&poller.closed, __ATOMIC_ACQUIRE)
        || !change_state(STOPPED, STARTING)) {
        return 0;
    }
    note_switch_interval();
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&poller.wake, &attr);
    pthread_condattr_destroy(&attr);
    poller.stop = 0;
    poller.tid = 0;

    /* Blocking every signal keeps them delivered to Python's own threads.
     * N.B. the default stack size, as CPython's own threads have: 3.14
     * places its C-stack limits a fixed margin above the stack's base, and
     * a thread state made on a small stack (64 KiB here once) leaked a few
     * blocks at every sync (650 in 200 attach/detach cycles).  Only the
     * pages the thread touches are ever backed. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&poller.thread, NULL, poller_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&poller.wake);
        __atomic_store_n(&poller.state, STOPPED, __ATOMIC_RELEASE);
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    /* Named before anyone can look, so that top -H, ps -L and a trace
     * filtering on comm can tell pyusdt's wake-ups from the program's
     * threads.  Best effort. */
    pthread_setname_np(poller.thread, POLLER_THREAD_NAME);
    __atomic_store_n(&poller.state, RUNNING, __ATOMIC_RELEASE);
    return 0;
}

/* N.B. pthread_join() returns when the kernel clears the thread's id, a
 * moment before the kernel stops counting the thread in /proc/self/stat,
 * which is what CPython's "use of fork() may lead to deadlocks" warning
 * reads: wait (a bounded while) until the thread is gone from there too. */
static void
wait_until_reaped(pid_t tid)
{
    if (tid <= 0) {
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%ld", (long)tid);
    const struct timespec step = {0, 20 * 1000L};
    for (int i = 0; i < 5000 && access(path, F_OK) == 0; i++) {
        nanosleep(&step, NULL);
    }
}

/* Joins the thread; GIL released meanwhile. */
static void
join_thread(void)
{
    pthread_mutex_lock(&poller.lock);
    poller.stop = 1;
    pthread_cond_signal(&poller.wake);
    pthread_mutex_unlock(&poller.lock);
    /* The thread may be waiting for the GIL: let it have it. */
    Py_BEGIN_ALLOW_THREADS
    pthread_join(poller.thread, NULL);
    wait_until_reaped(__atomic_load_n(&poller.tid, __ATOMIC_ACQUIRE));
    Py_END_ALLOW_THREADS
    pthread_cond_destroy(&poller.wake);
}

void
pyusdt_poller_stop(void)
{
    /* N.B. the GIL is released while joining, so another thread may call
     * this meanwhile (threads forking at once), and on free-threaded builds
     * any thread may: only the one that moves the state from RUNNING
     * joins; the others wait for it (or for a start to finish), and every
     * caller returns with the thread gone. */
    while (__atomic_load_n(&poller.state, __ATOMIC_ACQUIRE) != STOPPED) {
        if (change_state(RUNNING, STOPPING)) {
            join_thread();
            __atomic_store_n(&poller.state, STOPPED, __ATOMIC_RELEASE);
        }
        else {
            Py_BEGIN_ALLOW_THREADS
            const struct timespec step = {0, 100 * 1000L};
            nanosleep(&step, NULL);
            Py_END_ALLOW_THREADS
        }
    }
}

void
pyusdt_poller_close(void)
{
    __atomic_store_n(&poller.closed, 1, __ATOMIC_RELEASE);
    pyusdt_poller_stop();
    /* What was counted since the last interval. */
    pyusdt_callstats_report();
}

void
pyusdt_poller_forget(void)
{
    /* N.B. the thread does not exist in the child; its lock may have been
     * held at fork() (by a fork() that bypassed the hooks, or one from
     * another thread while this one was stopping it): made afresh. */
    pthread_mutex_init(&poller.lock, NULL);
    pyusdt_lock_reset(&poller.sync_lock);
    __atomic_store_n(&poller.state, STOPPED, __ATOMIC_RELEASE);
    /* A pending call queued in the parent may not survive into the child. */
    __atomic_store_n(&poller.pending, 0, __ATOMIC_RELAXED);
}
