/*
 * codeinfo.h - what the probes need to know about a code object, worked out
 * once per code object and kept with it.
 *
 * The first event from a code object builds a record (its UTF-8 names, its
 * code_id, a lazily filled offset-to-line table) and stores it in the code
 * object's co_extra slot; CPython frees it when the code object dies.  So
 * the hot path does no lookups, no encoding and no line-table scans.
 *
 * code_id is a counter, not an address: it stays unique for the life of the
 * process even when a freed code object's memory is reused.
 *
 * All functions need the GIL (an attached thread state on free-threaded
 * builds, where they are also safe to call from several threads at once:
 * a record is built under a lock and published by CPython's co_extra
 * store, and its lazily filled fields are read and written atomically).
 */
#ifndef PYUSDT_CODEINFO_H
#define PYUSDT_CODEINFO_H

#include <Python.h>
#include <stdint.h>

#include "compat.h"

/* bcc's tools for CPython's markers (ucalls, uflow) read a fixed 80 bytes
 * at each string argument, NUL or not, into their map keys: bytes after
 * the NUL decide whether two events are the same function.  A str's UTF-8
 * is followed by whatever object memory comes next, which changes as the
 * program runs (ucalls -L then finds no entry for a return).  The python
 * provider passes copies followed by zeros up to this many bytes. */
#define PYUSDT_FIXED_READ 128

struct pyusdt_codeinfo {
    uint64_t code_id;       /* non-zero */
    const char *function;   /* UTF-8 of co_qualname, owned by that str */
    const char *name;       /* UTF-8 of co_name, owned by that str: the
                               funcname of CPython's own markers */
    const char *file;       /* UTF-8 of co_filename, owned by that str */
    /* FILE and NAME again, for the python provider: copies in the record
     * (see PYUSDT_FIXED_READ), or FILE and NAME themselves in a stand-in. */
    const char *fixed_file;
    const char *fixed_name;
    int firstline;
    int hidden;             /* pyusdt's own code: never reported; atomic */
    Py_ssize_t nunits;      /* code units of bytecode */
    int32_t *lines;         /* owned: line + 2 per code unit, 0 = unknown
                               yet; NULL until the first lookup.  The
                               pointer and each entry are atomic. */
};

/* Reserves the co_extra slot.  Once per process.  0, or -1 with an
 * exception set. */
int pyusdt_codeinfo_init(void);

/* Code whose file name starts with PREFIX (pyusdt's own package directory)
 * is hidden from the probes.  PREFIX is copied. */
void pyusdt_codeinfo_hide(const char *prefix);

/* Hides CODE itself from the probes (the runpy frames that launched
 * python -m pyusdt). */
void pyusdt_codeinfo_hide_code(PyCodeObject *code);

/* The slow halves of the two inline functions below: out of line, so that
 * a callback's common case calls nothing. */
struct pyusdt_codeinfo *pyusdt_codeinfo_slow(PyCodeObject *code);
int pyusdt_codeinfo_line_slow(struct pyusdt_codeinfo *info,
                              PyCodeObject *code, int offset);

/* Whether INFO is the record kept with its code object, not the stand-in
 * made when memory ran out (valid only until this thread's next call). */
int pyusdt_codeinfo_is_kept(const struct pyusdt_codeinfo *info);

/* In a child after fork(): a lock another thread held there is reset. */
void pyusdt_codeinfo_after_fork(void);

/* Whether the probes keep quiet about INFO's code (pyusdt's own). */
static inline int
pyusdt_codeinfo_hidden(const struct pyusdt_codeinfo *info)
{
    return __atomic_load_n(&info->hidden, __ATOMIC_RELAXED);
}

/* The co_extra index holding the records; -1 before pyusdt_codeinfo_init.
 * Read-only outside codeinfo.c. */
extern Py_ssize_t pyusdt_codeinfo_extra_index;

/* The record of CODE, built on first use.  Never NULL and never leaves an
 * exception set: when memory runs out, a stand-in record describing CODE
 * (with a code_id derived from its address) is returned instead. */
static inline struct pyusdt_codeinfo *
pyusdt_codeinfo(PyCodeObject *code)
{
#ifdef PYUSDT_FAST_CO_EXTRA
    void *found = pyusdt_code_extra_get(code, pyusdt_codeinfo_extra_index);
    if (__builtin_expect(found != NULL, 1)) {
        return found;
    }
#endif
    return pyusdt_codeinfo_slow(code);
}

/* The source line of byte OFFSET in CODE, -1 when it has none. */
static inline int
pyusdt_codeinfo_line(struct pyusdt_codeinfo *info, PyCodeObject *code,
                     int offset)
{
    /* The common case: a line already looked up at this offset.  N.B.
     * the atomic loads are plain loads on x86-64 and arm64. */
    int32_t *lines = __atomic_load_n(&info->lines, __ATOMIC_ACQUIRE);
    if (offset >= 0 && lines != NULL && offset / 2 < info->nunits) {
        int32_t known = __atomic_load_n(&lines[offset / 2], __ATOMIC_RELAXED);
        if (known != 0) {
            return known - 2;
        }
    }
    return pyusdt_codeinfo_line_slow(info, code, offset);
}

#endif /* PYUSDT_CODEINFO_H */
