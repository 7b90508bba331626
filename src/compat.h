/* compat.h - PY_VERSION_HEX shims, each saying why it exists. */
#ifndef PYUSDT_COMPAT_H
#define PYUSDT_COMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x030C0000
#  error "pyusdt needs CPython 3.12 or newer (PEP 669 sys.monitoring)"
#endif

/* Py_IsFinalizing() became public in 3.13; 3.12 only has the private
 * spelling, with the same meaning. */
#if PY_VERSION_HEX < 0x030D0000
static inline int
pyusdt_is_finalizing(void)
{
    return _Py_IsFinalizing();
}
#else
static inline int
pyusdt_is_finalizing(void)
{
    return Py_IsFinalizing();
}
#endif

#endif /* PYUSDT_COMPAT_H */
