"""Target: garbage collections of known generations and known garbage,
with automatic collection off.  GC events that belong to collect_all() are
those between its PY_START and PY_RETURN."""
import gc


def make_garbage(count):
    for _ in range(count):
        cycle = []
        cycle.append(cycle)


def collect_all():
    results = []
    # (generation, collections, cycles of garbage before each): 2 + 3 + 5
    for generation, times, cycles in ((0, 2, 3), (1, 3, 5), (2, 5, 7)):
        for _ in range(times):
            make_garbage(cycles)
            results.append((generation, gc.collect(generation)))
    return results


gc.disable()
gc.collect()
print("callbacks=%d" % len(gc.callbacks))
print("collections=%r" % collect_all())
