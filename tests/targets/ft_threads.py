"""Eight threads released at once by a barrier, for the free-threaded
tests: each runs functions every thread shares (one of them made by the
main thread just before, so that all eight meet its code object for the
first time together), a function of its own made at run time, a generator
and a caught exception, 23 rounds.  Prints whether every thread's result
is right, then whether the GIL is on."""
import sys
import threading

THREADS = 8
ROUNDS = 23


def leaf(x):
    return x + 1


def shared(x):
    total = 0
    for i in range(3):
        total += leaf(i)
    try:
        raise ValueError(x)
    except ValueError:
        pass
    return total + x


def counter(n):
    for i in range(n):
        yield i


def make(source, name):
    """A function compiled now from SOURCE: a code object nobody has run."""
    namespace = {}
    exec(compile(source, __file__, "exec"), namespace)
    return namespace[name]


def worker(k, barrier, shared_new, results):
    fresh = make("def fresh_%d(x):\n    return x * %d\n" % (k, k), "fresh_%d" % k)
    barrier.wait()
    total = 0
    for r in range(ROUNDS):
        total += shared_new(r) + shared(r) + fresh(r) + sum(counter(3))
    results[k] = total


def expected(k):
    return sum((r - 1) + (6 + r) + r * k + 3 for r in range(ROUNDS))


def main():
    shared_new = make("def shared_new(x):\n    return x - 1\n", "shared_new")
    barrier = threading.Barrier(THREADS)
    results = [None] * THREADS
    threads = [threading.Thread(target=worker, args=(k, barrier, shared_new, results))
               for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(results == [expected(k) for k in range(THREADS)])
    print("gil", sys._is_gil_enabled())


main()
