"""Thirty-two threads running Python at once.

Each thread waits at a barrier, then calls work(index), which calls
leaf() 23 times and, for odd threads, drives a generator and handles an
exception: every thread's event stream is fixed by its index whatever the
interleaving.  Prints each thread's result.
"""
import threading

THREADS = 32
LEAF_CALLS = 23


def leaf(n):
    return n * 3


def numbers(n):
    for i in range(n):
        yield i


def work(index, results):
    total = 0
    for i in range(LEAF_CALLS):
        total += leaf(index + i)
    if index % 2:
        total += sum(numbers(5))
        try:
            raise ValueError(index)
        except ValueError:
            total += 1
    results[index] = total


def run(barrier, index, results):
    barrier.wait()
    work(index, results)


def main():
    results = [None] * THREADS
    barrier = threading.Barrier(THREADS)
    threads = [threading.Thread(target=run, args=(barrier, index, results))
               for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(results)


main()
