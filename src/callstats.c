/* callstats.c - CALL_STATS: per-code, per-thread call counts and times. */
#include "callstats.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "codeinfo.h"
#include "compat.h"
#include "monitor.h"
#include "render.h"

/* What is counted per function and thread: calls (starts), inclusive and
 * exclusive time, and the calls that have ended (returned or unwound):
 * a call still running has started but added no time yet, so averages
 * divide by COMPLETED, not CALLS. */
enum { CALLS, INCLUSIVE, EXCLUSIVE, COMPLETED, NCOUNTS };

/* One code object's figures in one thread.  The owning thread writes the
 * counters (atomically, under SEQ); the reporting thread reads them and
 * keeps in REPORTED what it reported so far. */
struct entry {
    uint64_t seq;   /* odd while the owner updates */
    uint64_t count[NCOUNTS];
    uint64_t reported[NCOUNTS];   /* as of the last report */
};

/* A function running in a thread: started or resumed at START; CHILDREN
 * is the time spent in the functions it called since. */
struct frame {
    uint32_t index;
    uint64_t start;
    uint64_t children;
};

/* One thread's figures.  ENTRIES may be replaced (grown) by the owner only
 * under LOCK, which the reporter holds while it reads them; the stack is
 * the owner's alone. */
struct table {
    struct table *next;         /* in cs.tables, under cs.lock */
    pthread_mutex_t lock;
    struct entry *entries;      /* owned, PyMem_RawCalloc */
    uint32_t size;
    struct frame *stack;        /* owned, PyMem_RawRealloc */
    uint32_t depth, room;
    uint32_t generation;        /* the attachment ENTRIES count for */
    int dead;                   /* the thread exited; under cs.lock */
    pid_t tid;
};

/* The events counted, with their sys.monitoring names and the probes of
 * the same events (monitor.c read their bits at init:
 * pyusdt_monitor_event). */
enum { EV_START, EV_RESUME, EV_THROW, EV_RETURN, EV_YIELD, EV_UNWIND, NEV };
static const char *const event_names[NEV] = {
    "PY_START", "PY_RESUME", "PY_THROW", "PY_RETURN", "PY_YIELD", "PY_UNWIND",
};
static const int event_probes[NEV] = {
    PYUSDT_PY_START, PYUSDT_PY_RESUME, PYUSDT_PY_THROW, PYUSDT_PY_RETURN,
    PYUSDT_PY_YIELD, PYUSDT_PY_UNWIND,
};

/* What co_extra holds: the attachment in the high half, the index + 1 (or
 * HIDDEN for pyusdt's own code) in the low half. */
#define HIDDEN 0xffffffffu

/* A code object counted in this attachment. */
struct code_ref {
    PyObject *code;                       /* owned: keeps INFO alive */
    const struct pyusdt_codeinfo *info;   /* borrowed from CODE */
};

/* Process-wide, as sys.monitoring is.  LOCK guards the thread list and the
 * code list; GENERATION is non-zero while counting, and new at each
 * attachment; it and the callbacks are set by pyusdt_callstats_apply()
 * (serialised by its caller). */
static struct {
    pyusdt_mutex lock;
    struct table *tables;
    struct code_ref *codes;     /* owned */
    uint32_t ncodes, room;
    uint32_t generation;        /* atomic */
    uint32_t last_generation;
    int tool_id;
    int ready;
    int warned;                 /* a failed start was reported */
    Py_ssize_t extra_index;
    pthread_key_t key;          /* the thread's table, for its exit */
    PyObject *callbacks[NEV];   /* owned */
} cs = {.lock = PYUSDT_MUTEX_INIT, .tool_id = -1, .extra_index = -1};

/* The thread's own table.  N.B. initial-exec: a plain load, not a call to
 * __tls_get_addr, on every event. */
static __thread struct table *my_table __attribute__((tls_model("initial-exec")));

static inline uint64_t
now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- code indexes ------------------------------------------------------ */

static inline uintptr_t
extra_of(PyCodeObject *code)
{
#ifdef PYUSDT_FAST_CO_EXTRA
    return (uintptr_t)pyusdt_code_extra_get(code, cs.extra_index);
#else
    void *found = NULL;
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    if (PyUnstable_Code_GetExtra((PyObject *)code, cs.extra_index,
                                 &found) < 0) {
        PyErr_Clear();
        found = NULL;
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    return (uintptr_t)found;
#endif
}

/* The value of CODE's slot when it holds an index of attachment GEN, or 0. */
static inline uint32_t
slot_of(PyCodeObject *code, uint32_t gen)
{
    uintptr_t value = extra_of(code);
    return (uint32_t)(value >> 32) == gen ? (uint32_t)value : 0;
}

/* Appends CODE to cs.codes and stores its slot.  cs.lock held.  The slot
 * value, or 0 when memory ran out (the code is then not counted). */
static uint32_t
add_code(PyCodeObject *code, const struct pyusdt_codeinfo *info, uint32_t gen)
{
    uint32_t slot = HIDDEN;
    if (!pyusdt_codeinfo_hidden(info)) {
        if (cs.ncodes == cs.room) {
            uint32_t room = cs.room ? 2 * cs.room : 256;
            struct code_ref *grown = PyMem_RawRealloc(
                cs.codes, room * sizeof(*grown));
            if (grown == NULL) {
                return 0;
            }
            cs.codes = grown;
            cs.room = room;
        }
        slot = cs.ncodes + 1;
    }
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    uintptr_t value = ((uintptr_t)gen << 32) | slot;
    if (PyUnstable_Code_SetExtra((PyObject *)code, cs.extra_index,
                                 (void *)value) < 0) {
        PyErr_Clear();
        slot = 0;
    }
    else if (slot != HIDDEN) {
        cs.codes[cs.ncodes].code = Py_NewRef(code);
        cs.codes[cs.ncodes].info = info;
        cs.ncodes++;
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    return slot;
}

/* The slow half of code_slot(): CODE's first event in this attachment. */
static uint32_t
register_code(PyCodeObject *code, uint32_t gen)
{
    struct pyusdt_codeinfo *info = pyusdt_codeinfo(code);
    if (!pyusdt_codeinfo_is_kept(info)) {
        /* Memory ran out: a stand-in would be gone by the report.  Not
         * counted; its next event tries again. */
        return 0;
    }
    pyusdt_mutex_lock(&cs.lock);
    /* Looked up again: another thread may have added it meanwhile, and
     * counting may have stopped. */
    uint32_t slot = 0;
    if (__atomic_load_n(&cs.generation, __ATOMIC_RELAXED) == gen) {
        slot = slot_of(code, gen);
        if (slot == 0) {
            slot = add_code(code, info, gen);
        }
    }
    pyusdt_mutex_unlock(&cs.lock);
    return slot;
}

/* CODE's slot value in attachment GEN: index + 1, HIDDEN, or 0. */
static inline uint32_t
code_slot(PyCodeObject *code, uint32_t gen)
{
    uint32_t slot = slot_of(code, gen);
    return __builtin_expect(slot != 0, 1) ? slot : register_code(code, gen);
}

/* ---- thread tables ----------------------------------------------------- */

static void
free_table(struct table *t)
{
    pthread_mutex_destroy(&t->lock);
    PyMem_RawFree(t->entries);
    PyMem_RawFree(t->stack);
    PyMem_RawFree(t);
}

/* At a thread's exit: its table goes now if nothing is counted, else
 * after its last report. */
static void
thread_exits(void *ptr)
{
    struct table *t = ptr;
    pyusdt_mutex_lock(&cs.lock);
    if (__atomic_load_n(&cs.generation, __ATOMIC_RELAXED) != 0) {
        t->dead = 1;
        t = NULL;
    }
    else {
        for (struct table **link = &cs.tables; *link; link = &(*link)->next) {
            if (*link == t) {
                *link = t->next;
                break;
            }
        }
    }
    pyusdt_mutex_unlock(&cs.lock);
    if (t != NULL) {
        free_table(t);
    }
}

static struct table *
new_table(void)
{
    struct table *t = PyMem_RawCalloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->tid = (pid_t)syscall(SYS_gettid);
    pyusdt_mutex_lock(&cs.lock);
    t->next = cs.tables;
    cs.tables = t;
    pyusdt_mutex_unlock(&cs.lock);
    pthread_setspecific(cs.key, t);
    return t;
}

/* The calling thread's table, counting for attachment GEN (emptied when it
 * counted for another), or NULL when memory ran out. */
static struct table *
table_for(uint32_t gen)
{
    struct table *t = my_table;
    if (t == NULL) {
        t = my_table = new_table();
        if (t == NULL) {
            return NULL;
        }
    }
    if (t->generation != gen) {
        pthread_mutex_lock(&t->lock);
        if (t->entries != NULL) {
            memset(t->entries, 0, t->size * sizeof(struct entry));
        }
        t->generation = gen;
        pthread_mutex_unlock(&t->lock);
        t->depth = 0;
    }
    return t;
}

/* Makes room in T for entry INDEX.  0, or -1 when memory ran out. */
static int
grow_entries(struct table *t, uint32_t index)
{
    uint32_t size = t->size ? 2 * t->size : 256;
    while (size <= index) {
        size *= 2;
    }
    struct entry *grown = PyMem_RawCalloc(size, sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    pthread_mutex_lock(&t->lock);
    struct entry *old = t->entries;
    if (old != NULL) {
        memcpy(grown, old, t->size * sizeof(*grown));
    }
    t->entries = grown;
    t->size = size;
    pthread_mutex_unlock(&t->lock);
    PyMem_RawFree(old);
    return 0;
}

static int
grow_stack(struct table *t)
{
    uint32_t room = t->room ? 2 * t->room : 64;
    struct frame *grown = PyMem_RawRealloc(t->stack, room * sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    t->stack = grown;
    t->room = room;
    return 0;
}

/* ---- counting ---------------------------------------------------------- */

/* Entry E's counters are updated between begin_update() and end_update(),
 * as a sequence-count writer: the reporter never sees half of an update.
 * Only the counters that change are written (bump). */
static inline uint64_t
begin_update(struct entry *e)
{
    uint64_t seq = e->seq;
    __atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return seq;
}

static inline void
bump(struct entry *e, int counter, uint64_t n)
{
    __atomic_store_n(&e->count[counter], e->count[counter] + n, __ATOMIC_RELAXED);
}

static inline void
end_update(struct entry *e, uint64_t seq)
{
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

/* A function starts (CALLS 1) or resumes (CALLS 0) in T. */
static inline void
push(struct table *t, uint32_t index, uint64_t calls)
{
    if ((index >= t->size && grow_entries(t, index) < 0)
        || (t->depth == t->room && grow_stack(t) < 0)) {
        return;
    }
    if (calls) {
        struct entry *e = &t->entries[index];
        uint64_t seq = begin_update(e);
        bump(e, CALLS, calls);
        end_update(e, seq);
    }
    struct frame *f = &t->stack[t->depth++];
    f->index = index;
    f->children = 0;
    f->start = now_ns();
}

/* Whether INDEX runs in T (below its top). */
static int
on_stack(const struct table *t, uint32_t index)
{
    for (uint32_t i = t->depth; i > 0; i--) {
        if (t->stack[i - 1].index == index) {
            return 1;
        }
    }
    return 0;
}

/* A function returns or unwinds (ENDS 1) or yields (ENDS 0) in T: its
 * frame, and any frames above it whose end was missed, are closed; an end
 * completes its call (a frame closed unseen is not known to have ended: a
 * suspension looks the same).  A function that started before the
 * attachment is on no stack, and is not counted. */
static inline void
pop(struct table *t, uint32_t index, int ends)
{
    if (t->depth == 0
        || (t->stack[t->depth - 1].index != index && !on_stack(t, index))) {
        return;
    }
    uint64_t now = now_ns();
    while (t->depth > 0) {
        struct frame *f = &t->stack[--t->depth];
        uint64_t elapsed = now - f->start;
        uint64_t own = elapsed > f->children ? elapsed - f->children : 0;
        int done = f->index == index;
        struct entry *e = &t->entries[f->index];
        uint64_t seq = begin_update(e);
        bump(e, INCLUSIVE, elapsed);
        bump(e, EXCLUSIVE, own);
        if (done && ends) {
            bump(e, COMPLETED, 1);
        }
        end_update(e, seq);
        if (t->depth > 0) {
            t->stack[t->depth - 1].children += elapsed;
        }
        if (done) {
            break;
        }
    }
}

/* The callbacks: (code, offset, ...) as sys.monitoring passes them.  The
 * local events return DISABLE for pyusdt's own code. */
static inline PyObject *
count_event(PyObject *const *args, size_t nargsf, int starts, uint64_t calls,
            int ends)
{
    uint32_t gen = __atomic_load_n(&cs.generation, __ATOMIC_RELAXED);
    if (gen == 0 || PyVectorcall_NARGS(nargsf) < 1 || !PyCode_Check(args[0])) {
        Py_RETURN_NONE;
    }
    uint32_t slot = code_slot((PyCodeObject *)args[0], gen);
    if (slot == HIDDEN) {
        return Py_NewRef(pyusdt_monitor_disable());
    }
    struct table *t = slot != 0 ? table_for(gen) : NULL;
    if (t != NULL) {
        if (starts) {
            push(t, slot - 1, calls);
        }
        else {
            pop(t, slot - 1, ends);
        }
    }
    Py_RETURN_NONE;
}

/* N.B. PY_THROW and PY_UNWIND refuse DISABLE: None for those. */
static inline PyObject *
no_disable(PyObject *result)
{
    if (result == pyusdt_monitor_disable()) {
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    return result;
}

#define CALLBACK(name, body)                                                \
    static PyObject *                                                       \
    name(PyObject *Py_UNUSED(self), PyObject *const *args, size_t nargsf,   \
         PyObject *Py_UNUSED(kwnames))                                      \
    {                                                                       \
        return body;                                                        \
    }
CALLBACK(on_start, count_event(args, nargsf, 1, 1, 0))
CALLBACK(on_resume, count_event(args, nargsf, 1, 0, 0))
CALLBACK(on_throw, no_disable(count_event(args, nargsf, 1, 0, 0)))
CALLBACK(on_return, count_event(args, nargsf, 0, 0, 1))
CALLBACK(on_yield, count_event(args, nargsf, 0, 0, 0))
CALLBACK(on_unwind, no_disable(count_event(args, nargsf, 0, 0, 1)))
#undef CALLBACK

static const vectorcallfunc event_funcs[NEV] = {
    on_start, on_resume, on_throw, on_return, on_yield, on_unwind,
};

/* ---- reporting --------------------------------------------------------- */

/* Entry E's counters as of one moment, read as a sequence-count reader. */
static void
snapshot(const struct entry *e, uint64_t out[NCOUNTS])
{
    for (;;) {
        uint64_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
        for (int i = 0; i < NCOUNTS; i++) {
            out[i] = __atomic_load_n(&e->count[i], __ATOMIC_RELAXED);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(seq & 1) && __atomic_load_n(&e->seq, __ATOMIC_RELAXED) == seq) {
            return;
        }
    }
}

/* Fires CALL_STATS and CALL_TIMES for T's activity since its last report.  cs.lock held. */
static void
report_table(struct table *t)
{
    pthread_mutex_lock(&t->lock);
    uint32_t n = t->size < cs.ncodes ? t->size : cs.ncodes;
    for (uint32_t i = 0; i < n; i++) {
        struct entry *e = &t->entries[i];
        uint64_t now[NCOUNTS], d[NCOUNTS];
        snapshot(e, now);
        for (int k = 0; k < NCOUNTS; k++) {
            d[k] = now[k] - e->reported[k];
        }
        if (d[CALLS] == 0 && d[INCLUSIVE] == 0 && d[COMPLETED] == 0) {
            continue;
        }
        const struct pyusdt_codeinfo *info = cs.codes[i].info;
        if (PYUSDT_ACTIVE(CALL_STATS)) {
            DTRACE_PROBE6(pyusdt, CALL_STATS, info->function, info->file,
                          info->firstline, info->code_id, (long)t->tid, d[CALLS]);
        }
        if (PYUSDT_ACTIVE(CALL_TIMES)) {
            DTRACE_PROBE5(pyusdt, CALL_TIMES, info->code_id, (long)t->tid,
                          d[INCLUSIVE], d[EXCLUSIVE], d[COMPLETED]);
        }
        memcpy(e->reported, now, sizeof(now));
    }
    pthread_mutex_unlock(&t->lock);
}

/* Frees the tables of exited threads.  cs.lock held; REPORT: report them
 * first. */
static void
reap_tables(uint32_t gen, int report)
{
    struct table **link = &cs.tables;
    while (*link != NULL) {
        struct table *t = *link;
        if (report && gen != 0 && t->generation == gen) {
            report_table(t);
        }
        if (t->dead) {
            *link = t->next;
            free_table(t);
        }
        else {
            link = &t->next;
        }
    }
}

void
pyusdt_callstats_report(void)
{
    if (!PYUSDT_ACTIVE(CALL_STATS) && !PYUSDT_ACTIVE(CALL_TIMES)) {
        return;
    }
    pyusdt_mutex_lock(&cs.lock);
    reap_tables(__atomic_load_n(&cs.generation, __ATOMIC_RELAXED), 1);
    pyusdt_mutex_unlock(&cs.lock);
}

/* Marks what T holds as reported: the parent reports it. */
static void
settle_table(struct table *t)
{
    for (uint32_t i = 0; i < t->size; i++) {
        struct entry *e = &t->entries[i];
        memcpy(e->reported, e->count, sizeof(e->count));
    }
}

void
pyusdt_callstats_after_fork(void)
{
    /* N.B. the child is single-threaded here, and the locks may have been
     * held at fork().  Every count so far is the parent's to report; the
     * other threads' tables belong to threads that do not exist here. */
    pyusdt_mutex_reset(&cs.lock);
    for (struct table *t = cs.tables; t != NULL; t = t->next) {
        pthread_mutex_init(&t->lock, NULL);
        settle_table(t);
        if (t != my_table) {
            t->dead = 1;
        }
        else {
            t->tid = (pid_t)syscall(SYS_gettid);
        }
    }
}

int
pyusdt_callstats_counting(void)
{
    return __atomic_load_n(&cs.generation, __ATOMIC_RELAXED) != 0;
}

/* ---- enabling ---------------------------------------------------------- */

/* What counting needs once per process: a co_extra slot, the thread-exit
 * key and the callbacks.  0, or -1 with an
 * exception set. */
static int
prepare(void)
{
    if (cs.ready) {
        return 0;
    }
    for (int i = 0; i < NEV; i++) {
        if (cs.callbacks[i] == NULL) {
            cs.callbacks[i] = pyusdt_monitor_callback_new(event_names[i],
                                                          event_funcs[i]);
            if (cs.callbacks[i] == NULL) {
                return -1;
            }
        }
    }
    if (cs.extra_index < 0) {
        cs.extra_index = PyUnstable_Eval_RequestCodeExtraIndex(NULL);
        if (cs.extra_index < 0) {
            PyErr_SetString(PyExc_RuntimeError, "no free co_extra slot");
            return -1;
        }
    }
    if (pthread_key_create(&cs.key, thread_exits) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "no free pthread key");
        return -1;
    }
    cs.ready = 1;
    return 0;
}

/* Takes the first free tool id of 5, 4, 3 (pyusdt's probes take the first
 * of 3, 4, 5).  0, or -1 with an exception set. */
static int
take_tool_id(void)
{
    for (int id = 5; id >= 3; id--) {
        int is_free = pyusdt_monitoring_call(PYUSDT_GET_TOOL, "(i)", id);
        if (is_free < 0) {
            return -1;
        }
        if (is_free && pyusdt_monitoring_call(PYUSDT_USE_TOOL_ID, "(is)", id,
                                              "pyusdt CALL_STATS") >= 0) {
            cs.tool_id = id;
            return 0;
        }
        PyErr_Clear();
    }
    PyErr_SetString(PyExc_RuntimeError, "no free sys.monitoring tool id");
    return -1;
}

/* Gives up the tool id: no event, no callback. */
static void
release_tool_id(void)
{
    if (cs.tool_id < 0) {
        return;
    }
    if (pyusdt_monitoring_call(PYUSDT_SET_EVENTS, "(iI)", cs.tool_id, 0u) < 0) {
        pyusdt_report_failure("CALL_STATS: sys.monitoring.set_events");
    }
    for (int i = 0; i < NEV; i++) {
        if (pyusdt_monitoring_call(PYUSDT_REGISTER_CALLBACK, "(iIO)", cs.tool_id,
                                   pyusdt_monitor_event(event_probes[i]), Py_None) < 0) {
            pyusdt_report_failure("CALL_STATS: sys.monitoring.register_callback");
        }
    }
    if (pyusdt_monitoring_call(PYUSDT_FREE_TOOL_ID, "(i)", cs.tool_id) < 0) {
        pyusdt_report_failure("CALL_STATS: sys.monitoring.free_tool_id");
    }
    cs.tool_id = -1;
}

static int
start(void)
{
    if (prepare() < 0 || take_tool_id() < 0) {
        goto error;
    }
    unsigned int all = 0;
    for (int i = 0; i < NEV; i++) {
        unsigned int event = pyusdt_monitor_event(event_probes[i]);
        if (pyusdt_monitoring_call(PYUSDT_REGISTER_CALLBACK, "(iIO)", cs.tool_id,
                                   event, cs.callbacks[i]) < 0) {
            goto error;
        }
        all |= event;
    }
    pyusdt_mutex_lock(&cs.lock);
    cs.last_generation = cs.last_generation + 1 ? cs.last_generation + 1 : 1;
    __atomic_store_n(&cs.generation, cs.last_generation, __ATOMIC_RELAXED);
    pyusdt_mutex_unlock(&cs.lock);
    if (pyusdt_monitoring_call(PYUSDT_SET_EVENTS, "(iI)", cs.tool_id, all) < 0) {
        goto error;
    }
    cs.warned = 0;
    return 0;
error:
    /* N.B. the poller tries again each interval: said once, until a
     * start succeeds (no free tool id lasts). */
    if (!cs.warned) {
        pyusdt_report_failure("CALL_STATS: starting");
        cs.warned = 1;
    }
    PyErr_Clear();
    __atomic_store_n(&cs.generation, 0, __ATOMIC_RELAXED);
    release_tool_id();
    return -1;
}

/* Stops counting and lets go of the codes counted. */
static void
stop(void)
{
    release_tool_id();
    pyusdt_mutex_lock(&cs.lock);
    __atomic_store_n(&cs.generation, 0, __ATOMIC_RELAXED);
    reap_tables(0, 0);
    struct code_ref *codes = cs.codes;
    uint32_t n = cs.ncodes;
    cs.codes = NULL;
    cs.ncodes = cs.room = 0;
    pyusdt_mutex_unlock(&cs.lock);
    /* N.B. released outside the lock: a code object's death may run
     * Python code (weakref callbacks). */
    for (uint32_t i = 0; i < n; i++) {
        Py_DECREF(codes[i].code);
    }
    PyMem_RawFree(codes);
}

int
pyusdt_callstats_apply(pyusdt_probeset want)
{
    int wanted = (want & PYUSDT_CALLSTATS_SET) != 0;
    if (wanted == (cs.tool_id >= 0)) {
        return 0;
    }
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    int rc = 0;
    if (wanted) {
        rc = start();
    }
    else {
        stop();
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    return rc;
}
