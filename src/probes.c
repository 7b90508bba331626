/* probes.c - the probe semaphores and what can be asked of them. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "probes.h"

/* N.B. the semaphores must live in a writable section that consumers can
 * find from the ELF note; ".probes" is the section sdt.h users agree on.
 * They are process-wide by nature: the kernel updates them in place. */
#define PYUSDT_X(name, event, args)                                         \
    __attribute__((section(".probes"), used))                               \
    volatile unsigned short pyusdt_##name##_semaphore;
PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X

const struct pyusdt_probe_info pyusdt_probe_info[PYUSDT_NPROBES] = {
#define PYUSDT_X(name, event, args) {#name, event, args},
    PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X
};

pyusdt_probeset
pyusdt_probes_attached(void)
{
    pyusdt_probeset set = 0;
#define PYUSDT_X(name, event, args)                                         \
    if (pyusdt_##name##_semaphore != 0) {                                   \
        set |= 1u << PYUSDT_##name;                                         \
    }
    PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X
    return set;
}

unsigned int
pyusdt_probes_events(pyusdt_probeset set)
{
    unsigned int events = 0;
    for (int i = 0; i < PYUSDT_NPROBES; i++) {
        if (set & (1u << i)) {
            events |= pyusdt_probe_info[i].event;
        }
    }
    return events;
}

void
pyusdt_probes_format(pyusdt_probeset set, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < PYUSDT_NPROBES && used < size; i++) {
        if (set & (1u << i)) {
            int n = snprintf(buf + used, size - used, "%s%s",
                             used ? "," : "", pyusdt_probe_info[i].name);
            if (n < 0) {
                break;
            }
            used += (size_t)n;
        }
    }
    if (set == 0) {
        snprintf(buf, size, "none");
    }
}
