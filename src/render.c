/* render.c - code objects and values made into bounded, safe probe arguments. */
#include "render.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"

/* Ints wider than this are not converted to decimal: the conversion is
 * quadratic and int_max_str_digits may refuse it anyway. */
#define PYUSDT_INT_REPR_MAX_BITS 4096

/* Copies LEN bytes of UTF-8 text into BUF (PYUSDT_VALUE_BUFSIZE bytes),
 * cutting at a character boundary and appending "..." when the text does not
 * fit or CUT says it was already shortened. */
static void
copy_bounded(char *buf, const char *text, size_t len, int cut)
{
    if (len > PYUSDT_VALUE_MAX) {
        len = PYUSDT_VALUE_MAX;
        /* Back up over UTF-8 continuation bytes (10xxxxxx). */
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) {
            len--;
        }
        cut = 1;
    }
    memcpy(buf, text, len);
    if (cut) {
        memcpy(buf + len, "...", 3);
        len += 3;
    }
    buf[len] = '\0';
}

static void
copy_cstr(char *buf, const char *text)
{
    copy_bounded(buf, text, strlen(text), 0);
}

const char *
pyusdt_utf8(PyObject *str, const char *placeholder)
{
    if (!PyUnicode_Check(str)) {
        return placeholder;
    }
    /* Fast path: ASCII strings (nearly every name and path) carry their
     * UTF-8 form already; no call, no error possible. */
    if (PyUnicode_IS_COMPACT_ASCII(str)) {
        return (const char *)PyUnicode_DATA(str);
    }
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    const char *utf8 = PyUnicode_AsUTF8AndSize(str, NULL);
    if (utf8 == NULL) {
        PyErr_Clear();
        utf8 = placeholder;
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
    return utf8;
}

int
pyusdt_int_arg_slow(PyObject *arg)
{
    if (!PyLong_CheckExact(arg)) {
        return -1;
    }
    int overflow;
    long value = PyLong_AsLongAndOverflow(arg, &overflow);
    if (overflow || value < -1 || value > INT_MAX) {
        return -1;
    }
    return (int)value;
}

/* Formats into BUF, bounded like copy_bounded (a cut result ends in
 * "...").  N.B. long names are cut by vsnprintf at twice the buffer first. */
static void __attribute__((format(printf, 2, 3)))
copy_formatted(char *buf, const char *format, ...)
{
    char tmp[2 * PYUSDT_VALUE_BUFSIZE];
    va_list va;
    va_start(va, format);
    int n = vsnprintf(tmp, sizeof(tmp), format, va);
    va_end(va);
    if (n < 0) {
        copy_cstr(buf, PYUSDT_PLACEHOLDER);
        return;
    }
    copy_bounded(buf, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
                                                   : sizeof(tmp) - 1, 0);
}

/* Writes "<TypeName object>" for TYPE.  tp_name is a C string owned by the
 * type, so nothing of the program's runs to get it. */
static void
render_type_placeholder(PyTypeObject *type, char *buf)
{
    copy_formatted(buf, "<%s object>", type->tp_name);
}

/* Copies the UTF-8 of OBJ's repr() into BUF.  Only called for exact
 * built-in types, whose repr runs no Python code.  N.B. a pending exception
 * is saved and restored around the call. */
static void
render_builtin_repr(PyObject *obj, char *buf, int cut)
{
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    PyObject *repr = PyObject_Repr(obj);               /* owned */
    Py_ssize_t len;
    const char *utf8 = repr ? PyUnicode_AsUTF8AndSize(repr, &len) : NULL;
    if (utf8 != NULL) {
        copy_bounded(buf, utf8, (size_t)len, cut);
    }
    else {
        PyErr_Clear();
        copy_cstr(buf, PYUSDT_PLACEHOLDER);
    }
    Py_XDECREF(repr);
    PyErr_SetRaisedException(pending);   /* steals pending */
}

/* Writes VALUE in decimal: what snprintf("%lld") writes, several times
 * faster (the common return value of a hot function is a small int). */
static void
format_long_long(long long value, char *buf)
{
    char digits[24];
    int n = 0;
    /* N.B. works on the magnitude as unsigned so LLONG_MIN has one. */
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value
                                             : (unsigned long long)value;
    do {
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    int at = 0;
    if (value < 0) {
        buf[at++] = '-';
    }
    while (n > 0) {
        buf[at++] = digits[--n];
    }
    buf[at] = '\0';
}

/* The bit length of VALUE, an exact int, as int.bit_length() gives it
 * (the public way: CPython's _PyLong_NumBits is private); -1 on failure.
 * Only wider-than-64-bit ints get here.  A pending exception is left as
 * it was. */
static long long
int_bits(PyObject *value)
{
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    PyObject *bits = PyObject_CallMethod(value, "bit_length", NULL); /* owned */
    long long result = bits ? PyLong_AsLongLong(bits) : -1;
    Py_XDECREF(bits);
    PyErr_Clear();
    PyErr_SetRaisedException(pending);   /* steals pending */
    return result;
}

static void
render_int(PyObject *value, char *buf)
{
    if (PyUnstable_Long_IsCompact((PyLongObject *)value)) {
        format_long_long(
            (long long)PyUnstable_Long_CompactValue((PyLongObject *)value),
            buf);
        return;
    }
    int overflow;
    long long small = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (!overflow) {
        /* Exact ints cannot fail this conversion except by overflow. */
        format_long_long(small, buf);
        return;
    }
    long long bits = int_bits(value);
    if (bits >= 0 && bits <= PYUSDT_INT_REPR_MAX_BITS) {
        render_builtin_repr(value, buf, 0);
        if (strcmp(buf, PYUSDT_PLACEHOLDER) != 0) {
            return;
        }
    }
    if (bits < 0) {
        copy_cstr(buf, "<int>");
        return;
    }
    snprintf(buf, PYUSDT_VALUE_BUFSIZE, "<int of %lld bits>", bits);
}

static void
render_float(PyObject *value, char *buf)
{
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    /* The same conversion float.__repr__ uses. */
    char *text = PyOS_double_to_string(PyFloat_AS_DOUBLE(value), 'r', 0,
                                       Py_DTSF_ADD_DOT_0, NULL);
    if (text != NULL) {
        copy_cstr(buf, text);
        PyMem_Free(text);
    }
    else {
        PyErr_Clear();
        copy_cstr(buf, PYUSDT_PLACEHOLDER);
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
}

/* repr() of a str made of printable ASCII without backslashes, written
 * directly: the common case, with no allocation.  Returns 0 (BUF untouched)
 * for any other str.  The quote is chosen as str.__repr__ does: ' unless
 * the text holds ' and no ". */
static int
render_plain_ascii(PyObject *str, Py_ssize_t len, char *buf)
{
    const Py_ssize_t keep = PYUSDT_VALUE_MAX + 1;
    if (!PyUnicode_IS_COMPACT_ASCII(str)) {
        return 0;
    }
    const char *text = (const char *)PyUnicode_DATA(str);
    Py_ssize_t n = len < keep ? len : keep;
    int single = 0, dbl = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = text[i];
        if (c < 0x20 || c > 0x7e || c == '\\') {
            return 0;
        }
        single |= c == '\'';
        dbl |= c == '"';
    }
    if (single && dbl) {
        return 0;
    }
    char quoted[PYUSDT_VALUE_MAX + 4];
    char quote = single ? '"' : '\'';
    quoted[0] = quote;
    memcpy(quoted + 1, text, (size_t)n);
    quoted[n + 1] = quote;
    copy_bounded(buf, quoted, (size_t)n + 2, len > keep);
    return 1;
}

/* repr() of a str or bytes, computed on a prefix only, so that a huge
 * value costs no more than a short one.  N.B. repr picks its quote
 * character from the whole value; a cut value picks it from the prefix. */
static void
render_sequence_repr(PyObject *value, Py_ssize_t len, char *buf)
{
    const Py_ssize_t keep = PYUSDT_VALUE_MAX + 1;
    if (PyUnicode_CheckExact(value) && render_plain_ascii(value, len, buf)) {
        return;
    }
    if (len <= keep) {
        render_builtin_repr(value, buf, 0);
        return;
    }
    PyObject *pending = PyErr_GetRaisedException();   /* owned */
    PyObject *prefix = PyUnicode_CheckExact(value)     /* owned */
        ? PyUnicode_Substring(value, 0, keep)
        : PyBytes_FromStringAndSize(PyBytes_AS_STRING(value), keep);
    if (prefix != NULL) {
        render_builtin_repr(prefix, buf, 1);
        Py_DECREF(prefix);
    }
    else {
        PyErr_Clear();
        copy_cstr(buf, PYUSDT_PLACEHOLDER);
    }
    PyErr_SetRaisedException(pending);   /* steals pending */
}

const char *
pyusdt_render_value_slow(PyObject *value, char *buf)
{
    PyTypeObject *type = Py_TYPE(value);
    if (value == Py_None || type == &PyBool_Type) {
        return pyusdt_render_value(value, buf);
    }
    if (type == &PyLong_Type) {
        render_int(value, buf);
    }
    else if (type == &PyFloat_Type) {
        render_float(value, buf);
    }
    else if (type == &PyUnicode_Type) {
        render_sequence_repr(value, PyUnicode_GET_LENGTH(value), buf);
    }
    else if (type == &PyBytes_Type) {
        render_sequence_repr(value, PyBytes_GET_SIZE(value), buf);
    }
    else {
        render_type_placeholder(type, buf);
    }
    return buf;
}

/* A type's own name: the qualified name of a class defined in Python,
 * tp_name ("list", "collections.OrderedDict") of a built-in one. */
static const char *
type_name(PyTypeObject *type)
{
    if (type->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyObject *qualname = ((PyHeapTypeObject *)type)->ht_qualname;
        return pyusdt_utf8(qualname, type->tp_name);
    }
    return type->tp_name;
}

static void
render_joined(char *buf, const char *owner, const char *name)
{
    copy_formatted(buf, "%s.%s", owner, name);
}

/* A built-in function or bound built-in method: "len", "time.sleep",
 * "list.append". */
static void
render_cfunction(PyCFunctionObject *func, char *buf)
{
    const char *name = func->m_ml->ml_name;
    PyObject *self = func->m_self;   /* borrowed */
    if (self == NULL || PyModule_Check(self)) {
        PyObject *module = func->m_module;   /* borrowed, usually a str */
        if (module != NULL && PyUnicode_Check(module)
            && PyUnicode_CompareWithASCIIString(module, "builtins") != 0) {
            render_joined(buf, pyusdt_utf8(module, PYUSDT_PLACEHOLDER), name);
        }
        else {
            copy_cstr(buf, name);
        }
    }
    else if (PyType_Check(self)) {
        render_joined(buf, type_name((PyTypeObject *)self), name);
    }
    else {
        render_joined(buf, type_name(Py_TYPE(self)), name);
    }
}

void
pyusdt_render_callable(PyObject *callable, char *buf)
{
    if (PyMethod_Check(callable)) {
        callable = PyMethod_GET_FUNCTION(callable);   /* borrowed */
    }
    if (PyFunction_Check(callable)) {
        PyObject *qualname = ((PyFunctionObject *)callable)->func_qualname;
        copy_cstr(buf, pyusdt_utf8(qualname, PYUSDT_PLACEHOLDER));
    }
    else if (PyCFunction_Check(callable)) {
        render_cfunction((PyCFunctionObject *)callable, buf);
    }
    else if (PyType_Check(callable)) {
        copy_cstr(buf, type_name((PyTypeObject *)callable));
    }
    else if (Py_IS_TYPE(callable, &PyMethodDescr_Type)
             || Py_IS_TYPE(callable, &PyClassMethodDescr_Type)) {
        PyMethodDescrObject *descr = (PyMethodDescrObject *)callable;
        render_joined(buf, type_name(PyDescr_TYPE(descr)),
                      descr->d_method->ml_name);
    }
    else {
        render_type_placeholder(Py_TYPE(callable), buf);
    }
}

void
pyusdt_render_exception(PyObject *exc, char *buf)
{
    const char *name = type_name(Py_TYPE(exc));
    if (PyExceptionInstance_Check(exc)) {
        /* N.B. the args field itself, not the attribute, which a class
         * could override. */
        PyObject *args = ((PyBaseExceptionObject *)exc)->args;   /* borrowed */
        if (args != NULL && PyTuple_CheckExact(args)
            && PyTuple_GET_SIZE(args) == 1
            && PyUnicode_CheckExact(PyTuple_GET_ITEM(args, 0))) {
            const char *msg = pyusdt_utf8(PyTuple_GET_ITEM(args, 0), NULL);
            if (msg != NULL) {
                copy_formatted(buf, "%s: %s", name, msg);
                return;
            }
        }
    }
    copy_cstr(buf, name);
}

void
pyusdt_report_failure(const char *what)
{
    PyObject *exc = PyErr_GetRaisedException();   /* owned */
    char text[PYUSDT_VALUE_BUFSIZE] = "unknown error";
    if (exc != NULL) {
        pyusdt_render_exception(exc, text);
    }
    fprintf(stderr, "pyusdt: %s failed: %s\n", what, text);
    Py_XDECREF(exc);
}

/* Appends TEXT to the LEN bytes of OUT (SIZE bytes, LEN < SIZE), as far
 * as it fits.  Returns the new length. */
static size_t
append_text(char *out, size_t size, size_t len, const char *text)
{
    while (*text != '\0' && len + 1 < size) {
        out[len++] = *text++;
    }
    out[len] = '\0';
    return len;
}

/* How deep tuples inside audit arguments are rendered item by item: an
 * address such as ('127.0.0.1', 8080) is one level down. */
#define PYUSDT_TUPLE_DEPTH 2

/* Appends TUPLE, an exact tuple, rendered as its repr() would read with
 * each item rendered by pyusdt_render_value (tuples down to DEPTH 0
 * likewise).  Stops once the text is longer than a value may be. */
static size_t
append_tuple(char *out, size_t size, size_t len, PyObject *tuple, int depth)
{
    len = append_text(out, size, len, "(");
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t i = 0; i < n && len <= PYUSDT_VALUE_MAX; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);   /* borrowed */
        len = append_text(out, size, len, i ? ", " : "");
        if (PyTuple_CheckExact(item) && depth > 0) {
            len = append_tuple(out, size, len, item, depth - 1);
        }
        else {
            char one[PYUSDT_VALUE_BUFSIZE];
            len = append_text(out, size, len, pyusdt_render_value(item, one));
        }
    }
    return append_text(out, size, len, n == 1 ? ",)" : ")");
}

void
pyusdt_render_args(PyObject *args, char *buf)
{
    if (!PyTuple_CheckExact(args)) {
        const char *text = pyusdt_render_value(args, buf);
        if (text != buf) {
            copy_cstr(buf, text);
        }
        return;
    }
    /* Room for more than fits, so that a cut is seen and marked. */
    char out[2 * PYUSDT_VALUE_BUFSIZE];
    size_t len = append_tuple(out, sizeof(out), 0, args, PYUSDT_TUPLE_DEPTH);
    copy_bounded(buf, out, len, 0);
}
