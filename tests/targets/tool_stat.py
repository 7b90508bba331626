"""Target for pystat: known numbers of calls, exceptions, collections and
marks, with automatic garbage collection off."""
import gc

import pyusdt

gc.disable()


def tick():
    pass


def fail():
    raise KeyError("k")


def main():
    for _ in range(23):
        tick()
    for _ in range(7):
        try:
            fail()
        except KeyError:
            pass
    for _ in range(5):
        gc.collect()
    for _ in range(11):
        pyusdt.mark("tick")


main()
