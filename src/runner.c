/* runner.c - the program's recursion depth, as python would count it. */
#include "runner.h"

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
