"""Corpus: generators driven by next, send, throw and close, and delegation
with yield from.

Deterministic; counts are prime.
"""


def countdown(n):
    while n > 0:
        yield n
        n -= 1
    return "liftoff"


def accumulator():
    total = 0
    while True:
        value = yield total
        if value is None:
            return total
        total += value


def resilient():
    caught = 0
    while True:
        try:
            yield caught
        except ValueError:
            caught += 1


def fragile():
    yield 1
    yield 2


def guarded(log):
    try:
        yield "open"
        yield "still open"
    finally:
        log.append("closed")


def plain():
    yield "a"
    yield "b"


def inner(n):
    for i in range(n):
        received = yield i
        if received is not None:
            n += received
    return n


def delegator():
    first = yield from inner(3)
    second = yield from inner(2)
    return first + second


def tolerant_inner():
    try:
        yield "inner"
    except KeyError:
        yield "inner handled"


def tolerant_outer():
    yield from tolerant_inner()
    yield "outer"


def main():
    values = list(countdown(5))
    gen = countdown(3)
    pulled = [next(gen), next(gen), next(gen)]
    try:
        next(gen)
    except StopIteration as stop:
        pulled.append(stop.value)

    acc = accumulator()
    next(acc)
    sums = [acc.send(i) for i in range(1, 8)]                 # 7 sends
    try:
        acc.send(None)
    except StopIteration as stop:
        sums.append(stop.value)

    res = resilient()
    next(res)
    thrown = [res.throw(ValueError("again")) for _ in range(3)]

    frag = fragile()
    next(frag)
    try:
        frag.throw(RuntimeError("not handled"))
    except RuntimeError as exc:
        thrown.append(str(exc))
    unstarted = fragile()
    try:
        unstarted.throw(IndexError("before start"))
    except IndexError:
        thrown.append("unstarted")

    log = []
    guard = guarded(log)
    next(guard)
    guard.close()
    simple = plain()
    next(simple)
    simple.close()
    plain().close()

    dele = delegator()
    delegated = [next(dele), dele.send(None), dele.send(2)]
    delegated += list(dele)
    tol = tolerant_outer()
    passed = [next(tol), tol.throw(KeyError("k")), next(tol)]
    print(values, pulled, sums, thrown, log, delegated, passed)
    return 0


main()
