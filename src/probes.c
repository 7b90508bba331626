/* probes.c - the probe semaphores and what can be asked of them. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "probes.h"

/* N.B. the semaphores must live in a writable section that consumers can
 * find from the ELF note; ".probes" is the section sdt.h users agree on.
 * They are process-wide by nature: the kernel updates them in place. */
#define PYUSDT_X(provider, name, args)                                      \
    __attribute__((section(".probes"), used))                               \
    volatile unsigned short provider##_##name##_semaphore;
PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X

const struct pyusdt_probe_info pyusdt_probe_info[PYUSDT_NPROBES] = {
#define PYUSDT_X(provider, name, args) {#provider, #name, args},
    PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X
};

pyusdt_probeset
pyusdt_probes_attached(void)
{
    pyusdt_probeset set = 0;
#define PYUSDT_X(provider, name, args)                                      \
    if (provider##_##name##_semaphore != 0) {                               \
        set |= 1u << PYUSDT_##name;                                         \
    }
    PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X
    return set;
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

static int
probe_by_name(const char *name, size_t len)
{
    for (int i = 0; i < PYUSDT_NPROBES; i++) {
        if (strlen(pyusdt_probe_info[i].name) == len
            && strncmp(pyusdt_probe_info[i].name, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

int
pyusdt_probes_parse(const char *list, pyusdt_probeset *set)
{
    int rc = 0;
    *set = 0;
    while (*list != '\0') {
        size_t len = strcspn(list, ",");
        /* Spaces around names are forgiven: "PY_START, PY_RETURN". */
        const char *name = list;
        size_t name_len = len;
        while (name_len > 0 && *name == ' ') {
            name++;
            name_len--;
        }
        while (name_len > 0 && name[name_len - 1] == ' ') {
            name_len--;
        }
        int probe = probe_by_name(name, name_len);
        if (probe >= 0) {
            *set |= 1u << probe;
        }
        else if (name_len == 3 && strncmp(name, "all", 3) == 0) {
            /* Every probe of provider pyusdt; python's are named. */
            *set |= PYUSDT_ALL_PROBES & ~PYUSDT_PYTHON_SET;
        }
        else if (name_len > 0) {
            rc = -1;
        }
        list += len + (list[len] == ',');
    }
    return rc;
}

/* Adds DELTA to the semaphores of SET (modulo 2^16, as they count). */
static void
add_to_semaphores(pyusdt_probeset set, unsigned short delta)
{
#define PYUSDT_X(provider, name, args)                                      \
    if (set & PYUSDT_BIT(name)) {                                           \
        __atomic_add_fetch(&provider##_##name##_semaphore, delta,          \
                           __ATOMIC_RELAXED);                               \
    }
    PYUSDT_PROBE_LIST(PYUSDT_X)
#undef PYUSDT_X
}

void
pyusdt_probes_force(pyusdt_probeset set)
{
    add_to_semaphores(set, 1);
}

void
pyusdt_probes_unforce(pyusdt_probeset set)
{
    add_to_semaphores(set, (unsigned short)-1);
}
