/* codeinfo.c - per-code-object records kept in co_extra for the hot path. */
#include "codeinfo.h"

#include <string.h>

#include "compat.h"
#include "render.h"

/* Process-wide: the co_extra index is reserved per interpreter, and pyusdt
 * runs in the main interpreter only.  The index and the prefix are set at
 * init, before any event; records are built under create_lock. */
Py_ssize_t pyusdt_codeinfo_extra_index = -1;
static pyusdt_lock create_lock;
static uint64_t last_code_id;   /* under create_lock */
static char *hidden_prefix;   /* owned, PyMem_RawMalloc */
static size_t hidden_prefix_len;

/* Called by CPython when a code object carrying a record dies. */
static void
free_record(void *ptr)
{
    struct pyusdt_codeinfo *info = ptr;
    if (info != NULL) {
        PyMem_RawFree(info->lines);
        PyMem_RawFree(info);
    }
}

int
pyusdt_codeinfo_init(void)
{
    if (pyusdt_codeinfo_extra_index >= 0) {
        return 0;
    }
    pyusdt_codeinfo_extra_index =
        PyUnstable_Eval_RequestCodeExtraIndex(free_record);
    if (pyusdt_codeinfo_extra_index < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "pyusdt: no free co_extra slot for its code records");
        return -1;
    }
    return 0;
}

void
pyusdt_codeinfo_hide(const char *prefix)
{
    size_t len = strlen(prefix);
    char *copy = PyMem_RawMalloc(len + 1);
    if (copy == NULL) {
        return;   /* nothing hidden: harmless */
    }
    memcpy(copy, prefix, len + 1);
    PyMem_RawFree(hidden_prefix);
    hidden_prefix = copy;
    hidden_prefix_len = len;
}

/* Whether FILE is one of pyusdt's own modules: directly in the package
 * directory.  N.B. "PKG/../app.py" starts with the prefix too, and is not. */
static int
is_own_file(const char *file)
{
    return hidden_prefix != NULL
           && strncmp(file, hidden_prefix, hidden_prefix_len) == 0
           && strchr(file + hidden_prefix_len, '/') == NULL;
}

static void
describe(struct pyusdt_codeinfo *info, PyCodeObject *code)
{
    info->function = pyusdt_utf8(code->co_qualname, PYUSDT_PLACEHOLDER);
    info->name = pyusdt_utf8(code->co_name, PYUSDT_PLACEHOLDER);
    info->file = pyusdt_utf8(code->co_filename, PYUSDT_PLACEHOLDER);
    info->fixed_file = info->file;
    info->fixed_name = info->name;
    info->firstline = code->co_firstlineno;
    info->hidden = is_own_file(info->file);
    info->nunits = Py_SIZE(code);
    info->lines = NULL;
}

/* What is returned when no record can be stored.  N.B. valid until the
 * thread's next call, which is enough: callers use it at once.  One per
 * thread, so that threads running at once never share it. */
static __thread struct pyusdt_codeinfo stand_in;

static struct pyusdt_codeinfo *
make_stand_in(PyCodeObject *code)
{
    describe(&stand_in, code);
    stand_in.code_id = (uint64_t)(uintptr_t)code;
    stand_in.nunits = 0;   /* no line table */
    return &stand_in;
}

/* The record stored in CODE's slot, or NULL.  A pending exception is left
 * as it was. */
static struct pyusdt_codeinfo *
stored_record(PyCodeObject *code)
{
    void *found = NULL;
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    if (PyUnstable_Code_GetExtra((PyObject *)code,
                                 pyusdt_codeinfo_extra_index, &found) < 0) {
        PyErr_Clear();   /* only on a bad index, which this is not */
        found = NULL;
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    return found;
}

/* A new record for CODE stored in its slot, or NULL.  create_lock held,
 * so that two threads starting the same new function at once store one
 * record with one code_id.  A pending exception is left as it was. */
/* Bytes a zero-padded copy of TEXT takes (see PYUSDT_FIXED_READ). */
static size_t
fixed_size(const char *text)
{
    size_t len = strlen(text) + 1;
    return len < PYUSDT_FIXED_READ ? PYUSDT_FIXED_READ : len;
}

/* Copies TEXT into AT, zeros after it to SIZE bytes; returns AT. */
static char *
fixed_copy(char *at, const char *text, size_t size)
{
    size_t len = strlen(text) + 1;
    memcpy(at, text, len);
    memset(at + len, 0, size - len);
    return at;
}

static struct pyusdt_codeinfo *
new_record(PyCodeObject *code)
{
    struct pyusdt_codeinfo described;
    describe(&described, code);
    /* The record, then the python provider's copies of file and name. */
    size_t file_size = fixed_size(described.file);
    size_t name_size = fixed_size(described.name);
    struct pyusdt_codeinfo *info =
        PyMem_RawMalloc(sizeof(*info) + file_size + name_size);
    if (info == NULL) {
        return NULL;
    }
    *info = described;
    char *copies = (char *)(info + 1);
    info->fixed_file = fixed_copy(copies, described.file, file_size);
    info->fixed_name = fixed_copy(copies + file_size, described.name, name_size);
    info->code_id = last_code_id + 1;
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    int rc = PyUnstable_Code_SetExtra((PyObject *)code,
                                      pyusdt_codeinfo_extra_index, info);
    if (rc < 0) {
        PyErr_Clear();
        free_record(info);
        info = NULL;
    }
    else {
        last_code_id++;
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    return info;
}

struct pyusdt_codeinfo *
pyusdt_codeinfo_slow(PyCodeObject *code)
{
    if (pyusdt_codeinfo_extra_index < 0) {
        return make_stand_in(code);
    }
    struct pyusdt_codeinfo *found = stored_record(code);
    if (found != NULL) {
        return found;
    }
    pyusdt_lock_acquire(&create_lock);
    /* Looked up again: another thread may have stored one meanwhile. */
    found = stored_record(code);
    if (found == NULL) {
        found = new_record(code);
    }
    pyusdt_lock_release(&create_lock);
    return found != NULL ? found : make_stand_in(code);
}

void
pyusdt_codeinfo_after_fork(void)
{
    pyusdt_lock_reset(&create_lock);
}

/* INFO's line table, allocated on first use; NULL when memory ran out.
 * N.B. two threads may allocate one at once: the first one published
 * wins, and the other is freed. */
static int32_t *
line_table(struct pyusdt_codeinfo *info)
{
    int32_t *lines = __atomic_load_n(&info->lines, __ATOMIC_ACQUIRE);
    if (lines != NULL) {
        return lines;
    }
    int32_t *fresh = PyMem_RawCalloc((size_t)info->nunits, sizeof(int32_t));
    if (fresh == NULL) {
        return NULL;
    }
    if (__atomic_compare_exchange_n(&info->lines, &lines, fresh, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return fresh;
    }
    PyMem_RawFree(fresh);
    return lines;   /* the winner's, loaded by the failed exchange */
}

/* The source line of byte OFFSET in CODE, from its location table (what
 * code.co_lines() gives).  N.B. not PyCode_Addr2Line(): on 3.14, while
 * any tool has LINE events on, it answers from the instrumentation's own
 * table, which has no line for an instruction's cache entries (-1 where an
 * exception event's offset points into a CALL). */
static int
line_of(PyCodeObject *code, int offset)
{
    int line, column, end_line, end_column;
    /* N.B. a code unit is 2 bytes; Py_SIZE counts units. */
    if (offset / 2 >= Py_SIZE(code)) {
        return -1;
    }
    if (!PyCode_Addr2Location(code, offset, &line, &column, &end_line,
                              &end_column)) {
        return -1;
    }
    return line < 0 ? -1 : line;
}

int
pyusdt_codeinfo_line_slow(struct pyusdt_codeinfo *info, PyCodeObject *code,
                          int offset)
{
    if (offset < 0) {
        return -1;
    }
    Py_ssize_t unit = offset / 2;
    int32_t *lines = unit < info->nunits ? line_table(info) : NULL;
    if (lines == NULL) {
        return line_of(code, offset);
    }
    int32_t known = __atomic_load_n(&lines[unit], __ATOMIC_RELAXED);
    if (known != 0) {
        return known - 2;
    }
    int line = line_of(code, offset);
    __atomic_store_n(&lines[unit], line + 2, __ATOMIC_RELAXED);
    return line;
}

int
pyusdt_codeinfo_is_kept(const struct pyusdt_codeinfo *info)
{
    return info != &stand_in;
}

void
pyusdt_codeinfo_hide_code(PyCodeObject *code)
{
    struct pyusdt_codeinfo *info = pyusdt_codeinfo(code);
    if (pyusdt_codeinfo_is_kept(info)) {
        __atomic_store_n(&info->hidden, 1, __ATOMIC_RELAXED);
    }
}
