"""Each exception event in a checkable number: raised and caught in the
same frame's caller, raised through frames, thrown into a generator, and a
generator exhausted by a for loop (sys.monitoring's STOP_ITERATION, which
is no exception probe's event and must never reach one)."""


def boom(i):
    raise KeyError(i)


def catcher():
    for i in range(5):
        try:
            boom(i)
        except KeyError:
            pass


def deep(n):
    if n == 0:
        raise ValueError("deep")
    deep(n - 1)


def through():
    for _ in range(3):
        try:
            deep(2)
        except ValueError:
            pass


def gen():
    while True:
        try:
            yield 1
        except ValueError:
            pass


def thrower():
    g = gen()
    next(g)
    for _ in range(2):
        g.throw(ValueError("in"))
    g.close()


def counted():
    yield 1
    yield 2


def exhaust():
    total = 0
    for value in counted():
        total += value
    return total


catcher()
through()
thrower()
print(exhaust())
