/* runner.c - a program compiled, and its recursion depth counted, as
 * python would. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* The C recursion limit a fresh thread starts from (3.12 and 3.13 count C
 * levels down from it; 3.14 measures the C stack instead). */
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

PyObject *
pyusdt_call_at_bottom(PyObject *func, PyObject *args)
{
    PyThreadState *tstate = PyThreadState_Get();
    struct depth d = credit_depth(tstate);
    PyObject *result = PyObject_CallObject(func, args);   /* owned */
    debit_depth(tstate, d);
    return result;
}

PyObject *
pyusdt_exec_at_bottom(PyObject *code, PyObject *globals)
{
    PyThreadState *tstate = PyThreadState_Get();
    struct depth d = credit_depth(tstate);
    PyObject *result = PyEval_EvalCode(code, globals, globals);   /* owned */
    debit_depth(tstate, d);
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

/* Runs TEXT, -c's command, as pymain_run_command() does. */
static PyObject *
run_command(PyObject *text, PyObject *globals)
{
    const char *command = PyUnicode_AsUTF8(text);   /* borrowed */
    if (command == NULL) {
        return NULL;
    }
    PyCompilerFlags flags = {.cf_flags = PyCF_IGNORE_COOKIE,
                             .cf_feature_version = PY_MINOR_VERSION};
    return PyRun_StringFlags(command, Py_file_input, globals, globals, &flags);
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
    struct depth d = credit_depth(tstate);
    PyObject *result = PyBytes_Check(source)
        ? run_file_bytes(source, filename, globals)
        : run_command(source, globals);   /* owned */
    debit_depth(tstate, d);
    return result;
}
