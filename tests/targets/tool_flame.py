"""Target for pyflame: a known tree of stacks.  main() calls outer(), which
calls inner() twice; main() also drains the generator numbers(), whose
frames run on top of main's."""
import time


def inner():
    time.sleep(0.002)


def outer():
    inner()
    inner()


def numbers():
    for n in range(3):
        time.sleep(0.001)
        yield n


def main():
    outer()
    for _ in numbers():
        pass


main()
