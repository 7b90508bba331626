/*
 * poller.h - the native thread that watches the probe semaphores and keeps
 * the enabled sys.monitoring events in step with the attached probes.
 *
 * The thread is a bare pthread, invisible to threading.enumerate().  It
 * reads the semaphores every interval (a little more often on 3.12, see
 * pyusdt_poll_period_us) without the GIL, and takes the GIL only when the
 * attached set differs from the one last applied.
 */
#ifndef PYUSDT_POLLER_H
#define PYUSDT_POLLER_H

#include "probes.h"

#define PYUSDT_CHECK_MSEC_DEFAULT 100
#define PYUSDT_CHECK_MSEC_MAX 60000

/* Reads PYUSDT_CHECK_MSEC, PYUSDT_VERBOSE and PYUSDT_FORCE from the
 * environment, warning once on stderr about an unusable value. */
void pyusdt_config_load(void);

int pyusdt_check_msec(void);

/* How often the thread reads the semaphores, in microseconds: the interval,
 * less the GIL switch interval where taking the GIL waits for it (3.12). */
long long pyusdt_poll_period_us(void);

/* The probes PYUSDT_FORCE attached. */
pyusdt_probeset pyusdt_forced(void);

/* Lowers the semaphores PYUSDT_FORCE raised, as a tracer detaching would
 * (a benchmark's "after a detach"); the next sync applies it. */
void pyusdt_release_forced(void);

/* Applies the attached probe set now.  GIL held (an attached thread
 * state); serialised within, so any thread may call it.  Returns the
 * attached set; never leaves an exception set. */
pyusdt_probeset pyusdt_sync(void);

/* Waits, without the GIL, until some probe is attached and the attached
 * set has not changed for SETTLE_MS (or four times the widest gap between
 * two changes, if longer), or until TIMEOUT_MS passed; then
 * applies it.  GIL held.  Returns the attached set, or -1 with an exception
 * set when a signal handler raised (Ctrl-C while waiting). */
long long pyusdt_wait_attached(long long timeout_ms, long long settle_ms);

/* Starts the thread.  GIL held.  0, or -1 with an exception set. */
int pyusdt_poller_start(void);

/* Stops and joins the thread, releasing the GIL meanwhile.  GIL held.
 * Does nothing when the thread is not running; safe to call from several
 * threads at once. */
void pyusdt_poller_stop(void);

/* Stops the thread for good (at exit): a later start does nothing. */
void pyusdt_poller_close(void);

/* In a child, inside fork() (a pthread_atfork handler): the thread does
 * not exist there.  Async-signal-safe enough for that: no allocation. */
void pyusdt_poller_forget(void);

#endif /* PYUSDT_POLLER_H */
