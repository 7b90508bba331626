"""Target: at least one event of every probe, with known names, lines and values.

Lines the tests look for carry a '# @name' marker.
"""
import time


class Foo:
    def bar(self, x):
        return x * 2  # @bar-return


def outer():
    def inner():
        return "inner"  # @inner-return
    return inner()


def values():
    return [None, True, 42, 2**70, 1.5, "text", b"\x00bytes", "s" * 300, "\u00e9" * 100, Foo()]


def identity(value):
    return value  # @identity-return


def gen(n):
    for i in range(n):
        yield i * 10  # @gen-yield
    return "done"  # @gen-return


def main():
    foo = Foo()
    foo.bar(21)  # @call-bar
    outer()
    for value in values():
        identity(value)
    print(list(gen(3)))
    time.sleep(0.001)  # @call-sleep
    square = lambda v: v * v  # noqa: E731
    square(7)  # @call-lambda
    list((1, 2))  # @call-list
    return 0


main()
