/*
 * floor.c - the cheapest possible traced event: a C loop firing
 * semaphore-guarded USDT probes named like pyusdt's, so that the same
 * bpftrace program can measure what the kernel's uprobe trap costs by itself.
 *
 * The probes are declared as src/probes.h declares pyusdt's: provider
 * "pyusdt", names PY_START and PY_RETURN, each with its own semaphore in
 * section ".probes", and the same argument kinds (two strings and two ints;
 * PY_RETURN adds a string).  A probe site does nothing while its semaphore
 * is zero, exactly like pyusdt's.
 *
 * Usage:
 *   floor loop N REPS        fire each attached probe N times, REPS times
 *                            over; print one JSON line with the CPU and
 *                            wall nanoseconds of each repetition
 *   floor serve N            fire each attached probe N times per line read
 *                            from stdin; print a JSON line with the
 *                            semaphores once, then the CPU nanoseconds of
 *                            each repetition, one per line (the floor's side
 *                            of bench/common.py's lockstep)
 *   floor spin SECONDS       wait (spinning) until PY_START's semaphore
 *                            rises, print the CLOCK_MONOTONIC nanoseconds it
 *                            was seen, then fire PY_START in a loop for the
 *                            rest of SECONDS (for calibrating attach time)
 *
 * "Fire" means: the semaphore is read and, when non-zero, the probe site
 * runs (a nop that a tracer turns into a trap).  CPU time includes the
 * kernel's time in the trap and the BPF program, as it does for Python.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* N.B. sdt.h names the semaphore <provider>_<name>_semaphore and refers
 * to it from the probe note; consumers find it there. */
__attribute__((section(".probes"), used))
volatile unsigned short pyusdt_PY_START_semaphore;
__attribute__((section(".probes"), used))
volatile unsigned short pyusdt_PY_RETURN_semaphore;

#define MAX_REPS 64

static const char function[] = "fib";
static const char file[] = "/work/bench/workloads.py";
static const char value[] = "832040";

static long long
now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One event pair, as pyusdt's callbacks do it: check the semaphore first,
 * build nothing otherwise.  noinline so that every iteration is a call,
 * as a Python event is. */
static __attribute__((noinline)) void
fire(int line, int offset)
{
    if (__builtin_expect(pyusdt_PY_START_semaphore != 0, 0)) {
        DTRACE_PROBE4(pyusdt, PY_START, function, file, line, offset);
    }
    if (__builtin_expect(pyusdt_PY_RETURN_semaphore != 0, 0)) {
        DTRACE_PROBE5(pyusdt, PY_RETURN, function, file, line, offset,
                      value);
    }
}

static int
loop(long n, int reps)
{
    long long cpu[MAX_REPS], wall[MAX_REPS];
    for (int r = 0; r < reps; r++) {
        long long cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
        long long wall0 = now_ns(CLOCK_MONOTONIC);
        for (long i = 0; i < n; i++) {
            fire(1, (int)(i & 0xff));
        }
        wall[r] = now_ns(CLOCK_MONOTONIC) - wall0;
        cpu[r] = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    }
    printf("{\"n\": %ld, \"semaphores\": [%u, %u], \"cpu_ns\": [",
           n, pyusdt_PY_START_semaphore, pyusdt_PY_RETURN_semaphore);
    for (int r = 0; r < reps; r++) {
        printf("%s%lld", r ? ", " : "", cpu[r]);
    }
    printf("], \"wall_ns\": [");
    for (int r = 0; r < reps; r++) {
        printf("%s%lld", r ? ", " : "", wall[r]);
    }
    printf("]}\n");
    return 0;
}

static int
serve(long n)
{
    char line[64];
    printf("{\"ready\": true, \"n\": %ld, \"semaphores\": [%u, %u]}\n",
           n, pyusdt_PY_START_semaphore, pyusdt_PY_RETURN_semaphore);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
        long long cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
        for (long i = 0; i < n; i++) {
            fire(1, (int)(i & 0xff));
        }
        printf("%lld\n", now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
        fflush(stdout);
    }
    return 0;
}

static int
spin(double seconds)
{
    long long start = now_ns(CLOCK_MONOTONIC);
    long long deadline = start + (long long)(seconds * 1e9);
    printf("ready\n");
    fflush(stdout);
    while (pyusdt_PY_START_semaphore == 0) {
        if (now_ns(CLOCK_MONOTONIC) > deadline) {
            printf("{\"raised_ns\": null}\n");
            return 1;
        }
    }
    long long raised = now_ns(CLOCK_MONOTONIC);
    long fired = 0;
    while (now_ns(CLOCK_MONOTONIC) < deadline
           && pyusdt_PY_START_semaphore != 0) {
        fire(1, 0);
        fired++;
    }
    printf("{\"raised_ns\": %lld, \"fired\": %ld}\n", raised, fired);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "loop") == 0) {
        long n = atol(argv[2]);
        int reps = atoi(argv[3]);
        if (n > 0 && reps > 0 && reps <= MAX_REPS) {
            return loop(n, reps);
        }
    }
    else if (argc == 3 && strcmp(argv[1], "serve") == 0) {
        long n = atol(argv[2]);
        if (n > 0) {
            return serve(n);
        }
    }
    else if (argc == 3 && strcmp(argv[1], "spin") == 0) {
        return spin(atof(argv[2]));
    }
    fprintf(stderr, "usage: floor loop N REPS (REPS <= %d) | floor serve N | "
                    "floor spin SECONDS\n", MAX_REPS);
    return 2;
}
