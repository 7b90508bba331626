/* runner.c - a program compiled, and its recursion depth counted, as
 * python would (each version's way: -c dedented on 3.14, its source put
 * into linecache on 3.13+). */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The C recursion limit a fresh thread starts from (3.12 and 3.13 count C
 * levels down from it; 3.14 measures the C stack instead).
 * N.B. so on 3.14 nothing can credit the few kB of C stack below the
 * program (runpy's exec(), the runner): where the C stack runs out before
 * the recursion limit (recursion through C with the limit raised), the
 * program meets RecursionError a few levels earlier than under python, as
 * it does under python itself with a few kB more of environment. */
#if PY_VERSION_HEX >= 0x030E0000
#  define PYUSDT_C_DEPTH_COUNTED 0
#elif PY_VERSION_HEX >= 0x030D0000
#  define PYUSDT_C_DEPTH_COUNTED 1
#  define PYUSDT_C_RECURSION_LIMIT Py_C_RECURSION_LIMIT
#else
#  define PYUSDT_C_DEPTH_COUNTED 1
#  define PYUSDT_C_RECURSION_LIMIT C_RECURSION_LIMIT
#endif

/* How deep the caller is, in the thread state's counters. */
struct depth {
    int py;
    int c;
};

/* N.B. CPython 3.12+ counts Python frames in the thread state (depth =
 * py_recursion_limit - py_recursion_remaining; sys.setrecursionlimit()
 * keeps the depth when it moves the limit), and 3.12-3.13 count C levels
 * down from a fixed limit.  Raising both remaining counts by the caller's
 * depth makes the callee start where python's own pymain starts a program;
 * the credit is taken back on return (the frames it covered are still
 * below). */
static struct depth
credit_depth(PyThreadState *tstate)
{
    struct depth d = {0, 0};
    d.py = tstate->py_recursion_limit - tstate->py_recursion_remaining;
    if (d.py < 0) {
        d.py = 0;
    }
    tstate->py_recursion_remaining += d.py;
#if PYUSDT_C_DEPTH_COUNTED
    d.c = PYUSDT_C_RECURSION_LIMIT - tstate->c_recursion_remaining;
    if (d.c < 0) {
        d.c = 0;
    }
    tstate->c_recursion_remaining += d.c;
#endif
    return d;
}

static void
debit_depth(PyThreadState *tstate, struct depth d)
{
    tstate->py_recursion_remaining -= d.py;
#if PYUSDT_C_DEPTH_COUNTED
    tstate->c_recursion_remaining -= d.c;
#endif
}

/* The launcher's frames (runpy's, pyusdt's) are hidden from the program
 * while it runs, as python itself has none below a script: its bottom
 * frame's f_back is None, traceback.print_stack() and inspect.stack() list
 * its frames only, and a warning's stacklevel past them names "sys".  The
 * thread's frame chain is cut below the program and joined again after.
 * N.B. on release builds with the GIL only, of the versions this was
 * written for: the free-threaded GC walks each thread's chain for deferred
 * references, which the frames cut off would lose; and sys.monitoring
 * re-instruments the code of the frames it can see, so a launcher frame
 * cut off while the events change resumes with instrumentation of an
 * older version: harmless in a release build (its events go to no tool or
 * to pyusdt, which hides its own code), an assertion in a debug build.
 * (PyThreadState's own fields, cpython/pystate.h: 3.12 keeps the frame in
 * its _PyCFrame.) */
#if !defined(Py_GIL_DISABLED) && !defined(Py_DEBUG) && PY_VERSION_HEX < 0x030F0000
#  define PYUSDT_HIDE_FRAMES 1
#else
#  define PYUSDT_HIDE_FRAMES 0
#endif

/* What running at the bottom changed, put back by leave_bottom(). */
struct bottom {
    struct depth depth;
    struct _PyInterpreterFrame *below;   /* the frames cut off, or NULL */
};

#if PYUSDT_HIDE_FRAMES
/* Where the thread state keeps its current frame. */
static struct _PyInterpreterFrame **
frame_slot(PyThreadState *tstate)
{
#  if PY_VERSION_HEX >= 0x030D0000
    return &tstate->current_frame;
#  else
    return &tstate->cframe->current_frame;
#  endif
}
#endif

static struct bottom
enter_bottom(PyThreadState *tstate)
{
    struct bottom b = {credit_depth(tstate), NULL};
#if PYUSDT_HIDE_FRAMES
    b.below = *frame_slot(tstate);
    *frame_slot(tstate) = NULL;
#endif
    return b;
}

static void
leave_bottom(PyThreadState *tstate, struct bottom b)
{
#if PYUSDT_HIDE_FRAMES
    *frame_slot(tstate) = b.below;
#endif
    debit_depth(tstate, b.depth);
}

PyObject *
pyusdt_call_at_bottom(PyObject *func, PyObject *args)
{
    PyThreadState *tstate = PyThreadState_Get();
    struct bottom b = enter_bottom(tstate);
    PyObject *result = PyObject_CallObject(func, args);   /* owned */
    leave_bottom(tstate, b);
    return result;
}

PyObject *
pyusdt_exec_at_bottom(PyObject *code, PyObject *globals)
{
    PyThreadState *tstate = PyThreadState_Get();
    struct bottom b = enter_bottom(tstate);
    PyObject *result = PyEval_EvalCode(code, globals, globals);   /* owned */
    leave_bottom(tstate, b);
    return result;
}

/* A new file that is nowhere on disk, or -1 with errno set: a memfd, or
 * where a sandbox refuses memfd_create(), an unlinked temporary file. */
static int
anonymous_file(void)
{
    int fd = memfd_create("pyusdt-program", MFD_CLOEXEC);
    if (fd >= 0) {
        return fd;
    }
    FILE *tmp = tmpfile();
    if (tmp == NULL) {
        return -1;
    }
    fd = fcntl(fileno(tmp), F_DUPFD_CLOEXEC, 0);
    fclose(tmp);
    return fd;
}

/* A FILE reading a copy of TEXT, opened on a file descriptor of its own:
 * the tokenizer re-reads a file through its descriptor when the coding
 * cookie names an encoding other than UTF-8.  NULL with an exception set
 * on failure. */
static FILE *
file_with_contents(PyObject *text)
{
    int fd = anonymous_file();
    if (fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(text);
    size_t left = (size_t)PyBytes_GET_SIZE(text);
    while (left > 0) {
        ssize_t n = write(fd, data, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            close(fd);
            return NULL;
        }
        data += n;
        left -= (size_t)n;
    }
    FILE *fp = NULL;
    if (lseek(fd, 0, SEEK_SET) == 0) {
        fp = fdopen(fd, "rb");
    }
    if (fp == NULL) {
        PyErr_SetFromErrno(PyExc_OSError);
        close(fd);
    }
    return fp;
}

/* Runs TEXT, a file's bytes, as pymain's pyrun_file() runs a script: read
 * through a FILE, so that the tokenizer honours the coding cookie and BOM
 * and reports a bad one, or a null byte, exactly as for a file. */
static PyObject *
run_file_bytes(PyObject *text, PyObject *filename, PyObject *globals)
{
    PyObject *fsname = PyUnicode_EncodeFSDefault(filename);   /* owned */
    if (fsname == NULL) {
        return NULL;
    }
    FILE *fp = file_with_contents(text);
    if (fp == NULL) {
        Py_DECREF(fsname);
        return NULL;
    }
    /* N.B. PyRun_FileExFlags() closes FP (closeit). */
    PyCompilerFlags flags = {.cf_flags = 0, .cf_feature_version = PY_MINOR_VERSION};
    PyObject *result = PyRun_FileExFlags(fp, PyBytes_AS_STRING(fsname), Py_file_input,
                                         globals, globals, 1, &flags);   /* owned */
    Py_DECREF(fsname);
    return result;
}

#if PY_VERSION_HEX >= 0x030E0000
/* Where the text of the line starting at LINE begins, past its indent of
 * spaces and tabs; *EOL is set to its '\n', or to END for the last line. */
static const char *
line_text(const char *line, const char *end, const char **eol)
{
    const char *found = memchr(line, '\n', (size_t)(end - line));
    *eol = found != NULL ? found : end;
    const char *text = line;
    while (text < *eol && (*text == ' ' || *text == '\t')) {
        text++;
    }
    return text;
}

/* The command dedented as 3.14's pymain_run_command() dedents it
 * (_PyUnicode_Dedent(), which is not exported): the indent common to every
 * line with anything but spaces and tabs on it is cut from each line, and a
 * line of only spaces and tabs becomes empty (and disappears when last, with
 * no newline after it).  A command with no common indent is left exactly
 * as it is.  N.B. unlike textwrap.dedent(), only ' ' and '\t' indent, and
 * only '\n' ends a line.  Returns a new reference, or NULL with an
 * exception set. */
static PyObject *
dedent_command(PyObject *text)
{
    Py_ssize_t size;
    const char *src = PyUnicode_AsUTF8AndSize(text, &size);   /* borrowed */
    if (src == NULL) {
        return NULL;
    }
    const char *end = src + size;

    /* The common indent is [src_margin, src_margin + margin): the longest
     * prefix that the indents of all non-blank lines share. */
    const char *src_margin = NULL;
    Py_ssize_t margin = 0;
    const char *line = src;
    while (line < end) {
        const char *eol;
        const char *text_start = line_text(line, end, &eol);
        if (text_start < eol) {
            Py_ssize_t indent = text_start - line;
            if (src_margin == NULL) {
                src_margin = line;
                margin = indent;
            }
            else {
                Py_ssize_t same = 0;
                while (same < margin && same < indent && src_margin[same] == line[same]) {
                    same++;
                }
                margin = same;
            }
            if (margin == 0) {
                return Py_NewRef(text);
            }
        }
        line = eol + (eol < end);
    }
    if (margin == 0) {
        return Py_NewRef(text);
    }

    /* N.B. never longer than the source: it only loses bytes. */
    char *dedented = PyMem_Malloc((size_t)size);
    if (dedented == NULL) {
        return PyErr_NoMemory();
    }
    char *out = dedented;
    line = src;
    while (line < end) {
        const char *eol;
        const char *text_start = line_text(line, end, &eol);
        if (text_start < eol) {
            size_t kept = (size_t)(eol - line - margin);
            memcpy(out, line + margin, kept);
            out += kept;
        }
        if (eol < end) {
            *out++ = '\n';
        }
        line = eol + (eol < end);
    }
    PyObject *result = PyUnicode_FromStringAndSize(dedented, out - dedented);   /* owned */
    PyMem_Free(dedented);
    return result;
}
#endif

/* Puts SOURCE, the -c command compiled to CODE, into linecache as python -c
 * does from 3.13 on (run_mod() in Python/pythonrun.c), so that tracebacks
 * quote its lines.  0, or -1 with an exception set.
 * N.B. it calls the private linecache._register_code() because that is what
 * python itself calls, and nothing public fills the cache tracebacks read:
 * on 3.13 under the file name (linecache.cache["<string>"]), on 3.14 under
 * the code object and each one nested in it (linecache._interactive_cache,
 * for "<string>" is never looked up by name there).  3.12 registers
 * nothing, and does not import linecache for -c.  N.B. 3.15 and later are
 * assumed to call it as 3.14 does; if they do not, the caller carries on
 * without it. */
static int
register_command_source(PyObject *code, PyObject *source, PyObject *filename)
{
#if PY_VERSION_HEX >= 0x030D0000
#  if PY_VERSION_HEX >= 0x030E0000
    PyObject *key = code;       /* borrowed */
#  else
    PyObject *key = filename;   /* borrowed */
    (void)code;
#  endif
    PyObject *linecache = NULL;   /* owned */
    PyObject *func = NULL;        /* owned */
    PyObject *result = NULL;      /* owned */
    linecache = PyImport_ImportModule("linecache");
    if (linecache == NULL) {
        goto error;
    }
    func = PyObject_GetAttrString(linecache, "_register_code");
    if (func == NULL) {
        goto error;
    }
    result = PyObject_CallFunctionObjArgs(func, key, source, filename, NULL);
error:
    Py_XDECREF(linecache);
    Py_XDECREF(func);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
#else
    (void)code;
    (void)source;
    (void)filename;
    return 0;
#endif
}

/* Runs TEXT, -c's command, as pymain_run_command() does: dedented on 3.14,
 * compiled as "<string>" (the cookie ignored), registered with linecache,
 * audited and run, in that order, as _PyRun_String() and run_mod() do. */
static PyObject *
run_command(PyObject *text, PyObject *globals)
{
    PyObject *command = NULL;    /* owned */
    PyObject *filename = NULL;   /* owned */
    PyObject *code = NULL;       /* owned */
    PyObject *result = NULL;     /* owned */
    const char *utf8;            /* borrowed */
    PyCompilerFlags flags = {.cf_flags = PyCF_IGNORE_COOKIE,
                             .cf_feature_version = PY_MINOR_VERSION};
#if PY_VERSION_HEX >= 0x030E0000
    command = dedent_command(text);
#else
    command = Py_NewRef(text);
#endif
    if (command == NULL) {
        goto error;
    }
    utf8 = PyUnicode_AsUTF8(command);
    if (utf8 == NULL) {
        goto error;
    }
    filename = PyUnicode_FromString("<string>");
    if (filename == NULL) {
        goto error;
    }
    /* N.B. Py_CompileStringObject() parses and compiles as run_mod() does,
     * without the builtin compile()'s building of the ast types. */
    code = Py_CompileStringObject(utf8, filename, Py_file_input, &flags, -1);
    if (code == NULL) {
        goto error;
    }
    /* N.B. a failure only costs tracebacks their quoted -c lines: the
     * program runs anyway (a later Python may change the private
     * _register_code again). */
    if (register_command_source(code, command, filename) < 0) {
        PyErr_Clear();
    }
    if (PySys_Audit("exec", "O", code) < 0) {
        goto error;
    }
    /* N.B. GLOBALS, __main__'s, always has __builtins__ (run_eval_code_obj()
     * would add it). */
    result = PyEval_EvalCode(code, globals, globals);
error:
    Py_XDECREF(command);
    Py_XDECREF(filename);
    Py_XDECREF(code);
    return result;
}

PyObject *
pyusdt_run_source_at_bottom(PyObject *source, PyObject *filename, PyObject *globals)
{
    if (!PyUnicode_Check(filename) || !PyDict_Check(globals)
        || !(PyBytes_Check(source) || PyUnicode_Check(source))) {
        PyErr_SetString(PyExc_TypeError,
                        "_run_source_at_bottom() takes bytes or str, a str and a dict");
        return NULL;
    }
    PyThreadState *tstate = PyThreadState_Get();
    struct bottom b = enter_bottom(tstate);
    PyObject *result = PyBytes_Check(source)
        ? run_file_bytes(source, filename, globals)
        : run_command(source, globals);   /* owned */
    leave_bottom(tstate, b);
    return result;
}
