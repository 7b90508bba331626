"""Target for pycalls: functions called a known, prime number of times.

tick() runs 23 times from main() and 7 more from tock(); nap() sleeps
argv[1] seconds (default 0.01) 3 times; countdown() is one generator call
resumed 5 times."""
import sys
import time


def tick(n):
    return n + 1


def tock(n):
    return tick(n) * 2


def nap(seconds):
    time.sleep(seconds)


def countdown(n):
    while n:
        yield n
        n -= 1


def main(seconds):
    total = 0
    for i in range(23):
        total += tick(i)
    for i in range(7):
        total += tock(i)
    for _ in range(3):
        nap(seconds)
    total += sum(countdown(5))
    print("total", total)


main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.01)
