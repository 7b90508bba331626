"""Corpus: plain functions, methods, classmethods and staticmethods, closures,
lambdas, comprehensions, decorators, recursion, and code compiled at run time.

Deterministic; each kind of call happens a prime number of times.
"""
import functools


def square(x):
    return x * x


class Shape:
    sides = 0

    def __init__(self, size):
        self.size = size

    def area(self):
        return self.size * self.size

    @classmethod
    def named(cls, size):
        return cls(size)

    @staticmethod
    def describe(count):
        return "%d sides" % count

    @property
    def double(self):
        return self.size * 2


class Triangle(Shape):
    sides = 3

    def area(self):
        return super().area() // 2


def counter():
    count = 0

    def bump(step):
        nonlocal count
        count += step
        return count
    return bump


def traced(func):
    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)
    return wrapper


def tag(label):
    def decorate(func):
        func.label = label
        return func
    return decorate


@traced
def cube(x):
    return x * x * x


@tag("answer")
@traced
def answer():
    return 42


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def comprehensions(n):
    squares = [square(i) for i in range(n)]
    evens = {i for i in range(n) if i % 2 == 0}
    table = {i: square(i) for i in range(3)}
    total = sum(square(i) for i in range(n))
    return len(squares) + len(evens) + len(table) + total


MADE = "def made(x):\n    return x + 1\n"


def generated(times):
    # Each round compiles a new code object with the same names, file and
    # lines as the last one, which is freed by then: its memory may well be
    # reused, its code id must not.
    results = []
    for i in range(times):
        namespace = {}
        exec(compile(MADE, __file__, "exec"), namespace)
        results.append(namespace["made"](i))
    return results


def main():
    results = [square(i) for i in range(23)]                 # 23 calls of square
    shapes = [Shape.named(i) for i in range(5)] + [Triangle(4), Triangle(6)]
    areas = [shape.area() for shape in shapes]
    labels = [Shape.describe(shape.sides) for shape in shapes]
    doubles = [shape.double for shape in shapes]
    bump = counter()
    for step in range(7):
        bump(step)
    add, mul = (lambda a, b: a + b), (lambda a, b: a * b)      # two lambdas, one line
    sums = [add(i, 1) for i in range(3)] + [mul(i, 2) for i in range(2)]
    cubes = [cube(i) for i in range(11)]
    fib(9)                                                   # 109 calls of fib
    print(sum(results), areas, labels[0], doubles, bump(0), sums, sum(cubes), answer(),
          answer.label, comprehensions(5), generated(3))
    return 0


main()
