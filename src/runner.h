/*
 * runner.h - what `python -m pyusdt` needs from C to run a program as
 * python itself would.
 */
#ifndef PYUSDT_RUNNER_H
#define PYUSDT_RUNNER_H

#include <Python.h>

/* Calls FUNC(*ARGS) (ARGS a tuple) as if from the bottom of the Python
 * stack: the caller's frames (runpy's and the runner's) and C levels do
 * not count against the recursion limits meanwhile, so the program meets
 * RecursionError at the depth python gives it.  GIL held.  Returns a new
 * reference, or NULL with an exception set. */
PyObject *pyusdt_call_at_bottom(PyObject *func, PyObject *args);

/* Runs CODE (a code object) in GLOBALS (a dict) from the bottom of the
 * stack, as python's pymain runs a script: no C call in between.  GIL
 * held.  Returns a new reference, or NULL with an exception set. */
PyObject *pyusdt_exec_at_bottom(PyObject *code, PyObject *globals);

/* Runs a program's SOURCE in GLOBALS from the bottom of the stack, as
 * python runs it: bytes as the contents of the file FILENAME (coding
 * cookie, BOM and their errors, null bytes), a str as -c's command
 * (FILENAME ignored: "<string>"; dedented on 3.14 and put into linecache
 * on 3.13+, as pymain_run_command() does).  Parsed and compiled by the
 * interpreter's own run-file and compile-string functions: the builtin
 * compile() would first build the ast module's types, which costs a
 * process more than pyusdt's whole import.  GIL held.  Returns a new
 * reference, or NULL with an exception set. */
PyObject *pyusdt_run_source_at_bottom(PyObject *source, PyObject *filename,
                                      PyObject *globals);

#endif /* PYUSDT_RUNNER_H */
