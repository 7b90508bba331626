/*
 * render.h - turning code objects and Python values into probe arguments.
 *
 * Everything here runs inside sys.monitoring callbacks: it never runs the
 * program's own Python code (no __repr__, __str__, __getattr__ or
 * descriptor is ever invoked), never lets an exception escape, and never
 * clobbers one that is pending.  Values are bounded: at most
 * PYUSDT_VALUE_MAX bytes of text, followed by "..." when cut.
 */
#ifndef PYUSDT_RENDER_H
#define PYUSDT_RENDER_H

#include <Python.h>

#define PYUSDT_VALUE_MAX 127
/* Room for the text, "..." and the terminating NUL. */
#define PYUSDT_VALUE_BUFSIZE (PYUSDT_VALUE_MAX + 4)

/* What a probe argument says when its real value cannot be produced. */
#define PYUSDT_PLACEHOLDER "<?>"

/* The UTF-8 form of STR (borrowed from STR's own cache), or PLACEHOLDER
 * when STR is not a str or cannot be encoded (lone surrogates). */
const char *pyusdt_utf8(PyObject *str, const char *placeholder);

/* The slow halves of the inline functions below. */
int pyusdt_int_arg_slow(PyObject *arg);
const char *pyusdt_render_value_slow(PyObject *value, char *buf);

/* A sys.monitoring offset or line argument as a C int (-1 if not an int). */
static inline int
pyusdt_int_arg(PyObject *arg)
{
    /* Offsets and lines are small ints: no call needed. */
    if (PyLong_CheckExact(arg)
        && PyUnstable_Long_IsCompact((PyLongObject *)arg)) {
        Py_ssize_t value = PyUnstable_Long_CompactValue((PyLongObject *)arg);
        return value < -1 || value > INT_MAX ? -1 : (int)value;
    }
    return pyusdt_int_arg_slow(arg);
}

/* Renders VALUE: repr() for exact None, bool, int, float, str and bytes,
 * "<TypeName object>" for anything else.  Returns the text: BUF, or a
 * static string. */
static inline const char *
pyusdt_render_value(PyObject *value, char *buf)
{
    /* The commonest values need no copy at all. */
    if (value == Py_None) {
        return "None";
    }
    if (value == Py_True) {
        return "True";
    }
    if (value == Py_False) {
        return "False";
    }
    return pyusdt_render_value_slow(value, buf);
}

/* Renders a short name for the callable of a CALL event: "fib", "Foo.bar",
 * "time.sleep", "list", "<lambda>", or "<TypeName object>". */
void pyusdt_render_callable(PyObject *callable, char *buf);

/* Renders an exception: its type's name, then ": message" when its args
 * are exactly one str (no __str__ is called). */
void pyusdt_render_exception(PyObject *exc, char *buf);

/* Writes "pyusdt: WHAT failed: Type: message" to stderr for the pending
 * exception (rendered as pyusdt_render_exception does: the program's
 * __str__ never runs, though the exception may be the program's, raised by
 * its audit hook, say) and clears it. */
void pyusdt_report_failure(const char *what);

/* Renders the arguments of an audit event, a tuple, as its repr() would
 * read with each item rendered by pyusdt_render_value, and exact tuples
 * among them (two levels down) likewise: "('/etc/hosts', 'r', 524288)",
 * "(<socket object>, ('127.0.0.1', 8080))".  Anything but an exact tuple
 * is rendered as one value. */
void pyusdt_render_args(PyObject *args, char *buf);

#endif /* PYUSDT_RENDER_H */
