/*
 * audit.h - the AUDIT probe and python's audit marker, fed by a PEP 578
 * audit hook (PySys_AddAuditHook).
 *
 * N.B. an audit hook can never be removed, so it is installed at the first
 * attach of an audit probe, never before; from then on, while neither
 * probe is attached, it costs one test of the two semaphores per audit
 * event.  It is added as no program could add one: the program's own hooks
 * are not told (no "sys.addaudithook" event reaches them) and cannot veto
 * it, so they are called exactly as without pyusdt.
 *
 * All functions need the GIL.
 */
#ifndef PYUSDT_AUDIT_H
#define PYUSDT_AUDIT_H

#include <Python.h>

#include "probes.h"

/* Installs the hook, once, when WANT holds AUDIT.  0, or -1 (reported on
 * stderr; no exception left set). */
int pyusdt_audit_apply(pyusdt_probeset want);

/* Whether the hook is installed. */
int pyusdt_audit_installed(void);

#endif /* PYUSDT_AUDIT_H */
