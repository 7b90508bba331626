"""Target for pygc: collect() runs the collector for generations 0, 1 and 2
exactly 2, 3 and 5 times, with automatic collection off."""
import gc

gc.disable()


def make_cycles(count):
    for _ in range(count):
        cycle = []
        cycle.append(cycle)


def collect():
    for generation, times in ((0, 2), (1, 3), (2, 5)):
        for _ in range(times):
            make_cycles(11)
            gc.collect(generation)


collect()
